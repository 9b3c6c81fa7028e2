package testserver

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing t with what after within.
// Tests wait on servers and goroutines with it instead of fixed sleeps.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s)", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
