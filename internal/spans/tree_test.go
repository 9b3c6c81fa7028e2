package spans

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// sp is a span of trace "t" starting at ms and lasting dur ms.
func sp(id, parent, service, name, kind string, ms, dur float64) Span {
	return Span{TraceID: "t", SpanID: id, ParentID: parent, Service: service, Name: name, Kind: kind,
		Start: t0.Add(time.Duration(ms * float64(time.Millisecond))), Duration: time.Duration(dur * float64(time.Millisecond))}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// checkShape asserts every span of the tree is reached exactly once from
// the roots, so no analysis can loop or miss a span.
func checkShape(t *testing.T, tr *Tree) {
	t.Helper()
	seen := make([]int, len(tr.Spans))
	var visit func(i, depth int)
	visit = func(i, depth int) {
		if depth > len(tr.Spans) {
			t.Fatalf("depth %d exceeds span count: a cycle survived", depth)
		}
		seen[i]++
		for _, c := range tr.Children[i] {
			visit(c, depth+1)
		}
	}
	for _, r := range tr.Roots {
		visit(r, 0)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("span %d (%s) reached %d times", i, tr.Spans[i].SpanID, n)
		}
	}
}

func TestBuildRepairs(t *testing.T) {
	tests := []struct {
		name                                    string
		spans                                   []Span
		cycles, orphans, skewed, dropped, roots int
		firstRoot                               string
	}{
		{"clean", []Span{sp("r", "", "a", "x", "", 0, 10), sp("c", "r", "a", "y", "", 1, 5)}, 0, 0, 0, 0, 1, "r"},
		{"self parent", []Span{sp("r", "", "a", "x", "", 0, 10), sp("s", "s", "a", "y", "", 1, 5)}, 1, 0, 0, 0, 2, "r"},
		{"two-cycle", []Span{sp("r", "", "a", "x", "", 0, 10), sp("b", "c", "a", "y", "", 1, 5), sp("c", "b", "a", "z", "", 2, 1)}, 1, 0, 0, 0, 2, "r"},
		{"three-cycle", []Span{sp("b", "d", "a", "y", "", 1, 5), sp("c", "b", "a", "z", "", 2, 1), sp("d", "c", "a", "w", "", 3, 1)}, 1, 0, 1, 0, 1, ""},
		{"cycle below a root", []Span{sp("r", "", "a", "x", "", 0, 10), sp("b", "r", "a", "y", "", 1, 5), sp("c", "d", "a", "z", "", 2, 1), sp("d", "c", "a", "w", "", 3, 1)}, 1, 0, 1, 0, 2, "r"},
		{"orphans", []Span{sp("o", "gone", "a", "y", "", 0, 5), sp("r", "", "a", "x", "", 1, 10), sp("o2", "gone2", "a", "z", "", 2, 1)}, 0, 2, 0, 0, 3, "r"},
		{"child starts before parent", []Span{sp("r", "", "a", "x", "", 10, 10), sp("c", "r", "b", "y", "", 5, 10)}, 0, 0, 1, 0, 1, "r"},
		{"child ends after parent", []Span{sp("r", "", "a", "x", "", 0, 10), sp("c", "r", "b", "y", "", 5, 10)}, 0, 0, 1, 0, 1, "r"},
		{"duplicate span id", []Span{sp("r", "", "a", "x", "", 0, 10), sp("c", "r", "a", "y", "", 1, 5), sp("c", "r", "a", "dup", "", 1, 5)}, 0, 0, 0, 1, 1, "r"},
		{"empty", nil, 0, 0, 0, 0, 0, ""},
		{"no span id", []Span{sp("", "", "a", "x", "", 0, 10)}, 0, 0, 0, 0, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := Build(Trace{ID: "t", Spans: tc.spans})
			if tr.Cycles != tc.cycles || tr.Orphans != tc.orphans || tr.Skewed != tc.skewed || tr.Dropped != tc.dropped || len(tr.Roots) != tc.roots {
				t.Errorf("cycles %d orphans %d skewed %d dropped %d roots %d; want %d %d %d %d %d",
					tr.Cycles, tr.Orphans, tr.Skewed, tr.Dropped, len(tr.Roots), tc.cycles, tc.orphans, tc.skewed, tc.dropped, tc.roots)
			}
			checkShape(t, tr)
			if r, ok := tr.Root(); tc.firstRoot != "" && (!ok || r.SpanID != tc.firstRoot) {
				t.Errorf("root %q, want %q", r.SpanID, tc.firstRoot)
			}
			// Every analysis gives a bounded answer.
			for i := range tr.Spans {
				if st := tr.SelfTime(i); st < 0 || st > tr.Spans[i].Duration {
					t.Errorf("self time of %s = %v", tr.Spans[i].SpanID, st)
				}
			}
			if cp := tr.CriticalPath(); len(cp) > len(tr.Spans) {
				t.Errorf("critical path longer than the trace: %v", cp)
			}
			tr.Edges()
			tr.Path()
			tr.Duration()
		})
	}
}

func TestBuildKeepsFirstDuplicate(t *testing.T) {
	tr := Build(Trace{ID: "t", Spans: []Span{sp("r", "", "a", "first", "", 0, 10), sp("r", "", "a", "second", "", 0, 10)}})
	if len(tr.Spans) != 1 || tr.Spans[0].Name != "first" {
		t.Fatalf("kept %+v", tr.Spans)
	}
}

func TestBuildMaxSpans(t *testing.T) {
	tr := Build(wideDeepTrace(MaxSpans + 7))
	if len(tr.Spans) != MaxSpans || tr.Dropped != 7 {
		t.Fatalf("kept %d dropped %d", len(tr.Spans), tr.Dropped)
	}
}

func TestChildrenSortedAndCapped(t *testing.T) {
	tr := Build(Trace{ID: "t", Spans: []Span{
		sp("r", "", "a", "x", "", 0, 100), sp("c2", "r", "a", "y", "", 50, 5), sp("c1", "r", "a", "y", "", 10, 5),
		sp("d", "c1", "a", "z", "", 11, 1),
	}})
	var names []string
	for _, c := range tr.Children[0] {
		names = append(names, tr.Spans[c].SpanID)
	}
	if !slices.Equal(names, []string{"c1", "c2"}) {
		t.Fatalf("children %v, want by start", names)
	}
	// An append to one list must not overwrite its neighbour's.
	_ = append(tr.Children[0], 99)
	if tr.Children[2][0] != 3 {
		t.Fatalf("append spilled into the next child list: %v", tr.Children)
	}
}

func TestSelfTime(t *testing.T) {
	tests := []struct {
		name  string
		spans []Span
		want  time.Duration
	}{
		{"leaf", []Span{sp("r", "", "a", "x", "", 0, 100)}, ms(100)},
		{"sequential", []Span{sp("r", "", "a", "x", "", 0, 100), sp("a", "r", "a", "y", "", 10, 20), sp("b", "r", "a", "y", "", 40, 30)}, ms(50)},
		{"overlapping parallel", []Span{sp("r", "", "a", "x", "", 0, 100), sp("a", "r", "a", "y", "", 10, 40), sp("b", "r", "a", "y", "", 30, 40), sp("c", "r", "a", "y", "", 80, 10)}, ms(30)},
		{"nested inside another child", []Span{sp("r", "", "a", "x", "", 0, 100), sp("a", "r", "a", "y", "", 10, 60), sp("b", "r", "a", "y", "", 20, 10)}, ms(40)},
		{"child starts before parent (skew)", []Span{sp("r", "", "a", "x", "", 10, 40), sp("a", "r", "b", "y", "", 0, 30)}, ms(20)},
		{"child ends after parent (skew)", []Span{sp("r", "", "a", "x", "", 0, 50), sp("a", "r", "b", "y", "", 40, 40)}, ms(40)},
		{"child covers more than parent", []Span{sp("r", "", "a", "x", "", 10, 10), sp("a", "r", "b", "y", "", 0, 100)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := Build(Trace{ID: "t", Spans: tc.spans})
			if got := tr.SelfTime(tr.Roots[0]); got != tc.want {
				t.Errorf("SelfTime = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEdges(t *testing.T) {
	cl := sp("c1", "r", "frontend", "POST payments", KindClient, 10, 50)
	peer := sp("c2", "r", "frontend", "GET cache", KindClient, 70, 5)
	peer.Attrs = map[string]string{"peer.service": "redis", "server.address": "redis.local"}
	addr := sp("c3", "r", "frontend", "GET search", KindClient, 80, 5)
	addr.Attrs = map[string]string{"server.address": "search.example.com"}
	bare := sp("c4", "r", "", "call", KindProducer, 90, 5)
	bare.Error = true
	tr := Build(Trace{ID: "t", Spans: []Span{
		sp("r", "", "frontend", "GET /", KindServer, 0, 100),
		cl, sp("s1", "c1", "payments", "POST /charge", KindServer, 15, 40),
		peer, addr, bare,
	}})
	got := tr.Edges()
	want := []Edge{
		{Caller: "frontend", Callee: "payments", Operation: "POST payments", Client: ms(50), Server: ms(40), Network: ms(10), Span: 1},
		{Caller: "frontend", Callee: "redis", Operation: "GET cache", Client: ms(5), Network: ms(5), Span: 3},
		{Caller: "frontend", Callee: "search.example.com", Operation: "GET search", Client: ms(5), Network: ms(5), Span: 4},
		{Caller: UnknownService, Callee: UnknownService, Operation: "call", Client: ms(5), Network: ms(5), Error: true, Span: 5},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Edges:\n got %+v\nwant %+v", got, want)
	}
}

func TestEdgeServerSlowerThanClient(t *testing.T) {
	// Skew can make the server span longer than the client's; the
	// network share must not go negative.
	tr := Build(Trace{ID: "t", Spans: []Span{
		sp("c", "", "a", "call", KindClient, 0, 10), sp("s", "c", "b", "serve", KindServer, 0, 12),
	}})
	if e := tr.Edges(); len(e) != 1 || e[0].Network != 0 || e[0].Callee != "b" {
		t.Fatalf("%+v", e)
	}
}

func TestCriticalPathFanOut(t *testing.T) {
	tr := Build(Trace{ID: "t", Spans: []Span{
		sp("r", "", "a", "root", "", 0, 100),
		sp("A", "r", "b", "x", "", 10, 30),
		sp("B", "r", "c", "y", "", 10, 80),
		sp("C", "r", "d", "z", "", 20, 40),
		sp("B1", "B", "e", "w", "", 50, 35),
	}})
	got := tr.CriticalPath()
	var ids []string
	var self []time.Duration
	for _, s := range got {
		ids = append(ids, tr.Spans[s.Span].SpanID)
		self = append(self, s.Self)
	}
	if !slices.Equal(ids, []string{"r", "B", "B1"}) || !slices.Equal(self, []time.Duration{ms(20), ms(45), ms(35)}) {
		t.Fatalf("critical path %v %v", ids, self)
	}
	if (&Tree{}).CriticalPath() != nil {
		t.Error("empty tree has a critical path")
	}
}

func TestPath(t *testing.T) {
	mk := func(spans ...Span) uint64 { return Build(Trace{ID: "t", Spans: spans}).Path() }
	root := sp("r", "", "front", "GET /", KindServer, 0, 100)
	b := func(id string, at float64) Span { return sp(id, "r", "front", "call b", KindClient, at, 1) }
	c := func(id string, at float64) Span { return sp(id, "r", "front", "call c", KindClient, at, 1) }

	p1 := mk(root, b("1", 1), b("2", 2), c("3", 3))
	p2 := mk(root, c("1", 1), b("2", 2), b("3", 3), b("4", 4))
	if p1 != p2 {
		t.Error("same call structure with other repeat counts and order: paths differ")
	}
	if p3 := mk(root, b("1", 1)); p3 == p1 {
		t.Error("a call missing: same path")
	}
	if p4 := mk(root, b("1", 1), sp("3", "1", "front", "call c", KindClient, 2, 1)); p4 == p1 {
		t.Error("c nested under b: same path as c beside b")
	}
	other := sp("r", "", "back", "GET /", KindServer, 0, 100)
	if mk(root) == mk(other) {
		t.Error("lone spans of different services share a path")
	}
	if mk(root) == (&Tree{}).Path() {
		t.Error("a lone span has the empty trace's path")
	}
	noSvc := sp("r", "", "", "GET /", KindServer, 0, 100)
	unk := sp("r", "", UnknownService, "GET /", KindServer, 0, 100)
	if mk(noSvc) != mk(unk) {
		t.Error("a span without service is not unknown_service")
	}
}

func TestPathStableAcrossManyChildren(t *testing.T) {
	// Past the 64-entry stack buffers Path must give the same answer.
	var a, b []Span
	a = append(a, sp("r", "", "s", "root", "", 0, 1000))
	b = append(b, sp("r", "", "s", "root", "", 0, 1000))
	for i := range 200 {
		a = append(a, sp(fmt.Sprint("a", i), "r", "s", fmt.Sprint("op", i%3), "", float64(i), 1))
	}
	for i := range 3 {
		b = append(b, sp(fmt.Sprint("b", i), "r", "s", fmt.Sprint("op", 2-i), "", float64(i), 1))
	}
	if Build(Trace{Spans: a}).Path() != Build(Trace{Spans: b}).Path() {
		t.Fatal("200 calls over 3 operations differ from 3 calls")
	}
}

func TestUnknownService(t *testing.T) {
	tr := Build(Trace{ID: "t", Spans: []Span{sp("r", "", "", "GET /", KindClient, 0, 10)}})
	if e := tr.Edges(); len(e) != 1 || e[0].Caller != UnknownService {
		t.Fatalf("%+v", e)
	}
}

// TestLargeTracesAreLinear builds hostile 10,000-span and MaxSpans-span
// traces — a deep chain, a wide fan-out, and all orphans (the case that
// was quadratic in Path) — and runs every analysis within a time no
// quadratic algorithm meets.
func TestLargeTracesAreLinear(t *testing.T) {
	chain := func(n int) Trace {
		tr := Trace{ID: "chain"}
		for i := range n {
			s := sp(fmt.Sprint(i), "", "svc", fmt.Sprint("op", i%10), KindClient, float64(i)/1000, float64(n-i)/1000)
			if i > 0 {
				s.ParentID = fmt.Sprint(i - 1)
			}
			tr.Spans = append(tr.Spans, s)
		}
		return tr
	}
	orphans := func(n int) Trace {
		tr := Trace{ID: "orphans"}
		for i := range n {
			tr.Spans = append(tr.Spans, sp(fmt.Sprint(i), fmt.Sprint("missing", i), "svc", "op", "", float64(i)/1000, 1))
		}
		return tr
	}
	cases := []struct {
		name string
		t    Trace
	}{
		{"chain 10k", chain(10_000)},
		{"fan-out 10k", wideDeepTrace(10_000)},
		{"orphans 10k", orphans(10_000)},
		{"orphans 50k", orphans(MaxSpans)},
		{"chain 50k", chain(MaxSpans)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			tr := Build(tc.t)
			tr.Path()
			for i := range tr.Spans {
				tr.SelfTime(i)
			}
			tr.Edges()
			tr.CriticalPath()
			tr.Duration()
			// A quadratic step over 50,000 spans is 2.5·10⁹ operations:
			// seconds even on a fast core; linear work is milliseconds.
			limit := time.Second
			if raceEnabled {
				limit *= 10
			}
			if el := time.Since(start); el > limit {
				t.Errorf("%d spans took %v", len(tc.t.Spans), el)
			}
			checkShape(t, tr)
		})
	}
}
