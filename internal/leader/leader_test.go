package leader_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/internal/leader"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestOneLeaderAndTakeover runs two electors against a real API server:
// exactly one runs the duty; when it stops, the other takes over and the
// Lease names it.
func TestOneLeaderAndTakeover(t *testing.T) {
	// A control plane of its own: this is the package's only test on one,
	// so a shared one (testserver.SharedKubernetes, with a TestMain) would
	// save no boot.
	k := testserver.StartKubernetes(t)
	type replica struct {
		e      *leader.Elector
		cancel context.CancelFunc
		done   chan struct{}
		duty   atomic.Int32 // duties running now
		ran    atomic.Int32 // duties started
	}
	var mu sync.Mutex
	running := 0
	maxRunning := 0
	start := func(id string) *replica {
		e, err := leader.New(leader.Config{Client: k.Client, Namespace: "default", Name: "watchkeeper", Identity: id,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{e: e, cancel: cancel, done: make(chan struct{})}
		go e.Run(ctx)
		go func() {
			defer close(r.done)
			e.While(ctx, func(ctx context.Context) {
				r.ran.Add(1)
				mu.Lock()
				running++
				maxRunning = max(maxRunning, running)
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				running--
				mu.Unlock()
			})
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a := start("replica-a")
	waitFor(t, 10*time.Second, "replica-a leads", a.e.Leading)
	b := start("replica-b")
	time.Sleep(2 * time.Second) // several retry periods: b must not lead meanwhile
	if b.e.Leading() || b.ran.Load() != 0 {
		t.Fatal("two leaders")
	}
	holder := func() string {
		l, err := k.Client.CoordinationV1().Leases("default").Get(context.Background(), "watchkeeper", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	if h := holder(); h != "replica-a" {
		t.Fatalf("the Lease is held by %q", h)
	}
	// a stops (releasing the Lease): b takes over well within the lease
	// duration, and a's duty stopped first.
	stopped := time.Now()
	a.cancel()
	<-a.done
	waitFor(t, 4*time.Second, "replica-b takes over", b.e.Leading)
	t.Logf("takeover after a release: %s", time.Since(stopped).Round(time.Millisecond))
	if h := holder(); h != "replica-b" {
		t.Errorf("the Lease is held by %q", h)
	}
	waitFor(t, time.Second, "b's duty runs", func() bool { return b.ran.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if maxRunning != 1 {
		t.Errorf("%d duties ran at once", maxRunning)
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := leader.New(leader.Config{}); err == nil {
		t.Error("no client accepted")
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, within, what, cond)
}
