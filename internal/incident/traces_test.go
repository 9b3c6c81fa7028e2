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
	"github.com/watchkeeper/watchkeeper/internal/redact"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/internal/store"
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

// timelineLog records timeline events.
type timelineLog struct {
	mu     sync.Mutex
	events []string
}

func (l *timelineLog) Record(_ context.Context, id, kind, text, _ string) (incident.Incident, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, id+" "+kind+": "+text)
	return incident.Incident{ID: id}, nil
}

// The investigation keeps, with the incident, the sampled traces of the
// window its traces step read: every failing and every slow trace, a
// small share of the rest, only spans of the alert's namespace, secrets
// masked; the timeline says what was kept and how to read it. Without a
// traces step nothing is kept.
func TestInvestigationKeepsTheWindowsTraces(t *testing.T) {
	ts := &traceStore{}
	secret := "s3cr3t-token-value"
	mk := func(i int, at time.Time, d time.Duration, failed bool) spans.Trace {
		id := fmt.Sprintf("%032x", i+1)
		shop := map[string]string{traces.NamespaceAttr: "shop", "url.query": "token=" + secret}
		root := spans.Span{TraceID: id, SpanID: "0000000000000001", Service: "checkout", Name: "POST /checkout", Kind: spans.KindServer, Start: at, Duration: d, Attrs: shop, Error: failed}
		call := spans.Span{TraceID: id, SpanID: "0000000000000002", ParentID: "0000000000000001", Service: "checkout", Name: "POST payments", Kind: spans.KindClient,
			Start: at.Add(time.Millisecond), Duration: d - 2*time.Millisecond, Attrs: map[string]string{"peer.service": "payments", traces.NamespaceAttr: "shop"}, Error: failed}
		other := spans.Span{TraceID: id, SpanID: "0000000000000003", ParentID: "0000000000000002", Service: "ledger", Name: "POST /ledger-entries", Kind: spans.KindServer,
			Start: at.Add(2 * time.Millisecond), Duration: d - 4*time.Millisecond, Attrs: map[string]string{traces.NamespaceAttr: "bank"}}
		if failed {
			call.Status = "connection refused, password=" + secret
		}
		return spans.Trace{ID: id, Spans: []spans.Span{root, call, other}}
	}
	normal := func(i int) time.Duration { return time.Duration(80+(i*37)%40) * time.Millisecond }
	// The hour before the window: the sampler's baseline.
	for i := range 300 {
		ts.traces = append(ts.traces, mk(i, t0.Add(-75*time.Minute+time.Duration(i)*10*time.Second), normal(i), false))
	}
	failing, slow := map[string]bool{}, map[string]bool{}
	for i := 300; i < 700; i++ {
		at := t0.Add(-15*time.Minute + time.Duration(i-300)*2*time.Second)
		tr := mk(i, at, normal(i), false)
		switch {
		case i%20 == 0:
			tr = mk(i, at, normal(i), true)
			failing[tr.ID] = true
		case i%50 == 7:
			tr = mk(i, at, 3*time.Second, false)
			slow[tr.ID] = true
		}
		ts.traces = append(ts.traces, tr)
	}
	search, err := traces.NewSearch(traces.SearchConfig{Backend: ts, Now: func() time.Time { return t0.Add(5 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(context.Background(), t.TempDir()+"/wk.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := &timelineLog{}
	in := incident.Incident{ID: "inc_1", StartedAt: t0, Data: incident.Data{
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}}}
	p := incident.Playbook{Tools: toolSet{"traces_search": search}, Timeline: log, Evidence: db,
		Traces: traces.Sampler{Backend: ts, Redact: redact.New(secret).Redact}, Now: func() time.Time { return t0.Add(5 * time.Minute) }}
	p.Investigate(context.Background(), in, nil)

	e, err := db.GetEvidence(context.Background(), "inc_1", "traces/checkout.jsonl")
	if err != nil {
		t.Fatalf("no traces kept: %v (timeline %q)", err, log.events)
	}
	if strings.Contains(string(e.Data), secret) {
		t.Errorf("the kept traces hold the secret")
	}
	kept := map[string]bool{}
	err = spans.ReadJSONL(strings.NewReader(string(e.Data)), func(s spans.Span) error {
		kept[s.TraceID] = true
		if s.Service == "ledger" || s.Attrs[traces.NamespaceAttr] != "shop" {
			t.Errorf("a span outside namespace shop was kept: %+v", s)
		}
		if s.Start.Before(t0.Add(-15 * time.Minute)) {
			t.Errorf("a span of the hour before was kept: %+v", s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range failing {
		if !kept[id] {
			t.Errorf("failing trace %s not kept", id)
		}
	}
	for id := range slow {
		if !kept[id] {
			t.Errorf("slow trace %s not kept", id)
		}
	}
	rest := len(kept) - len(failing) - len(slow)
	if unremarkable := 400 - len(failing) - len(slow); rest > unremarkable/5 {
		t.Errorf("%d of %d unremarkable traces kept, want at most a fifth", rest, unremarkable)
	}
	t.Logf("timeline: %q", log.events)
	want := fmt.Sprintf("inc_1 evidence: kept %d of 400 traces of checkout", len(kept))
	found := false
	for _, ev := range log.events {
		found = found || (strings.HasPrefix(ev, want) && strings.Contains(ev, "every one of the 20 with an error") &&
			strings.Contains(ev, "`watchkeeper incident evidence inc_1 traces/checkout.jsonl`"))
	}
	if !found {
		t.Errorf("timeline = %q, want an event starting %q", log.events, want)
	}

	// No service label: no traces step, nothing kept.
	in2 := incident.Incident{ID: "inc_2", StartedAt: t0, Data: incident.Data{CommonLabels: map[string]string{"alertname": "NodeDown"}}}
	p.Investigate(context.Background(), in2, nil)
	if list, err := db.ListEvidence(context.Background(), "inc_2"); err != nil || len(list) != 0 {
		t.Errorf("kept without a traces step: %+v, %v", list, err)
	}
}
