package spans

// DefaultDecisionWait is how many traces a Waiter holds a dropped trace
// for. The sampler calls an operation anomalous within 64 of its calls
// (see tailCalls; an error-share rise takes about a dozen), so a wait of
// 1,024 traces covers every operation on at least one trace in 16 —
// the services an alert is about — at a memory cost of 1,024 traces
// (a few megabytes of 20-span traces).
const DefaultDecisionWait = 1024

// ReasonLate: the trace was held after the sampler would have dropped
// it, and one of its operations turned anomalous before the wait ended —
// it was among the first calls of an incident, before the incident was
// recognisable.
const ReasonLate Reason = "anomalous_operation_late"

// Verdict is a trace and the sampler's final decision on it.
type Verdict struct {
	Trace    Trace
	Decision Decision
}

// Waiter gives a Sampler a decision wait, as tail-sampling collectors
// do: a trace the sampler would drop is held for the next Wait traces,
// and kept after all (ReasonLate) if one of its operations is found
// anomalous meanwhile and the trace's call was among the operation's 64
// calls before that (the most any anomaly rule needs to see it; a longer
// look-back would keep healthy traces from before the fault, and every
// false alarm's). Without it the first calls of an incident are
// lost: an operation is anomalous only once enough of its calls showed
// it (measured on a sandbox bad deploy: 8 of 95 touched traces dropped
// before the error share flagged checkout). Kept traces are final at
// once; only dropped ones wait.
//
// Not safe for concurrent use: one goroutine offers traces in order.
// The zero value is not usable; make one with NewWaiter.
type Waiter struct {
	sampler *Sampler
	wait    int
	held    []heldTrace // a FIFO; held[head:] are waiting
	head    int
	out     []Verdict
}

type heldTrace struct {
	trace Trace
	seq   uint64 // the sampler's seq of its decision
}

// NewWaiter wraps s with a decision wait of wait traces
// (DefaultDecisionWait when zero; negative means none: every verdict
// is final at once).
func NewWaiter(s *Sampler, wait int) *Waiter {
	if wait == 0 {
		wait = DefaultDecisionWait
	}
	return &Waiter{sampler: s, wait: max(wait, 0)}
}

// Offer judges t and returns the verdicts that are final now, in the
// order they became final: t's when it is kept, and those of held traces
// whose wait ended. The returned slice is reused by the next call.
func (w *Waiter) Offer(t Trace) []Verdict {
	w.out = w.out[:0]
	if len(t.Spans) == 0 {
		return w.out
	}
	tree := Build(t)
	path := tree.Path()
	s := w.sampler
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.decideLocked(tree, path)
	if d.Keep || w.wait == 0 {
		w.out = append(w.out, Verdict{t, d})
	} else {
		w.held = append(w.held, heldTrace{t, s.seq})
	}
	for len(w.held)-w.head > 0 && s.seq-w.held[w.head].seq >= uint64(w.wait) {
		w.releaseLocked()
	}
	w.compact()
	return w.out
}

// Flush ends every wait and returns the held traces' verdicts, judged on
// what the sampler knows now. The returned slice is reused by the next
// call.
func (w *Waiter) Flush() []Verdict {
	w.out = w.out[:0]
	w.sampler.mu.Lock()
	defer w.sampler.mu.Unlock()
	for len(w.held)-w.head > 0 {
		w.releaseLocked()
	}
	w.compact()
	return w.out
}

// Held is how many traces are waiting.
func (w *Waiter) Held() int { return len(w.held) - w.head }

// releaseLocked ends the oldest wait: the trace is kept when an operation
// of its spans was anomalous after it was judged.
func (w *Waiter) releaseLocked() {
	h := w.held[w.head]
	w.held[w.head] = heldTrace{}
	w.head++
	d := Decision{}
	for i := range h.trace.Spans {
		sp := &h.trace.Spans[i]
		if op := w.sampler.ops[hashOp(sp.ServiceName(), sp.Name, sp.Kind)]; op != nil && op.lateFor(h.seq) {
			d = Decision{true, ReasonLate}
			break
		}
	}
	w.out = append(w.out, Verdict{h.trace, d})
}

// compact moves the waiting traces to the front once half the slice is
// spent, so the FIFO does not grow without end.
func (w *Waiter) compact() {
	if w.head > 0 && w.head >= len(w.held)/2 {
		n := copy(w.held, w.held[w.head:])
		clear(w.held[n:])
		w.held = w.held[:n]
		w.head = 0
	}
}
