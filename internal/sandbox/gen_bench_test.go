package sandbox

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkStartup measures what `watchkeeper demo` waits for: the default
// scenario's world with six hours of history — metrics, logs, Kubernetes
// objects and rule warm-up — ready to query.
func BenchmarkStartup(b *testing.B) {
	for b.Loop() {
		sb, err := New(context.Background(), Options{End: t0})
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_MiB")
		b.ReportMetric(float64(len(sb.metrics.all)), "series")
		sb.Close()
	}
}
