package anomaly_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/anomaly"
	"github.com/watchkeeper/watchkeeper/tools/prom"
)

func sandboxTools(t *testing.T, scenario string, end time.Time) map[string]tools.Tool {
	t.Helper()
	sb, err := sandbox.New(context.Background(), sandbox.Options{Scenario: scenario, End: end, Clock: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	c, err := prom.New(prom.Config{URL: srv.URL, Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := anomaly.NewTools(anomaly.ToolConfig{Prometheus: c})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tools.Tool{}
	for _, tl := range ts {
		out[tl.Spec().Name] = tl
	}
	return out
}

func run(t *testing.T, tl tools.Tool, args string) tools.Result {
	t.Helper()
	if err := tl.Spec().Parameters.Validate(json.RawMessage(args)); err != nil {
		t.Fatalf("%s: %v", args, err)
	}
	res, err := tl.Run(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s: %v", args, err)
	}
	return res
}

var end = time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)

// TestScanFindsTheBadDeploy: checkout's bad deploy 20 minutes before the
// end shows as its errors rising, ranked first, with the right onset.
func TestScanFindsTheBadDeploy(t *testing.T) {
	ts := sandboxTools(t, "bad-deploy", end)
	res := run(t, ts["anomaly_scan"], `{"namespace": "shop", "start": "45m ago"}`)
	t.Log(res.Text)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	lines := strings.Split(res.Text, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "- errors checkout: up from") {
		t.Fatalf("the first finding should be checkout's errors:\n%s", res.Text)
	}
	findings := res.Data.(map[string]any)["findings"].([]anomaly.Finding)
	onset := findings[0].Start
	if onset.Before(end.Add(-22*time.Minute)) || onset.After(end.Add(-17*time.Minute)) {
		t.Errorf("onset %v, the deploy was at %v", onset, end.Add(-20*time.Minute))
	}
	if len(res.Attachments) != 1 || !strings.HasPrefix(string(res.Attachments[0].Data), "\x89PNG") {
		t.Error("no chart")
	}
	if n := tools.EstimateTokens(res.Text); n > 1500 {
		t.Errorf("%d tokens", n)
	}
}

func TestDetectOnAQuery(t *testing.T) {
	ts := sandboxTools(t, "bad-deploy", end)
	res := run(t, ts["anomaly_detect"], `{"query": "sum by (service) (rate(http_requests_total{code=~\"5..\"}[5m]))", "start": "45m ago"}`)
	t.Log(res.Text)
	if !strings.Contains(res.Text, `- {service="checkout"}: up from`) {
		t.Errorf("checkout's errors should be anomalous:\n%s", res.Text)
	}
	// A healthy world has nothing to report.
	healthy := sandboxTools(t, "healthy", end)
	res = run(t, healthy["anomaly_detect"], `{"query": "sum by (service) (rate(http_requests_total[5m]))", "start": "45m ago"}`)
	if !strings.Contains(res.Text, "none in 8 series") {
		t.Errorf("healthy:\n%s", res.Text)
	}
	// Mistakes come back as fixable errors.
	for args, want := range map[string]string{
		`{"query": "sum(rate(x[5m])"}`:                         "Prometheus rejected",
		`{"query": "up", "start": "later"}`:                    "start:",
		`{"query": "up", "history": "lots"}`:                   `history "lots"`,
		`{"query": "up", "start": "10m ago", "end": "1h ago"}`: "must be before end",
	} {
		if res := run(t, ts["anomaly_detect"], args); !strings.Contains(res.Error, want) {
			t.Errorf("%s: %q, want %q", args, res.Error, want)
		}
	}
}

// TestForecastTheLeak: cart leaks 14 MiB a minute; its memory reaches the
// limit and the pod restarts in a cycle. Between restarts, the forecast
// of crossing 90 % of the limit is minutes away.
func TestForecastTheLeak(t *testing.T) {
	ts := sandboxTools(t, "memory-leak", end)
	res := run(t, ts["forecast_threshold"], `{"query": "max(container_memory_working_set_bytes{container=\"cart\"})", "threshold": 1e12, "history": "20m"}`)
	t.Log(res.Text)
	if !strings.Contains(res.Text, "not expected within") || !strings.Contains(res.Text, "trend") {
		t.Errorf("a terabyte is far away:\n%s", res.Text)
	}
	res = run(t, ts["forecast_threshold"], `{"query": "vector(1000) + 10 * (time() - 1795000000) / 3600", "threshold": 0, "direction": "below"}`)
	if !strings.Contains(res.Text, "not expected within") {
		t.Errorf("a rising line never falls below 0:\n%s", res.Text)
	}
	res = run(t, ts["forecast_threshold"], `{"query": "vector(1000) + 10 * (time() - 1795000000) / 3600", "threshold": 5000}`)
	if !strings.Contains(res.Text, "expected 2026-") || !strings.Contains(res.Text, "trend 10/h") {
		t.Errorf("a line rising 10 an hour:\n%s", res.Text)
	}
}
