package anomaly

import (
	"math"
	"sort"
	"time"
)

// Options configure detectors. Zero values mean the defaults, which are
// the same for every series: nothing is tuned per series.
type Options struct {
	// Window is how many earlier points robust statistics use (default 400).
	Window int
	// Calibration is how many earlier statistics a detector's tail is
	// estimated from (default 3,000).
	Calibration int
	// Hold is how many points after a high score a lower one is damped:
	// an incident is reported when it starts or grows, not at every point
	// of it (default 120).
	Hold int
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = 400
	}
	if o.Calibration <= 0 {
		o.Calibration = 3000
	}
	if o.Hold <= 0 {
		o.Hold = 120
	}
	return o
}

// ensemble runs several raw detectors, turns each statistic into surprise,
// and reports the largest, damped while it does not exceed what was
// already reported in the last Hold points.
type ensemble struct {
	// ds, when set, removes a daily rhythm first; build makes the
	// detectors, again when the series turns out to be seasonal, so that
	// they learn the residual from scratch.
	ds       *deseason
	seasonal bool
	build    func() []raw
	o        Options
	parts    []raw
	cals     []*calibrator
	recent   *slidingMax
	damp     float64
	// ratio is how much a score must exceed the recent maximum to be
	// reported at full strength.
	ratio       float64
	mode        string
	extrapolate float64
}

func newEnsemble(o Options, parts ...raw) *ensemble {
	o = o.withDefaults()
	e := &ensemble{o: o, parts: parts, recent: newSlidingMax(o.Hold), damp: 0.1, ratio: 1.5, mode: "sum", extrapolate: -1}
	e.resetCalibration()
	return e
}

// newSeasonalEnsemble is an ensemble on the residual from the daily
// baseline once one is found, and on the values until then.
func newSeasonalEnsemble(o Options, build func() []raw) *ensemble {
	e := newEnsemble(o, build()...)
	e.ds, e.build = newDeseason(e.o.Window), build
	return e
}

func (e *ensemble) resetCalibration() {
	e.cals = e.cals[:0]
	for range e.parts {
		c := newCalibrator(e.o.Calibration)
		c.extrapolate = e.extrapolate
		e.cals = append(e.cals, c)
	}
}

// Score implements Detector.
func (e *ensemble) Score(t time.Time, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // no evidence either way; the state is left untouched
	}
	if e.ds != nil {
		r, seasonal := e.ds.residual(t, v)
		if seasonal && !e.seasonal {
			e.seasonal = true
			e.parts = e.build()
			e.resetCalibration()
		}
		v = r
	}
	var ss [8]float64
	k := 0
	for i, p := range e.parts {
		stat, ok := p.update(t, v)
		if !ok || math.IsNaN(stat) {
			continue
		}
		ss[k] = e.cals[i].surprise(stat)
		k++
	}
	s := e.combine(ss[:k])
	prev := e.recent.max()
	e.recent.push(s)
	if s <= prev*e.ratio {
		s *= e.damp
	}
	return toUnit(s)
}

// combine merges the detectors' surprises.
func (e *ensemble) combine(ss []float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(ss)))
	switch e.mode {
	case "top2":
		if len(ss) == 1 {
			return ss[0] / 2
		}
		return (ss[0] + ss[1]) / 2
	case "sum":
		t := 0.0
		for _, x := range ss {
			t += x
		}
		return t
	case "soft":
		// max plus a share of the second: agreement raises the score.
		if len(ss) == 1 {
			return ss[0]
		}
		return ss[0] + 0.5*ss[1]
	}
	return ss[0]
}

// toUnit maps surprise (0 … maxSurprise) monotonically into [0, 1).
func toUnit(s float64) float64 { return 1 - math.Exp(-s/4) }

// slidingMax is the maximum of the last n values (a monotonic deque).
type slidingMax struct {
	n    int
	i    int
	idx  []int
	vals []float64
}

func newSlidingMax(n int) *slidingMax { return &slidingMax{n: n} }

func (m *slidingMax) push(v float64) {
	for len(m.vals) > 0 && m.vals[len(m.vals)-1] <= v {
		m.vals = m.vals[:len(m.vals)-1]
		m.idx = m.idx[:len(m.idx)-1]
	}
	m.vals = append(m.vals, v)
	m.idx = append(m.idx, m.i)
	m.i++
	for m.idx[0] <= m.i-1-m.n {
		m.vals = m.vals[1:]
		m.idx = m.idx[1:]
	}
}

func (m *slidingMax) max() float64 {
	if len(m.vals) == 0 {
		return 0
	}
	return m.vals[0]
}

// New returns the default detector: the ensemble of every detector.
func New(o Options) Detector {
	o = o.withDefaults()
	return newSeasonalEnsemble(o, func() []raw {
		return []raw{newRobustZ(o.Window), newDiffZ(o.Window), newCUSUM(o.Window), newIsolation(o.Window, 1)}
	})
}
