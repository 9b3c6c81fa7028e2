package sandbox

import (
	"log/slog"
	"testing"
	"time"
)

func BenchmarkHistory6h(b *testing.B) {
	for b.Loop() {
		w, _ := NewWorld(DefaultTopology(), 1, t0)
		ms, err := openMetricStore(slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		ex := newExporter(ms, w.Topology())
		w.Advance(t0.Add(6*time.Hour), func(s *Snapshot) {
			if err := ex.export(s); err != nil {
				b.Fatal(err)
			}
		})
		if err := ex.flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(ms.all)), "series")
		ms.Close()
	}
}
