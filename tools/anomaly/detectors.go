package anomaly

import (
	"math"
	"sort"
	"time"
)

// deseason removes a daily rhythm: it learns the sampling step from the
// first timestamps, keeps the values of the last days per time of day, and
// returns each value minus the median of earlier values at the same time
// of day (and its neighbouring steps). It only does so while that baseline
// explains the series better than a plain rolling median does — compared
// on the spread of both residuals over a recent window — so series
// without a rhythm pass through unchanged.
type deseason struct {
	step   time.Duration
	first  []time.Time
	period int // points per day; 0 until known, -1 when not applicable
	hist   [][]float64
	days   int
	// summed absolute residuals of both baselines, to decide which
	// explains more; decided is 1 (seasonal), -1 (not) or 0 (not yet)
	flatSum, seasSum float64
	compared         int
	decided          int
	level            *rolling
	near             []float64
	// lastResid is the residual of the last value whenever a baseline
	// existed, seasonal or not yet decided.
	lastResid float64
	haveResid bool
}

func newDeseason(window int) *deseason {
	return &deseason{days: 7, level: newRolling(window)}
}

// residual returns v minus its baseline, and whether the seasonal
// baseline was used. The choice is made once, after two days and a
// hundred comparisons, and then kept: a rhythm that stops is an anomaly
// to report, not a reason to stop expecting it.
func (d *deseason) residual(t time.Time, v float64) (float64, bool) {
	defer d.level.push(v)
	d.haveResid = false
	if d.period == 0 {
		d.learnPeriod(t)
	}
	if d.period <= 0 {
		return v, false
	}
	phase := int((t.UnixNano() / int64(d.step)) % int64(d.period))
	if phase < 0 {
		phase += d.period
	}
	d.near = d.near[:0]
	for _, p := range [...]int{phase - 1, phase, phase + 1} {
		d.near = append(d.near, d.hist[(p+d.period)%d.period]...)
	}
	h := append(d.hist[phase], v)
	if len(h) > d.days {
		h = h[1:]
	}
	d.hist[phase] = h
	if len(d.near) < 6 || d.level.len() < 30 || d.decided < 0 {
		return v, false
	}
	sort.Float64s(d.near)
	base := d.near[len(d.near)/2]
	d.lastResid, d.haveResid = v-base, true
	if d.decided == 0 {
		// Compare mean absolute residuals over a day of points: medians
		// would call a square wave flat, since half its points sit on the
		// rolling median.
		d.flatSum += math.Abs(v - d.level.median())
		d.seasSum += math.Abs(v - base)
		d.compared++
		if d.compared < max(100, d.period) {
			return v, false
		}
		d.decided = -1
		if d.seasSum < 0.7*d.flatSum {
			d.decided = 1
		}
		return v, false
	}
	return v - base, true
}

func (d *deseason) learnPeriod(t time.Time) {
	if len(d.first) < 16 {
		d.first = append(d.first, t)
		return
	}
	d.period = -1
	d.step = medianStep(d.first)
	if d.step <= 0 || (24*time.Hour)%d.step != 0 {
		return
	}
	if p := int(24 * time.Hour / d.step); p >= 12 && p <= 4000 {
		d.period = p
		d.hist = make([][]float64, p)
	}
}

// seasonal is robustZ on the residual from the daily baseline.
type seasonal struct {
	ds    *deseason
	resid *robustZ
}

func newSeasonal(window int) *seasonal {
	return &seasonal{ds: newDeseason(window), resid: newRobustZ(window)}
}

func (d *seasonal) update(t time.Time, v float64) (float64, bool) {
	r, ok := d.ds.residual(t, v)
	if !ok {
		return 0, false
	}
	return d.resid.update(t, r)
}

func medianStep(ts []time.Time) time.Duration {
	var steps []time.Duration
	for i := 1; i < len(ts); i++ {
		steps = append(steps, ts[i].Sub(ts[i-1]))
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	return steps[len(steps)/2]
}

// cusum is a two-sided CUSUM on values standardised by a slow robust
// baseline: it accumulates small, persistent deviations that no single
// point shows — a level shift, a slow drift. The statistic is the larger
// of the upward and downward sums; sums decay with drift k per point.
type cusum struct {
	base     *rolling
	k        float64
	up, down float64
	min      int
}

func newCUSUM(window int) *cusum {
	return &cusum{base: newRolling(window), k: 0.5, min: min(window, 60)}
}

func (d *cusum) update(_ time.Time, v float64) (float64, bool) {
	defer d.base.push(v)
	if d.base.len() < d.min {
		return 0, false
	}
	m := d.base.median()
	z := (v - m) / robustScale(d.base, m)
	z = math.Max(-8, math.Min(8, z)) // one outlier is robustZ's job
	d.up = math.Max(0, d.up+z-d.k)
	d.down = math.Max(0, d.down-z-d.k)
	return math.Max(d.up, d.down), true
}

// isolation scores the recent shape of the series with an isolation forest
// retrained now and then on the shapes seen before: level, change,
// short-term trend, volatility and the density of jumps, all scaled by the
// series' own robust spread. It catches what no single value shows, such
// as spikes becoming frequent or a daily pattern going flat.
type isolation struct {
	level    *rolling
	diffs    *rolling
	recent   []float64 // last 48 values
	feats    [][]float64
	maxTrain int
	retrain  int
	since    int
	forest   *Forest
	prev     float64
	have     bool
	seed     uint64
	// lo and hi bound each feature over the training shapes.
	lo, hi [isoDims]float64
}

func newIsolation(window int, seed uint64) *isolation {
	return &isolation{level: newRolling(window), diffs: newRolling(window), maxTrain: 1024, retrain: 128, seed: seed}
}

const isoDims = 5

func (d *isolation) update(_ time.Time, v float64) (float64, bool) {
	if !d.have {
		d.prev, d.have = v, true
		d.level.push(v)
		d.recent = append(d.recent, v)
		return 0, false
	}
	dv := v - d.prev
	d.prev = v
	d.recent = append(d.recent, v)
	if len(d.recent) > 48 {
		d.recent = d.recent[1:]
	}
	if d.level.len() < 30 {
		d.level.push(v)
		d.diffs.push(dv)
		return 0, false
	}
	m := d.level.median()
	scale := robustScale(d.level, m)
	dm := d.diffs.median()
	dscale := robustScale(d.diffs, dm)
	f := make([]float64, isoDims)
	f[0] = (v - m) / scale
	f[1] = (dv - dm) / dscale
	n := len(d.recent)
	short := mean(d.recent[max(0, n-6):])
	long := mean(d.recent[max(0, n-24):])
	f[2] = (short - long) / scale
	f[3] = stddev(d.recent[max(0, n-12):]) / scale
	jumps := 0
	for i := max(1, n-48); i < n; i++ {
		if math.Abs(d.recent[i]-d.recent[i-1]-dm) > 3*dscale {
			jumps++
		}
	}
	f[4] = float64(jumps) / 48
	for i := range f {
		f[i] = math.Max(-50, math.Min(50, f[i]))
	}
	d.level.push(v)
	d.diffs.push(dv)
	var stat float64
	ok := d.forest != nil
	if ok {
		stat = d.forest.Score(f)
		// A shape far outside everything the forest was trained on is
		// isolated by definition, but random splits drawn inside the
		// training range cannot show it: such a point ends on the edge
		// path like the training extremes. Score it as fully isolated.
		for i, x := range f {
			lo, hi := d.lo[i], d.hi[i]
			if span := hi - lo; x > hi+span || x < lo-span {
				stat = 1
				break
			}
		}
	}
	d.feats = append(d.feats, f)
	if len(d.feats) > d.maxTrain {
		d.feats = d.feats[len(d.feats)-d.maxTrain:]
	}
	d.since++
	if len(d.feats) >= 256 && (d.forest == nil || d.since >= d.retrain) {
		d.seed++
		d.forest = FitForest(d.feats, ForestOptions{Trees: 50, Seed: d.seed})
		d.since = 0
		for i := range isoDims {
			d.lo[i], d.hi[i] = math.Inf(1), math.Inf(-1)
			for _, g := range d.feats {
				d.lo[i], d.hi[i] = math.Min(d.lo[i], g[i]), math.Max(d.hi[i], g[i])
			}
		}
	}
	return stat, ok
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := mean(xs)
	s := 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)))
}
