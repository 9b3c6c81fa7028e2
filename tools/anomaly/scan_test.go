package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func scanSeries(n int, step time.Duration, seed uint64, f func(i int, rng *rand.Rand) float64) Series {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := Series{Labels: map[string]string{"id": fmt.Sprint(seed)}}
	for i := range n {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*step))
		s.Values = append(s.Values, f(i, rng))
	}
	return s
}

// TestScanMeasuresWhatMatters: a change is reported when it is large for
// what the series measures — not merely large against a baseline that
// never moved — and ranked by how much it matters.
func TestScanMeasuresWhatMatters(t *testing.T) {
	noisy := func(level, sd float64) func(int, *rand.Rand) float64 {
		return func(_ int, rng *rand.Rand) float64 { return level + sd*rng.NormFloat64() }
	}
	// at changes a series from point at on (the range starts at 1200).
	at := func(f func(int, *rand.Rand) float64, from int, g func(v float64, i int) float64) func(int, *rand.Rand) float64 {
		return func(i int, rng *rand.Rand) float64 {
			v := f(i, rng)
			if i >= from {
				v = g(v, i)
			}
			return v
		}
	}
	for _, tt := range []struct {
		name  string
		kind  Kind
		f     func(int, *rand.Rand) float64
		found bool
		onset int
	}{
		{"traffic shifts up 60%", KindRate, at(noisy(100, 5), 1300, func(v float64, _ int) float64 { return v + 60 }), true, 1300},
		{"traffic drops by half", KindRate, at(noisy(100, 5), 1300, func(v float64, _ int) float64 { return v / 2 }), true, 1300},
		{"traffic ramps 20% over the range", KindRate, at(noisy(100, 2), 1200, func(v float64, i int) float64 { return v * (1 + 0.2*float64(i-1200)/240) }), false, 0},
		{"a burst of three samples", KindLatency, at(noisy(0.2, 0.01), 1350, func(v float64, i int) float64 {
			if i < 1353 {
				return 4 * v
			}
			return v
		}), true, 1350},
		{"one odd sample", KindLatency, at(noisy(0.2, 0.01), 1350, func(v float64, i int) float64 {
			if i == 1350 {
				return 4 * v
			}
			return v
		}), false, 0},
		{"errors 0 → 0.5% on a ratio that never moved", KindRatio, at(func(int, *rand.Rand) float64 { return 0 }, 1300, func(float64, int) float64 { return 0.005 }), false, 0},
		{"errors 0.5% → 25%", KindRatio, at(noisy(0.005, 0.001), 1300, func(float64, int) float64 { return 0.25 }), true, 1300},
		{"a restart on a count that was 0", KindCount, at(func(int, *rand.Rand) float64 { return 0 }, 1300, func(_ float64, i int) float64 {
			if i < 1310 {
				return 1
			}
			return 0
		}), true, 1300},
		{"a level that never moved twitches", KindLevel, at(func(int, *rand.Rand) float64 { return 7 }, 1300, func(float64, int) float64 { return 7.001 }), false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scanSeries(1440, time.Minute, 3, tt.f)
			s.Kind = tt.kind
			got := Scan([]Series{s}, ScanOptions{From: t0.Add(1200 * time.Minute)})
			if !tt.found {
				if len(got) > 0 {
					t.Fatalf("reported %+v", got[0])
				}
				return
			}
			if len(got) != 1 {
				t.Fatal("not reported")
			}
			f := got[0]
			if !f.Start.Equal(s.Times[tt.onset]) || f.Score < 0.5 || f.Score >= 1 || f.Confidence < 0.99 || math.IsNaN(f.Z) || math.IsInf(f.Z, 0) {
				t.Errorf("%+v, onset %v", f, s.Times[tt.onset])
			}
		})
	}
}

// TestScanRanksByPracticalSignificance: 0.5% → 25% errors ranks above a
// larger deviation in noise units of a small ratio, and above a rise of
// traffic by half.
func TestScanRanksByPracticalSignificance(t *testing.T) {
	step := func(before, after float64, sd float64) func(int, *rand.Rand) float64 {
		return func(i int, rng *rand.Rand) float64 {
			v := before
			if i >= 1300 {
				v = after
			}
			return math.Max(0, v+sd*rng.NormFloat64())
		}
	}
	series := []Series{
		scanSeries(1440, time.Minute, 1, step(0.0001, 0.02, 0.00001)), // 2 pp, z in the thousands
		scanSeries(1440, time.Minute, 2, step(0.005, 0.25, 0.001)),    // 24.5 pp
		scanSeries(1440, time.Minute, 3, step(100, 160, 3)),           // traffic 1.6×
	}
	series[0].Kind, series[1].Kind, series[2].Kind = KindRatio, KindRatio, KindRate
	got := Scan(series, ScanOptions{From: t0.Add(1200 * time.Minute)})
	var order []int
	for _, f := range got {
		order = append(order, f.Series)
	}
	if fmt.Sprint(order) != "[1 0 2]" && fmt.Sprint(order) != "[1 2 0]" {
		t.Fatalf("order %v: %+v", order, got)
	}
	if got[0].Z > 1000 || got[0].Score >= 1 {
		t.Errorf("scores are bounded: %+v", got[0])
	}
}

func TestScanUsesTheDailyRhythm(t *testing.T) {
	// Five days at 5-minute steps with a strong daily cycle; on the last
	// day a night-time hour sits at the day-time level: common as a value,
	// abnormal for the time.
	day := func(i int) float64 { return 50 + 40*math.Sin(2*math.Pi*float64(i%288)/288) }
	s := scanSeries(5*288, 5*time.Minute, 9, func(i int, rng *rand.Rand) float64 {
		v := day(i) + rng.NormFloat64()
		if i >= 4*288+200 && i < 4*288+212 {
			v = day(4*288+72) + rng.NormFloat64() // the peak's level at night
		}
		return v
	})
	got := Scan([]Series{s}, ScanOptions{From: t0.Add(4 * 24 * time.Hour)})
	if len(got) != 1 || !got[0].Seasonal || !got[0].Start.Equal(s.Times[4*288+200]) {
		t.Fatalf("findings %+v", got)
	}
}

func TestScanDegenerate(t *testing.T) {
	series := []Series{
		{},
		{Times: []time.Time{t0}, Values: []float64{1}},
		scanSeries(500, time.Minute, 3, func(int, *rand.Rand) float64 { return 5 }),
		scanSeries(500, time.Minute, 4, func(i int, _ *rand.Rand) float64 { return math.NaN() }),
		{Times: []time.Time{t0, t0}, Values: []float64{1}}, // mismatched lengths
	}
	if got := Scan(series, ScanOptions{}); len(got) != 0 {
		t.Errorf("findings on degenerate series: %+v", got)
	}
}

// TestTexts: numbers read as a person reads them — in the metric's own
// units, without zero units or spurious digits.
func TestTexts(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{describeChange(Finding{Kind: KindRatio, Baseline: 0.0056, Value: 0.25, Change: 0.2444}), "0.56% → 25% (+24.4 pp)"},
		{describeChange(Finding{Kind: KindRate, Baseline: 46.2, Value: 57.3, Change: 57.3 / 46.2}), "46.2/s → 57.3/s (+24%)"},
		{describeChange(Finding{Kind: KindBytes, Baseline: 110 << 20, Value: 380 << 20, Change: 380.0 / 110}), "110 MiB → 380 MiB (3.5×)"},
		{describeChange(Finding{Kind: KindLatency, Baseline: 0.2, Value: 0.05, Change: 0.25}), "200 ms → 50 ms (-75%)"},
		{describeChange(Finding{Kind: KindCount, Baseline: 0, Value: 3, Change: 3}), "0 → 3 (+3)"},
		{humanDuration(44 * time.Second), "44s"},
		{humanDuration(68 * time.Second), "1m"},
		{humanDuration(125 * time.Minute), "2h5m"},
		{humanDuration(30 * 24 * time.Hour), "30d"},
		{humanDuration(76 * time.Hour), "3d4h"},
		{humanDuration(-90 * time.Minute), "-1h30m"},
		{stepText(15 * time.Second), "15s"},
		{stepText(time.Minute), "1m"},
		{stepText(90 * time.Second), "1m30s"},
		{stepText(2 * time.Hour), "2h"},
		{stepText(time.Hour + 30*time.Second), "1h0m30s"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}

func TestForecast(t *testing.T) {
	// Disk usage growing a quarter of a percent an hour from 40 %, with a
	// daily wobble and noise, observed for four days.
	rng := rand.New(rand.NewPCG(1, 2))
	var ts []time.Time
	var vs []float64
	for i := range 4 * 24 * 12 {
		h := float64(i) / 12
		ts = append(ts, t0.Add(time.Duration(i)*5*time.Minute))
		vs = append(vs, 40+0.25*h+3*math.Sin(2*math.Pi*h/24)+rng.NormFloat64())
	}
	f, err := ForecastCrossing(ts, vs, ForecastOptions{Threshold: 90, Above: true})
	if err != nil {
		t.Fatal(err)
	}
	// The trend reaches 90 at hour 200.
	want := t0.Add(200 * time.Hour)
	if !f.Crosses || f.At.Sub(want).Abs() > 6*time.Hour || !f.Seasonal {
		t.Errorf("crossing %v, want about %v: %+v", f.At, want, f)
	}
	if !f.Earliest.Before(f.At) || !(f.Latest.IsZero() || f.Latest.After(f.At)) {
		t.Errorf("interval %v – %v around %v", f.Earliest, f.Latest, f.At)
	}
	if math.Abs(f.Slope-0.25) > 0.02 {
		t.Errorf("slope %v per hour", f.Slope)
	}
	// Falling toward a floor: free memory dropping to 0.
	down := make([]float64, len(vs))
	for i := range vs {
		down[i] = 100 - vs[i]
	}
	f, _ = ForecastCrossing(ts, down, ForecastOptions{Threshold: 10, Above: false})
	if !f.Crosses || f.At.Sub(want).Abs() > 6*time.Hour {
		t.Errorf("falling: %+v", f)
	}
	// Moving away, already past, too short.
	f, _ = ForecastCrossing(ts, down, ForecastOptions{Threshold: 90, Above: true})
	if f.Crosses {
		t.Errorf("a falling series does not rise past 90: %+v", f)
	}
	f, _ = ForecastCrossing(ts, vs, ForecastOptions{Threshold: 10, Above: true})
	if !f.Already {
		t.Errorf("already above 10: %+v", f)
	}
	if _, err := ForecastCrossing(ts[:5], vs[:5], ForecastOptions{Threshold: 1}); err != ErrTooShort {
		t.Errorf("short: %v", err)
	}
}

func BenchmarkBatchRobust(b *testing.B) {
	s := scanSeries(100_000, time.Minute, 1, func(i int, rng *rand.Rand) float64 { return rng.NormFloat64() })
	out := make([]float64, len(s.Values))
	scratch := make([]float64, 400)
	b.ResetTimer()
	for b.Loop() {
		batchZ(s.Values, 400, 200, out, scratch)
	}
	b.ReportMetric(float64(len(s.Values))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

func BenchmarkBatchSeasonal(b *testing.B) {
	s := scanSeries(100_000, time.Minute, 1, func(i int, rng *rand.Rand) float64 {
		return math.Sin(2*math.Pi*float64(i%1440)/1440) + rng.NormFloat64()
	})
	out := make([]float64, len(s.Values))
	scratch := make([]float64, 400)
	b.ResetTimer()
	for b.Loop() {
		batchSeasonalZ(s.Times, s.Values, 400, 200, out, scratch)
	}
	b.ReportMetric(float64(len(s.Values))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkScan10k is the figure: 10,000 series × 1,440 points
// scanned end to end (in memory) for their strongest anomaly.
func BenchmarkScan10k(b *testing.B) {
	series := make([]Series, 10_000)
	for k := range series {
		series[k] = scanSeries(1440, time.Minute, uint64(k+1), func(i int, rng *rand.Rand) float64 { return 100 + rng.NormFloat64() })
	}
	from := t0.Add(20 * time.Hour)
	b.ResetTimer()
	for b.Loop() {
		Scan(series, ScanOptions{From: from})
	}
}

func BenchmarkEnsemble(b *testing.B) {
	s := scanSeries(20_000, time.Minute, 1, func(i int, rng *rand.Rand) float64 { return rng.NormFloat64() })
	b.ResetTimer()
	for b.Loop() {
		d := New(Options{})
		for i := range s.Values {
			d.Score(s.Times[i], s.Values[i])
		}
	}
	b.ReportMetric(float64(len(s.Values))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

func TestQuickselect(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 3, 10, 101, 400} {
		for trial := range 50 {
			xs := make([]float64, n)
			for i := range xs {
				switch trial % 3 {
				case 0:
					xs[i] = rng.NormFloat64()
				case 1:
					xs[i] = float64(rng.IntN(3)) // many ties
				default:
					xs[i] = 5 // all equal
				}
			}
			want := naiveMedian(xs)
			if got := selectMedian(append([]float64(nil), xs...)); got != want {
				t.Fatalf("n=%d trial %d: median %v, want %v", n, trial, got, want)
			}
			k := rng.IntN(n)
			c := sortedCopyOf(xs)
			if got := quickselect(append([]float64(nil), xs...), k); got != c[k] {
				t.Fatalf("n=%d: %d-th %v, want %v", n, k, got, c[k])
			}
		}
	}
}

func sortedCopyOf(xs []float64) []float64 {
	c := append([]float64(nil), xs...)
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j] < c[j-1]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c
}

// TestBatchSeasonalMatchesDefinition: the residual is the value minus the
// median of up to seven earlier values at the same phase.
func TestBatchSeasonalMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	period := 48
	s := scanSeries(12*period, 30*time.Minute, 5, func(i int, _ *rand.Rand) float64 {
		v := 10*math.Sin(2*math.Pi*float64(i%period)/float64(period)) + rng.NormFloat64()
		if i%37 == 0 {
			v = math.NaN()
		}
		return v
	})
	n := len(s.Values)
	want := make([]float64, n)
	for i := range s.Values {
		var near []float64
		for d := 1; d <= 7 && i-d*period >= 0; d++ {
			if v := s.Values[i-d*period]; !math.IsNaN(v) {
				near = append(near, v)
			}
		}
		if i < period || len(near) < 2 {
			want[i] = math.NaN()
			continue
		}
		want[i] = s.Values[i] - naiveMedian(near)
	}
	expected := make([]float64, n)
	batchZ(want, 100, 50, expected, make([]float64, 100))
	got := make([]float64, n)
	if !batchSeasonalZ(s.Times, s.Values, 100, 50, got, make([]float64, 100)) {
		t.Fatal("the rhythm was not used")
	}
	for i := range got {
		if !(math.IsNaN(got[i]) && math.IsNaN(expected[i])) && math.Abs(got[i]-expected[i]) > 1e-9 {
			t.Fatalf("point %d: %v, want %v", i, got[i], expected[i])
		}
	}
}
