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
}

// Finding is the strongest anomaly of one series inside the scanned range.
type Finding struct {
	Series int // index in the scanned slice
	// Start and End bound the anomalous stretch (|z| ≥ 3 around the
	// peak); Peak is its most anomalous point.
	Start, Peak, End time.Time
	// Score is the peak's anomaly score in [0, 1]; Z its robust z-score.
	Score float64
	Z     float64
	// Value at the peak, and Baseline: the median before the range.
	Value, Baseline float64
	// Up is true when the value rose above its baseline.
	Up bool
	// Seasonal says the daily rhythm was taken into account.
	Seasonal bool
}

// ScanOptions configure Scan; zero values are the defaults.
type ScanOptions struct {
	// From is where the range of interest starts; points before it are
	// history only. The zero time scores every point after the window.
	From time.Time
	// Window is the trailing points of robust statistics (default 240)
	// and Hop how often they are recomputed (default Window/2).
	Window, Hop int
	// Threshold is the score a finding must reach (default 0.83, the
	// ensemble's NAB-optimised threshold for the standard profile).
	Threshold float64
	// Workers bound parallel series (default GOMAXPROCS).
	Workers int
}

// zScore maps a robust z-score to [0, 1] through its two-sided normal tail
// probability, as surprise -log10 p.
func zScore(z float64) float64 {
	p := math.Erfc(z / math.Sqrt2)
	if p < 1e-300 {
		return toUnit(300)
	}
	return toUnit(-math.Log10(p))
}

// Scan looks for the strongest anomaly in each series within the range
// and returns the findings above the threshold, most anomalous first.
func Scan(series []Series, o ScanOptions) []Finding {
	if o.Window <= 0 {
		o.Window = 240
	}
	if o.Hop <= 0 {
		o.Hop = max(1, o.Window/2)
	}
	if o.Threshold <= 0 {
		o.Threshold = 0.83
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
		if f != nil && f.Score >= o.Threshold && f.Z >= MinZ {
			out = append(out, *f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Z > out[j].Z
	})
	return out
}

// stretch widens a peak to the contiguous points around it whose robust
// deviation stays at least 3, not before first.
func stretch(z []float64, peak, first int) (start, end int) {
	start, end = peak, peak
	for start > first && !math.IsNaN(z[start-1]) && z[start-1] >= 3 {
		start--
	}
	for end < len(z)-1 && !math.IsNaN(z[end+1]) && z[end+1] >= 3 {
		end++
	}
	return start, end
}

// baselineBefore is the median of up to window values before end
// (NaN when there are none), using buf as scratch.
func baselineBefore(vals []float64, end, window int, buf []float64) float64 {
	for _, v := range vals[max(0, end-window):end] {
		if !math.IsNaN(v) {
			buf = append(buf, v)
		}
	}
	if len(buf) == 0 {
		return math.NaN()
	}
	return selectMedian(buf)
}

type scanBuffers struct{ robust, seasonal, scratch []float64 }

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

func scanOne(idx int, s Series, o ScanOptions, buf *scanBuffers) *Finding {
	n := len(s.Values)
	if n == 0 || len(s.Times) != n {
		return nil
	}
	buf.robust = grow(buf.robust, n)
	buf.seasonal = grow(buf.seasonal, n)
	buf.scratch = grow(buf.scratch, o.Window)
	batchZ(s.Values, o.Window, o.Hop, buf.robust, buf.scratch)
	z := buf.robust
	seasonal := batchSeasonalZ(s.Times, s.Values, o.Window, o.Hop, buf.seasonal, buf.scratch)
	if seasonal {
		// The daily baseline explains the series: deviations from it are
		// what counts (a day-time level at night is an anomaly even when
		// the value itself is common).
		z = buf.seasonal
	}
	first := sort.Search(n, func(i int) bool { return !s.Times[i].Before(o.From) })
	peak := -1
	for i := first; i < n; i++ {
		if !math.IsNaN(z[i]) && (peak < 0 || z[i] > z[peak]) {
			peak = i
		}
	}
	if peak < 0 {
		return nil
	}
	start, end := stretch(z, peak, first)
	// The baseline is the median before the range (or before the stretch).
	base := baselineBefore(s.Values, min(first, start), o.Window, buf.scratch[:0])
	return &Finding{Series: idx, Start: s.Times[start], Peak: s.Times[peak], End: s.Times[end],
		Score: zScore(z[peak]), Z: z[peak], Value: s.Values[peak], Baseline: base,
		Up: s.Values[peak] >= base, Seasonal: seasonal}
}
