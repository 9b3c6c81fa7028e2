package incident_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// traceStore is a trace backend over fixed traces.
type traceStore struct {
	traces  []spans.Trace
	mu      sync.Mutex
	queries []spans.Query
}

func (s *traceStore) Name() string { return "jaeger" }
func (s *traceStore) Search(_ context.Context, q spans.Query) ([]spans.Trace, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	var out []spans.Trace
	for _, t := range s.traces {
		if spans.Match(spans.Build(t), q) {
			out = append(out, t)
		}
	}
	return out, nil
}
func (s *traceStore) Trace(context.Context, string) (spans.Trace, error) {
	return spans.Trace{}, traces.ErrNotFound
}
func (s *traceStore) Services(context.Context) ([]string, error) { return []string{"checkout"}, nil }
func (s *traceStore) Link(id string) string                      { return "https://jaeger.example.com/trace/" + id }

// The investigation reads the alerting service's traces over the incident
// window, in the alert's namespace, and its finding cites a failing trace
// with its link; spans of other namespaces in those traces stay out.
func TestPlaybookReadsTheAlertingServicesTraces(t *testing.T) {
	store := &traceStore{}
	for i := range 20 {
		id := fmt.Sprintf("%032x", i+1)
		at := t0.Add(-10*time.Minute + time.Duration(i)*time.Second)
		shop := map[string]string{traces.NamespaceAttr: "shop"}
		root := spans.Span{TraceID: id, SpanID: "0000000000000001", Service: "checkout", Name: "POST /checkout", Kind: spans.KindServer, Start: at, Duration: 300 * time.Millisecond, Attrs: shop}
		call := spans.Span{TraceID: id, SpanID: "0000000000000002", ParentID: "0000000000000001", Service: "checkout", Name: "POST payments", Kind: spans.KindClient,
			Start: at.Add(10 * time.Millisecond), Duration: 250 * time.Millisecond, Attrs: map[string]string{"peer.service": "payments", traces.NamespaceAttr: "shop"}}
		// The callee runs in another team's namespace.
		other := spans.Span{TraceID: id, SpanID: "0000000000000003", ParentID: "0000000000000002", Service: "ledger", Name: "POST /ledger-entries", Kind: spans.KindServer,
			Start: at.Add(20 * time.Millisecond), Duration: 200 * time.Millisecond, Attrs: map[string]string{traces.NamespaceAttr: "bank"}}
		if i%4 == 0 {
			root.Error, call.Error, call.Status = true, true, "connection refused"
		}
		store.traces = append(store.traces, spans.Trace{ID: id, Spans: []spans.Span{root, call, other}})
	}
	search, err := traces.NewSearch(traces.SearchConfig{Backend: store, Now: func() time.Time { return t0.Add(5 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	in := incident.Incident{ID: "inc_1", StartedAt: t0, Data: incident.Data{
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}}}
	findings := incident.Playbook{Tools: toolSet{"traces_search": search}}.Run(context.Background(), in)
	if len(findings) != 1 {
		t.Fatalf("findings = %+v", findings)
	}
	f := findings[0]
	var args map[string]string
	json.Unmarshal(f.Args, &args)
	if f.Tool != "traces_search" || f.Failed || args["service"] != "checkout" || args["namespace"] != "shop" || args["start"] != "2026-11-24T13:45:00Z" {
		t.Errorf("finding %s %s failed=%v: %s", f.Title, f.Args, f.Failed, f.Text)
	}
	// The window and the hour before it (fetched at once, in any order).
	starts := map[time.Time]bool{}
	for _, q := range store.queries {
		starts[q.Start] = true
	}
	if len(store.queries) != 2 || !starts[t0.Add(-15*time.Minute)] || !starts[t0.Add(-75*time.Minute)] {
		t.Errorf("queries = %+v", store.queries)
	}
	for _, q := range store.queries {
		if q.Tags[traces.NamespaceAttr] != "shop" {
			t.Errorf("the store was not asked for namespace shop: %+v", q)
		}
	}
	for _, leak := range []string{"ledger", "bank"} {
		if strings.Contains(f.Text, leak) || strings.Contains(f.Display, leak) {
			t.Errorf("the finding shows namespace bank's %q:\n%s", leak, f.Text)
		}
	}
	for _, want := range []string{`checkout POST payments "connection refused" ×5 e.g. trace 00000000000000000000000000000001`,
		"https://jaeger.example.com/trace/00000000000000000000000000000001"} {
		if !strings.Contains(f.Text, want) || !strings.Contains(f.Display, want) {
			t.Errorf("the finding lacks %q:\n%s\npeople:\n%s", want, f.Text, f.Display)
		}
	}
	// An alert without a namespace searches every namespace, as before.
	store.queries = nil
	in.Data.CommonLabels = map[string]string{"alertname": "HighErrorRate", "service": "checkout"}
	findings = incident.Playbook{Tools: toolSet{"traces_search": search}}.Run(context.Background(), in)
	if len(findings) != 1 || strings.Contains(string(findings[0].Args), "namespace") || !strings.Contains(findings[0].Text, "ledger") {
		t.Errorf("no namespace: %+v", findings)
	}
	// Without a service label there is nothing to search.
	in.Data.CommonLabels = map[string]string{"alertname": "NodeDown"}
	if findings := (incident.Playbook{Tools: toolSet{"traces_search": search}}).Run(context.Background(), in); len(findings) != 0 {
		t.Errorf("no service, yet %+v", findings)
	}
}
