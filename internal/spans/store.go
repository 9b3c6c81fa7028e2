package spans

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// StoreOptions configure a Store. The zero value keeps every trace in at
// most 64 MiB of compressed batches, with no age limit.
type StoreOptions struct {
	// Sampler decides which traces are kept; nil keeps every trace.
	Sampler *Sampler
	// DecisionWait is how many traces a trace the sampler drops is held
	// for, in case one of its operations turns anomalous meanwhile (see
	// Waiter; DefaultDecisionWait when zero, none when negative). A held
	// trace is not found by Get or Find until it is kept.
	DecisionWait int
	// MaxBytes is the compressed bytes held; past it the oldest batches
	// are dropped (default 64 MiB).
	MaxBytes int64
	// MaxAge drops batches whose newest span ended before Now()-MaxAge
	// (0: no limit).
	MaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultStoreBytes is the compressed size a Store holds by default:
// at the ~30 bytes a compressed span takes, about two million spans.
const DefaultStoreBytes = 64 << 20

// Limits of Query.Limit, as Jaeger's UI uses them.
const (
	DefaultQueryLimit = 20
	MaxQueryLimit     = 1500
)

// Store holds kept traces as zstd-compressed batches, one per Add, with
// an in-memory index (trace ID → batches; service → operations) so that
// Get, Services and Operations decompress nothing or one batch, and Find
// only the batches overlapping its window. Memory is bounded by MaxBytes
// of compressed data plus the index. Safe for concurrent use:
// compression and decompression run outside the lock. Make one with
// NewStore; the zero value is not usable.
type Store struct {
	// waiter judges traces, one Add at a time (waitMu); nil keeps all.
	waitMu   sync.Mutex
	waiter   *Waiter
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time
	enc      *zstd.Encoder
	dec      *zstd.Decoder

	mu      sync.Mutex
	seq     uint64
	batches []*batch // oldest first
	byID    map[string][]*batch
	ops     map[opRef]int // batches holding each (service, operation, kind)
	bytes   int64
	stats   StoreStats
	// decoded counts batches decompressed, for tests of Find's pruning.
	decoded atomic.Int64
}

type opRef struct{ service, name, kind string }

// batch is the kept traces of one Add call.
type batch struct {
	seq              uint64
	minStart, maxEnd time.Time // over all its spans
	data             []byte    // zstd
	raw              int64
	ids              []string
	ops              []opRef
}

// NewStore returns an empty store. It fails only if zstd cannot be set
// up, which is a bug rather than a condition to handle.
func NewStore(o StoreOptions) (*Store, error) {
	// EncodeAll and DecodeAll may run concurrently, one call per encoder
	// or decoder the options create (GOMAXPROCS by default). With no
	// stream to read or write, neither starts a goroutine, so the store
	// needs no Close.
	// A batch is one step's traces (tens to hundreds of kilobytes): a 1 MiB
	// window compresses it as well as the default 8 MiB one, and the
	// encoder then holds a few megabytes instead of tens.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("trace store: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, fmt.Errorf("trace store: zstd decoder: %w", err)
	}
	s := &Store{
		maxBytes: o.MaxBytes,
		maxAge:   max(o.MaxAge, 0),
		now:      o.Now,
		enc:      enc,
		dec:      dec,
		byID:     map[string][]*batch{},
		ops:      map[opRef]int{},
		stats:    StoreStats{KeptBy: map[Reason]int64{}},
	}
	if o.Sampler != nil {
		s.waiter = NewWaiter(o.Sampler, o.DecisionWait)
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultStoreBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// StoreStats count what a Store saw and kept. RawBytes and
// CompressedBytes are of the batches held now; the other counts are
// since the store was made.
type StoreStats struct {
	TracesSeen, SpansSeen, TracesKept, SpansKept int64
	RawBytes, CompressedBytes                    int64
	Batches                                      int
	KeptBy                                       map[Reason]int64
}

// Add offers complete traces to the store: each is assembled, judged by
// the sampler, and the kept ones are compressed together as one batch —
// with any trace held by the decision wait that is now kept. It returns
// how many traces the batch holds. Spans are stored as given (the
// tree's repairs are not written back), so what Get returns is what was
// added. Retention then drops the oldest batches past MaxBytes — a
// single batch larger than MaxBytes too, so add in batches well below
// it (the sandbox adds every second or so).
func (s *Store) Add(traces []Trace) (kept int) {
	var spansSeen int64
	for _, t := range traces {
		spansSeen += int64(len(t.Spans))
	}
	return s.keep(s.judge(traces), int64(len(traces)), spansSeen)
}

// Flush ends the decision wait: held traces are judged on what the
// sampler knows now and the kept ones stored. It returns how many were.
func (s *Store) Flush() int {
	if s.waiter == nil {
		return 0
	}
	s.waitMu.Lock()
	verdicts := slices.Clone(s.waiter.Flush())
	s.waitMu.Unlock()
	return s.keep(verdicts, 0, 0)
}

// judge returns the verdicts final after offering traces, in order.
func (s *Store) judge(traces []Trace) []Verdict {
	var out []Verdict
	if s.waiter == nil {
		for _, t := range traces {
			if len(t.Spans) > 0 {
				out = append(out, Verdict{t, Decision{Keep: true, Reason: ReasonAll}})
			}
		}
		return out
	}
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for _, t := range traces {
		out = append(out, s.waiter.Offer(t)...)
	}
	return out
}

// keep compresses the kept verdicts as one batch and adds it, counting
// tracesSeen and spansSeen as offered.
func (s *Store) keep(verdicts []Verdict, tracesSeen, spansSeen int64) int {
	var keep []Trace
	reasons := make(map[Reason]int64)
	var spansKept int64
	b := &batch{}
	seenOps := map[opRef]bool{}
	for _, v := range verdicts {
		if !v.Decision.Keep {
			continue
		}
		t := v.Trace
		reasons[v.Decision.Reason]++
		keep = append(keep, t)
		spansKept += int64(len(t.Spans))
		b.ids = append(b.ids, t.ID)
		for i := range t.Spans {
			sp := &t.Spans[i]
			if b.minStart.IsZero() || sp.Start.Before(b.minStart) {
				b.minStart = sp.Start
			}
			if end := sp.End(); end.After(b.maxEnd) {
				b.maxEnd = end
			}
			r := opRef{sp.ServiceName(), sp.Name, sp.Kind}
			if !seenOps[r] {
				seenOps[r] = true
				b.ops = append(b.ops, r)
			}
		}
	}
	if len(keep) > 0 {
		raw := appendTraces(nil, keep)
		b.raw = int64(len(raw))
		b.data = s.enc.EncodeAll(raw, make([]byte, 0, len(raw)/4))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TracesSeen += tracesSeen
	s.stats.SpansSeen += spansSeen
	s.stats.TracesKept += int64(len(keep))
	s.stats.SpansKept += spansKept
	for r, n := range reasons {
		s.stats.KeptBy[r] += n
	}
	if len(keep) > 0 {
		s.seq++
		b.seq = s.seq
		s.batches = append(s.batches, b)
		s.bytes += int64(len(b.data))
		s.stats.RawBytes += b.raw
		for _, id := range b.ids {
			if l := s.byID[id]; len(l) == 0 || l[len(l)-1] != b {
				s.byID[id] = append(l, b)
			}
		}
		for _, r := range b.ops {
			s.ops[r]++
		}
	}
	s.retainLocked()
	return len(keep)
}

// retainLocked drops batches past MaxAge, then the oldest ones until the
// store fits MaxBytes.
func (s *Store) retainLocked() {
	if s.maxAge > 0 {
		cutoff := s.now().Add(-s.maxAge)
		if slices.ContainsFunc(s.batches, func(b *batch) bool { return b.maxEnd.Before(cutoff) }) {
			kept := s.batches[:0]
			for _, b := range s.batches {
				if b.maxEnd.Before(cutoff) {
					s.forgetLocked(b)
				} else {
					kept = append(kept, b)
				}
			}
			clear(s.batches[len(kept):])
			s.batches = kept
		}
	}
	drop := 0
	for drop < len(s.batches) && s.bytes > s.maxBytes {
		s.forgetLocked(s.batches[drop])
		drop++
	}
	if drop > 0 {
		s.batches = slices.Delete(s.batches, 0, drop)
	}
}

// forgetLocked removes b from the index and byte count (not from
// s.batches).
func (s *Store) forgetLocked(b *batch) {
	s.bytes -= int64(len(b.data))
	s.stats.RawBytes -= b.raw
	for _, id := range b.ids {
		l := slices.DeleteFunc(s.byID[id], func(x *batch) bool { return x == b })
		if len(l) == 0 {
			delete(s.byID, id)
		} else {
			s.byID[id] = l
		}
	}
	for _, r := range b.ops {
		if s.ops[r]--; s.ops[r] <= 0 {
			delete(s.ops, r)
		}
	}
}

// Stats returns the store's counters; the map is a copy.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retainLocked()
	st := s.stats
	st.KeptBy = make(map[Reason]int64, len(s.stats.KeptBy))
	for r, n := range s.stats.KeptBy {
		st.KeptBy[r] = n
	}
	st.CompressedBytes = s.bytes
	st.Batches = len(s.batches)
	return st
}

// Services lists the services of the spans held, sorted.
func (s *Store) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retainLocked()
	seen := map[string]bool{}
	out := []string{}
	for r := range s.ops {
		if !seen[r.service] {
			seen[r.service] = true
			out = append(out, r.service)
		}
	}
	slices.Sort(out)
	return out
}

// Operation is a span name of a service and the kind of its spans; one
// name with spans of two kinds is two operations, as in Jaeger.
type Operation struct {
	Name, Kind string
}

// Operations lists service's operations held, sorted by name then kind;
// empty for a service the store does not hold.
func (s *Store) Operations(service string) []Operation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retainLocked()
	out := []Operation{}
	for r := range s.ops {
		if r.service == service {
			out = append(out, Operation{Name: r.name, Kind: r.kind})
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// Get returns the trace with id, its spans from every batch holding
// part of it, false when the store holds none.
func (s *Store) Get(id string) (Trace, bool) {
	s.mu.Lock()
	s.retainLocked()
	bs := slices.Clone(s.byID[id])
	s.mu.Unlock()
	if len(bs) == 0 {
		return Trace{}, false
	}
	out := Trace{ID: id}
	for _, b := range bs {
		ts, err := s.decode(b, func(x string) bool { return x == id })
		if err != nil {
			continue // cannot happen for bytes this store wrote; see decode
		}
		for _, t := range ts {
			out.Spans = append(out.Spans, t.Spans...)
		}
	}
	return out, len(out.Spans) > 0
}

func (s *Store) decode(b *batch, keep func(string) bool) ([]Trace, error) {
	s.decoded.Add(1)
	raw, err := s.dec.DecodeAll(b.data, make([]byte, 0, b.raw))
	if err != nil {
		return nil, fmt.Errorf("trace batch %d: %w", b.seq, err)
	}
	return decodeTraces(raw, keep)
}

// Find returns the traces matching q, newest (latest root start) first,
// at most q.Limit. It decompresses only the batches whose spans overlap
// [q.Start, q.End] and hold q's service and operation, newest batches
// first, and stops once no older batch can hold a trace newer than the
// ones it has.
func (s *Store) Find(q Query) []Trace {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultQueryLimit
	}
	limit = min(limit, MaxQueryLimit)

	s.mu.Lock()
	s.retainLocked()
	var cand []*batch
	for _, b := range s.batches {
		if !q.End.IsZero() && b.minStart.After(q.End) {
			continue
		}
		if !q.Start.IsZero() && b.maxEnd.Before(q.Start) {
			continue
		}
		if q.Service != "" && !slices.ContainsFunc(b.ops, func(r opRef) bool {
			return r.service == q.Service && (q.Operation == "" || r.name == q.Operation)
		}) {
			continue
		}
		cand = append(cand, b)
	}
	s.mu.Unlock()
	// Newest data first: sort by the latest span end.
	slices.SortFunc(cand, func(a, b *batch) int { return b.maxEnd.Compare(a.maxEnd) })

	type hit struct {
		t     Trace
		start time.Time
		seq   uint64
	}
	var hits []hit
	seen := map[string]bool{}
	for _, b := range cand {
		if len(hits) >= limit {
			// hits is sorted newest first; an older batch can only
			// contribute if it holds a trace starting after the
			// limit-th one, and its traces all start before its end.
			if !b.maxEnd.After(hits[limit-1].start) {
				break
			}
		}
		ts, err := s.decode(b, func(id string) bool { return !seen[id] })
		if err != nil {
			continue
		}
		for _, t := range ts {
			tree := Build(t)
			if !Match(tree, q) {
				continue
			}
			seen[t.ID] = true
			hits = append(hits, hit{t: t, start: traceStart(tree), seq: b.seq})
		}
		slices.SortStableFunc(hits, func(a, b hit) int {
			return cmp.Or(b.start.Compare(a.start), cmp.Compare(b.seq, a.seq))
		})
		if len(hits) > limit {
			hits = hits[:limit]
		}
	}
	out := make([]Trace, 0, len(hits))
	for _, h := range hits {
		s.mu.Lock()
		parts := len(s.byID[h.t.ID])
		s.mu.Unlock()
		if parts > 1 { // late spans went to another batch: join them
			if full, ok := s.Get(h.t.ID); ok {
				h.t = full
			}
		}
		out = append(out, h.t)
	}
	return out
}

// traceStart is when the trace began: its root's start, else its
// earliest span's.
func traceStart(t *Tree) time.Time {
	if r, ok := t.Root(); ok {
		return r.Start
	}
	var first time.Time
	for i := range t.Spans {
		if first.IsZero() || t.Spans[i].Start.Before(first) {
			first = t.Spans[i].Start
		}
	}
	return first
}
