package testserver

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shared servers: one Kubernetes control plane and one PostgreSQL per test
// binary (that is, per package), started by the first test that asks for
// one and stopped by Main when every test has run. Booting a control plane
// takes seconds; a package whose ten tests each started their own spent
// most of its time doing so.
//
// Tests on a shared server keep apart by themselves: each takes a
// database of its own (Postgres.NewDatabase) or a namespace of its own
// (Kubernetes.Namespace), and leaves cluster-wide objects (nodes, cluster
// roles) as it found them or creates them idempotently. A test that needs
// a server configured for it alone (kwok serving container logs) starts
// its own with StartKubernetes or StartPostgres.
//
// The registry below is the test suite's one package-level mutable state:
// a sync.Once per server, so parallel tests wait for one boot and then
// share its outcome.
var registry = struct {
	// main is set by Main: only it stops shared servers, so without it a
	// test may not start one (its processes would outlive the binary).
	main       atomic.Bool
	kubernetes shared[*Kubernetes]
	postgres   shared[*Postgres]
}{
	kubernetes: shared[*Kubernetes]{what: "Kubernetes control plane", caller: "SharedKubernetes"},
	postgres:   shared[*Postgres]{what: "PostgreSQL", caller: "SharedPostgres"},
}

// Main runs the package's tests, then stops the servers they shared, and
// returns the exit code. A package whose tests call SharedKubernetes or
// SharedPostgres has
//
//	func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }
func Main(m *testing.M) int {
	registry.main.Store(true)
	code := m.Run()
	registry.kubernetes.stop()
	registry.postgres.stop()
	return code
}

// SharedKubernetes is the package's control plane, started on first use
// (see Main). Its admin client may do anything, so a test on it works in
// namespaces of its own (k.Namespace) and undoes or tolerates what it
// changes cluster-wide. If it cannot start, every test that asks for it
// fails (under CI) or skips with the same message.
func SharedKubernetes(t testing.TB) *Kubernetes {
	t.Helper()
	return registry.kubernetes.get(t, func(b tb) *Kubernetes { return startKubernetes(b) })
}

// SharedPostgres is the package's PostgreSQL, started on first use (see
// Main); a test takes a database of its own on it with NewDatabase. If it
// cannot start, every test that asks for it fails (under CI) or skips with
// the same message.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	return registry.postgres.get(t, startPostgres)
}

// shared is one shared server: booted once, its outcome kept for every
// later caller.
type shared[S any] struct {
	what, caller string
	once         sync.Once
	// Set by the boot, read after once.Do.
	server  S
	failure string // why it did not start; "" when it did
	skipped bool   // the failure is a skip (not installed, -short)
	boot    *bootT // its cleanups stop the server
	// uses counts the times tests were given the server.
	uses atomic.Int64
}

func (s *shared[S]) get(t testing.TB, start func(tb) S) S {
	t.Helper()
	if !registry.main.Load() {
		t.Fatalf("testserver.%s needs testserver.Main, which stops the shared %s after the tests: add\n"+
			"\tfunc TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }\nto the package's tests", s.caller, s.what)
	}
	var took time.Duration // set when this test booted the server
	s.once.Do(func() {
		began := time.Now()
		s.boot = &bootT{}
		s.server, s.failure, s.skipped = boot(s.boot, start)
		took = time.Since(began)
		if s.failure != "" {
			// Whatever started before the failure is stopped now.
			s.boot.cleanup()
			s.failure = fmt.Sprintf("%s\n(the %s this package's tests share did not start; first asked for by %s)", s.failure, s.what, t.Name())
		}
	})
	if took > 0 && s.failure == "" {
		t.Logf("testserver: started a %s in %s, shared by this package's tests (testserver.Main stops it)", s.what, took.Round(time.Millisecond))
	}
	if s.failure != "" {
		if s.skipped {
			t.Skip(s.failure)
		}
		t.Fatal(s.failure)
	}
	s.uses.Add(1)
	return s.server
}

// stop stops the server if it was started (once: it is called after the
// tests, by Main).
func (s *shared[S]) stop() {
	b := s.boot
	s.boot = nil
	if b == nil || s.failure != "" {
		return
	}
	b.cleanup()
	if testing.Verbose() {
		fmt.Printf("testserver: stopped the shared %s, which tests asked for %d times\n", s.what, s.uses.Load())
	}
}

// tb is what starting a server needs of a test. testing.TB has it, and so
// has bootT, the boot of a shared server, which outlives the test that
// asked for it first.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// bootT stands in for a test while a shared server starts: Fatal and Skip
// end the boot's goroutine (as they end a test's) and keep the reason;
// cleanups run when Main stops the server.
type bootT struct {
	mu       sync.Mutex
	cleanups []func()
	failure  string
	skipped  bool
}

// boot calls start with b on a goroutine of its own, as a test runs, and
// returns the server or why there is none (a panic included: it becomes
// the reason, not a crash of the test binary).
func boot[S any](b *bootT, start func(tb) S) (server S, failure string, skipped bool) {
	done := make(chan struct{})
	ok := false
	go func() {
		defer close(done)
		defer func() {
			// Fatal and Skip end the goroutine with runtime.Goexit, which
			// recover does not stop; a panic is a failure.
			if r := recover(); r != nil {
				b.mu.Lock()
				b.failure = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
				b.mu.Unlock()
			}
		}()
		server = start(b)
		ok = true
	}()
	<-done
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok && b.failure == "" {
		b.failure = "the boot ended without a server or a reason"
	}
	if ok {
		return server, "", false
	}
	return server, b.failure, b.skipped
}

func (b *bootT) Helper() {}

func (b *bootT) Fatal(args ...any) { b.end(false, fmt.Sprint(args...)) }

func (b *bootT) Fatalf(format string, args ...any) { b.end(false, fmt.Sprintf(format, args...)) }

func (b *bootT) Skipf(format string, args ...any) { b.end(true, fmt.Sprintf(format, args...)) }

func (b *bootT) end(skip bool, msg string) {
	b.mu.Lock()
	b.failure, b.skipped = msg, skip
	b.mu.Unlock()
	runtime.Goexit()
}

func (b *bootT) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// TempDir is removed when the server stops.
func (b *bootT) TempDir() string {
	dir, err := os.MkdirTemp("", "watchkeeper-shared-")
	if err != nil {
		b.Fatalf("temporary directory: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, the last registered first, as a test's.
func (b *bootT) cleanup() {
	b.mu.Lock()
	fs := slices.Clone(b.cleanups)
	b.cleanups = nil
	b.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}
