package app

import (
	"sync/atomic"
	"testing"
	"time"
)

// A sandbox world running sixty times faster than real time: a check due
// in five minutes of its time is made within seconds, not five minutes.
func TestWorldAfterFollowsTheWorldsClock(t *testing.T) {
	start := time.Now()
	var world atomic.Int64
	world.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, world.Load()) }
	fired := worldAfter(now)(5 * time.Minute)
	select {
	case <-fired:
		t.Fatal("fired before the world's time moved")
	case <-time.After(300 * time.Millisecond):
	}
	world.Store(start.Add(5 * time.Minute).UnixNano())
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire when the world's clock passed the wait")
	}
	// A stopped world: the wait ends after the real duration.
	frozen := func() time.Time { return start }
	select {
	case <-worldAfter(frozen)(50 * time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatal("a stopped world kept the wait alive")
	}
}
