package anomaly

import (
	"math"
	"runtime"
	"sort"
	"sync"
	"time"
)

// Series is one time series to scan.
type Series struct {
	Labels map[string]string
	Times  []time.Time
	Values []float64
	// Kind says how the series' changes are measured; KindAuto infers it
	// from the values.
	Kind Kind
	// Up says only rises matter (errors, latency); otherwise a change
	// either way does.
	Up bool
}

// Finding is the most significant change of one series inside the
// scanned range, measured against the history before it.
type Finding struct {
	Series int // index in the scanned slice
	// Start and End bound the changed stretch (at least half the change
	// that matters, around the peak); Peak is its largest point.
	Start, Peak, End time.Time
	// Score is the change's practical significance in [0, 1): its
	// Severity s mapped to s/(1+s), so 0.5 is the smallest change that
	// matters for the series' kind and 0.9 one nine times as large. It is
	// comparable across series and kinds.
	Score float64
	// Severity is the change in units of the smallest change that
	// matters: the kind's floor (1 percentage point of a ratio, a factor
	// of 1.5 of a rate, a latency or a usage, one event of a count), or
	// four times the baseline's noise when that is larger.
	Severity float64
	// Confidence is the probability that the change is not noise: one
	// minus the chance that the baseline's own variation produces a
	// deviation this large anywhere in the range (normal tail, counted
	// once per point scanned).
	Confidence float64
	// Z is the change in units of the baseline's robust spread, at most
	// 1,000 (which a baseline that never varied gives).
	Z float64
	// Value at the peak, and Baseline: what was normal there (the median
	// before the range, or of the same time on earlier days).
	Value, Baseline float64
	// Change is Value against Baseline in the kind's own terms: a
	// difference for ratios, counts and levels, a factor for rates,
	// latencies and usage.
	Change float64
	// Up is true when the value rose above its baseline.
	Up bool
	// Seasonal says the daily rhythm was the baseline.
	Seasonal bool
	Kind     Kind
}

// ScanOptions configure Scan; zero values are the defaults.
type ScanOptions struct {
	// From is where the range of interest starts; the points before it
	// are the baseline. The zero time takes the first Window points as
	// the baseline.
	From time.Time
	// Window is how many points before From make the baseline (default
	// 240).
	Window int
	// Threshold is the score a finding must reach (default 0.5: the
	// smallest change that matters).
	Threshold float64
	// MinConfidence is the confidence a finding must reach (default 0.99).
	MinConfidence float64
	// Workers bound parallel series (default GOMAXPROCS).
	Workers int
}

// zMin is how many robust spreads a change must span to count: the noise
// part of the floor.
const zMin = 4

// Scan measures each series' largest change in the range against its
// baseline and returns those that matter (Threshold, MinConfidence), most
// significant first. It is safe for concurrent use.
func Scan(series []Series, o ScanOptions) []Finding {
	if o.Window <= 0 {
		o.Window = 240
	}
	if o.Threshold <= 0 {
		o.Threshold = 0.5
	}
	if o.MinConfidence <= 0 {
		o.MinConfidence = 0.99
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	results := make([]*Finding, len(series))
	var wg sync.WaitGroup
	next := make(chan int, o.Workers)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf scanBuffers
			for i := range next {
				results[i] = scanOne(i, series[i], o, &buf)
			}
		}()
	}
	for i := range series {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []Finding
	for _, f := range results {
		if f != nil && f.Score >= o.Threshold && f.Confidence >= o.MinConfidence {
			out = append(out, *f)
		}
	}
	SortFindings(out)
	return out
}

// SortFindings orders findings by score, then confidence, then the size
// of the change against the noise, then the order of the series: ties
// never depend on names.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return before(fs[i], fs[j]) })
}

// before says a ranks above b.
func before(a, b Finding) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	if a.Confidence != b.Confidence {
		return a.Confidence > b.Confidence
	}
	if a.Z != b.Z {
		return a.Z > b.Z
	}
	return a.Series < b.Series
}

type scanBuffers struct{ x, base, scratch []float64 }

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

func scanOne(idx int, s Series, o ScanOptions, buf *scanBuffers) *Finding {
	n := len(s.Values)
	if n < 3 || len(s.Times) != n {
		return nil
	}
	first := sort.Search(n, func(i int) bool { return !s.Times[i].Before(o.From) })
	if o.From.IsZero() {
		first = min(o.Window, n/2)
	}
	if first == 0 || first >= n {
		return nil // no baseline, or nothing after it
	}
	buf.x = grow(buf.x, n)
	buf.base = grow(buf.base, n)
	buf.scratch = grow(buf.scratch, max(o.Window, n))
	m := newMeasure(s, buf.x, buf.scratch)
	if m == nil {
		return nil
	}
	m.baseline(s.Times, first, o.Window, buf.base, buf.scratch)
	peak := -1
	var best float64
	for i := first; i < n; i++ {
		e := m.effect(i)
		if math.IsNaN(e) || (s.Up && e <= 0) {
			continue
		}
		if a := math.Abs(e); peak < 0 || a > best {
			peak, best = i, a
		}
	}
	if peak < 0 {
		return nil
	}
	f := m.finding(peak, n-first)
	// The stretch: the points around the peak whose change, the same
	// way, is at least half of what matters.
	start, end := peak, peak
	half := 0.5 * m.need
	same := func(i int) bool {
		e := m.effect(i)
		return !math.IsNaN(e) && (e > 0) == f.Up && math.Abs(e) >= half
	}
	for start > first && same(start-1) {
		start--
	}
	for end < n-1 && same(end+1) {
		end++
	}
	f.Series, f.Start, f.Peak, f.End = idx, s.Times[start], s.Times[peak], s.Times[end]
	return &f
}
