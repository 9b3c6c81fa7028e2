package prom_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/prom"
)

// history is six hours of backfilled samples ending at end: 50 latency
// gauges of which api-17 spikes, and request counters with a payments
// error burst.
func history(end time.Time) string {
	var b strings.Builder
	start := end.Add(-6 * time.Hour)
	b.WriteString("# HELP demo_latency_seconds Request latency of the api pods.\n# TYPE demo_latency_seconds gauge\n")
	for p := range 50 {
		for t := start; t.Before(end); t = t.Add(15 * time.Second) {
			v := 0.05 + 0.01*float64(p%5) + 0.005*math.Sin(float64(t.Unix())/300+float64(p))
			if p == 17 && !t.Before(end.Add(-2*time.Hour)) && t.Before(end.Add(-90*time.Minute)) {
				v = 0.9
			}
			fmt.Fprintf(&b, "demo_latency_seconds{namespace=\"prod\",pod=\"api-%02d\",service=\"api\"} %g %d\n", p, v, t.Unix())
		}
	}
	b.WriteString("# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n")
	for _, svc := range []string{"checkout", "payments"} {
		for _, code := range []string{"200", "500"} {
			v := 0.0
			for t := start; t.Before(end); t = t.Add(15 * time.Second) {
				rate := 10.0
				if code == "500" {
					rate = 0.1
					if svc == "payments" && !t.Before(end.Add(-time.Hour)) && t.Before(end.Add(-50*time.Minute)) {
						rate = 5
					}
				}
				v += rate * 15
				fmt.Fprintf(&b, "http_requests_total{code=%q,service=%q} %g %d\n", code, svc, v, t.Unix())
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

const rules = `groups:
- name: test
  rules:
  - alert: ExporterDown
    expr: up{job="payments-exporter"} == 0
    labels: {severity: critical}
    annotations: {summary: "the payments exporter is down"}
`

func run(t *testing.T, tool tools.Tool, args string) tools.Result {
	t.Helper()
	if err := tool.Spec().Parameters.Validate(json.RawMessage(args)); err != nil {
		t.Fatalf("%s arguments %s: %v", tool.Spec().Name, args, err)
	}
	res, err := tool.Run(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s: %v", tool.Spec().Name, err)
	}
	return res
}

func byName(c *prom.Client) map[string]tools.Tool {
	m := map[string]tools.Tool{}
	for _, t := range c.Tools() {
		m[t.Spec().Name] = t
	}
	return m
}

// TestAgainstRealPrometheus runs every tool against the Debian Prometheus,
// served over TLS with basic auth, with six hours of backfilled history.
func TestAgainstRealPrometheus(t *testing.T) {
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	srv := testserver.StartPrometheus(t, testserver.PrometheusOptions{OpenMetrics: history(end), Rules: rules, ScrapeDown: true, Secure: true, SelfScrape: true})
	hc, err := endpoint.Config{Name: "prometheus", Username: srv.Username, Password: srv.Password, CAFile: srv.CAFile}.Client()
	if err != nil {
		t.Fatal(err)
	}
	client, err := prom.New(prom.Config{URL: srv.URL, HTTPClient: hc, LinkURL: "https://prometheus.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tl := byName(client)
	at := func(d time.Duration) string { return end.Add(d).UTC().Format(time.RFC3339) }

	t.Run("range query finds the spike within budget", func(t *testing.T) {
		res := run(t, tl["prom_query_range"], fmt.Sprintf(`{"query": "demo_latency_seconds", "start": %q, "end": %q}`, at(-6*time.Hour), at(0)))
		if res.Error != "" {
			t.Fatal(res.Error)
		}
		if n := tools.EstimateTokens(res.Text); n > 1500 {
			t.Errorf("%d tokens, budget 1,500", n)
		}
		lines := strings.Split(res.Text, "\n")
		spike := end.Add(-2 * time.Hour).UTC().Format("15:04")
		if !strings.Contains(lines[2], `pod="api-17"`) || !strings.Contains(lines[2], "changed at") || !strings.Contains(res.Text, "50 series") {
			t.Errorf("the spiking pod is not first (spike at %s):\n%s", spike, res.Text)
		}
		if !strings.Contains(res.Text, "step 2m0s") || !strings.Contains(res.Text, "Open: https://prometheus.example.com/graph?g0.end_input=") {
			t.Errorf("step or link missing:\n%s", res.Text)
		}
		if len(res.Attachments) != 1 || res.Attachments[0].MIMEType != "image/png" || len(res.Attachments[0].Data) < 1000 {
			t.Errorf("no chart attached")
		}
	})
	t.Run("rank by change", func(t *testing.T) {
		res := run(t, tl["prom_query_range"], fmt.Sprintf(`{"query": "sum by (service) (rate(http_requests_total{code=\"500\"}[1m]))", "start": %q, "end": %q, "rank_by": "change", "top": 1}`, at(-3*time.Hour), at(0)))
		if !strings.Contains(res.Text, `{service="payments"}: last`) || !strings.Contains(res.Text, "1 more series not shown") {
			t.Errorf("payments' error burst should rank first:\n%s", res.Text)
		}
	})
	t.Run("instant query", func(t *testing.T) {
		res := run(t, tl["prom_query"], fmt.Sprintf(`{"query": "sum by (service) (rate(http_requests_total[5m]))", "time": %q}`, at(0)))
		if res.Error != "" || !strings.Contains(res.Text, `{service="checkout"} = 10.1`) {
			t.Errorf("%+v", res)
		}
	})
	t.Run("mistakes come back as Prometheus's own message", func(t *testing.T) {
		for query, want := range map[string]string{
			"sum(rate(http_requests_total[5m])":   "parse error",
			"frobnicate(http_requests_total)":     `unknown function with name "frobnicate"`,
			"rate(http_requests_total)":           "expected type range vector",
			`http_requests_total{code=~"(("}[5m]`: "error parsing regexp",
		} {
			res := run(t, tl["prom_query"], fmt.Sprintf(`{"query": %q}`, query))
			if !strings.Contains(res.Error, "Prometheus rejected") || !strings.Contains(res.Error, want) {
				t.Errorf("%s: %q, want %q", query, res.Error, want)
			}
		}
		res := run(t, tl["prom_query_range"], `{"query": "up", "start": "6h ago", "step": "1s", "end": "now"}`)
		if !strings.Contains(res.Error, "allows 11,000") {
			t.Errorf("too many points: %q", res.Error)
		}
		res = run(t, tl["prom_query_range"], `{"query": "up", "start": "now", "end": "2h ago"}`)
		if !strings.Contains(res.Error, "must be before end") {
			t.Errorf("inverted range: %q", res.Error)
		}
	})
	t.Run("discovery", func(t *testing.T) {
		res := run(t, tl["prom_metrics"], `{"search": "demo latency"}`)
		if !strings.Contains(res.Text, "- demo_latency_seconds") {
			t.Errorf("metrics:\n%s", res.Text)
		}
		res = run(t, tl["prom_labels"], fmt.Sprintf(`{"match": "demo_latency_seconds", "label": "pod", "since": %q}`, at(-time.Hour)))
		if !strings.HasPrefix(res.Text, "50 values of pod") || !strings.Contains(res.Text, "api-17") {
			t.Errorf("labels:\n%s", res.Text)
		}
		res = run(t, tl["prom_labels"], fmt.Sprintf(`{"match": "http_requests_total", "since": %q}`, at(-time.Hour)))
		if !strings.Contains(res.Text, "code, service") {
			t.Errorf("label names:\n%s", res.Text)
		}
	})
	t.Run("alerts, rules and targets", func(t *testing.T) {
		var res tools.Result
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			res = run(t, tl["prom_alerts"], `{}`)
			if strings.Contains(res.Text, "[firing] ExporterDown") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(res.Text, "[firing] ExporterDown") || !strings.Contains(res.Text, "the payments exporter is down") ||
			!strings.Contains(res.Text, "<untrusted-data source=\"prometheus alerts\">\n- [firing] ExporterDown") {
			t.Errorf("alerts (annotations are data, inside the untrusted block):\n%s", res.Text)
		}
		res = run(t, tl["prom_rules"], `{"name": "exporter"}`)
		if !strings.Contains(res.Text, "ExporterDown [firing, health ok]") || !strings.Contains(res.Text, `up{job="payments-exporter"} == 0`) {
			t.Errorf("rules:\n%s", res.Text)
		}
		// The self-scrape may not have happened yet on a loaded machine.
		for time.Now().Before(deadline.Add(10 * time.Second)) {
			res = run(t, tl["prom_targets"], `{}`)
			if strings.Contains(res.Text, "job prometheus: 1/1 up") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(res.Text, "2 targets in 2 jobs; 1 down") || !strings.Contains(res.Text, "job prometheus: 1/1 up") || !strings.Contains(res.Text, "connection refused") {
			t.Errorf("targets:\n%s", res.Text)
		}
		res = run(t, tl["prom_series"], `{"match": "up"}`)
		if !strings.Contains(res.Text, `job="payments-exporter"`) {
			t.Errorf("series:\n%s", res.Text)
		}
		// Metadata comes from scrapes: the self-scraped metrics have help.
		res = run(t, tl["prom_metrics"], `{"search": "prometheus http requests"}`)
		if !strings.Contains(res.Text, "prometheus_http_requests_total (counter): Counter of HTTP requests.") {
			t.Errorf("metrics with metadata:\n%s", res.Text)
		}
	})
	t.Run("a huge answer is refused, not buffered", func(t *testing.T) {
		small, _ := endpoint.Config{Username: srv.Username, Password: srv.Password, CAFile: srv.CAFile, MaxResponseBytes: 100_000}.Client()
		c, _ := prom.New(prom.Config{URL: srv.URL, HTTPClient: small})
		res := run(t, byName(c)["prom_query_range"], fmt.Sprintf(`{"query": "demo_latency_seconds", "start": %q, "end": %q, "step": "15s"}`, at(-6*time.Hour), at(0)))
		if !strings.Contains(res.Error, "narrow the query") {
			t.Errorf("res = %+v", res.Error)
		}
	})
	t.Run("wrong credentials and an untrusted certificate", func(t *testing.T) {
		bad, _ := endpoint.Config{Username: srv.Username, Password: "wrong", CAFile: srv.CAFile, MaxRetries: -1}.Client()
		c, _ := prom.New(prom.Config{URL: srv.URL, HTTPClient: bad})
		_, err := byName(c)["prom_query"].Run(context.Background(), json.RawMessage(`{"query": "up"}`))
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("wrong password: %v", err)
		}
		untrusted, _ := endpoint.Config{Username: srv.Username, Password: srv.Password, MaxRetries: -1}.Client()
		c, _ = prom.New(prom.Config{URL: srv.URL, HTTPClient: untrusted})
		_, err = byName(c)["prom_query"].Run(context.Background(), json.RawMessage(`{"query": "up"}`))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("untrusted CA: %v", err)
		}
	})
}

func TestBackendDownOrSlow(t *testing.T) {
	dead := "http://" + testserver.FreeAddr(t)
	hc, _ := endpoint.Config{MaxRetries: 1}.Client()
	c, _ := prom.New(prom.Config{URL: dead, HTTPClient: hc})
	_, err := byName(c)["prom_query"].Run(context.Background(), json.RawMessage(`{"query": "up"}`))
	if err == nil || !strings.Contains(err.Error(), "prometheus at "+dead) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("down: %v", err)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) }))
	defer slow.Close()
	hc, _ = endpoint.Config{Timeout: 200 * time.Millisecond, MaxRetries: -1}.Client()
	c, _ = prom.New(prom.Config{URL: slow.URL, HTTPClient: hc})
	start := time.Now()
	_, err = byName(c)["prom_query"].Run(context.Background(), json.RawMessage(`{"query": "up"}`))
	if err == nil || time.Since(start) > 1500*time.Millisecond || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("slow: %v after %s", err, time.Since(start))
	}
	// 5xx is retried: the second attempt succeeds.
	attempts := 0
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts++
		if attempts == 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"x"},"value":[1,"1"]}]}}`)
	}))
	defer flaky.Close()
	hc, _ = endpoint.Config{}.Client()
	c, _ = prom.New(prom.Config{URL: flaky.URL, HTTPClient: hc})
	res, err := byName(c)["prom_query"].Run(context.Background(), json.RawMessage(`{"query": "up"}`))
	if err != nil || !strings.Contains(res.Text, `{job="x"} = 1`) || attempts != 2 {
		t.Errorf("flaky: %v %q after %d attempts", err, res.Text, attempts)
	}
}

func TestGrafanaLink(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	defer srv.Close()
	c, _ := prom.New(prom.Config{URL: srv.URL, LinkKind: "grafana", LinkURL: "https://grafana.example.com", Datasource: "prom-uid"})
	res := run(t, byName(c)["prom_query"], `{"query": "up"}`)
	if !strings.Contains(res.Text, "Open: https://grafana.example.com/explore?schemaVersion=1&orgId=1&panes=") ||
		!strings.Contains(res.Text, "prom-uid") || !strings.Contains(res.Text, "No series matched") {
		t.Errorf("%s", res.Text)
	}
}

// TestTenMillionPoints: a backend that answers a range query with 10 M
// points gets a clear, fixable result, and memory stays bounded by the
// response cap rather than the answer's size.
func TestTenMillionPoints(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 1<<16)
		fmt.Fprint(bw, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":[`)
		for i := range 10_000_000 {
			if i > 0 {
				bw.WriteByte(',')
			}
			if _, err := fmt.Fprintf(bw, `[%d,"%d"]`, 1_700_000_000+i, i); err != nil {
				return // the client stopped reading
			}
		}
		fmt.Fprint(bw, `]}]}}`)
		bw.Flush()
	}))
	defer srv.Close()
	hc, _ := endpoint.Config{MaxResponseBytes: 16 << 20, MaxRetries: -1}.Client()
	c, _ := prom.New(prom.Config{URL: srv.URL, HTTPClient: hc})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := byName(c)["prom_query_range"].Run(context.Background(), json.RawMessage(`{"query": "x", "start": "2h ago", "step": "1s"}`))
	runtime.ReadMemStats(&after)
	if err != nil || !strings.Contains(res.Error, "response too large") {
		t.Fatalf("got %+v, %v; want a result saying the response was too large", res, err)
	}
	if grown := int64(after.TotalAlloc - before.TotalAlloc); grown > 256<<20 {
		t.Errorf("allocated %d MiB reading a capped response", grown>>20)
	}
}
