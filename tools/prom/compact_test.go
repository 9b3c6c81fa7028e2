package prom

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

var base = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

// wave makes a noisy series; f shapes it over time.
func wave(labels map[string]string, n int, step time.Duration, f func(i int) float64) Series {
	s := Series{Labels: labels}
	for i := range n {
		noise := 0.02 * math.Sin(float64(i)*1.7) * math.Cos(float64(i)*0.3)
		s.Points = append(s.Points, Point{T: base.Add(time.Duration(i) * step), V: f(i) + noise})
	}
	return s
}

func TestSummarizeFindsLevelShifts(t *testing.T) {
	s := wave(map[string]string{"service": "checkout"}, 240, 15*time.Second, func(i int) float64 {
		if i >= 100 && i < 180 {
			return 0.25
		}
		return 0.001
	})
	sum := Summarize(s)
	if len(sum.Shifts) != 2 {
		t.Fatalf("shifts = %+v, want the rise and the fall", sum.Shifts)
	}
	rise, fall := sum.Shifts[0], sum.Shifts[1]
	if d := rise.At.Sub(base.Add(100 * 15 * time.Second)); d < -30*time.Second || d > 30*time.Second {
		t.Errorf("rise found at %s, want about %s", rise.At, base.Add(100*15*time.Second))
	}
	if rise.After < 0.2 || rise.Before > 0.05 || fall.After > 0.05 {
		t.Errorf("shift levels: %+v", sum.Shifts)
	}
	if sum.Max < 0.25 || !sum.MaxAt.After(base.Add(99*15*time.Second)) || sum.Last > 0.05 {
		t.Errorf("summary = %+v", sum)
	}
	// Noise alone is not a shift, and a single outlier is not either.
	quiet := wave(nil, 240, 15*time.Second, func(i int) float64 {
		if i == 120 {
			return 5
		}
		return 1
	})
	if sh := Summarize(quiet).Shifts; len(sh) != 0 {
		t.Errorf("noise and one outlier reported as shifts: %+v", sh)
	}
}

func TestSummarizeSkipsNonFinite(t *testing.T) {
	s := Series{Points: []Point{{base, math.NaN()}, {base.Add(time.Minute), 2}, {base.Add(2 * time.Minute), math.Inf(1)}, {base.Add(3 * time.Minute), 4}}}
	sum := Summarize(s)
	if sum.Points != 2 || sum.Min != 2 || sum.Max != 4 || sum.Mean != 3 {
		t.Errorf("summary = %+v", sum)
	}
	if Summarize(Series{Points: []Point{{base, math.NaN()}}}).Points != 0 {
		t.Error("all-NaN series")
	}
}

// TestRenderFitsBudget is the number: 50 series over 6 hours compact
// to at most 1,500 tokens and still name the series that spiked and when.
func TestRenderFitsBudget(t *testing.T) {
	var sums []Summary
	for p := range 50 {
		labels := map[string]string{"__name__": "demo_latency_seconds", "service": "api", "namespace": "prod", "pod": fmt.Sprintf("api-%02d", p)}
		s := wave(labels, 1440, 15*time.Second, func(i int) float64 {
			if p == 17 && i >= 900 && i < 1000 {
				return 0.9
			}
			return 0.05 + 0.01*float64(p%5)
		})
		sums = append(sums, Summarize(s))
	}
	Rank(sums, RankMax)
	out := Render(Rendering{Query: "demo_latency_seconds", Start: base, End: base.Add(6 * time.Hour), Step: 15 * time.Second,
		RankBy: RankMax, TopK: 10, Link: "http://prometheus:9090/graph?g0.expr=demo_latency_seconds"}, sums)
	if n := tools.EstimateTokens(out); n > 1500 {
		t.Errorf("rendered %d tokens, budget 1,500:\n%s", n, out)
	}
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[2], `pod="api-17"`) || !strings.Contains(lines[2], "changed at 11:45 from") {
		t.Errorf("the spiking series is not first, with its change time:\n%s", out)
	}
	for _, want := range []string{`all share demo_latency_seconds{namespace="prod", service="api"}`, "the 10 with the highest max are shown",
		"40 more series not shown; their max lies between", "Open: http://prometheus:9090/graph"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRankBy(t *testing.T) {
	mk := func(name string, vals ...float64) Summary {
		s := Series{Labels: map[string]string{"s": name}}
		for i, v := range vals {
			s.Points = append(s.Points, Point{base.Add(time.Duration(i) * time.Minute), v})
		}
		return Summarize(s)
	}
	sums := []Summary{mk("a", 1, 1, 1, 1), mk("b", 9, 1, 1, 1), mk("c", 2, 2, 2, 5)}
	for by, want := range map[RankBy]string{RankMax: "b", RankLast: "c", RankMean: "b", RankMin: "a"} {
		Rank(sums, by)
		if sums[0].Labels["s"] != want {
			t.Errorf("rank by %s: first is %s, want %s", by, sums[0].Labels["s"], want)
		}
	}
}

func TestChooseStep(t *testing.T) {
	for _, tt := range []struct {
		span time.Duration
		want time.Duration
	}{
		{time.Hour, 30 * time.Second},
		{6 * time.Hour, 2 * time.Minute},
		{24 * time.Hour, 10 * time.Minute},
		{10 * time.Minute, 15 * time.Second},
		{60 * 24 * time.Hour, 12 * time.Hour},
	} {
		if got := ChooseStep(base, base.Add(tt.span), 200); got != tt.want {
			t.Errorf("ChooseStep(%s) = %s, want %s", tt.span, got, tt.want)
		}
		if n := int(tt.span / ChooseStep(base, base.Add(tt.span), 200)); n > 200 && tt.span < 30*24*time.Hour {
			t.Errorf("%s gives %d points", tt.span, n)
		}
	}
}

func TestChartIsAReadablePNG(t *testing.T) {
	var series []Series
	for p := range 8 {
		series = append(series, wave(map[string]string{"service": "checkout", "pod": fmt.Sprintf("checkout-%d", p)}, 240, 15*time.Second,
			func(i int) float64 { return 0.1*float64(p) + 0.05*math.Sin(float64(i)/10) }))
	}
	series[0].Points[50].V = math.NaN() // a gap
	img, err := Chart(series, ChartOptions{Title: "p99 latency", Unit: "seconds",
		HighlightStart: base.Add(20 * time.Minute), HighlightEnd: base.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("WK_CHART_OUT"); dir != "" {
		_ = os.WriteFile(dir+"/chart.png", img, 0o644)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if b := decoded.Bounds(); b.Dx() != 1000 || b.Dy() != 500 {
		t.Errorf("chart is %dx%d, want 1000x500 (Slack's preview)", b.Dx(), b.Dy())
	}
	// The shaded window leaves orange-tinted pixels; lines leave colour.
	tinted, coloured := 0, 0
	for y := 0; y < 500; y += 2 {
		for x := 0; x < 1000; x += 2 {
			r, g, bl, _ := decoded.At(x, y).RGBA()
			if r > 0xf000 && g > 0xd000 && g < 0xf800 && bl > 0xb000 && bl < 0xe800 {
				tinted++ // white under a translucent orange
			}
			if r != g || g != bl {
				coloured++
			}
		}
	}
	if tinted < 500 || coloured < 2000 {
		t.Errorf("chart looks empty: %d shaded, %d coloured pixels", tinted, coloured)
	}
	if _, err := Chart([]Series{{Points: []Point{{base, math.NaN()}}}}, ChartOptions{}); err == nil {
		t.Error("charting nothing should fail")
	}
}

func TestUnitOf(t *testing.T) {
	for q, want := range map[string]string{
		`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`: "seconds",
		`sum(rate(http_requests_total[5m]))`:                                                     "per second",
		`container_memory_working_set_bytes`:                                                     "bytes",
		`sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))`:    "ratio",
		`rate(container_cpu_usage_seconds_total[5m])`:                                            "seconds per second",
		`up`: "",
	} {
		if got := unitOf(q); got != want {
			t.Errorf("unitOf(%s) = %q, want %q", q, got, want)
		}
	}
}

// fiftySeries is 50 series over 6 h at a 15 s step, one of which spikes.
func fiftySeries() []Series {
	var out []Series
	for p := range 50 {
		labels := map[string]string{"__name__": "demo_latency_seconds", "service": "api", "namespace": "prod", "pod": fmt.Sprintf("api-%02d", p)}
		out = append(out, wave(labels, 1440, 15*time.Second, func(i int) float64 {
			if p == 17 && i >= 900 && i < 1000 {
				return 0.9
			}
			return 0.05 + 0.01*float64(p%5)
		}))
	}
	return out
}

// BenchmarkRangeCompaction: summarising, ranking and rendering 50 series ×
// 1,440 points (72,000 samples), with the answer's size in tokens.
func BenchmarkRangeCompaction(b *testing.B) {
	series := fiftySeries()
	b.ReportAllocs()
	var out string
	for b.Loop() {
		sums := make([]Summary, len(series))
		for i, s := range series {
			sums[i] = Summarize(s)
		}
		Rank(sums, RankMax)
		out = Render(Rendering{Query: "demo_latency_seconds", Start: base, End: base.Add(6 * time.Hour), Step: 15 * time.Second, RankBy: RankMax, TopK: 10}, sums)
	}
	b.ReportMetric(float64(tools.EstimateTokens(out)), "tokens")
}

// BenchmarkChart: the PNG of the same 50 series.
func BenchmarkChart(b *testing.B) {
	series := fiftySeries()
	b.ReportAllocs()
	var png []byte
	for b.Loop() {
		var err error
		png, err = Chart(series, ChartOptions{Title: "demo_latency_seconds", Unit: "s", HighlightStart: base.Add(3 * time.Hour), HighlightEnd: base.Add(4 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(png)), "png-bytes")
}

func TestSlidingMediansMatchSorting(t *testing.T) {
	vals := make([]float64, 300)
	for i := range vals {
		vals[i] = float64((i*7919)%101) + 0.5*float64(i%3) // repeats included
	}
	for _, k := range []int{1, 2, 3, 10, 15, 300} {
		got := slidingMedians(vals, k)
		if len(got) != len(vals)-k+1 {
			t.Fatalf("k=%d: %d medians", k, len(got))
		}
		for i := range got {
			want := median(append([]float64(nil), vals[i:i+k]...))
			if got[i] != want {
				t.Fatalf("k=%d window %d: %v, want %v", k, i, got[i], want)
			}
		}
	}
}
