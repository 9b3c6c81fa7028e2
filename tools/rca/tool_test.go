package rca_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/prom"
	"github.com/watchkeeper/watchkeeper/tools/rca"
)

func rankTool(t *testing.T, scenario string, end time.Time) tools.Tool {
	t.Helper()
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: scenario, End: end, History: 2 * time.Hour, Clock: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	c, _ := prom.New(prom.Config{URL: srv.URL, Now: func() time.Time { return end }})
	tl, err := rca.NewTool(rca.ToolConfig{Prometheus: c, Changes: rca.KubeChanges{Client: sb.Kubernetes()}})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestRankTheSandboxIncidents(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		scenario, onset, want, signature string
	}{
		{"bad-deploy", "20m ago", "1. checkout", "change"},
		// An alert's onset can precede the deploy that caused it by a
		// little (clocks, a scrape step): the deploy is still the lead.
		{"bad-deploy", "2026-11-24T14:39:30Z", "1. checkout — 0.7", "change"},
		// An alert's start is minutes late (its for: and rate window):
		// with onset_slack the ranking compares from when the metrics
		// moved. A question's "since" is early and takes no slack.
		{"bad-deploy", "2026-11-24T14:45:00Z|10m", "1. checkout", "change"},
		{"bad-deploy", "2026-11-24T14:36:00Z", "1. checkout", "change"},
		{"slow-db", "+5m|10m", "1. postgres", "latency"},
		{"redis-down", "+2m|10m", "1. redis", "down"},
		{"cpu-saturation", "", "1. ", "cpu"},
		{"memory-leak", "", "1. cart", "memory"},
	} {
		tl := rankTool(t, tt.scenario, end)
		onset, slack, _ := strings.Cut(tt.onset, "|")
		if onset == "" || strings.HasPrefix(onset, "+") {
			// The scenario's own fault time, or an alert's start after it.
			sc, _ := sandbox.LoadScenario(tt.scenario, sandbox.DefaultTopology())
			pf, _ := sc.PrimaryFault()
			late, _ := time.ParseDuration(strings.TrimPrefix(onset, "+"))
			onset = end.Add(pf.At + late).Format(time.RFC3339)
			if tt.want == "" || tt.want == "1. " {
				tt.want = "1. " + pf.Service
			}
		}
		res, err := tl.Run(context.Background(), json.RawMessage(`{"namespace": "shop", "onset": "`+onset+`", "onset_slack": "`+slack+`"}`))
		if err != nil || res.Error != "" {
			t.Fatalf("%s: %v %s", tt.scenario, err, res.Error)
		}
		t.Logf("%s:\n%s", tt.scenario, res.Text)
		if !strings.Contains(res.Text, "12 call edges") {
			t.Errorf("%s: the call graph should come from the Istio metrics", tt.scenario)
		}
		if tt.signature == "change" && !strings.Contains(res.Text, "deploy at 14:40") {
			t.Errorf("%s at %s: the deploy is not in the evidence:\n%s", tt.scenario, onset, res.Text)
		}
		if !strings.Contains(res.Text, "\n"+tt.want) || !strings.Contains(res.Text, "looks like "+tt.signature) {
			t.Errorf("%s: want %q first with signature %s:\n%s", tt.scenario, tt.want, tt.signature, res.Text)
		}
		if moved := strings.Contains(res.Text, "began to move at"); moved != (slack != "" && tt.onset != "2026-11-24T14:36:00Z") && slack == "" {
			t.Errorf("%s at %s: the onset moved without onset_slack:\n%s", tt.scenario, onset, res.Text)
		}
		if n := tools.EstimateTokens(res.Text); n > 1200 {
			t.Errorf("%d tokens", n)
		}
	}
}

func TestRankToolErrors(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	tl := rankTool(t, "healthy", end)
	for args, want := range map[string]string{
		`{"onset": "soonish"}`:                       "onset:",
		`{"onset": "2026-11-25T10:00:00Z"}`:          "in the future",
		`{"namespace": "nope", "onset": "10m ago"}`:  `no per-service metrics found in namespace "nope"`,
		`{"onset": "10m ago", "onset_slack": "2h"}`:  `onset_slack "2h": a duration between 0 and 30m0s`,
		`{"onset": "10m ago", "onset_slack": "-1m"}`: `onset_slack "-1m"`,
		`{"onset": "10m ago", "onset_slack": "ten"}`: `onset_slack "ten"`,
	} {
		res, err := tl.Run(context.Background(), json.RawMessage(args))
		if err != nil || !strings.Contains(res.Error, want) {
			t.Errorf("%s: %q %v, want %q", args, res.Error, err, want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", 2 * time.Minute: "2m", 150 * time.Second: "2m30s",
		65 * time.Minute: "1h5m", time.Hour: "1h", 61*time.Minute + 20*time.Second: "1h1m",
	} {
		if got := rca.ShortDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// storeSource serves rca_rank the sandbox's trace store, recording the
// queries it was asked.
type storeSource struct {
	find    func(spans.Query) []spans.Trace
	queries []spans.Query
}

func (s *storeSource) Search(_ context.Context, q spans.Query) ([]spans.Trace, error) {
	s.queries = append(s.queries, q)
	return s.find(q), nil
}

// TestRankWithTraces: the sandbox's network-latency scenario through
// rca_rank with its traces: the delayed edge's caller comes first and the
// answer says traces were used; every query is limited to the namespace.
func TestRankWithTraces(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: "network-latency", End: end, History: 2 * time.Hour, Clock: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	c, _ := prom.New(prom.Config{URL: srv.URL, Now: func() time.Time { return end }})
	src := &storeSource{find: sb.Traces().Find}
	tl, err := rca.NewTool(rca.ToolConfig{Prometheus: c, Traces: src})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := sandbox.LoadScenario("network-latency", sandbox.DefaultTopology())
	pf, _ := sc.PrimaryFault()
	res, err := tl.Run(context.Background(), json.RawMessage(`{"namespace": "shop", "onset": "`+end.Add(pf.At).Format(time.RFC3339)+`"}`))
	if err != nil || res.Error != "" {
		t.Fatalf("%v %s", err, res.Error)
	}
	t.Logf("%s", res.Text)
	if !strings.Contains(res.Text, "\n1. "+pf.Service+" ") {
		t.Errorf("want %s (the caller of the delayed edge) first:\n%s", pf.Service, res.Text)
	}
	if !strings.Contains(res.Text, "Traces: ") {
		t.Errorf("the answer does not say traces were used:\n%s", res.Text)
	}
	for _, q := range src.queries {
		if q.Tags["k8s.namespace.name"] != "shop" {
			t.Errorf("query %+v is not limited to the namespace", q)
		}
	}
}

// TestRankTracesStayInTheNamespace: spans of another namespace that a
// store returns anyway are never ranked.
func TestRankTracesStayInTheNamespace(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: "healthy", End: end, History: 2 * time.Hour, Clock: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	c, _ := prom.New(prom.Config{URL: srv.URL, Now: func() time.Time { return end }})
	src := &storeSource{find: func(q spans.Query) []spans.Trace {
		// A careless store: other teams' spans, with their own names.
		var out []spans.Trace
		for i := range 240 {
			// Dense enough for per-interval series (≥ 3 spans a step).
			at := q.Start.Add(time.Duration(i) * 2 * time.Second)
			id := fmt.Sprintf("%032x", i+1)
			out = append(out, spans.Trace{ID: id, Spans: []spans.Span{
				{TraceID: id, SpanID: "a1", Service: "ledger-secret", Name: "POST /post", Kind: spans.KindServer, Start: at, Duration: time.Second,
					Error: true, Attrs: map[string]string{"k8s.namespace.name": "finance"}},
				{TraceID: id, SpanID: "a2", ParentID: "a1", Service: "checkout", Name: "GET /x", Kind: spans.KindServer, Start: at, Duration: 10 * time.Millisecond,
					Attrs: map[string]string{"k8s.namespace.name": "shop"}},
				// A call out of the namespace that nobody in it answered:
				// its callee must not become a candidate.
				{TraceID: id, SpanID: "a3", ParentID: "a2", Service: "checkout", Name: "POST ledger", Kind: spans.KindClient, Start: at, Duration: 5 * time.Millisecond,
					Error: true, Attrs: map[string]string{"k8s.namespace.name": "shop", "peer.service": "ledger-secret"}},
				// B3's shared spans: another namespace's span with the ID
				// of one of shop's.
				{TraceID: id, SpanID: "a2", ParentID: "a1", Service: "ledger-secret", Name: "GET /y", Kind: spans.KindServer, Start: at, Duration: 10 * time.Millisecond,
					Error: true, Attrs: map[string]string{"k8s.namespace.name": "finance"}},
			}})
		}
		return out
	}}
	tl, err := rca.NewTool(rca.ToolConfig{Prometheus: c, Traces: src})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tl.Run(context.Background(), json.RawMessage(`{"namespace": "shop", "onset": "20m ago", "top": 20}`))
	if err != nil || res.Error != "" {
		t.Fatalf("%v %s", err, res.Error)
	}
	if strings.Contains(res.Text, "ledger-secret") || strings.Contains(fmt.Sprint(res.Data), "ledger-secret") {
		t.Errorf("a service of another namespace was ranked:\n%s", res.Text)
	}
}
