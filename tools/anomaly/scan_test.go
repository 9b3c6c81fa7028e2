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

func TestScanRanksTheAbnormalSeries(t *testing.T) {
	var series []Series
	for k := range 40 {
		series = append(series, scanSeries(1440, time.Minute, uint64(k+1), func(i int, rng *rand.Rand) float64 {
			return 100 + 5*rng.NormFloat64()
		}))
	}
	// Series 7 jumps at 1300; series 23 has one spike at 1350.
	for i := 1300; i < 1440; i++ {
		series[7].Values[i] += 60
	}
	series[23].Values[1350] = 400
	from := t0.Add(1200 * time.Minute)
	got := Scan(series, ScanOptions{From: from})
	if len(got) < 2 || len(got) > 4 {
		t.Fatalf("%d findings: %+v", len(got), got)
	}
	ids := map[int]Finding{}
	for _, f := range got {
		ids[f.Series] = f
	}
	shift, ok1 := ids[7]
	spike, ok2 := ids[23]
	if !ok1 || !ok2 {
		t.Fatalf("findings %+v", got)
	}
	if !shift.Start.Equal(t0.Add(1300*time.Minute)) || !shift.Up || math.Abs(shift.Baseline-100) > 2 {
		t.Errorf("shift: %+v", shift)
	}
	if !spike.Peak.Equal(t0.Add(1350*time.Minute)) || spike.Value != 400 || spike.Z < 20 {
		t.Errorf("spike: %+v", spike)
	}
	if got[0].Series != 23 && got[0].Series != 7 {
		t.Errorf("strongest first: %+v", got[0])
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
