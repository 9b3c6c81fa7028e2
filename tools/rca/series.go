package rca

import (
	"math"
	"sort"
	"strings"
	"time"
)

// prepared is one metric of one service, read for scoring: counters turned
// into rates, ratios into percentages, error counts into errors per
// request where the service reports its requests.
type prepared struct {
	metric string
	kind   kind
	// derived says how the values were made from the input, for evidence
	// ("rate", "per request", "×100"); empty when they are the input.
	derived string
	// t are Unix seconds and v the values a person reads; bt and base
	// the same for the baseline.
	t, v     []float64
	bt, base []float64
	// counts marks counts of events (a counter's increments, or whole
	// numbers per interval), whose noise is Poisson: 0 → 3 errors is
	// noise, 0 → 300 is not, whatever the level was. perCount turns a
	// value into its count (the seconds a rate was taken over).
	counts              bool
	perCount, bperCount []float64
}

// prepareService reads one service's metrics (and their baseline).
func prepareService(metrics, baseline map[string][]Sample) []prepared {
	names := make([]string, 0, len(metrics))
	for m := range metrics {
		names = append(names, m)
	}
	sort.Strings(names)
	out := make([]prepared, 0, len(names))
	for _, m := range names {
		p := prepared{metric: m, kind: kindOf(m)}
		p.t, p.v = unzip(metrics[m])
		p.bt, p.base = unzip(baseline[m])
		if isCounter(m, p.v) {
			p.t, p.v, p.perCount = rate(p.t, p.v)
			p.bt, p.base, p.bperCount = rate(p.bt, p.base)
			p.derived = "rate"
			p.counts = true
		} else if wholeNumbers(p.v) && wholeNumbers(p.base) && maxOf(p.v) > 0 {
			p.counts = true
		}
		if len(p.v) == 0 {
			continue
		}
		if p.kind.bounded && !strings.Contains(strings.ToLower(m), "pct") && !strings.Contains(strings.ToLower(m), "percent") &&
			maxOf(p.v) <= 1.0001 && maxOf(p.base) <= 1.0001 {
			scaleBy(p.v, 100)
			scaleBy(p.base, 100)
			p.derived = "×100"
		}
		out = append(out, p)
	}
	return perRequest(out)
}

// perRequest replaces counts of errors with errors per request (in %)
// where the service reports its requests: 0 → 3 errors a minute is noise
// at 100 requests a second and an outage at 3. The request series of the
// same component (the part of the name before the last "/") is preferred.
func perRequest(ps []prepared) []prepared {
	for i := range ps {
		p := &ps[i]
		if p.kind.name != "errors" || p.kind.bounded {
			continue
		}
		best := -1
		for j, q := range ps {
			if q.kind.role != RoleTraffic || q.kind.dir == -1 {
				continue
			}
			if best < 0 || component(q.metric) == component(p.metric) && component(ps[best].metric) != component(p.metric) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		q := ps[best]
		t, v := ratioAt(p.t, p.v, q.t, q.v)
		if len(t) < len(p.t)/2 {
			continue // the two are not sampled together
		}
		p.t, p.v = t, v
		p.bt, p.base = ratioAt(p.bt, p.base, q.bt, q.base)
		p.kind.bounded = true
		p.counts, p.perCount, p.bperCount = false, nil, nil
		p.derived = "per request"
	}
	return ps
}

// ratioAt divides a by b (×100, at most 100) where both have a sample at the
// same time and b is positive.
func ratioAt(ta, a, tb, b []float64) ([]float64, []float64) {
	var t, v []float64
	j := 0
	for i := range ta {
		for j < len(tb) && tb[j] < ta[i] {
			j++
		}
		if j < len(tb) && tb[j] == ta[i] && b[j] > 0 {
			t = append(t, ta[i])
			v = append(v, math.Min(100*math.Max(a[i], 0)/b[j], 100))
		}
	}
	return t, v
}

func component(metric string) string {
	if i := strings.LastIndex(metric, "/"); i >= 0 {
		return metric[:i]
	}
	return ""
}

// isCounter reports whether a series is a cumulative counter: named as one
// (Prometheus's _total) and mostly non-decreasing, or never decreasing
// over many samples except for resets to near zero.
func isCounter(metric string, v []float64) bool {
	if len(v) < 3 {
		return false
	}
	up, down := 0, 0
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] > v[i-1]:
			up++
		case v[i] < v[i-1]:
			// A reset starts again near zero.
			if v[i] > v[i-1]/2 {
				down++
			}
		}
	}
	words := splitWords(metric)
	named := false
	for _, w := range words {
		if w == "total" || w == "counter" || w == "cumulative" {
			named = true
		}
	}
	if named {
		return down*5 <= len(v) && up > 0
	}
	return len(v) >= 8 && down == 0 && up >= len(v)*9/10
}

// wholeNumbers reports whether every value is a non-negative integer.
func wholeNumbers(v []float64) bool {
	for _, x := range v {
		if x < 0 || x != math.Trunc(x) {
			return false
		}
	}
	return true
}

// rate turns a counter into a per-second rate at each sample after the
// first, and the seconds each was taken over; a reset counts from zero.
func rate(t, v []float64) ([]float64, []float64, []float64) {
	if len(v) < 2 {
		return nil, nil, nil
	}
	rt := make([]float64, 0, len(v)-1)
	rv := make([]float64, 0, len(v)-1)
	rd := make([]float64, 0, len(v)-1)
	for i := 1; i < len(v); i++ {
		dt := t[i] - t[i-1]
		if dt <= 0 {
			continue
		}
		d := v[i] - v[i-1]
		if d < 0 {
			d = v[i]
		}
		rt = append(rt, t[i])
		rv = append(rv, d/dt)
		rd = append(rd, dt)
	}
	return rt, rv, rd
}

// unzip splits samples into times and values, dropping values that are
// not finite and, when a case was built in memory (from Prometheus, which
// can answer NaN), putting them in time order with duplicates averaged as
// LoadCase does: the scorer relies on ordered, finite samples.
func unzip(s []Sample) ([]float64, []float64) {
	clean := true
	for i, x := range s {
		if math.IsNaN(x.V) || math.IsInf(x.V, 0) || (i > 0 && !x.T.After(s[i-1].T)) {
			clean = false
			break
		}
	}
	if !clean {
		finite := make([]Sample, 0, len(s))
		for _, x := range s {
			if !math.IsNaN(x.V) && !math.IsInf(x.V, 0) {
				finite = append(finite, x)
			}
		}
		s, _, _ = tidy(finite)
	}
	t := make([]float64, len(s))
	v := make([]float64, len(s))
	for i, x := range s {
		t[i] = float64(x.T.UnixNano()) / 1e9
		v[i] = x.V
	}
	return t, v
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

func scaleBy(v []float64, k float64) {
	for i := range v {
		v[i] *= k
	}
}

// samplingStep is the case's typical interval between samples: the median
// of each series' median gap.
func samplingStep(c *Case) time.Duration {
	var gaps []float64
	for _, m := range c.Metrics {
		for _, s := range m {
			if len(s) < 2 {
				continue
			}
			d := make([]float64, 0, len(s)-1)
			for i := 1; i < len(s); i++ {
				// Out of order or repeated samples say nothing of the step.
				if g := s[i].T.Sub(s[i-1].T).Seconds(); g > 0 {
					d = append(d, g)
				}
			}
			if len(d) == 0 {
				continue
			}
			sort.Float64s(d)
			gaps = append(gaps, d[len(d)/2])
		}
	}
	if len(gaps) == 0 {
		return time.Minute
	}
	sort.Float64s(gaps)
	return time.Duration(gaps[len(gaps)/2] * float64(time.Second))
}

// quantile of sorted values, linear interpolation.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}

// median of values (copied, not changed).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	return medianInPlace(s)
}

// medianInPlace is the median of v, reordering v: a selection in linear
// time, since the ranker takes thousands of medians per case.
func medianInPlace(v []float64) float64 {
	n := len(v)
	if n == 0 {
		return math.NaN()
	}
	hi := selectKth(v, n/2)
	if n%2 == 1 {
		return hi
	}
	// The lower middle is the largest of the half below.
	lo := v[0]
	for _, x := range v[1 : n/2] {
		lo = math.Max(lo, x)
	}
	return (lo + hi) / 2
}

// selectKth puts the k-th smallest value at v[k], smaller ones before it
// and larger ones after (Hoare's selection, median-of-three pivots).
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// mad is the median absolute deviation from c, scaled to a normal's
// standard deviation.
func mad(v []float64, c float64) float64 {
	if len(v) == 0 {
		return 0
	}
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = math.Abs(x - c)
	}
	return 1.4826 * medianInPlace(d)
}
