package traces

import (
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Summary is what traces_search found in a window: counts, where time
// went, the calls between services, the slowest trace's critical path, the
// failing paths, and what is new against the hour before.
type Summary struct {
	Traces      int           `json:"traces"`
	Spans       int           `json:"spans"`
	ErrorTraces int           `json:"error_traces"`
	P50         time.Duration `json:"p50"`
	P95         time.Duration `json:"p95"`
	P99         time.Duration `json:"p99"`
	Services    []ServiceTime `json:"services"`
	Edges       []EdgeStat    `json:"edges"`
	Slowest     *SlowTrace    `json:"slowest,omitempty"`
	Failing     []Failure     `json:"failing"`
	// New is set when the hour before was read.
	New     *Changes `json:"new,omitempty"`
	Repairs Repairs  `json:"repairs"`
	// Before counts the traces of the hour before.
	BeforeTraces int `json:"before_traces"`
}

// ServiceTime is one service's self time: the time its spans spent
// themselves, not waiting on a child.
type ServiceTime struct {
	Service string        `json:"service"`
	Self    time.Duration `json:"self"`
	Share   float64       `json:"share"`
}

// EdgeStat is the calls from one service to another.
type EdgeStat struct {
	Caller    string        `json:"caller"`
	Callee    string        `json:"callee"`
	Calls     int           `json:"calls"`
	Errors    int           `json:"errors"`
	ClientP50 time.Duration `json:"client_p50"`
	ClientP95 time.Duration `json:"client_p95"`
	// NetworkP95 is the p95 of client − server time: the wire, queues and
	// retries, owned by the caller's side of the call.
	NetworkP95 time.Duration `json:"network_p95"`
	// Total is the client time summed, the order of the list.
	Total time.Duration `json:"-"`
}

// SlowTrace is the slowest trace and the chain of spans it waited on.
type SlowTrace struct {
	TraceID  string        `json:"trace_id"`
	Duration time.Duration `json:"duration"`
	Steps    []PathStep    `json:"steps"`
}

// PathStep is one span of a critical path with its own time on it.
type PathStep struct {
	Service   string        `json:"service"`
	Operation string        `json:"operation"`
	Self      time.Duration `json:"self"`
}

// Failure groups the deepest failing span of error traces: where the
// error began.
type Failure struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Message   string `json:"message,omitempty"`
	Count     int    `json:"count"`
	Example   string `json:"example_trace_id"`
}

// Changes is what differs from the hour before.
type Changes struct {
	// Paths are call paths (spans.Tree.Path) not seen before.
	Paths []NewPath `json:"paths,omitempty"`
	// Slower are calls and operations whose p95 rose at least twofold.
	Slower []Slower `json:"slower,omitempty"`
	// Errors are calls and operations failing now that did not before.
	Errors []NewErrors `json:"errors,omitempty"`
}

// NewPath is a trace shape the hour before did not have; Call names one
// parent → child pair it has that the hour before never had.
type NewPath struct {
	Call    string `json:"call"`
	Count   int    `json:"count"`
	Example string `json:"example_trace_id"`
}

// Slower is a call ("a → b") or an operation ("svc op") whose p95 rose.
type Slower struct {
	What          string        `json:"what"`
	Before, After time.Duration `json:"-"`
	BeforeMS      float64       `json:"before_p95_ms"`
	AfterMS       float64       `json:"after_p95_ms"`
	Example       string        `json:"example_trace_id,omitempty"`
}

// NewErrors is a call or an operation with errors now and none before.
type NewErrors struct {
	What    string `json:"what"`
	Count   int    `json:"count"`
	Example string `json:"example_trace_id"`
}

// Repairs count what spans.Build repaired in the traces read.
type Repairs struct {
	Orphans int `json:"orphans,omitempty"`
	Cycles  int `json:"cycles,omitempty"`
	Skewed  int `json:"skewed,omitempty"`
	Dropped int `json:"dropped,omitempty"`
}

func (r *Repairs) add(t *spans.Tree) {
	r.Orphans += t.Orphans
	r.Cycles += t.Cycles
	r.Skewed += t.Skewed
	r.Dropped += t.Dropped
}

// durations is a sample of durations with the trace of the largest.
type durations struct {
	client  bool // a client or producer span's operation
	d       []time.Duration
	errors  int
	slowest time.Duration
	example string // slowest trace, or the first failing one
	errEx   string
}

func (s *durations) add(d time.Duration, failed bool, trace string) {
	s.d = append(s.d, d)
	if d >= s.slowest {
		s.slowest, s.example = d, trace
	}
	if failed {
		s.errors++
		if s.errEx == "" {
			s.errEx = trace
		}
	}
}

// quantile is the nearest-rank q-quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func sorted(d []time.Duration) []time.Duration {
	out := append([]time.Duration(nil), d...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// window accumulates the traces of one window.
type windowStats struct {
	traces, spans, errorTraces int
	roots                      []time.Duration
	self                       map[string]time.Duration
	edges                      map[[2]string]*durations
	network                    map[[2]string][]time.Duration
	ops                        map[string]*durations
	paths                      map[uint64]*NewPath
	pairs                      map[string]bool
	slowest                    *spans.Tree
	slowestD                   time.Duration
	failing                    map[[3]string]*Failure
	repairs                    Repairs
	// base is the hour before, read first, so that a new path is named
	// while its trace is at hand.
	base *windowStats
}

func newWindow() *windowStats {
	return &windowStats{self: map[string]time.Duration{}, edges: map[[2]string]*durations{},
		network: map[[2]string][]time.Duration{}, ops: map[string]*durations{}, paths: map[uint64]*NewPath{},
		pairs: map[string]bool{}, failing: map[[3]string]*Failure{}}
}

func opKey(s spans.Span) string { return s.ServiceName() + " " + s.Name }

// add reads one trace into w.
func (w *windowStats) add(t *spans.Tree) {
	if len(t.Spans) == 0 {
		return
	}
	w.traces++
	w.spans += len(t.Spans)
	w.repairs.add(t)
	d := t.Duration()
	if r, ok := t.Root(); ok && r.ParentID == "" {
		d = r.Duration
	}
	w.roots = append(w.roots, d)
	if w.slowest == nil || d > w.slowestD {
		w.slowest, w.slowestD = t, d
	}
	failed := false
	for i, s := range t.Spans {
		self := t.SelfTime(i)
		w.self[s.ServiceName()] += self
		op := w.ops[opKey(s)]
		if op == nil {
			op = &durations{client: s.Kind == spans.KindClient || s.Kind == spans.KindProducer}
			w.ops[opKey(s)] = op
		}
		// An operation is compared by its self time and counted failing
		// only where an error began (no failing child): a delay or an
		// error then shows once, where it happened, not in every caller
		// that waited for it or passed it on.
		origin := s.Error
		for _, c := range t.Children[i] {
			w.pairs[opKey(s)+" → "+opKey(t.Spans[c])] = true
			if t.Spans[c].Error {
				origin = false
			}
		}
		op.add(self, origin, t.ID)
		failed = failed || s.Error
	}
	for _, e := range t.Edges() {
		k := [2]string{e.Caller, e.Callee}
		st := w.edges[k]
		if st == nil {
			st = &durations{}
			w.edges[k] = st
		}
		st.add(e.Client, e.Error, t.ID)
		w.network[k] = append(w.network[k], e.Network)
	}
	p := t.Path()
	if np := w.paths[p]; np != nil {
		np.Count++
	} else {
		np = &NewPath{Count: 1, Example: t.ID}
		if w.base != nil && w.base.paths[p] == nil {
			np.Call = newPair(t, w.base)
		}
		w.paths[p] = np
	}
	if failed {
		w.errorTraces++
		s := deepestError(t)
		k := [3]string{s.ServiceName(), s.Name, exceptionOf(s)}
		if f := w.failing[k]; f != nil {
			f.Count++
		} else {
			w.failing[k] = &Failure{Service: k[0], Operation: k[1], Message: k[2], Count: 1, Example: t.ID}
		}
	}
}

// deepestError is the failing span farthest from its root: where the
// error began, the spans above it only passing it on.
func deepestError(t *spans.Tree) spans.Span {
	best, bestDepth := -1, -1
	depth := make([]int, len(t.Spans))
	stack := append([]int(nil), t.Roots...)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t.Spans[i].Error && depth[i] > bestDepth {
			best, bestDepth = i, depth[i]
		}
		for _, c := range t.Children[i] {
			depth[c] = depth[i] + 1
			stack = append(stack, c)
		}
	}
	if best < 0 {
		for i, s := range t.Spans {
			if s.Error {
				return t.Spans[i]
			}
		}
		return spans.Span{}
	}
	return t.Spans[best]
}

// exceptionOf is a failing span's message: its exception event's, else its
// status message, else the exception type or the HTTP status.
func exceptionOf(s spans.Span) string {
	for _, e := range s.Events {
		if e.Name == "exception" {
			if m := e.Attrs["exception.message"]; m != "" {
				return m
			}
			if m := e.Attrs["exception.type"]; m != "" {
				return m
			}
		}
	}
	if s.Status != "" {
		return s.Status
	}
	if v := s.Attrs["error.type"]; v != "" {
		return v
	}
	if v := s.Attrs["http.response.status_code"]; v != "" {
		return "HTTP " + v
	}
	return ""
}

// summarize reads the window (and the hour before, when before is not
// nil) into a Summary with at most top entries per list.
func summarize(now, before *windowStats, top int) *Summary {
	s := &Summary{Traces: now.traces, Spans: now.spans, ErrorTraces: now.errorTraces, Repairs: now.repairs}
	r := sorted(now.roots)
	s.P50, s.P95, s.P99 = quantile(r, 0.5), quantile(r, 0.95), quantile(r, 0.99)
	var total time.Duration
	for svc, d := range now.self {
		total += d
		s.Services = append(s.Services, ServiceTime{Service: svc, Self: d})
	}
	sort.Slice(s.Services, func(i, j int) bool {
		a, b := s.Services[i], s.Services[j]
		return a.Self > b.Self || (a.Self == b.Self && a.Service < b.Service)
	})
	for i := range s.Services {
		if total > 0 {
			s.Services[i].Share = float64(s.Services[i].Self) / float64(total)
		}
	}
	s.Services = s.Services[:min(len(s.Services), top)]
	for k, st := range now.edges {
		d := sorted(st.d)
		e := EdgeStat{Caller: k[0], Callee: k[1], Calls: len(d), Errors: st.errors, ClientP50: quantile(d, 0.5), ClientP95: quantile(d, 0.95),
			NetworkP95: quantile(sorted(now.network[k]), 0.95)}
		for _, x := range d {
			e.Total += x
		}
		s.Edges = append(s.Edges, e)
	}
	sort.Slice(s.Edges, func(i, j int) bool {
		a, b := s.Edges[i], s.Edges[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return a.Caller+a.Callee < b.Caller+b.Callee
	})
	s.Edges = s.Edges[:min(len(s.Edges), top)]
	if t := now.slowest; t != nil {
		st := &SlowTrace{TraceID: t.ID, Duration: now.slowestD}
		for _, step := range t.CriticalPath() {
			sp := t.Spans[step.Span]
			st.Steps = append(st.Steps, PathStep{Service: sp.ServiceName(), Operation: sp.Name, Self: step.Self})
		}
		s.Slowest = st
	}
	for _, f := range now.failing {
		s.Failing = append(s.Failing, *f)
	}
	sort.Slice(s.Failing, func(i, j int) bool {
		a, b := s.Failing[i], s.Failing[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Service+a.Operation+a.Message < b.Service+b.Operation+b.Message
	})
	s.Failing = s.Failing[:min(len(s.Failing), top)]
	if before != nil {
		s.BeforeTraces = before.traces
		s.New = compare(now, before, top)
	}
	return s
}

// compare finds what the window has that the hour before had not.
func compare(now, before *windowStats, top int) *Changes {
	c := &Changes{}
	if before.traces == 0 {
		return c // nothing to compare with: everything would be "new"
	}
	for p, np := range now.paths {
		if before.paths[p] != nil {
			continue
		}
		c.Paths = append(c.Paths, *np)
	}
	sort.Slice(c.Paths, func(i, j int) bool {
		a, b := c.Paths[i], c.Paths[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Call < b.Call)
	})
	c.Paths = c.Paths[:min(len(c.Paths), top)]
	slower := func(what string, n, b []time.Duration, example string) {
		// Too few samples make a p95 noise.
		if len(n) < 5 || len(b) < 5 {
			return
		}
		pn, pb := quantile(sorted(n), 0.95), quantile(sorted(b), 0.95)
		if pb > 0 && pn >= 2*pb && pn-pb >= time.Millisecond {
			c.Slower = append(c.Slower, Slower{What: what, Before: pb, After: pn, BeforeMS: ms(pb), AfterMS: ms(pn), Example: example})
		}
	}
	// Calls are compared by their network time (client − server), which
	// the callee's own span does not show; operations other than calls by
	// their self time.
	for k, net := range now.network {
		slower(k[0]+" → "+k[1]+" network", net, before.network[k], now.edges[k].example)
	}
	for k, st := range now.ops {
		b := before.ops[k]
		if st.errors > 0 && (b == nil || b.errors == 0) {
			what := k
			if b == nil {
				what += " (a new operation)"
			}
			c.Errors = append(c.Errors, NewErrors{What: what, Count: st.errors, Example: st.errEx})
		}
		if !st.client && b != nil {
			slower(k+" self time", st.d, b.d, st.example)
		}
	}
	sort.Slice(c.Slower, func(i, j int) bool {
		a, b := c.Slower[i], c.Slower[j]
		ra, rb := float64(a.After)/float64(a.Before), float64(b.After)/float64(b.Before)
		return ra > rb || (ra == rb && a.What < b.What)
	})
	c.Slower = c.Slower[:min(len(c.Slower), top)]
	sort.Slice(c.Errors, func(i, j int) bool {
		a, b := c.Errors[i], c.Errors[j]
		return a.Count > b.Count || (a.Count == b.Count && a.What < b.What)
	})
	c.Errors = c.Errors[:min(len(c.Errors), top)]
	return c
}

// newPair names a parent → child call of t the hour before never had;
// "" when every call was seen (only their combination is new).
func newPair(t *spans.Tree, before *windowStats) string {
	var out []string
	for i, s := range t.Spans {
		for _, c := range t.Children[i] {
			p := opKey(s) + " → " + opKey(t.Spans[c])
			if !before.pairs[p] {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return ""
	}
	return out[0]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// clean makes untrusted text one short line: control characters become
// spaces and it is cut to n bytes at a rune boundary.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
