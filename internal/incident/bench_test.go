package incident_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

// junkNotification is a valid-looking notification of about size bytes:
// thousands of alerts with long labels, the costliest shape to decode.
// Each group key is a new notification (nothing is deduplicated away).
func junkNotification(group string, size int) []byte {
	var alerts []incident.Alert
	m := incident.Message{Version: "4", GroupKey: group, Status: "firing", Receiver: "x"}
	for i := 0; ; i++ {
		alerts = append(alerts, incident.Alert{Status: "firing", Fingerprint: fmt.Sprintf("fp%d", i), StartsAt: t0,
			Labels: map[string]string{"alertname": "Junk", "x": fmt.Sprintf("%0300d", i)}, Annotations: map[string]string{"a": fmt.Sprintf("%0300d", i)}})
		if i%100 == 0 {
			m.Alerts = alerts
			if b, _ := json.Marshal(m); len(b) >= size {
				return b
			}
		}
	}
}

// BenchmarkWebhookJunkFlood: 40 distinct notifications of 3 MiB at once
// (the flood the security review measured at 636 MB RSS) and one real
// alert; reports the peak heap, how long the real alert took and how many
// junk notifications were turned away (503, for Alertmanager to retry).
func BenchmarkWebhookJunkFlood(b *testing.B) {
	template := junkNotification("junk-00", 3<<20)
	junk := make([][]byte, 40)
	for i := range junk {
		// Distinct notifications of the same size and shape.
		junk[i] = bytes.Replace(template, []byte(`"groupKey":"junk-00"`), []byte(fmt.Sprintf(`"groupKey":"junk-%02d"`, i)), 1)
	}
	real, _ := json.Marshal(msg("real", "firing", alert("RealAlert", "fp1", "firing")))
	for range b.N {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "wk.db"))
		if err != nil {
			b.Fatal(err)
		}
		svc := incident.New(incident.Options{Store: s, Surface: &surface{}, Route: func(map[string]string) (string, bool) { return "C", true }})
		srv := httptest.NewServer(svc.Handler(incident.Webhook{PerSecond: 1000, Burst: 1000}))
		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		var wg sync.WaitGroup
		codes := make([]int, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, err := http.Post(srv.URL+"/webhooks/alertmanager", "application/json", bytes.NewReader(junk[i])); err == nil {
					codes[i] = r.StatusCode
					r.Body.Close()
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		r, err := http.Post(srv.URL+"/webhooks/alertmanager", "application/json", bytes.NewReader(real))
		took := time.Since(start)
		if err != nil || r.StatusCode != http.StatusOK {
			b.Fatalf("the real alert: %v %v", r, err)
		}
		r.Body.Close()
		wg.Wait()
		close(stop)
		<-sampled
		srv.Close()
		s.Close()
		sort.Ints(codes)
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(took.Milliseconds()), "real-alert-ms")
		refused := 0
		for _, c := range codes {
			if c == http.StatusServiceUnavailable {
				refused++
			}
		}
		b.ReportMetric(float64(refused), "junk-refused")
	}
}
