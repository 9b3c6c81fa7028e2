package sandbox

import (
	"context"
	"testing"
	"time"
)

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
