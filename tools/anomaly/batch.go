package anomaly

import (
	"math"
	"time"
)

// The batch detectors score a whole series at once, for scanning many
// series: the median and MAD of a trailing window are recomputed every hop
// points (by selection, in linear time) and used for the points of the
// next hop. A point's score still uses only earlier points — the window
// ends before the hop it scores — so they are causal like the streaming
// detectors, at a fraction of the cost.

// batchZ writes |robust z| of each value against a window of earlier
// values into out (NaN where there is not yet a window). scratch must hold
// window values.
func batchZ(vals []float64, window, hop int, out, scratch []float64) {
	n := len(vals)
	minWin := min(window, 30)
	for start := 0; start < n; start += hop {
		end := min(start+hop, n)
		lo := max(0, start-window)
		w := scratch[:0]
		for _, v := range vals[lo:start] {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				w = append(w, v)
			}
		}
		if len(w) < minWin {
			for i := start; i < end; i++ {
				out[i] = math.NaN()
			}
			continue
		}
		m := selectMedian(w)
		for i := range w {
			w[i] = math.Abs(w[i] - m)
		}
		s := 1.4826 * selectMedian(w)
		if s <= 0 {
			s = math.Max(math.Abs(m)*1e-3, 1e-9)
		}
		inv := 1 / s
		for i := start; i < end; i++ {
			out[i] = math.Abs(vals[i]-m) * inv
		}
	}
}

// selectMedian returns the median of xs, reordering them (quickselect).
func selectMedian(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return quickselect(xs, n/2)
	}
	a := quickselect(xs, n/2)
	// The other middle value is the largest of the lower half.
	b := xs[0]
	for _, x := range xs[1 : n/2] {
		if x > b {
			b = x
		}
	}
	return (a + b) / 2
}

// quickselect puts the k-th smallest of xs at xs[k] and returns it. The
// partitions are branch-free (the comparison becomes an index step), which
// on noisy data avoids a misprediction per element, and three-way, so runs
// of equal values — a flat series — take linear time.
func quickselect(xs []float64, k int) float64 {
	lo, hi := 0, len(xs) // the k-th is in xs[lo:hi]
	for hi-lo > 1 {
		s := xs[lo:hi]
		p := median3(s[0], s[len(s)/2], s[len(s)-1])
		j := partitionLess(s, p)
		m := j + partitionLessEq(s[j:], p)
		switch kk := k - lo; {
		case kk < j:
			hi = lo + j
		case kk >= m:
			lo += m
		default:
			xs[k] = p
			return p
		}
	}
	return xs[k]
}

// partitionLess moves the values below p to the front and returns their
// count.
func partitionLess(s []float64, p float64) int {
	j := 0
	for i, x := range s {
		s[i] = s[j]
		s[j] = x
		j += b2i(x < p)
	}
	return j
}

func partitionLessEq(s []float64, p float64) int {
	j := 0
	for i, x := range s {
		s[i] = s[j]
		s[j] = x
		j += b2i(x <= p)
	}
	return j
}

func median3(a, b, c float64) float64 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	if a > b {
		return a
	}
	return b
}

// batchSeasonalZ writes |robust z| of each value's residual from the same
// time of day in the previous days (seasonalBaseline), the residuals'
// scale taken from a window of earlier residuals. It returns false when
// the series has no daily rhythm to use.
func batchSeasonalZ(times []time.Time, vals []float64, window, hop int, out, scratch []float64) bool {
	n := len(vals)
	base := make([]float64, n)
	if !seasonalBaseline(times, vals, base, scratch) {
		return false
	}
	resid := make([]float64, n)
	for i, v := range vals {
		resid[i] = v - base[i]
		if math.IsInf(v, 0) {
			resid[i] = math.NaN()
		}
	}
	batchZ(resid, window, hop, out, scratch)
	return true
}

// seasonalBaseline writes into base, for each point, the median of up to
// seven earlier values at the same time of day (NaN until there are two).
// It returns false when the series has no daily rhythm to use: too short
// (less than two days and 30 points), an irregular step, or a baseline
// that explains the values no better than their median does (the
// residuals' mean absolute size is not below 70 % of the values'); base
// is then undefined. scratch holds the sample the median is taken from.
func seasonalBaseline(times []time.Time, vals []float64, base, scratch []float64) bool {
	n := len(vals)
	if n < 16 {
		return false
	}
	step := medianStep(times[:16])
	if step <= 0 || (24*time.Hour)%step != 0 {
		return false
	}
	period := int(24 * time.Hour / step)
	if period < 12 || period > 4000 || n < 2*period+30 {
		return false
	}
	// Phase by phase, slide a sorted window over the last 7 days' values
	// at that phase: the baseline of a day is the median of the window
	// before the day's value joins it.
	for p := 0; p < period && p < n; p++ {
		var win, ring [7]float64
		cnt, head, filled := 0, 0, 0
		for i := p; i < n; i += period {
			switch {
			case cnt < 2:
				base[i] = math.NaN()
			case cnt%2 == 1:
				base[i] = win[cnt/2]
			default:
				base[i] = (win[cnt/2-1] + win[cnt/2]) / 2
			}
			v := vals[i]
			if math.IsInf(v, 0) {
				v = math.NaN()
			}
			if filled == 7 {
				// Drop the value from seven days ago.
				old := ring[head]
				if old == old {
					at := 0
					for at < cnt && win[at] != old {
						at++
					}
					copy(win[at:cnt], win[at+1:cnt])
					cnt--
				}
			} else {
				filled++
			}
			ring[head] = v
			head = (head + 1) % 7
			if v == v {
				at := cnt
				for at > 0 && win[at-1] > v {
					win[at] = win[at-1]
					at--
				}
				win[at] = v
				cnt++
			}
		}
	}
	// Does the rhythm explain the values? Compare over the points that
	// have a baseline.
	w := scratch[:0]
	for i := 0; i < n && len(w) < cap(scratch); i += max(1, n/cap(scratch)) {
		if v := vals[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
			w = append(w, v)
		}
	}
	if len(w) == 0 {
		return false
	}
	m := selectMedian(w)
	var sumR, sumV float64
	for i, v := range vals {
		if r := v - base[i]; !math.IsNaN(r) && !math.IsInf(r, 0) {
			sumR += math.Abs(r)
			sumV += math.Abs(v - m)
		}
	}
	return sumV > 0 && sumR < 0.7*sumV
}
