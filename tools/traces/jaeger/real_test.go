package jaeger_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools/traces"
	"github.com/watchkeeper/watchkeeper/tools/traces/jaeger"
)

// TestAgainstARealJaeger is issue 19's end-to-end check: the sandbox
// exports its requests' traces over OTLP/HTTP to a real Jaeger (built from
// its Go module by make deps, in-memory storage), and the production
// client reads them back through Jaeger's query API — the delay of the
// network-latency scenario on checkout → payments shows as network time on
// that call, and trace_get opens one of the traces it cites.
func TestAgainstARealJaeger(t *testing.T) {
	j := testserver.StartJaeger(t)
	ctx := context.Background()
	// Live sandbox time is wall time, so Jaeger's lookback finds it.
	sb, err := sandbox.New(ctx, sandbox.Options{Scenario: "network-latency", History: time.Hour, OTLPEndpoint: j.OTLPURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	b, err := jaeger.New(jaeger.Config{URL: j.QueryURL, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox sends the last five minutes of its history at start;
	// Jaeger indexes them within a few seconds.
	testserver.Eventually(t, 60*time.Second, "Jaeger lists the sandbox's services", func() bool {
		svcs, err := b.Services(ctx)
		return err == nil && strings.Contains(strings.Join(svcs, ","), "payments")
	})
	search, err := traces.NewSearch(traces.SearchConfig{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	res, err := search.Run(ctx, json.RawMessage(`{"service": "checkout", "start": "15m ago"}`))
	if err != nil || res.Error != "" {
		t.Fatalf("traces_search: %v %s", err, res.Error)
	}
	t.Logf("traces_search from Jaeger:\n%s", res.Text)
	a := res.Data.(traces.Answer)
	if a.Traces == 0 {
		t.Fatalf("no traces read back from Jaeger:\n%s", res.Text)
	}
	var found bool
	for _, e := range a.Edges {
		if e.Caller == "checkout" && e.Callee == "payments" {
			found = true
			// The scenario adds 400 ms on this call, outside payments' span.
			if e.NetworkP95 < 300*time.Millisecond {
				t.Errorf("checkout → payments network p95 %v, want the scenario's 400 ms delay", e.NetworkP95)
			}
		}
	}
	if !found {
		t.Errorf("no checkout → payments call in the answer:\n%s", res.Text)
	}
	if a.Slowest == nil {
		t.Fatalf("no slowest trace:\n%s", res.Text)
	}
	get, err := traces.NewGet(traces.GetConfig{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	res, err = get.Run(ctx, json.RawMessage(`{"trace_id": "`+a.Slowest.TraceID+`"}`))
	if err != nil || res.Error != "" {
		t.Fatalf("trace_get %s: %v %s", a.Slowest.TraceID, err, res.Error)
	}
	if !strings.Contains(res.Text, "checkout") || !strings.Contains(res.Text, j.QueryURL+"/trace/") {
		t.Errorf("trace_get:\n%s", res.Text)
	}
	st := sb.TraceStats()
	t.Logf("sandbox trace stats: %+v", st)
}
