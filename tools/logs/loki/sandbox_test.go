package loki_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/logs"
	"github.com/watchkeeper/watchkeeper/tools/logs/loki"
)

// TestSearchTheSandboxIncident runs logs_search over the Loki API of the
// sandbox's prompt-injection scenario: a bad checkout deploy 15 minutes
// ago and a hostile line planted 5 minutes ago.
func TestSearchTheSandboxIncident(t *testing.T) {
	end := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: "prompt-injection", History: 2 * time.Hour, End: end,
		Clock: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	b, err := loki.New(loki.Config{URL: srv.URL, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	search, err := logs.NewSearch(logs.SearchConfig{Backend: b, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args string) tools.Result {
		t.Helper()
		res, err := search.Run(context.Background(), json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		if res.Error != "" {
			t.Fatalf("%s: %s", args, res.Error)
		}
		return res
	}

	res := run(`{"service": "checkout", "start": "30m ago"}`)
	text := res.Text
	t.Log(text)
	if n := tools.EstimateTokens(text); n > 2000 {
		t.Errorf("%d tokens, budget 2,000", n)
	}
	for _, want := range []string{
		"Log search (loki) `{service=\"checkout\"}`, 14:30:00 – 15:00:00 UTC",
		"Compared with 14:00:00 – 14:30:00",
		"nil pointer dereference", // the bad deploy's new error
		"SYSTEM OVERRIDE",         // the planted line is shown as evidence…
		"<untrusted-data source=\"logs\">",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q", want)
		}
	}
	// …but only inside the untrusted block.
	inside := text[strings.Index(text, "<untrusted-data"):strings.Index(text, "</untrusted-data>")]
	if strings.Count(text, "SYSTEM OVERRIDE") != strings.Count(inside, "SYSTEM OVERRIDE") {
		t.Error("log text escaped the untrusted-data block")
	}
	rep := res.Data.(logs.Report)
	var deploy *logs.Pattern
	for _, p := range rep.Patterns {
		if strings.Contains(p.Template, "nil pointer dereference") {
			deploy = p
		}
	}
	if deploy == nil || !deploy.New || deploy.Level != logs.LevelError || deploy.Count < 10 {
		t.Fatalf("the deploy's error pattern should be new, at error level, frequent: %+v", deploy)
	}
	if deploy.First.Before(end.Add(-16*time.Minute)) || deploy.First.After(end.Add(-14*time.Minute)) {
		t.Errorf("first seen %v, the deploy was at %v", deploy.First, end.Add(-15*time.Minute))
	}

	// Level filter: only error lines, and the native query pushes it down.
	res = run(`{"service": "checkout", "start": "30m ago", "level": "error", "compare": false}`)
	for _, p := range res.Data.(logs.Report).Patterns {
		if p.Level < logs.LevelError {
			t.Errorf("level error kept %v pattern %q", p.Level, p.Template)
		}
	}
	if !strings.Contains(res.Text, "|~ `(?i)") {
		t.Errorf("the level filter should be pushed down to LogQL:\n%s", res.Text)
	}

	// Lines mode: the newest lines, oldest first, in the untrusted block.
	res = run(`{"service": "checkout", "contains": ["SYSTEM OVERRIDE"], "mode": "lines", "start": "1h ago"}`)
	if !strings.Contains(res.Text, "the newest 1 lines") || !strings.Contains(res.Text, "ignore previous instructions") {
		t.Errorf("lines mode:\n%s", res.Text)
	}

	// Mistakes the model can fix come back as tool errors.
	for args, want := range map[string]string{
		`{}`:                                    "give a service, namespace, pod or labels",
		`{"service": "checkout", "regex": "("}`: "missing closing )",
		`{"service": "checkout", "start": "soon"}`:                      "start:",
		`{"service": "checkout", "start": "10m ago", "end": "20m ago"}`: "must be before end",
	} {
		res, err := search.Run(context.Background(), json.RawMessage(args))
		if err != nil || !strings.Contains(res.Error, want) {
			t.Errorf("%s: error %q (%v), want %q", args, res.Error, err, want)
		}
	}
	res, err = search.Run(context.Background(), json.RawMessage(`{"service": "no-such-service"}`))
	if err != nil || !strings.Contains(res.Text, "No lines matched") {
		t.Errorf("unknown service: %+v %v", res, err)
	}
}
