// Package leader elects one replica to do what only one may do at a time
// (deliver the Slack outbox, run scheduled work), with client-go's
// leaderelection on a coordination.k8s.io Lease. Every replica serves
// Slack and webhooks; the store's claims and conditional updates make
// their work happen once, and the leader does the rest.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config configures an Elector. Zero durations take client-go's usual
// values (15s, 10s, 2s).
type Config struct {
	Client    kubernetes.Interface
	Namespace string
	// Name is the Lease's name.
	Name string
	// Identity names this replica in the Lease; the hostname (the pod's
	// name) by default.
	Identity string
	// LeaseDuration is how long followers wait after the last renewal
	// before taking over: the longest a dead leader's duties pause.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives up leading.
	RenewDeadline time.Duration
	// RetryPeriod is how often candidates try.
	RetryPeriod time.Duration
	Logger      *slog.Logger
	// OnChange is told when this replica starts or stops leading.
	OnChange func(leading bool)
}

// Elector campaigns for the Lease and runs duties while it holds it.
type Elector struct {
	cfg Config

	mu      sync.Mutex
	leading bool
	changed chan struct{} // closed and replaced on every change
}

// New checks cfg and returns an elector; Run campaigns.
func New(cfg Config) (*Elector, error) {
	if cfg.Client == nil {
		return nil, errors.New("leader election needs a Kubernetes client")
	}
	if cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("leader election needs the Lease's namespace and name")
	}
	if cfg.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("leader election identity: %w", err)
		}
		cfg.Identity = h
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline <= 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod <= 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	if !(cfg.LeaseDuration > cfg.RenewDeadline && cfg.RenewDeadline > cfg.RetryPeriod) {
		return nil, fmt.Errorf("leader election: lease_duration (%s) must exceed renew_deadline (%s), which must exceed retry_period (%s)",
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{cfg: cfg, changed: make(chan struct{})}, nil
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.cfg.Identity }

// Leading reports whether this replica holds the Lease.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

func (e *Elector) set(leading bool) {
	e.mu.Lock()
	if e.leading == leading {
		e.mu.Unlock()
		return
	}
	e.leading = leading
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
	e.cfg.Logger.Info("leadership changed", "leading", leading, "identity", e.cfg.Identity)
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(leading)
	}
}

func (e *Elector) state() (bool, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading, e.changed
}

// Run campaigns until ctx ends, campaigning again after losing the Lease.
// On the way out it releases the Lease, so a follower takes over at once
// instead of after LeaseDuration.
func (e *Elector) Run(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Client:     e.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: e.cfg.Name, ReleaseOnCancel: true,
			LeaseDuration: e.cfg.LeaseDuration, RenewDeadline: e.cfg.RenewDeadline, RetryPeriod: e.cfg.RetryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) { e.set(true) },
				OnStoppedLeading: func() { e.set(false) },
			},
		})
		if err != nil {
			// Only a bad configuration gets here, and New checked it.
			e.cfg.Logger.Error("leader election", "err", err)
			return
		}
		le.Run(ctx)
		e.set(false)
	}
}

// While runs duty whenever this replica leads, with a context cancelled
// when leadership is lost, and waits for duty to return before following
// again. It returns when ctx ends.
func (e *Elector) While(ctx context.Context, duty func(ctx context.Context)) {
	for {
		leading, changed := e.state()
		if !leading {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			duty(dctx)
		}()
		select {
		case <-ctx.Done():
		case <-changed:
		}
		cancel()
		<-done
		if ctx.Err() != nil {
			return
		}
	}
}
