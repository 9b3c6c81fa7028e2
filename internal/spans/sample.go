package spans

import (
	"math"
	"sync"
	"time"
)

// SamplerOptions tune a Sampler. The zero value is valid and gives the
// defaults below.
type SamplerOptions struct {
	// BaseRate is the share of unremarkable traces kept, decided by a hash
	// of the trace ID so every replica decides alike (default 0.02;
	// negative means 0, above 1 means 1). The budget for healthy traffic
	// is 5 % (the "95 % less" a tail sampler is expected to reach); the
	// other rules keep about 3 % of it by their nature — a root above its
	// p99 is 1 % by definition, the other latency rules and brief false
	// alarms of the anomaly rules (with their decision-wait look-back)
	// about 2 % more, measured on a day of sandbox traffic — which leaves
	// 2 % for the base sample. It is the comparison for a quiet
	// operation; a misbehaving one has every trace kept anyway. (At 5 %,
	// the first default, healthy traffic came out 92 % smaller.)
	BaseRate float64
	// RareBelow: a path seen fewer than this many times among recent
	// traces is rare and kept (default 3). Two or three examples of a
	// code path are what a reader needs to see it; more are repetition.
	RareBelow int
	// Window is how many recent durations per operation the latency
	// baseline holds (default 500): enough for a stable p99 (its 5th
	// largest value), few enough to follow a deploy within minutes.
	Window int
}

// Defaults and fixed constants of the sampler, each with its reason.
const (
	DefaultBaseRate  = 0.02
	DefaultRareBelow = 3
	DefaultWindow    = 500

	// minBaseline durations before an operation has a baseline: a p99 of
	// fewer samples is a guess, and a new operation is kept anyway by the
	// new/rare path rules.
	minBaseline = 50
	// recomputeEvery inserts the baseline percentiles are recomputed: a
	// selection over Window durations every 32 inserts costs a few dozen
	// comparisons per span, and 32 new values cannot move a 500-value
	// p99 far.
	recomputeEvery = 32
	// recentDurations is the latency window of the anomaly test: its
	// median exceeding the baseline p90 means most recent calls are slow,
	// not that one was (16 values: a sustained shift is seen within 16
	// calls, and the chance that 9 of 16 healthy calls exceed their p90
	// is about 1 in 200,000).
	recentDurations = 16
	// recentErrors is the error window of the anomaly test (32 calls).
	recentErrors = 32
	// errMargin and minRecentErrors: an operation is failing unusually
	// when its recent error share exceeds its baseline share by more than
	// 5 percentage points with at least 3 errors among the last 32 calls,
	// so one or two stray errors of a quiet operation do not flag it.
	errMargin       = 0.05
	minRecentErrors = 3
	// tailSlow of the last 64 calls slower than p99 (0.64 expected)
	// makes an operation anomalous: a fault that hits only some calls
	// (one bad replica, a retry storm) and leaves the median alone. 10 or
	// more happens by chance about once in 150,000 calls even when the
	// estimated p99 is really a p97.5 (a p99 estimated from 500 values
	// is sometimes that far off); at 6 and 8, earlier choices, false
	// alarms kept 1 % more of healthy spans. The anomaly then lasts
	// while tailStay or more of the last 64 are slow: a fault hitting
	// one call in five gives 12.8 on average, and a count that dipped
	// under the entry threshold must not end it (see calmCalls). At 4, a
	// false alarm on an operation whose frozen p99 ran low could hold for
	// ten windows (one run of healthy traffic kept 20 % of its spans).
	tailSlow = 10
	tailStay = 6
	// calmCalls: an anomalous operation returns to normal only after 32
	// calls in a row without any anomaly signal. Signals flicker during a
	// fault (a median of 16 hovering at p90, a slow count dipping), and
	// each end of an anomaly unfreezes the baseline (see incidentAdmit),
	// letting the incident's admitted values set the percentiles: with a
	// p99 that is the 5th largest of 500, five of them suffice to hide a
	// fault. 32 calls bridge a flicker and cost at most 32 extra kept
	// calls after a false alarm or an incident's end.
	calmCalls = 32
	// incidentAdmit: while an operation is anomalous, only 1 in 10 of its
	// durations enters its baseline, and the baseline percentiles stay
	// frozen until a full window has been admitted — about ten windows of
	// traffic. So an incident cannot drag the baseline up and hide
	// itself, while a lasting change (a deploy, more load) becomes the new
	// normal after about ten windows and stops being kept. When the
	// anomaly ends before that, what it admitted is taken out again
	// (forgetIncident): even 1 in 10 of a 50-call incident is five values,
	// enough to become the p99 and hide the incident's next return.
	//
	// A span that is merely slower than p99 in an operation that is not
	// anomalous enters the baseline like any other: it is the tail the p99
	// is made of. Admitting every such span 1 in 10 would bias the
	// baseline low and feed back on itself: the kept p99 settles near the
	// true p91 (0.1p/(1-0.9p) = 1 % at p ≈ 9 %), and on generated traffic
	// of 18 spans a trace 53 % of healthy traces came out "slow".
	//
	// But a p99 of 500 values is its 5th largest: six slow calls admitted
	// before an intermittent fault is recognised (10 of 64 takes ~50 calls
	// at a 20 % fault) would become the new p99 and hide the fault. So a
	// span slower than p99 waits (up to maxPending of them) until 64
	// more calls of its operation have passed: if the operation turned
	// anomalous meanwhile it enters as an incident value (1 in 10),
	// otherwise it was the normal tail and enters in full. Healthy, 0.64
	// values are pending on average, so the p99 is not biased.
	//
	// (Holding back every clustered slow value instead, as a first
	// version did, biased p99 low enough to feed back into false tail
	// alarms.)
	// lateCalls is a Waiter's look-back: a held trace is kept late when it
	// called an operation within its lateCalls calls before an anomaly
	// began. set by experiment below.
	lateCalls     = 32
	incidentAdmit = 10
	maxPending    = 16
	tailCalls     = 64
	// pathDecayEvery traces all path counts halve and zeros go, so rare
	// means recently rare and the map forgets paths that stopped.
	pathDecayEvery = 10_000
	// maxPaths bounds the path counts (16 bytes each, ~3 MB). When a flood
	// of distinct paths fills it, counts decay early instead of growing.
	maxPaths = 100_000
	// maxOperations bounds the operations with latency state; a span name
	// with an ID in it would otherwise grow the map without end. Spans of
	// operations past the cap get no slow/anomalous verdict.
	maxOperations = 10_000
)

// Reason is why a trace was kept; ReasonDropped when it was not.
type Reason string

// Reasons a trace is kept, in the order the sampler tests them.
const (
	ReasonError     Reason = "error"
	ReasonSlow      Reason = "slow"
	ReasonAnomalous Reason = "anomalous_operation"
	ReasonNewPath   Reason = "new_path"
	ReasonRarePath  Reason = "rare_path"
	ReasonBase      Reason = "base"
	// ReasonAll: no sampler, every trace kept (a Store without one).
	ReasonAll     Reason = "all"
	ReasonDropped Reason = ""
)

// Decision is the sampler's verdict on one trace.
type Decision struct {
	Keep   bool
	Reason Reason
}

// Sampler is an adaptive tail sampler: it sees whole traces and keeps
// the ones that say something (an error, a slow span, an operation
// misbehaving right now, a new or rare code path) and a hash-decided
// share of the rest. It learns each operation's latency and error
// baseline from the traces it sees. Safe for concurrent use; the zero
// value is a sampler with the default options.
type Sampler struct {
	base      float64
	rareBelow uint32
	window    int

	mu     sync.Mutex
	ops    map[uint64]*opStats
	paths  map[uint64]uint32
	traces int // since the last path decay
	// seq numbers the traces decided (the first is 1); an operation's
	// lastAnomalous is the seq of the last trace that found it anomalous,
	// which is how a Waiter learns of a verdict reached after a trace.
	seq uint64
	// reused per call, under mu
	scratch  []time.Duration
	verdicts []spanVerdict
}

type spanVerdict struct {
	op              *opStats
	slow, anomalous bool
}

// NewSampler returns a sampler with o's settings, defaults filled in.
func NewSampler(o SamplerOptions) *Sampler {
	s := &Sampler{}
	s.init(o)
	return s
}

func (s *Sampler) init(o SamplerOptions) {
	s.base = o.BaseRate
	switch {
	case o.BaseRate == 0:
		s.base = DefaultBaseRate
	case o.BaseRate < 0:
		s.base = 0
	case o.BaseRate > 1:
		s.base = 1
	}
	s.rareBelow = DefaultRareBelow
	if o.RareBelow > 0 {
		s.rareBelow = uint32(min(o.RareBelow, math.MaxUint32))
	}
	s.window = o.Window
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	s.window = max(s.window, minBaseline)
	s.ops = map[uint64]*opStats{}
	s.paths = map[uint64]uint32{}
}

// KeepByHash reports whether a trace ID falls within the kept share
// rate: the ID's 64-bit FNV-1a hash, run through a mixer so that IDs
// differing in one digit spread evenly, compared with rate·2^64. Every
// replica computes the same answer for the same ID, so a trace sampled
// by one service's collector is sampled by all. rate ≤ 0 keeps nothing,
// ≥ 1 everything.
func KeepByHash(traceID string, rate float64) bool {
	if rate <= 0 {
		return false
	}
	if rate >= 1 {
		return true
	}
	h := mix64(fnvString(fnvOffset, traceID), 0)
	return float64(h) < rate*(1<<64)
}

// Decide judges one assembled trace and learns from it. The rules, in
// order, first match wins:
//
//  1. error: any span has Error set — failures are what on-call reads.
//  2. slow: the trace's root is slower than its operation's baseline
//     p99 (operation: service, span name and kind); or any span is more
//     than twice its operation's p99; or any span is above its p99 and
//     so was its operation's previous call. Not "any span above p99":
//     each of a trace's operations exceeds its p99 one time in a hundred,
//     so a trace of ~12 operations would be "slow" 12 % of the time,
//     which alone breaks a 90 % reduction (measured: 12 % of healthy
//     traces of 18 spans). The root is what the user waited for; an inner
//     span twice its p99 is a real outlier (for a lognormal spread of
//     0.5, one call in 10,000); two calls in a row above p99 happen by
//     chance one time in 10,000 too, but are how a fault starts, so a
//     sudden slowdown is kept from its second call, before the third
//     rule has seen enough calls to call it anomalous.
//  3. anomalous_operation: any span belongs to an operation anomalous
//     right now — the median of its last 16 durations exceeds its
//     baseline p90, or its last 32 calls failed more than its baseline
//     share by over 5 points with at least 3 errors, or 10 of its last
//     64 calls, or its last 3, were slower than its p99; it stays
//     anomalous until 32 calls in a row show none of these (6 of 64 slow
//     count as a sign once anomalous). During an incident
//     this keeps the normal-looking traces of the operation too, which
//     are the comparison a reader needs.
//  4. new_path: the trace's Path was never seen (since it decayed away).
//  5. rare_path: the path was seen fewer than RareBelow times recently.
//  6. base: KeepByHash(trace ID, BaseRate).
//
// An operation has no baseline (so no slow or anomalous verdicts) until
// it has 50 durations. Every span then feeds the baseline, except that a
// span of an anomalous operation enters it only one time in ten, the
// baseline stays frozen meanwhile and forgets those values if the
// anomaly ends within ten windows, and a span above p99 enters only once
// 64 more calls showed it was not the start of an incident (see
// incidentAdmit for the numbers and the reasons).
func (s *Sampler) Decide(t *Tree) Decision {
	if t == nil || len(t.Spans) == 0 {
		return Decision{}
	}
	path := t.Path()

	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideLocked(t, path)
}

func (s *Sampler) decideLocked(t *Tree, path uint64) Decision {
	if s.ops == nil {
		s.init(SamplerOptions{})
	}
	s.seq++
	failed, slow, anomalous := false, false, false
	verdicts := s.verdicts[:0]
	for i := range t.Spans {
		sp := &t.Spans[i]
		failed = failed || sp.Error
		op := s.op(sp)
		v := spanVerdict{op: op}
		if op != nil {
			v.slow = op.ready && sp.Duration > op.p99
			v.anomalous = op.anomalous
			// Twice p99, or above p99 right after a call above p99.
			slow = slow || (v.slow && (sp.Duration-op.p99 > op.p99 || op.slowBits&1 != 0))
			anomalous = anomalous || op.anomalous
		}
		verdicts = append(verdicts, v)
	}
	for _, r := range t.Roots {
		if r >= 0 && r < len(verdicts) && verdicts[r].slow {
			slow = true
		}
	}
	seen := s.paths[path]

	var d Decision
	switch {
	case failed:
		d = Decision{true, ReasonError}
	case slow:
		d = Decision{true, ReasonSlow}
	case anomalous:
		d = Decision{true, ReasonAnomalous}
	case seen == 0:
		d = Decision{true, ReasonNewPath}
	case seen < s.rareBelow:
		d = Decision{true, ReasonRarePath}
	case KeepByHash(t.ID, s.base):
		d = Decision{true, ReasonBase}
	}

	// Learn only after judging, so a trace is measured against what came
	// before it.
	for i, v := range verdicts {
		if v.op != nil {
			was := v.op.anomalous
			v.op.observe(t.Spans[i].Duration, t.Spans[i].Error, v, s.window, &s.scratch)
			v.op.called(s.seq, was)
		}
	}
	s.verdicts = verdicts[:0]
	s.countPath(path, seen)
	return d
}

// op finds or makes the state of sp's operation; nil past maxOperations.
func (s *Sampler) op(sp *Span) *opStats {
	k := hashOp(sp.ServiceName(), sp.Name, sp.Kind)
	if o, ok := s.ops[k]; ok {
		return o
	}
	if len(s.ops) >= maxOperations {
		return nil
	}
	o := &opStats{}
	s.ops[k] = o
	return o
}

func (s *Sampler) countPath(path uint64, seen uint32) {
	if seen == 0 && len(s.paths) >= maxPaths {
		s.decayPaths()
	}
	if seen < math.MaxUint32 {
		s.paths[path] = seen + 1
	}
	s.traces++
	if s.traces >= pathDecayEvery {
		s.decayPaths()
	}
}

// decayPaths halves every path count and forgets those reaching zero.
func (s *Sampler) decayPaths() {
	for p, c := range s.paths {
		if c /= 2; c == 0 {
			delete(s.paths, p)
		} else {
			s.paths[p] = c
		}
	}
	s.traces = 0
}
