package anomaly

import (
	"math"
	"time"
)

// What a record is taken of.
const (
	recordMean   = iota // the mean of the last k values
	recordSpread        // the log of the standard deviation of the last k values
)

// record is how far a view of the series goes beyond everything seen
// before, as a share of the range seen: 0 inside the range, 0.1 for a new
// maximum (or minimum) 10 % of the range past the old one. It is the
// deviation a person sees on a chart of the whole series — a value
// leaving the band the series has always stayed in — and it is
// scale-free without any estimate of noise, so it means the same on a
// flat error ratio, a noisy latency and a byte counter. A series that
// repeats itself (a daily spike of the same height) sets no new records;
// one that breaks out does, once per new extreme.
//
// Views: the value itself (k = 1) for spikes and drops, the mean of the
// last 32 values for shifts that noise hides point by point, and the
// local spread (log standard deviation of the last 8 values) for noise
// that bursts or a series that goes flat.
type record struct {
	k, view int
	buf     []float64
	sum     float64
	lo, hi  float64
	seen    int
	warm    int
}

func newRecord(k, view int) *record {
	return &record{k: k, view: view, lo: math.Inf(1), hi: math.Inf(-1), warm: 50}
}

func (d *record) update(_ time.Time, v float64) (float64, bool) {
	d.buf = append(d.buf, v)
	d.sum += v
	if len(d.buf) > d.k {
		d.sum -= d.buf[0]
		d.buf = d.buf[1:]
	}
	if len(d.buf) < d.k {
		return 0, false
	}
	x := d.sum / float64(d.k)
	if d.view == recordSpread {
		// The floor keeps a flat stretch finite; it sits far below any
		// real spread relative to the values, so flat-lining still counts.
		x = math.Log(stddev(d.buf) + 1e-12*(1+math.Abs(x)))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	lo, hi := d.lo, d.hi
	d.lo, d.hi = math.Min(d.lo, x), math.Max(d.hi, x)
	d.seen++
	if d.seen <= d.warm {
		return 0, false
	}
	r := hi - lo
	if r <= 0 {
		// Everything so far was one value: any move is news, measured
		// against the value's own magnitude.
		r = math.Max(math.Abs(hi)*1e-3, 1e-9)
	}
	switch {
	case x > hi:
		return (x - hi) / r, true
	case x < lo:
		return (lo - x) / r, true
	}
	return 0, true
}
