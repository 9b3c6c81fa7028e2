package spans

import (
	"slices"
	"time"
)

// MaxSpans is the most spans of one trace Build keeps; the rest are
// counted in Tree.Dropped. Real traces of a batch job reach tens of
// thousands of spans; the analyses stay linear in this bound.
const MaxSpans = 50_000

// Tree is a trace assembled for analysis. Hostile input is repaired, not
// trusted, and every repair is counted so an answer can say so.
type Tree struct {
	ID    string
	Spans []Span
	// Children lists each span's children by index, earliest first.
	Children [][]int
	// Roots are the spans without a parent in the trace: the true root
	// first (the earliest span without a parent ID), then orphans.
	Roots []int
	// Orphans name a parent the trace does not hold (it was lost or
	// sampled away).
	Orphans int
	// Cycles is how many parent links were cut because they led back to
	// the span itself.
	Cycles int
	// Skewed counts children starting before their parent or ending
	// after it: the hosts' clocks disagree. Self time clips them.
	Skewed int
	// Dropped counts spans past MaxSpans and repeated span IDs.
	Dropped int
}

// Build assembles t's spans into a tree. It is linear in the number of
// spans (plus sorting each span's children by start) and never panics:
// duplicates past the first span of an ID are dropped, parent links to
// missing spans make orphans, and loops are cut.
func Build(t Trace) *Tree {
	tr := &Tree{ID: t.ID}
	n0 := min(len(t.Spans), MaxSpans)
	index := make(map[string]int, n0)
	tr.Spans = make([]Span, 0, n0)
	for _, s := range t.Spans {
		if len(tr.Spans) >= MaxSpans {
			tr.Dropped++
			continue
		}
		if _, dup := index[s.SpanID]; dup {
			tr.Dropped++
			continue
		}
		index[s.SpanID] = len(tr.Spans)
		tr.Spans = append(tr.Spans, s)
	}
	n := len(tr.Spans)
	// One allocation for the per-span integers: parent links, child
	// counts (prefix sums), fill cursors and the children backing array.
	ints := make([]int, 4*n+1)
	parent, count, fill, backing := ints[:n:n], ints[n:2*n+1:2*n+1], ints[2*n+1:3*n+1:3*n+1], ints[3*n+1:]
	for i, s := range tr.Spans {
		parent[i] = -1
		if s.ParentID == "" {
			continue
		}
		if s.ParentID == s.SpanID {
			tr.Cycles++
			continue
		}
		p, ok := index[s.ParentID]
		if !ok {
			tr.Orphans++
			continue
		}
		parent[i] = p
	}
	// Cut cycles: walk up from every span; a walk that meets a span of its
	// own walk has found a loop, which is cut at the span it met. Every
	// span joins one walk only, so this is linear.
	state := make([]uint8, n) // 0 unseen, 1 on the current walk, 2 done
	var walk []int
	for i := range n {
		walk = walk[:0]
		j := i
		for j >= 0 && state[j] == 0 {
			state[j] = 1
			walk = append(walk, j)
			j = parent[j]
		}
		if j >= 0 && state[j] == 1 {
			parent[j] = -1
			tr.Cycles++
		}
		for _, k := range walk {
			state[k] = 2
		}
	}
	// Children share one backing array; each list is capped so an append
	// by a caller cannot spill into its neighbour's.
	var nTrue int
	for i := range n {
		switch p := parent[i]; {
		case p >= 0:
			count[p+1]++
		case tr.Spans[i].ParentID == "":
			nTrue++
		}
	}
	for i := 1; i <= n; i++ {
		count[i] += count[i-1]
	}
	copy(fill, count[:n])
	tr.Children = make([][]int, n)
	roots := make([]int, n-count[n]) // true roots, then orphans
	nextTrue, nextOrphan := 0, nTrue
	for i := range n {
		p := parent[i]
		if p < 0 {
			if tr.Spans[i].ParentID == "" {
				roots[nextTrue] = i
				nextTrue++
			} else {
				roots[nextOrphan] = i
				nextOrphan++
			}
			continue
		}
		backing[fill[p]] = i
		fill[p]++
		c, ps := &tr.Spans[i], &tr.Spans[p]
		if c.Start.Before(ps.Start) || c.End().After(ps.End()) {
			tr.Skewed++
		}
	}
	byStart := func(ix []int) {
		if len(ix) < 2 {
			return
		}
		slices.SortStableFunc(ix, func(a, b int) int { return tr.Spans[a].Start.Compare(tr.Spans[b].Start) })
	}
	for p := range n {
		if lo, hi := count[p], count[p+1]; hi > lo {
			tr.Children[p] = backing[lo:hi:hi]
			byStart(tr.Children[p])
		}
	}
	byStart(roots[:nTrue])
	byStart(roots[nTrue:])
	tr.Roots = roots
	return tr
}

// Root is the trace's root span, false for an empty trace.
func (t *Tree) Root() (Span, bool) {
	if len(t.Roots) == 0 {
		return Span{}, false
	}
	return t.Spans[t.Roots[0]], true
}

// Duration is the trace's extent: the first start to the last end.
func (t *Tree) Duration() time.Duration {
	if len(t.Spans) == 0 {
		return 0
	}
	first, last := t.Spans[0].Start, t.Spans[0].End()
	for _, s := range t.Spans[1:] {
		if s.Start.Before(first) {
			first = s.Start
		}
		if s.End().After(last) {
			last = s.End()
		}
	}
	return last.Sub(first)
}

// SelfTime is the part of span i's duration none of its children cover,
// children clipped to the span (so a skewed child cannot make it
// negative) and overlapping children counted once.
func (t *Tree) SelfTime(i int) time.Duration {
	s := t.Spans[i]
	start, end := s.Start, s.End()
	covered := time.Duration(0)
	cur := start // children are sorted by start; cur is the covered frontier
	for _, c := range t.Children[i] {
		cs, ce := t.Spans[c].Start, t.Spans[c].End()
		if cs.Before(cur) {
			cs = cur
		}
		if ce.After(end) {
			ce = end
		}
		if ce.After(cs) {
			covered += ce.Sub(cs)
			cur = ce
		}
	}
	return max(s.Duration-covered, 0)
}

// Edge is one call between services: a client span and, when the callee
// is instrumented and answered, its server span.
type Edge struct {
	Caller, Callee string
	// Operation is the client span's name.
	Operation string
	// Client is the call as the caller saw it; Server the callee's own
	// span (0 when there is none). Network is what lies between: the
	// wire, queues and retries, owned by the caller's side of the call.
	Client, Server, Network time.Duration
	Error                   bool
	// Span is the client span's index in the tree.
	Span int
}

// Edges lists the calls between services in t: every client (or
// producer) span, matched with the server span of another service below
// it. The callee of a call nobody answered is taken from peer.service or
// server.address.
func (t *Tree) Edges() []Edge {
	var out []Edge
	for i, s := range t.Spans {
		if s.Kind != KindClient && s.Kind != KindProducer {
			continue
		}
		e := Edge{Caller: s.ServiceName(), Operation: s.Name, Client: s.Duration, Error: s.Error, Span: i}
		for _, c := range t.Children[i] {
			cs := t.Spans[c]
			if cs.ServiceName() != e.Caller || cs.Kind == KindServer || cs.Kind == KindConsumer {
				e.Callee, e.Server = cs.ServiceName(), cs.Duration
				break
			}
		}
		if e.Callee == "" {
			e.Callee = s.Attrs["peer.service"]
			if e.Callee == "" {
				e.Callee = s.Attrs["server.address"]
			}
			if e.Callee == "" {
				e.Callee = UnknownService
			}
		}
		e.Network = max(e.Client-e.Server, 0)
		out = append(out, e)
	}
	return out
}

// Step is one span's share of the critical path.
type Step struct {
	Span int
	// Self is the time on the critical path spent in this span itself.
	Self time.Duration
}

// CriticalPath is the chain of spans the trace waited on: from the root,
// each step follows the child that finished last (within its parent),
// and the time not covered by that child belongs to the parent. Bounded
// by the tree's depth; cycles were cut by Build.
func (t *Tree) CriticalPath() []Step {
	if len(t.Roots) == 0 {
		return nil
	}
	var out []Step
	i := t.Roots[0]
	for range len(t.Spans) {
		s := t.Spans[i]
		last := -1
		for _, c := range t.Children[i] {
			if last < 0 || t.Spans[c].End().After(t.Spans[last].End()) {
				last = c
			}
		}
		if last < 0 {
			out = append(out, Step{Span: i, Self: s.Duration})
			break
		}
		child := t.Spans[last]
		d := min(child.Duration, s.Duration)
		out = append(out, Step{Span: i, Self: max(s.Duration-d, 0)})
		i = last
	}
	return out
}

// Path is a trace's shape: the set of distinct parent→child pairs of
// (service, operation), independent of how often each call repeated or
// in what order, hashed; a root without children counts as a pair of its
// own so a lone span has a shape too. Two requests along the same code
// path share it. Linear in the spans plus a sort of one uint64 per link;
// traces of up to 64 spans allocate nothing.
func (t *Tree) Path() uint64 {
	n := len(t.Spans)
	hasChildren := len(t.Children) == n
	var nodeBuf, pairBuf [64]uint64
	node := nodeBuf[:0]
	if n > len(nodeBuf) {
		node = make([]uint64, 0, n)
	}
	for i := range t.Spans {
		s := &t.Spans[i]
		node = append(node, hashOp(s.ServiceName(), s.Name, ""))
	}
	pairs := pairBuf[:0]
	if n > len(pairBuf) {
		pairs = make([]uint64, 0, n)
	}
	if hasChildren {
		for i, cs := range t.Children {
			for _, c := range cs {
				if c >= 0 && c < n {
					pairs = append(pairs, mix64(node[i], node[c]))
				}
			}
		}
	}
	for _, r := range t.Roots {
		if r >= 0 && r < n && (!hasChildren || len(t.Children[r]) == 0) {
			pairs = append(pairs, mix64(leafMark, node[r]))
		}
	}
	slices.Sort(pairs)
	h := uint64(fnvOffset)
	for k, p := range pairs {
		if k > 0 && p == pairs[k-1] {
			continue
		}
		h = fnvUint64(h, p)
	}
	return h
}

// FNV-1a, written out so hashing a string needs no hash.Hash (and no
// allocation).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	// leafMark stands for "no parent" in the pair of a childless root.
	leafMark = 0x9e3779b97f4a7c15
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvUint64(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// hashOp hashes (service, name, kind) with separators, so ("a", "bc")
// and ("ab", "c") differ.
func hashOp(service, name, kind string) uint64 {
	h := fnvString(fnvOffset, service)
	h = fnvUint64(h, 0)
	h = fnvString(h, name)
	h = fnvUint64(h, 1)
	return fnvString(h, kind)
}

// mix64 combines an ordered pair: mix64(a, b) != mix64(b, a) in general.
// The splitmix64 finaliser spreads the bits so sorted pairs are uniform.
func mix64(a, b uint64) uint64 {
	x := a*0xbf58476d1ce4e5b9 ^ b
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
