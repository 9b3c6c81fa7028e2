package spans

import (
	"math"
	"math/bits"
	"time"
)

// The per-operation baseline the sampler judges spans against: a
// reservoir of recent durations with its p90, p99 and error share, and
// the short windows that say whether the operation misbehaves right now.
// The numbers and their reasons are with the constants in sample.go.

// opStats is what the sampler knows of one operation (service, span
// name, kind).
type opStats struct {
	// ring is the baseline reservoir: the last Window admitted durations
	// and whether each failed.
	ring      []time.Duration
	ringFlags []uint8
	next      int
	dirty     int
	// p90, p99 and errShare are the baseline, recomputed from ring; ready
	// once ring holds minBaseline durations.
	ready    bool
	p90, p99 time.Duration
	errShare float64
	// admitted counts durations admitted while anomalous (frozen
	// baseline), suspects the anomalous spans seen (1 in incidentAdmit
	// is admitted).
	admitted int
	suspects int

	// aboveP90 holds, for the last 16 calls, whether each was slower
	// than p90 (bit 0 the latest); recentN how many are filled.
	aboveP90 uint16
	recentN  int

	recentErr      [recentErrors]bool
	recentErrN     int
	recentErrPos   int
	recentErrCount int

	// slowBits holds, for the last 64 calls, whether each was slower than
	// p99 (bit 0 the latest); slowN how many bits are filled.
	slowBits uint64
	slowN    int

	anomalous bool
	calm      int // calls in a row without an anomaly signal, while anomalous
	// For a Waiter's late verdicts: lastAnomalous is the Sampler.seq of
	// the last trace after which the operation was anomalous (0: never),
	// lookback the seq of its call lateCalls calls before its latest
	// anomaly began — the calls the anomaly may have begun with before
	// it was recognised. recentSeqs holds the seqs of its last lateCalls
	// calls (a ring at seqPos).
	lastAnomalous, lookback uint64
	recentSeqs              [lateCalls]uint64
	seqPos                  int

	// calls counts every call; pending holds slow calls not yet admitted
	// (see incidentAdmit).
	calls   uint64
	pending []pendingSlow
}

type pendingSlow struct {
	d      time.Duration
	failed bool
	at     uint64 // the call's number
}

// observe feeds one span's outcome to its operation's state.
func (o *opStats) observe(d time.Duration, failed bool, v spanVerdict, window int, scratch *[]time.Duration) {
	o.aboveP90 <<= 1
	if o.ready && d > o.p90 {
		o.aboveP90 |= 1
	}
	o.recentN = min(o.recentN+1, recentDurations)

	if o.recentErrN == recentErrors {
		if o.recentErr[o.recentErrPos] {
			o.recentErrCount--
		}
	} else {
		o.recentErrN++
	}
	o.recentErr[o.recentErrPos] = failed
	if failed {
		o.recentErrCount++
	}
	o.recentErrPos = (o.recentErrPos + 1) % recentErrors

	o.calls++
	o.slowBits <<= 1
	if v.slow {
		o.slowBits |= 1
	}
	o.slowN = min(o.slowN+1, 64)

	switch {
	case v.anomalous:
		o.incident(d, failed, window, scratch)
	case v.slow:
		// Held back until it is clear whether it began an incident.
		if len(o.pending) == maxPending {
			p := o.pending[0]
			o.pending = append(o.pending[:0], o.pending[1:]...)
			o.incident(p.d, p.failed, window, scratch)
		}
		o.pending = append(o.pending, pendingSlow{d, failed, o.calls})
	default:
		o.admit(d, failed, window, scratch)
	}
	was := o.anomalous
	if o.ready && (o.slowNow() || o.failingNow() || o.tailNow()) {
		o.anomalous, o.calm = true, 0
	} else if was && o.calm < calmCalls {
		o.calm++
	} else {
		o.anomalous = false
	}
	switch {
	case o.anomalous && !was:
		o.admitted = 0
	case o.anomalous && o.admitted >= window:
		// A whole window admitted since the anomaly began (about ten
		// windows of traffic): the change has lasted, it is the new
		// normal. Take the baseline from it.
		// The latency bits were judged against the old baseline; start
		// them afresh so they do not prolong the anomaly.
		o.admitted = 0
		for i := range o.ringFlags {
			o.ringFlags[i] &^= entryIncident
		}
		o.recompute(scratch)
		o.aboveP90, o.recentN, o.slowBits, o.slowN = 0, 0, 0, 0
		o.anomalous = o.failingNow()
	case !o.anomalous && was:
		o.forgetIncident()
		o.recompute(scratch)
	}
	if o.anomalous {
		for _, p := range o.pending {
			o.incident(p.d, p.failed, window, scratch)
		}
		o.pending = o.pending[:0]
	} else if len(o.pending) > 0 && o.pending[0].at+tailCalls <= o.calls {
		k := 0
		for ; k < len(o.pending) && o.pending[k].at+tailCalls <= o.calls; k++ {
			o.admit(o.pending[k].d, o.pending[k].failed, window, scratch)
		}
		o.pending = append(o.pending[:0], o.pending[k:]...)
	}
}

// called records that the trace seq called the operation, and when the
// call found it anomalous, from when and until when late verdicts apply
// (was: whether it was anomalous before the call).
func (o *opStats) called(seq uint64, was bool) {
	oldest := o.recentSeqs[o.seqPos]
	o.recentSeqs[o.seqPos] = seq
	o.seqPos = (o.seqPos + 1) % lateCalls
	if !o.anomalous {
		return
	}
	if !was {
		o.lookback = oldest
		if oldest == 0 {
			o.lookback = 1 // fewer than lateCalls calls so far: all of them
		}
	}
	o.lastAnomalous = seq
}

// lateFor reports whether the trace seq, held by a Waiter, called the
// operation within the look-back of an anomaly that began after it.
func (o *opStats) lateFor(seq uint64) bool {
	return o.lastAnomalous != 0 && o.lookback <= seq && seq <= o.lastAnomalous
}

// incident admits a duration of an anomalous operation, 1 time in 10.
func (o *opStats) incident(d time.Duration, failed bool, window int, scratch *[]time.Duration) {
	o.suspects++
	if o.suspects%incidentAdmit == 0 {
		o.admit(d, failed, window, scratch)
		if o.anomalous {
			o.admitted++
		}
	}
}

// Flags of a baseline entry.
const (
	entryFailed   = 1 << iota
	entryIncident // admitted while the operation was anomalous
)

// admit puts one duration into the baseline reservoir. While the
// operation is anomalous the percentiles stay frozen at their value
// before the anomaly, so the incident is judged against the normal it
// departed from, until a full window of it was admitted.
func (o *opStats) admit(d time.Duration, failed bool, window int, scratch *[]time.Duration) {
	var flags uint8
	if failed {
		flags |= entryFailed
	}
	if o.anomalous {
		flags |= entryIncident
	}
	if len(o.ring) < window {
		o.ring = append(o.ring, d)
		o.ringFlags = append(o.ringFlags, flags)
	} else {
		o.ring[o.next] = d
		o.ringFlags[o.next] = flags
		o.next = (o.next + 1) % window
	}
	o.dirty++
	if !o.anomalous && (o.dirty >= recomputeEvery || (!o.ready && len(o.ring) >= minBaseline)) {
		o.recompute(scratch)
	}
}

// forgetIncident removes from the baseline what an anomaly that ended
// admitted: it was an incident, not a new normal, and five of its values
// would otherwise be the p99 for the next window. The ring is rewritten
// oldest first, so it fills and wraps on in order.
func (o *opStats) forgetIncident() {
	keepD, keepF := o.ring[:0:0], o.ringFlags[:0:0]
	n := len(o.ring)
	for k := range n {
		i := (o.next + k) % n
		if o.ringFlags[i]&entryIncident == 0 {
			keepD = append(keepD, o.ring[i])
			keepF = append(keepF, o.ringFlags[i])
		}
	}
	if len(keepD) == n {
		return
	}
	copy(o.ring, keepD)
	copy(o.ringFlags, keepF)
	o.ring, o.ringFlags = o.ring[:len(keepD)], o.ringFlags[:len(keepF)]
	o.next = 0
}

func (o *opStats) recompute(scratch *[]time.Duration) {
	o.dirty = 0
	if len(o.ring) < minBaseline {
		return
	}
	buf := append((*scratch)[:0], o.ring...)
	// Two selections instead of a sort: O(Window), and the second runs
	// over the top tenth only.
	i90, i99 := rank(len(buf), 0.90), rank(len(buf), 0.99)
	selectNth(buf, i90)
	selectNth(buf[i90:], i99-i90)
	o.p90, o.p99 = buf[i90], buf[i99]
	errs := 0
	for _, f := range o.ringFlags {
		if f&entryFailed != 0 {
			errs++
		}
	}
	o.errShare = float64(errs) / float64(len(o.ringFlags))
	o.ready = true
	*scratch = buf
}

// rank is the index of the q-quantile in n sorted values by the
// nearest-rank method: the smallest value with at least q of the values
// at or below it.
func rank(n int, q float64) int {
	return min(max(int(math.Ceil(q*float64(n)))-1, 0), n-1)
}

// selectNth reorders v so that v[k] is the value a sort would put there,
// with nothing larger before it and nothing smaller after (Hoare's
// quickselect with a median-of-three pivot; linear on average).
func selectNth(v []time.Duration, k int) {
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
			return
		}
	}
}

// slowNow: the median of the last 16 durations exceeds the baseline
// p90, that is, more than half of them (9 or more) were slower than p90.
// Counting bits set when each call was judged costs nothing per call,
// where sorting the 16 would.
func (o *opStats) slowNow() bool {
	return o.recentN == recentDurations && bits.OnesCount16(o.aboveP90) > recentDurations/2
}

// failingNow: the recent error share exceeds the baseline share by more
// than errMargin, with at least minRecentErrors errors.
func (o *opStats) failingNow() bool {
	if o.recentErrCount < minRecentErrors || o.recentErrN == 0 {
		return false
	}
	recent := float64(o.recentErrCount) / float64(o.recentErrN)
	return recent > o.errShare+errMargin
}

// tailNow: at least tailSlow of the last 64 calls were slower than p99,
// where about 0.64 are expected — or the last three were (one in a
// million by chance), the onset of a slowdown seen before the median
// moves. Once anomalous, tailStay of 64 keep it so.
func (o *opStats) tailNow() bool {
	n := bits.OnesCount64(o.slowBits)
	if o.anomalous {
		return n >= tailStay
	}
	return (o.slowN >= 3 && o.slowBits&7 == 7) || (o.slowN == 64 && n >= tailSlow)
}
