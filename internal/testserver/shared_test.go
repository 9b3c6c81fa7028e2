package testserver

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// recorder is a test that keeps what get does to it: Fatal and Skip end
// its goroutine, as they end a test's.
type recorder struct {
	testing.TB // nil: get calls only the methods below
	name       string
	mu         sync.Mutex
	failed     string
	skipped    string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return r.name }
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Fatal(args ...any)         { r.end(&r.failed, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.end(&r.failed, fmt.Sprintf(f, a...)) }
func (r *recorder) Skip(args ...any)          { r.end(&r.skipped, fmt.Sprint(args...)) }

func (r *recorder) end(field *string, msg string) {
	r.mu.Lock()
	*field = msg
	r.mu.Unlock()
	runtime.Goexit()
}

// use asks s for its server as test name does.
func use[S any](s *shared[S], name string, start func(tb) S) (S, *recorder) {
	r := &recorder{name: name}
	var got S
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = s.get(r, start)
	}()
	<-done
	return got, r
}

// Parallel tests wait for one boot and share its server; Main's stop runs
// the boot's cleanups once.
func TestSharedBootsOnce(t *testing.T) {
	var starts, stops atomic.Int32
	s := &shared[string]{what: "fake server", caller: "SharedFake"}
	start := func(b tb) string {
		starts.Add(1)
		b.Cleanup(func() { stops.Add(1) })
		dir := b.TempDir()
		b.Cleanup(func() {
			if _, err := os.Stat(dir); err != nil {
				t.Errorf("the temporary directory went before the cleanups registered after it: %v", err)
			}
		})
		return "server at " + dir
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			var r *recorder
			got[i], r = use(s, fmt.Sprintf("Test%d", i), start)
			if r.failed != "" || r.skipped != "" {
				t.Errorf("caller %d: failed %q, skipped %q", i, r.failed, r.skipped)
			}
		})
	}
	wg.Wait()
	if starts.Load() != 1 {
		t.Fatalf("%d boots for 8 callers", starts.Load())
	}
	for _, g := range got {
		if g != got[0] || !strings.HasPrefix(g, "server at ") {
			t.Fatalf("callers got %q", got)
		}
	}
	if s.uses.Load() != 8 {
		t.Errorf("uses = %d", s.uses.Load())
	}
	s.stop()
	if stops.Load() != 1 {
		t.Errorf("%d stops", stops.Load())
	}
	if _, err := os.Stat(strings.TrimPrefix(got[0], "server at ")); !os.IsNotExist(err) {
		t.Errorf("the boot's temporary directory is still there: %v", err)
	}
	s.stop() // stopping twice does nothing
	if stops.Load() != 1 {
		t.Errorf("%d stops", stops.Load())
	}
}

// A boot that fails fails every test that asks for the server, with one
// message naming the server and the test that booted it; what it started
// is stopped at once; it is not tried again.
func TestSharedFailureIsEveryones(t *testing.T) {
	var starts, stops atomic.Int32
	s := &shared[int]{what: "fake server", caller: "SharedFake"}
	start := func(b tb) int {
		starts.Add(1)
		b.Cleanup(func() { stops.Add(1) })
		b.Fatalf("kube-apiserver stopped:\n%s", "address on fire")
		return 1
	}
	var msgs []string
	for _, name := range []string{"TestFirst", "TestSecond", "TestThird"} {
		got, r := use(s, name, start)
		if got != 0 || r.skipped != "" || r.failed == "" {
			t.Fatalf("%s: got %d, failed %q, skipped %q", name, got, r.failed, r.skipped)
		}
		msgs = append(msgs, r.failed)
	}
	if starts.Load() != 1 || stops.Load() != 1 {
		t.Errorf("%d boots, %d stops", starts.Load(), stops.Load())
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] || !strings.Contains(msgs[0], "address on fire") ||
		!strings.Contains(msgs[0], "the fake server this package's tests share did not start; first asked for by TestFirst") {
		t.Errorf("messages: %q", msgs)
	}
	s.stop() // nothing left to stop
	if stops.Load() != 1 {
		t.Errorf("%d stops", stops.Load())
	}
}

// A missing binary is a loud skip for every test, as for a test's own
// server, and a failure under CI.
func TestSharedMissingBinary(t *testing.T) {
	start := func(b tb) int {
		need(b, "watchkeeper-no-such-server", "/nonexistent/watchkeeper-no-such-server")
		return 1
	}
	t.Setenv("CI", "")
	s := &shared[int]{what: "fake server", caller: "SharedFake"}
	for _, name := range []string{"TestFirst", "TestSecond"} {
		_, r := use(s, name, start)
		if r.failed != "" || (!strings.Contains(r.skipped, "!!! SKIPPED: watchkeeper-no-such-server is not installed") && !testing.Short()) {
			t.Errorf("%s without CI: failed %q, skipped %q", name, r.failed, r.skipped)
		}
	}
	if testing.Short() {
		return // -short skips before looking for the binary
	}
	t.Setenv("CI", "true")
	s = &shared[int]{what: "fake server", caller: "SharedFake"}
	for _, name := range []string{"TestFirst", "TestSecond"} {
		_, r := use(s, name, start)
		if r.skipped != "" || !strings.Contains(r.failed, "watchkeeper-no-such-server is not installed") {
			t.Errorf("%s under CI: failed %q, skipped %q", name, r.failed, r.skipped)
		}
	}
}

// A boot that panics fails the tests; it does not crash the binary.
func TestSharedPanicFails(t *testing.T) {
	s := &shared[int]{what: "fake server", caller: "SharedFake"}
	start := func(tb) int {
		var m map[string]int
		m["boom"]++
		return 1
	}
	for _, name := range []string{"TestFirst", "TestSecond"} {
		_, r := use(s, name, start)
		if !strings.Contains(r.failed, "panic: assignment to entry in nil map") {
			t.Errorf("%s: failed %q", name, r.failed)
		}
	}
}
