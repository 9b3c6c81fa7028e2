package rca

import (
	"math"
	"sort"
	"time"
)

// Evidence is one metric's movement at the onset.
type Evidence struct {
	Metric string `json:"metric"`
	// Kind is what the metric was read as (latency, errors, cpu, …,
	// unknown); Derived how its values were made from the input ("rate"
	// of a counter, errors "per request", a ratio "×100").
	Kind    string `json:"kind"`
	Derived string `json:"derived,omitempty"`
	// Score is the metric's anomaly in [0, 1]: its deviation, bounded,
	// times the trust in its kind (a metric whose bad direction is unknown
	// counts for less).
	Score float64 `json:"score"`
	// Deviation is how far the metric moved after the onset in units of
	// its noise before it (its robust spread, or the noise floor of its
	// kind when that is larger); negative when it fell.
	Deviation float64 `json:"deviation"`
	// Before is the typical value before the onset; After the most
	// deviant value after it, at Peak.
	Before float64   `json:"before"`
	After  float64   `json:"after"`
	Peak   time.Time `json:"peak"`
	// Onset is when the metric first left its normal range (zero if it
	// did not).
	Onset time.Time `json:"onset,omitzero"`

	role Role
	// z is the sustained deviation in the bad direction (≥ 0).
	z float64
	// collapse is how clearly the metric fell to a fraction of its normal
	// level and stayed there.
	collapse float64
}

// scoreScale is the deviation (in noise units) that scores 0.5: a move of
// three times the noise scores 0.27, of thirty times 0.79.
const scoreScale = 8.0

// bound maps a deviation to [0, 1): 0 → 0, scoreScale → 0.5, ∞ → 1.
func bound(z float64) float64 {
	if !(z > 0) {
		return 0
	}
	if math.IsInf(z, 1) {
		return 1
	}
	return z / (z + scoreScale)
}

// The noise floors: a percentage moves in points, and one point is noise
// (0 → 0.6 % errors is not an incident, 0.5 % → 25 % is); a count of
// events in units of its Poisson noise; anything else relatively, with the
// floor of its kind (kinds.go) or this default.
const (
	pctFloor     = 1.0
	countFloor   = 1.0
	logFloor     = 0.1
	offsetShare  = 0.1 // of the usual level, added before the logarithm
	collapseFrac = 0.3 // a fall below this share of the normal level
)

// window is where a case's samples fall relative to the onset, and how
// they are scored.
type window struct {
	onset, step   float64 // Unix seconds, seconds
	before, after float64 // seconds
	recent        float64 // seconds of the lead-in that set the level
	tuning
}

// score measures one metric: its largest sustained move after the onset,
// in the bad direction (both when unknown), in units of its noise before
// it.
//
// The sample just before the onset may already hold the fault (a sample
// stamped at the start of its interval), so it is scored as after. The
// level is the median of the recent lead-in; the noise is the robust
// spread of the lead-in and of the baseline pooled, and never less than
// the floor of the metric's kind, so a flat or zero series cannot make a
// tiny move look like a thousand spreads. A move counts when it holds for
// about three minutes of samples (at least two), so a lone spike of a
// quantile is not a fault.
func score(p prepared, w window) (Evidence, bool) {
	var refT, ref, refN, testT, testRaw, testN []float64
	count := func(per []float64, i int) float64 {
		if per == nil {
			return 1
		}
		return per[i]
	}
	// The samples are in time order: start at the window's first.
	for i := sort.SearchFloat64s(p.t, w.onset-w.before); i < len(p.t) && p.t[i] <= w.onset+w.after; i++ {
		t := p.t[i]
		switch {
		case t <= w.onset-w.step && t >= w.onset-w.before:
			refT = append(refT, t)
			ref = append(ref, p.v[i])
			refN = append(refN, count(p.perCount, i))
		case t > w.onset-w.step && t <= w.onset+w.after:
			testT = append(testT, t)
			testRaw = append(testRaw, p.v[i])
			testN = append(testN, count(p.perCount, i))
		}
	}
	if len(testRaw) == 0 || len(ref)+len(p.base) == 0 {
		return Evidence{}, false
	}
	e := Evidence{Metric: p.metric, Kind: p.kind.name, Derived: p.derived, role: p.kind.role}

	// The scale: points for percentages, Poisson units for counts of bad
	// events, the logarithm (with an offset of a tenth of the usual level,
	// so 0 → almost 0 stays small) for everything else.
	transform := func(x, _ float64) float64 { return x }
	floor := logFloor
	if p.kind.floor > 0 && !w.noKindFloors {
		floor = p.kind.floor
	}
	if w.logFloor > 0 {
		floor = w.logFloor
	}
	switch {
	case p.kind.bounded:
		floor = pctFloor
		if w.pctFloor > 0 {
			floor = w.pctFloor
		}
	case p.counts && !w.noCounts && p.kind.events:
		// The square root makes Poisson noise one unit wide.
		transform = func(x, n float64) float64 { return 2 * math.Sqrt(math.Max(x, 0)*n+0.375) }
		floor = countFloor
	default:
		level := positiveMedian(ref, p.base)
		if level == 0 {
			level = positiveMedian(testRaw, nil)
		}
		if level == 0 {
			return e, true // zero throughout
		}
		c := offsetShare * level
		transform = func(x, _ float64) float64 { return math.Log(math.Max(x, 0) + c) }
	}
	y := func(xs, ns []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			n := 1.0
			if ns != nil {
				n = ns[i]
			}
			out[i] = transform(x, n)
		}
		return out
	}
	refY, baseY, test := y(ref, refN), y(p.base, p.bperCount), y(testRaw, testN)

	// The level: the recent lead-in, or the baseline without one.
	var center, rawBefore float64
	if len(ref) > 0 {
		k := len(ref)
		for k > 0 && w.onset-refT[k-1] <= w.recent {
			k--
		}
		k = min(k, max(len(ref)-3, 0)) // at least three samples
		center = median(refY[k:])
		rawBefore = median(ref[k:])
	} else {
		center = median(baseY)
		rawBefore = median(p.base)
	}
	// The noise: deviations of the lead-in from its own median and of the
	// baseline from its own (another period may sit at another level),
	// pooled.
	var devs []float64
	for _, set := range [][]float64{refY, baseY} {
		if len(set) < 3 {
			continue
		}
		m := median(set)
		for _, x := range set {
			devs = append(devs, x-m)
		}
	}
	spread := math.Max(mad(devs, 0), floor)

	orient := func(d float64) float64 {
		switch p.kind.dir {
		case -1:
			return -d
		case 0:
			return math.Abs(d)
		}
		return d
	}
	ds := make([]float64, len(test))
	for i, x := range test {
		ds[i] = (x - center) / spread
	}
	best, bestAt := sustained(ds, orient, w)
	if p.kind.collapses && !w.noCollapse && rawBefore > 0 {
		// Fallen to a fraction of its level and stayed there: the service
		// stopped doing its work. Below the lead-in's lower quartile too:
		// the end of an earlier incident in the lead-in is a recovery, not
		// a collapse.
		after := append([]float64(nil), testRaw...)
		sort.Float64s(after)
		normal := append(append([]float64(nil), ref...), p.base...)
		sort.Float64s(normal)
		if quantile(after, 0.5) < collapseFrac*math.Min(rawBefore, quantile(normal, 0.25)) {
			down := append([]float64(nil), ds...)
			sort.Float64s(down)
			e.collapse = bound(math.Max(-quantile(down, 0.5), 0))
		}
	}
	e.Before, e.After = rawBefore, testRaw[bestAt]
	e.Peak = unixTime(testT[bestAt])
	e.Deviation = ds[bestAt]
	e.z = math.Max(best, 0)
	e.Score = p.kind.weight * bound(e.z)
	for i, d := range ds {
		if orient(d) >= 3 {
			e.Onset = unixTime(testT[i])
			break
		}
	}
	return e, true
}

// sustained is the statistic of the deviations after the onset: by
// default the largest that holds for a run of samples covering about
// three minutes (at least two samples when there are three or more; at a
// fine step, the run's lower quartile rather than its minimum, so that
// sampling noise within a long run does not hide the move). It returns
// the statistic and the index of the most deviant sample of the run.
func sustained(ds []float64, orient func(float64) float64, w window) (float64, int) {
	bestAt := 0
	for i, d := range ds {
		if orient(d) > orient(ds[bestAt]) {
			bestAt = i
		}
	}
	switch w.statistic {
	case "max":
		return orient(ds[bestAt]), bestAt
	case "second":
		if len(ds) < 3 {
			return orient(ds[bestAt]), bestAt
		}
		bs := make([]float64, len(ds))
		for i, d := range ds {
			bs[i] = orient(d)
		}
		sort.Float64s(bs)
		return bs[len(bs)-2], bestAt
	case "q0.7":
		bs := make([]float64, len(ds))
		for i, d := range ds {
			bs[i] = orient(d)
		}
		sort.Float64s(bs)
		return quantile(bs, 0.7), bestAt
	}
	span := w.runSpan
	if span == 0 {
		span = 3 * time.Minute
	}
	k := int(math.Max(1, math.Round(span.Seconds()/w.step)))
	if w.runCap {
		k = min(k, 3)
	}
	if minRun := max(w.minRun, 2); len(ds) >= 3 && w.minRun != 1 {
		k = max(k, minRun)
	}
	if k > len(ds) {
		return orient(ds[bestAt]), bestAt
	}
	best := math.Inf(-1)
	vs := make([]float64, k)
	for i := 0; i+k <= len(ds); i++ {
		for j, d := range ds[i : i+k] {
			vs[j] = orient(d)
		}
		sort.Float64s(vs)
		m := vs[0]
		if k > 3 {
			m = quantile(vs, 0.25)
		}
		if m > best {
			best = m
			bestAt = i
			for j := i; j < i+k; j++ {
				if orient(ds[j]) > orient(ds[bestAt]) {
					bestAt = j
				}
			}
		}
	}
	return best, bestAt
}

func positiveMedian(a, b []float64) float64 {
	var v []float64
	for _, x := range a {
		if x > 0 {
			v = append(v, x)
		}
	}
	for _, x := range b {
		if x > 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	return median(v)
}

func unixTime(s float64) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}
