// Package anomaly finds anomalies in time series: robust, seasonal,
// isolation-forest and change-point detectors, an ensemble that turns them
// into one calibrated score in [0, 1], and forecasts of when a series will
// cross a threshold. Every detector is causal — the score of a point uses
// only that point and earlier ones — and streaming: one point at a time, in
// bounded memory.
package anomaly

import (
	"math"
	"time"
)

// Detector scores a stream. Score returns the anomaly score of the point
// just given, computed from it and the points before it only. A Detector
// is not safe for concurrent use; make one per series.
type Detector interface {
	Score(t time.Time, v float64) float64
}

// raw is a detector of one kind of deviation. Its statistic is on its own
// scale (a z-score, a path length, a cumulative sum); calibration turns it
// into a tail probability comparable across detectors and series. ok is
// false while the detector is still learning.
type raw interface {
	update(t time.Time, v float64) (stat float64, ok bool)
}

// robustZ is |v - median| / (1.4826·MAD) over the previous n values: the
// z-score that outliers do not inflate.
type robustZ struct {
	win *rolling
	min int
}

func newRobustZ(n int) *robustZ { return &robustZ{win: newRolling(n), min: min(n, 30)} }

func (d *robustZ) update(_ time.Time, v float64) (float64, bool) {
	defer d.win.push(v)
	if d.win.len() < d.min {
		return 0, false
	}
	m := d.win.median()
	return math.Abs(v-m) / robustScale(d.win, m), true
}

// robustScale is 1.4826·MAD, falling back to the interquartile range and
// then to a small fraction of the level when most values are equal, so a
// flat series that moves is still noticed without dividing by zero.
func robustScale(w *rolling, m float64) float64 {
	s := 1.4826 * w.mad(m)
	if s > 0 {
		return s
	}
	if iqr := w.quantile(0.9) - w.quantile(0.1); iqr > 0 {
		return iqr / 2.563
	}
	return math.Max(math.Abs(m)*1e-3, 1e-9)
}

// diffZ is robustZ on the first differences: a jump, a spike or a drop
// that stays within the series' usual range.
type diffZ struct {
	z    *robustZ
	prev float64
	have bool
}

func newDiffZ(n int) *diffZ { return &diffZ{z: newRobustZ(n)} }

func (d *diffZ) update(t time.Time, v float64) (float64, bool) {
	if !d.have {
		d.prev, d.have = v, true
		return 0, false
	}
	dv := v - d.prev
	d.prev = v
	return d.z.update(t, dv)
}
