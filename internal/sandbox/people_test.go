package sandbox_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// TestIndexListsWhatTheSandboxServes: opening the sandbox's address in a
// browser shows what it serves, its faults and how to add one, instead of
// a 404.
func TestIndexListsWhatTheSandboxServes(t *testing.T) {
	e := start(t, "default")
	tests := []struct {
		path     string
		code     int
		contains []string
	}{
		{"/", 200, []string{"Watchkeeper sandbox", `Scenario <b>default</b>`, `href="/graph"`, `href="/sandbox/v1/status"`,
			"/loki/api/v1/query_range", "bad_deploy on checkout", "scheduled for", "<code>network_latency SERVICE TARGET</code>",
			"<td>checkout</td>"}},
		{"/nothing-here", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(e.srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("GET %s: %d, want %d", tt.path, resp.StatusCode, tt.code)
			}
			for _, want := range tt.contains {
				if !strings.Contains(string(b), want) {
					t.Errorf("GET %s lacks %q:\n%s", tt.path, want, b)
				}
			}
		})
	}
}

// TestAlertsForPeople: alert text with correct units, a terminal line that
// never shows an empty label set, and alert links that open.
func TestAlertsForPeople(t *testing.T) {
	var mu sync.Mutex
	var msgs []sandbox.WebhookMessage
	e := start(t, "network-latency", func(o *sandbox.Options) {
		o.OnAlert = func(m sandbox.WebhookMessage) {
			mu.Lock()
			defer mu.Unlock()
			msgs = append(msgs, m)
		}
	})
	e.advance(t, time.Minute)
	mu.Lock()
	defer mu.Unlock()
	var upstream *sandbox.WebhookMessage
	for i := range msgs {
		if msgs[i].GroupLabels["alertname"] == "UpstreamLatencyHigh" {
			upstream = &msgs[i]
		}
	}
	if upstream == nil {
		t.Fatalf("no UpstreamLatencyHigh notification among %d", len(msgs))
	}
	ms := regexp.MustCompile(`: p99 \d+ms$`)
	for _, a := range upstream.Alerts {
		if s := a.Annotations["summary"]; !ms.MatchString(s) {
			t.Errorf("summary %q: want the p99 in whole milliseconds (not %q)", s, "2.36kms")
		}
		u, err := url.Parse(a.GeneratorURL)
		if err != nil || u.Path != "/graph" || !strings.Contains(u.Query().Get("g0.expr"), "istio_request_duration_milliseconds_bucket") {
			t.Errorf("generatorURL %q: want /graph?g0.expr=<the rule's expression>", a.GeneratorURL)
			continue
		}
		resp, err := http.Get(e.srv.URL + u.RequestURI())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("the alert's link %s answers %d", u.RequestURI(), resp.StatusCode)
		}
	}
	line := sandbox.AlertLine(*upstream)
	if strings.Contains(line, "{}") || strings.Contains(line, "kms") || !strings.Contains(line, "UpstreamLatencyHigh") {
		t.Errorf("terminal line %q", line)
	}
}

// TestClockIsTheWallClock: a sandbox ending now runs on the wall clock, not
// on the last whole step before it started, and a fault injected now is
// active now, not "scheduled" for the next step.
func TestClockIsTheWallClock(t *testing.T) {
	var mu sync.Mutex
	wall := time.Date(2026, 11, 24, 3, 6, 38, 0, time.UTC) // between two 15 s steps
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return wall
	}
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: "healthy", History: time.Hour, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	mu.Lock()
	wall = wall.Add(4 * time.Second) // generating the history took a while
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sb.Start(ctx)
	if now := sb.Now(); !now.Equal(clock()) {
		t.Errorf("sandbox now %s, wall clock %s", now.Format(time.TimeOnly), clock().Format(time.TimeOnly))
	}
	f, err := sb.Inject(sandbox.FaultSpec{Kind: sandbox.FaultMemoryLeak, Service: "cart"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Start.Equal(clock()) || f.State(sb.Now()) != "active" {
		t.Errorf("injected at %s: start %s, %s", clock().Format(time.TimeOnly), f.Start.Format(time.TimeOnly), f.State(sb.Now()))
	}
}

// TestBadWebhookURLIsRefused: a webhook URL without its scheme is refused
// when the sandbox starts, not a nil request in the delivering goroutine.
func TestBadWebhookURLIsRefused(t *testing.T) {
	_, err := sandbox.New(context.Background(), sandbox.Options{Scenario: "healthy", History: time.Hour,
		Notify: sandbox.NotifyConfig{URLs: []string{"127.0.0.1:8080/hook"}}})
	if err == nil || !strings.Contains(err.Error(), `webhook URL "127.0.0.1:8080/hook" is not an http(s) URL`) {
		t.Errorf("err = %v", err)
	}
}
