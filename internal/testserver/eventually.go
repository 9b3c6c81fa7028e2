package testserver

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing t with what after within.
// Tests wait on servers and goroutines with it instead of fixed sleeps.
// The deadline scales with the machine's load (Scale): a wait that takes
// 5 s alone can take 40 s on two cores running the whole suite, and a
// condition that holds late is not a failure.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		// Re-read each time: the load may rise while the test waits.
		if limit := Scale(within); time.Since(start) > limit {
			t.Fatalf("timed out waiting for %s (%s; %s with the machine's load)", what, within, limit.Round(time.Second))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Scale stretches a test deadline by how busy the machine is: the
// one-minute load average per CPU, at least 1 and at most 8.
// WATCHKEEPER_TEST_SLOWDOWN multiplies it further (a slow CI runner).
func Scale(d time.Duration) time.Duration {
	f := 1.0
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			if load, err := strconv.ParseFloat(fields[0], 64); err == nil {
				f = load / float64(runtime.NumCPU())
			}
		}
	}
	f = math.Min(math.Max(f, 1), 8)
	if s, err := strconv.ParseFloat(os.Getenv("WATCHKEEPER_TEST_SLOWDOWN"), 64); err == nil && s > 0 {
		f *= s
	}
	return time.Duration(float64(d) * f)
}
