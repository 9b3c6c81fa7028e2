package world

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// tracesAfter runs the shop for d with fault injected at the start (when
// given) and returns the traces of the last step at share 1.
func tracesAfter(t *testing.T, seed uint64, fault *FaultSpec, d time.Duration) (*Snapshot, []spans.Trace) {
	t.Helper()
	w := newTestWorld(t, seed)
	if fault != nil {
		if _, err := w.Inject(*fault, t0); err != nil {
			t.Fatal(err)
		}
	}
	s := run(w, d)
	return s, NewTraceGenerator(w.Topology(), seed, TraceOptions{Share: 1}).Traces(s)
}

func TestTracesFollowTheCallGraph(t *testing.T) {
	s, traces := tracesAfter(t, 3, nil, 2*time.Minute)
	entry := svc(s, "frontend")
	if want := int(entry.RPS*Step.Seconds() + 0.5); len(traces) != want {
		t.Fatalf("%d traces, want round(%.1f rps × 15 s) = %d", len(traces), entry.RPS, want)
	}
	topo := DefaultTopology()
	kinds := map[string]Kind{}
	for _, sp := range topo.Services {
		kinds[sp.Name] = sp.Kind
	}
	begin := s.Time.Add(-Step)
	seen := map[string]bool{}
	for _, tr := range traces {
		if len(tr.ID) != 32 || seen[tr.ID] {
			t.Fatalf("trace ID %q: want 32 hex digits, unique", tr.ID)
		}
		seen[tr.ID] = true
		tree := spans.Build(tr)
		if tree.Orphans+tree.Cycles+tree.Skewed+tree.Dropped != 0 || len(tree.Roots) != 1 {
			t.Fatalf("trace %s: roots %d orphans %d cycles %d skewed %d dropped %d", tr.ID, len(tree.Roots), tree.Orphans, tree.Cycles, tree.Skewed, tree.Dropped)
		}
		root := tree.Spans[tree.Roots[0]]
		if root.Service != "frontend" || root.Kind != spans.KindServer || root.Start.Before(begin) || root.Start.After(s.Time) {
			t.Fatalf("root %+v: want frontend's server span within the step", root)
		}
		for i, sp := range tree.Spans {
			if len(sp.SpanID) != 16 || sp.TraceID != tr.ID {
				t.Fatalf("span %+v: bad IDs", sp)
			}
			children := tree.Children[i]
			switch sp.Kind {
			case spans.KindClient:
				callee := sp.Attrs["peer.service"]
				if !topo.HasEdge(sp.Service, callee) {
					t.Fatalf("client span %s → %s: no such edge", sp.Service, callee)
				}
				if len(children) != 1 {
					t.Fatalf("client span %s → %s has %d children, want the callee's server span", sp.Service, callee, len(children))
				}
				c := tree.Spans[children[0]]
				if c.Kind != spans.KindServer || c.Service != callee || c.Name != sp.Name {
					t.Fatalf("client span %s %q → child %s %s %q", sp.Service, sp.Name, c.Service, c.Kind, c.Name)
				}
				if c.Duration > sp.Duration {
					t.Fatalf("server span %v outlasts its client span %v", c.Duration, sp.Duration)
				}
			case spans.KindServer:
				for _, ci := range children {
					if c := tree.Spans[ci]; c.Kind != spans.KindClient || c.Service != sp.Service {
						t.Fatalf("server span of %s has child %s %s", sp.Service, c.Service, c.Kind)
					}
				}
				switch kinds[sp.Service] {
				case KindHTTP:
					if sp.Attrs["http.request.method"] == "" || !strings.HasPrefix(sp.Name, sp.Attrs["http.request.method"]+" /") || sp.Attrs["http.response.status_code"] == "" {
						t.Fatalf("HTTP server span %q %v", sp.Name, sp.Attrs)
					}
				case KindPostgres:
					if sp.Attrs["db.system.name"] != "postgresql" || !strings.Contains(sp.Name, " shop.") {
						t.Fatalf("PostgreSQL span %q %v", sp.Name, sp.Attrs)
					}
				case KindRedis:
					if sp.Attrs["db.system.name"] != "redis" || sp.Name != sp.Attrs["db.operation.name"] {
						t.Fatalf("Redis span %q %v", sp.Name, sp.Attrs)
					}
				}
			default:
				t.Fatalf("span kind %q", sp.Kind)
			}
			if sp.Fault {
				t.Fatalf("healthy shop: span %s %q marked as touched by a fault", sp.Service, sp.Name)
			}
		}
	}
}

func TestNetworkLatencyIsInTheCallersClientSpan(t *testing.T) {
	f := FaultSpec{Kind: FaultNetworkLatency, Service: "checkout", Target: "payments", Params: map[string]float64{"delay_ms": 400}}
	_, traces := tracesAfter(t, 4, &f, 2*time.Minute)
	var calls, servers int
	for _, tr := range traces {
		tree := spans.Build(tr)
		for i, sp := range tree.Spans {
			if sp.Service == "checkout" && sp.Kind == spans.KindClient && sp.Attrs["peer.service"] == "payments" {
				calls++
				if sp.Duration < 300*time.Millisecond || !sp.Fault {
					t.Errorf("checkout → payments client span: %v, fault %v; want ≥ 300ms and marked", sp.Duration, sp.Fault)
				}
				srv := tree.Spans[tree.Children[i][0]]
				if srv.Duration > 300*time.Millisecond || srv.Fault {
					t.Errorf("payments' server span: %v, fault %v; the delay belongs to the client span", srv.Duration, srv.Fault)
				}
				if sp.Duration-srv.Duration < 300*time.Millisecond {
					t.Errorf("client %v − server %v: the network delay is missing", sp.Duration, srv.Duration)
				}
			}
			if sp.Service == "payments" {
				servers++
			}
			if sp.Kind == spans.KindClient && sp.Attrs["peer.service"] != "payments" && sp.Fault {
				t.Errorf("client span %s → %s marked: only checkout → payments is delayed", sp.Service, sp.Attrs["peer.service"])
			}
		}
	}
	if calls == 0 || servers == 0 {
		t.Fatalf("%d checkout → payments calls, %d payments spans: want some", calls, servers)
	}
}

func TestErrorsCarryExceptionEvents(t *testing.T) {
	f := FaultSpec{Kind: FaultBadDeploy, Service: "catalog", Params: map[string]float64{"error_rate": 0.5}}
	_, traces := tracesAfter(t, 5, &f, 2*time.Minute)
	var own, propagated, marked int
	for _, tr := range traces {
		for _, sp := range tr.Spans {
			if !sp.Error {
				continue
			}
			if sp.Kind == spans.KindServer {
				if len(sp.Events) != 1 || sp.Events[0].Name != "exception" || sp.Events[0].Attrs["exception.type"] == "" ||
					sp.Events[0].Attrs["exception.message"] == "" || sp.Status == "" {
					t.Fatalf("failed server span %s without an exception event: %+v", sp.Service, sp)
				}
				if sp.Attrs["http.request.method"] != "" && sp.Attrs["http.response.status_code"] != "500" {
					t.Errorf("failed HTTP server span of %s: status code %q", sp.Service, sp.Attrs["http.response.status_code"])
				}
				if sp.Service == "catalog" {
					own++
					if sp.Fault {
						marked++
					}
				} else {
					propagated++
					if sp.Fault {
						t.Errorf("%s failed because catalog did, yet it is marked", sp.Service)
					}
				}
			}
			if sp.Kind == spans.KindClient && sp.Attrs["peer.service"] == "catalog" && sp.Attrs["http.response.status_code"] != "500" {
				t.Errorf("failed call to catalog: status code %q", sp.Attrs["http.response.status_code"])
			}
		}
	}
	if own == 0 || propagated == 0 || marked == 0 || marked > own {
		t.Fatalf("catalog failed %d times (%d marked), its callers %d: want all non-zero", own, marked, propagated)
	}
}

func TestDependencyDownRefusesConnections(t *testing.T) {
	f := FaultSpec{Kind: FaultDependencyDown, Service: "payments"}
	_, traces := tracesAfter(t, 6, &f, 2*time.Minute)
	refused := 0
	for _, tr := range traces {
		for _, sp := range tr.Spans {
			if sp.Service == "payments" {
				t.Fatalf("payments is down but served %q", sp.Name)
			}
			if sp.Attrs["peer.service"] != "payments" {
				continue
			}
			refused++
			if !sp.Error || !sp.Fault || sp.Duration > 10*time.Millisecond || len(sp.Events) != 1 ||
				!strings.Contains(sp.Events[0].Attrs["exception.message"], "connection refused") {
				t.Fatalf("call to a down payments: %+v; want a fast, failed, marked span with a connection-refused exception", sp)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no calls to payments")
	}
}

func TestSameSeedSameTraces(t *testing.T) {
	f := FaultSpec{Kind: FaultSlowDB, Service: "postgres"}
	_, a := tracesAfter(t, 7, &f, time.Minute)
	_, b := tracesAfter(t, 7, &f, time.Minute)
	_, c := tracesAfter(t, 8, &f, time.Minute)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different traces")
	}
	if reflect.DeepEqual(a[0], c[0]) {
		t.Fatal("different seeds gave the same traces")
	}
}

func TestTraceShare(t *testing.T) {
	w := newTestWorld(t, 1)
	s := run(w, time.Minute)
	entry := svc(s, "frontend").RPS * Step.Seconds()
	for _, tc := range []struct {
		share, want float64
	}{{0, entry * DefaultTraceShare}, {0.5, entry * 0.5}, {7, entry}} {
		g := NewTraceGenerator(w.Topology(), 1, TraceOptions{Share: tc.share})
		if got := len(g.Traces(s)); float64(got) < tc.want-1 || float64(got) > tc.want+1 {
			t.Errorf("share %v: %d traces, want about %.1f", tc.share, got, tc.want)
		}
	}
}

func TestExportWritesSpans(t *testing.T) {
	f := FaultSpec{Kind: FaultNetworkLatency, Service: "checkout", Target: "payments"}
	dir := t.TempDir()
	c, err := ExportCase(ExportOptions{Scenario: "healthy", Seed: 2, Fault: &f, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(filepath.Join(dir, "spans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var n, touched int
	start, end := time.Unix(c.Window.Start, 0), time.Unix(c.Window.End, 0)
	if err := spans.ReadJSONL(fh, func(s spans.Span) error {
		n++
		if s.Fault {
			touched++
		}
		if s.Start.Before(start) || s.Start.After(end) {
			t.Fatalf("span at %v outside the window %v–%v", s.Start, start, end)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 10_000 || n > MaxCaseSpans*11/10 || touched == 0 {
		t.Fatalf("%d spans (%d touched): want 10,000–%d and some touched", n, touched, MaxCaseSpans)
	}

	noSpans := t.TempDir()
	if _, err := ExportCase(ExportOptions{Scenario: "healthy", Seed: 2, Fault: &f, Out: noSpans, Shape: CaseShape{NoSpans: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(noSpans, "spans.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("NoSpans: spans.jsonl exists (%v)", err)
	}
	for _, name := range []string{"case.json", "metrics.csv", "topology.csv", "events.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(noSpans, name))
		if string(a) != string(b) {
			t.Errorf("%s differs with NoSpans", name)
		}
	}
}

func TestExportSpansOfGeneratedCases(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		g, err := GenerateCase(FaultCPUSaturation, seed, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		g.Options.Shape.Realistic = true
		if _, err := ExportCase(g.Options); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(filepath.Join(g.Options.Out, "spans.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var all []spans.Span
		err = spans.ReadJSONL(fh, func(s spans.Span) error { all = append(all, s); return nil })
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 0 || len(all) > MaxCaseSpans*11/10 {
			t.Fatalf("seed %d: %d spans", seed, len(all))
		}
		for _, tr := range spans.Group(all) {
			if tree := spans.Build(tr); tree.Orphans != 0 || len(tree.Roots) != 1 {
				t.Fatalf("seed %d: trace %s has %d roots, %d orphans", seed, tr.ID, len(tree.Roots), tree.Orphans)
			}
		}
	}
}

// BenchmarkTraces reports the spans generated per second at the shop's
// peak with every request traced.
func BenchmarkTraces(b *testing.B) {
	w, err := New(DefaultTopology(), 1, t0)
	if err != nil {
		b.Fatal(err)
	}
	s := run(w, time.Minute)
	g := NewTraceGenerator(w.Topology(), 1, TraceOptions{Share: 1})
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, tr := range g.Traces(s) {
			n += len(tr.Spans)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "spans/s")
}

func TestRoutesMakeTheSameCalls(t *testing.T) {
	_, traces := tracesAfter(t, 9, nil, 2*time.Minute)
	calls := map[string][]int{} // frontend route → calls to checkout per request
	for _, tr := range traces {
		tree := spans.Build(tr)
		root := tree.Roots[0]
		n := 0
		for _, c := range tree.Children[root] {
			if tree.Spans[c].Attrs["peer.service"] == "checkout" {
				n++
			}
		}
		calls[tree.Spans[root].Name] = append(calls[tree.Spans[root].Name], n)
		for i, sp := range tree.Spans {
			if sp.Service == "cart" && sp.Kind == spans.KindServer {
				if got := len(tree.Children[i]); got != 2 {
					t.Fatalf("cart %q made %d calls to redis, want its ratio's 2", sp.Name, got)
				}
			}
		}
	}
	for route, ns := range calls {
		for _, n := range ns {
			if want := map[bool]int{true: 1, false: 0}[route == "POST /checkout"]; n != want {
				t.Fatalf("frontend %q called checkout %d times, want %d every time", route, n, want)
			}
		}
	}
	if len(calls["POST /checkout"]) == 0 || len(calls) != 4 {
		t.Fatalf("frontend's routes: %v", calls)
	}
}

func TestFaultMarksTheSpansItActsAt(t *testing.T) {
	for _, tc := range []struct {
		fault FaultSpec
		// marked reports whether a span should be marked; every marked
		// span must satisfy it and some span must be marked.
		marked func(spans.Span) bool
	}{
		{FaultSpec{Kind: FaultCPUSaturation, Service: "catalog", Params: map[string]float64{"factor": 40}},
			func(s spans.Span) bool { return s.Service == "catalog" && s.Kind == spans.KindServer }},
		{FaultSpec{Kind: FaultSlowDB, Service: "postgres"},
			func(s spans.Span) bool { return s.Service == "postgres" }},
		{FaultSpec{Kind: FaultNetworkDelay, Service: "cart", Params: map[string]float64{"delay_ms": 200}},
			func(s spans.Span) bool {
				return s.Kind == spans.KindClient && (s.Service == "cart" || s.Attrs["peer.service"] == "cart") && s.Duration > 150*time.Millisecond
			}},
		{FaultSpec{Kind: FaultPacketLoss, Service: "payments", Params: map[string]float64{"loss_rate": 0.5}},
			func(s spans.Span) bool { return s.Kind == spans.KindClient && s.Attrs["peer.service"] == "payments" }},
	} {
		t.Run(string(tc.fault.Kind), func(t *testing.T) {
			_, traces := tracesAfter(t, 12, &tc.fault, 3*time.Minute)
			marked, lost := 0, 0
			for _, tr := range traces {
				for _, s := range tr.Spans {
					if !s.Fault {
						continue
					}
					marked++
					if !tc.marked(s) {
						t.Fatalf("%s %s %q (→ %s, %v) marked", s.Service, s.Kind, s.Name, s.Attrs["peer.service"], s.Duration)
					}
					if s.Error && s.Kind == spans.KindClient && strings.Contains(s.Status, "deadline exceeded") {
						lost++
					}
				}
			}
			if marked == 0 {
				t.Fatal("no span marked")
			}
			if tc.fault.Kind == FaultPacketLoss && lost == 0 {
				t.Fatal("packet loss lost no call")
			}
		})
	}
}
