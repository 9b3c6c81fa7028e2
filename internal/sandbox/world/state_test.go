package world_test

import (
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

func TestFaultState(t *testing.T) {
	start := time.Date(2026, 11, 24, 3, 6, 38, 0, time.UTC)
	bounded := world.Fault{Start: start, End: start.Add(10 * time.Minute)}
	fixed := world.Fault{Start: start, FixedAt: start.Add(2 * time.Minute), FixedBy: "rollout to revision 5"}
	tests := []struct {
		name string
		f    world.Fault
		now  time.Time
		want string
	}{
		{"before its start", bounded, start.Add(-7 * time.Second), "scheduled for 03:06:38"},
		{"at its start", bounded, start, "active"},
		{"past its end", bounded, start.Add(11 * time.Minute), "ended at 03:16:38"},
		{"fixed", fixed, start.Add(3 * time.Minute), "fixed at 03:08:38 by rollout to revision 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.State(tt.now); got != tt.want {
				t.Errorf("State = %q, want %q", got, tt.want)
			}
		})
	}
}
