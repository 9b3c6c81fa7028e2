package anomaly

import (
	"math"
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
	// of it (default 180).
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
		o.Hold = 180
	}
	return o
}

// channel is one piece of evidence: a raw statistic and how it becomes
// surprise (-log10 of a probability, or a fixed scale for statistics that
// are already comparable across series, such as a record's excess as a
// share of the range).
type channel struct {
	raw raw
	// cal, when set, turns the statistic into surprise from its own
	// history, and weight scales that surprise; otherwise the surprise is
	// gain × statistic.
	cal    *calibrator
	weight float64
	gain   float64
}

func calibrated(r raw, o Options, weight float64) *channel {
	return &channel{raw: r, cal: newCalibrator(o.Calibration), weight: weight}
}

func scaled(r raw, gain float64) *channel { return &channel{raw: r, gain: gain} }

// surprise updates the channel with a value and returns its surprise, 0
// while the channel is still learning.
func (c *channel) surprise(t time.Time, v float64) float64 {
	stat, ok := c.raw.update(t, v)
	if !ok || math.IsNaN(stat) {
		return 0
	}
	if c.cal != nil {
		return c.weight * c.cal.surprise(stat)
	}
	return math.Min(c.gain*stat, maxSurprise)
}

// ensemble sums the surprise of its channels and damps a sum that does
// not clearly exceed what was already reported in the last Hold points,
// so that an incident scores high where it starts or grows, not at every
// point of it.
//
// With a daily baseline (ds), the value channels are used until the
// baseline is found to explain the series, and the residual channels from
// then on. The residual channels learn from the residuals from the
// second day on, before the decision, so that they are calibrated when
// they take over.
type ensemble struct {
	ds       *deseason
	seasonal bool
	// always see the values and always count; value count until the
	// series turns out to be seasonal; resid see residuals and count once
	// it has.
	always, value, resid []*channel
	recent               *slidingMax
	// A sum not above ratio × the recent maximum is multiplied by damp.
	ratio, damp float64
}

func newEnsemble(o Options) *ensemble {
	o = o.withDefaults()
	return &ensemble{recent: newSlidingMax(o.Hold), ratio: 1.5, damp: 0.1}
}

// Score implements Detector.
func (e *ensemble) Score(t time.Time, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // no evidence either way; the state is left untouched
	}
	var s float64
	for _, c := range e.always {
		s += c.surprise(t, v)
	}
	if e.ds != nil {
		_, seasonal := e.ds.residual(t, v)
		e.seasonal = e.seasonal || seasonal
		if e.ds.haveResid && e.ds.decided >= 0 {
			for _, c := range e.resid {
				if x := c.surprise(t, e.ds.lastResid); e.seasonal {
					s += x
				}
			}
		}
	}
	if !e.seasonal {
		for _, c := range e.value {
			s += c.surprise(t, v)
		}
	}
	prev := e.recent.max()
	e.recent.push(s)
	if s <= prev*e.ratio {
		s *= e.damp
	}
	return toUnit(s)
}

// toUnit maps surprise (0 … a few tens) monotonically into [0, 1).
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

// design is the make-up of the default detector. Its fields are fixed for
// every series; they are parameters only so that TestVariants can report
// the alternatives side by side.
type design struct {
	// recordGain turns a record's excess (a share of the range seen) into
	// surprise: 100 makes a new extreme 10 % beyond the range as
	// surprising as a one-in-10^10 event, which is what a person sees in
	// it. 0 leaves records out.
	recordGain float64
	// localWeight scales the calibrated local deviations (robust z of the
	// values and of their steps against the last Window points).
	localWeight float64
	// residRecord adds records of the residual from the daily baseline.
	residRecord bool
	// shapes adds the change-point and isolation-forest detectors, as the
	// issue-5 ensemble had them.
	shapes bool
}

// defaultDesign is what New uses; docs/benchmarks.md has the figures
// behind each choice.
var defaultDesign = design{recordGain: 100, localWeight: 0.25, residRecord: true}

// New returns the default detector. It scores a point by how far it, or
// the recent stretch it ends, goes beyond everything seen before (records
// of the value, of its 32-point mean and of its local spread, and of the
// residual from the daily rhythm when the series has one), plus a
// quarter of the calibrated surprise of the local robust deviations of
// the value and of its step.
func New(o Options) Detector { return newDesign(o, defaultDesign) }

func newDesign(o Options, d design) *ensemble {
	o = o.withDefaults()
	e := newEnsemble(o)
	e.ds = newDeseason(o.Window)
	if d.recordGain > 0 {
		e.always = []*channel{
			scaled(newRecord(1, recordMean), d.recordGain),
			scaled(newRecord(32, recordMean), d.recordGain),
			scaled(newRecord(8, recordSpread), d.recordGain),
		}
	}
	local := func() []*channel {
		if d.localWeight <= 0 {
			return nil
		}
		cs := []*channel{calibrated(newRobustZ(o.Window), o, d.localWeight), calibrated(newDiffZ(o.Window), o, d.localWeight)}
		if d.shapes {
			cs = append(cs, calibrated(newCUSUM(o.Window), o, d.localWeight), calibrated(newIsolation(o.Window, 1), o, d.localWeight))
		}
		return cs
	}
	e.value, e.resid = local(), local()
	if d.residRecord && d.recordGain > 0 {
		e.resid = append(e.resid, scaled(newRecord(1, recordMean), d.recordGain))
	}
	return e
}

// newCalibrated is an ensemble of calibrated detectors on the values, at
// full weight: the single detectors of NewDetector.
func newCalibrated(o Options, parts ...raw) *ensemble {
	o = o.withDefaults()
	e := newEnsemble(o)
	for _, p := range parts {
		e.always = append(e.always, calibrated(p, o, 1))
	}
	return e
}
