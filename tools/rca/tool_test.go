package rca_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
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
		{"cpu-saturation", "", "1. ", "cpu"},
		{"memory-leak", "", "1. cart", "memory"},
	} {
		tl := rankTool(t, tt.scenario, end)
		onset := tt.onset
		if onset == "" {
			// The scenario's own fault time.
			sc, _ := sandbox.LoadScenario(tt.scenario, sandbox.DefaultTopology())
			pf, _ := sc.PrimaryFault()
			onset = end.Add(pf.At).Format(time.RFC3339)
			tt.want = "1. " + pf.Service
		}
		res, err := tl.Run(context.Background(), json.RawMessage(`{"namespace": "shop", "onset": "`+onset+`"}`))
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
		if n := tools.EstimateTokens(res.Text); n > 1200 {
			t.Errorf("%d tokens", n)
		}
	}
}

func TestRankToolErrors(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	tl := rankTool(t, "healthy", end)
	for args, want := range map[string]string{
		`{"onset": "soonish"}`:                      "onset:",
		`{"onset": "2026-11-25T10:00:00Z"}`:         "in the future",
		`{"namespace": "nope", "onset": "10m ago"}`: `no per-service metrics found in namespace "nope"`,
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
