package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// t0 is a Tuesday 14:00 UTC, near the daily peak.
var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// BenchmarkStartup measures what `watchkeeper demo` waits for: the default
// scenario's world with six hours of history — metrics, logs, Kubernetes
// objects and rule warm-up — ready to query. It reports the heap in use
// afterwards.
func BenchmarkStartup(b *testing.B) {
	for b.Loop() {
		sb, err := New(context.Background(), Options{End: t0})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_MiB")
		b.ReportMetric(float64(sb.metrics.SeriesCount()), "series")
		sb.Close()
	}
}

// BenchmarkLiveStep measures one step of live time: samples, logs,
// Kubernetes objects, rule evaluation and notification.
func BenchmarkLiveStep(b *testing.B) {
	sb, err := New(context.Background(), Options{End: t0, History: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	for b.Loop() {
		if err := sb.AdvanceTo(context.Background(), sb.World().Now().Add(Step)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServer(b *testing.B) (*Sandbox, *httptest.Server) {
	b.Helper()
	sb, err := New(context.Background(), Options{End: t0})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	b.Cleanup(func() { srv.Close(); sb.Close() })
	return sb, srv
}

func fetch(b *testing.B, u string) {
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	b.SetBytes(n)
}

// BenchmarkRangeQuery is a typical dashboard query over HTTP: p99 latency
// per service over the last hour at a 15s step (241 points × 8 series).
func BenchmarkRangeQuery(b *testing.B) {
	_, srv := benchServer(b)
	q := url.Values{
		"query": {`histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))`},
		"start": {strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(t0.Unix(), 10)}, "step": {"15"},
	}
	u := srv.URL + "/api/v1/query_range?" + q.Encode()
	for b.Loop() {
		fetch(b, u)
	}
}

// BenchmarkLogQuery is a typical log search over HTTP: error lines of one
// service in the last hour.
func BenchmarkLogQuery(b *testing.B) {
	_, srv := benchServer(b)
	q := url.Values{"query": {`{service="checkout"} |= "level=error"`}, "limit": {"100"},
		"start": {strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(t0.Unix(), 10)}}
	u := srv.URL + "/loki/api/v1/query_range?" + q.Encode()
	for b.Loop() {
		fetch(b, u)
	}
}
