package approval_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
)

// verifiedTool is a restart whose effect is checked five minutes later.
type verifiedTool struct {
	restartTool
	checks atomic.Int32
}

func (*verifiedTool) VerifyAfter(tools.Proposal) time.Duration { return 5 * time.Minute }

func (v *verifiedTool) Verify(_ context.Context, p tools.Proposal, applied time.Time) (tools.Verification, error) {
	v.checks.Add(1)
	return tools.Verification{Text: "error ratio 0.25 → 0.01 since " + applied.UTC().Format("15:04")}, nil
}

func (*verifiedTool) Spec() tools.Spec {
	return tools.Spec{Name: "restart", Description: "Restart.", Mutating: true, Parameters: tools.Object(nil)}
}

// A replica applies a change and dies before checking it: the leader's
// sweep checks it once the check is overdue, exactly once, and the dead
// replica's timer (were it to fire) finds it taken.
func TestOverdueChecksAreTakenOver(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tool := &verifiedTool{}
	reg, _ := tools.NewRegistry(tool)
	start := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

	fire := make(chan time.Time)
	dyingClock := &clock{now: start}
	// The replica that applies the change: its check is due in five
	// minutes, and it dies before (its timer never fires).
	takes := &countTakes{SQLite: st}
	dying := approval.New(takes, reg, approval.Options{Now: dyingClock.Now,
		After: func(time.Duration) <-chan time.Time { return fire }})
	dyingSaw := &notified{}
	runCtx, stopDying := context.WithCancel(ctx)
	dyingDone := make(chan struct{})
	go func() { dying.Run(runCtx, dyingSaw); close(dyingDone) }()
	p, err := dying.Propose(ctx, "conv", tools.Proposal{Tool: "restart", Summary: "Restart checkout", Args: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Decide(ctx, p.ID, "U1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Execute(ctx, p.ID, "U1"); err != nil {
		t.Fatal(err)
	}
	stored, _ := dying.Get(ctx, p.ID)
	if !stored.VerifyAt.Equal(start.Add(5 * time.Minute)) {
		t.Fatalf("verify_at = %v", stored.VerifyAt)
	}

	leaderClock := &clock{}
	leader := approval.New(takes, reg, approval.Options{Now: leaderClock.Now})
	saw := &notified{}
	// Due but not yet overdue: the applying process still has time.
	leaderClock.Set(start.Add(5*time.Minute + 10*time.Second))
	leader.SweepOnce(ctx, saw)
	if tool.checks.Load() != 0 {
		t.Fatal("checked before the applying process's grace ran out")
	}
	leaderClock.Set(start.Add(6 * time.Minute))
	leader.SweepOnce(ctx, saw)
	leader.SweepOnce(ctx, saw) // a second sweep finds nothing left to do
	// The change was applied when the store recorded it executed.
	want := p.ID + ": error ratio 0.25 → 0.01 since " + stored.DecidedAt.UTC().Format("15:04")
	saw.mu.Lock()
	if tool.checks.Load() != 1 || len(saw.verified) != 1 || saw.verified[0].Proposal.ID+": "+saw.verified[0].Result.Text != want {
		t.Errorf("checks %d, reports %+v", tool.checks.Load(), saw.verified)
	}
	saw.mu.Unlock()
	// The dead replica's timer, had it fired, finds the check taken; its
	// Run returns once that attempt is over.
	close(fire)
	testserver.Eventually(t, 5*time.Second, "the dying replica's timer to try the check", func() bool { return takes.n.Load() == 2 })
	stopDying()
	<-dyingDone
	if tool.checks.Load() != 1 || len(dyingSaw.verified) != 0 {
		t.Errorf("checked %d times; the dead replica reported %d", tool.checks.Load(), len(dyingSaw.verified))
	}
	if n := len(auditOf(t, st, "verify")); n != 1 {
		t.Errorf("%d verify entries", n)
	}
}

// countTakes counts the attempts to take a check.
type countTakes struct {
	*store.SQLite
	n atomic.Int32
}

func (c *countTakes) TakeVerification(ctx context.Context, id string) (bool, error) {
	c.n.Add(1)
	return c.SQLite.TakeVerification(ctx, id)
}

func auditOf(t *testing.T, st *store.SQLite, action string) []store.AuditEntry {
	t.Helper()
	all, err := st.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// Proposals nobody decided in time are marked expired by the sweep, and
// the surface is told so it can take the buttons away.
func TestSweepExpiresUndecidedProposals(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	svc, _ := setupWith(t, &restartTool{}, approval.Options{Expiry: 15 * time.Minute, Now: clk.Now})
	saw := &notified{}
	old, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "old"})
	fresh, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "fresh"})
	decided, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "decided"})
	if _, err := svc.Decide(ctx, decided.ID, "U1", false); err != nil {
		t.Fatal(err)
	}
	created, _ := svc.Get(ctx, fresh.ID)
	clk.Set(created.CreatedAt.Add(10 * time.Minute))
	svc.SweepOnce(ctx, saw)
	if expired := saw.Settles(); len(expired) != 0 {
		t.Fatalf("expired too early: %v", expired)
	}
	// Make "old" old: only it is past the expiry.
	clk.Set(created.CreatedAt.Add(16 * time.Minute))
	svc.SweepOnce(ctx, saw)
	if expired := saw.Settles(); len(expired) != 2 {
		t.Fatalf("expired = %v", expired)
	}
	for _, id := range []string{old.ID, fresh.ID} {
		p, _ := svc.Get(ctx, id)
		if p.Status != approval.Expired {
			t.Errorf("%s is %s", id, p.Status)
		}
	}
	if p, _ := svc.Get(ctx, decided.ID); p.Status != approval.Rejected {
		t.Errorf("a decided proposal became %s", p.Status)
	}
}

// blockingCheck is a verified restart whose check waits to be released.
type blockingCheck struct {
	verifiedTool
	checking, release chan struct{}
}

func (b *blockingCheck) Verify(ctx context.Context, p tools.Proposal, applied time.Time) (tools.Verification, error) {
	close(b.checking)
	<-b.release
	if err := ctx.Err(); err != nil {
		return tools.Verification{}, err
	}
	return b.verifiedTool.Verify(ctx, p, applied)
}

// Run checks the changes this process applied when they are due, and a
// check under way when the process stops is finished and reported before
// Run returns: it was taken, so nobody else would make it.
func TestRunFinishesTheChecksItStarted(t *testing.T) {
	ctx := context.Background()
	tool := &blockingCheck{checking: make(chan struct{}), release: make(chan struct{})}
	due := make(chan time.Time)
	var waited atomic.Int64
	svc, st := setupWith(t, tool, approval.Options{After: func(d time.Duration) <-chan time.Time { waited.Store(int64(d)); return due }})
	saw := &notified{}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { svc.Run(runCtx, saw); close(ran) }()

	p, _ := svc.Propose(ctx, "conv", tools.Proposal{Tool: "restart", Summary: "Restart checkout", Args: json.RawMessage(`{}`)})
	if _, err := svc.Decide(ctx, p.ID, "U1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, p.ID, "U1"); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 5*time.Second, "Run to wait for the check", func() bool { return waited.Load() == int64(5*time.Minute) })
	close(due)
	<-tool.checking
	stop() // the process stops while the check runs
	select {
	case <-ran:
		t.Fatal("Run returned with a check under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(tool.release)
	<-ran
	saw.mu.Lock()
	defer saw.mu.Unlock()
	if len(saw.verified) != 1 || saw.verified[0].Err != nil || saw.verified[0].Result.Text == "" {
		t.Fatalf("reported %+v; want the finished check", saw.verified)
	}
	if n := len(auditOf(t, st, "verify")); n != 1 {
		t.Errorf("%d verify entries", n)
	}
}

// pendingTool is a change whose check cannot decide the first two times
// (a pull request not merged yet) and says so with Again.
type pendingTool struct {
	restartTool
	checks atomic.Int32
}

func (*pendingTool) VerifyAfter(tools.Proposal) time.Duration { return time.Minute }

func (v *pendingTool) Verify(context.Context, tools.Proposal, time.Time) (tools.Verification, error) {
	if n := v.checks.Add(1); n < 3 {
		return tools.Verification{Text: "pull request #7 is open; waiting for it to be merged", Again: 2 * time.Minute}, nil
	}
	return tools.Verification{Text: "merged, synced; error ratio 0.25 → 0.01"}, nil
}

func (*pendingTool) Spec() tools.Spec {
	return tools.Spec{Name: "restart", Description: "Restart.", Mutating: true, Parameters: tools.Object(nil)}
}

// A check that cannot decide yet is made again when it says, each time
// audited as pending; the person is told once, when it decides.
func TestUndecidedChecksAreMadeAgain(t *testing.T) {
	ctx := context.Background()
	tool := &pendingTool{}
	var waits []time.Duration
	var mu sync.Mutex
	svc, st := setupWith(t, tool, approval.Options{After: func(d time.Duration) <-chan time.Time {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}})
	saw := &notified{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go svc.Run(runCtx, saw)

	p, _ := svc.Propose(ctx, "conv", tools.Proposal{Tool: "restart", Summary: "Roll back checkout by pull request", Args: json.RawMessage(`{}`)})
	if _, err := svc.Decide(ctx, p.ID, "U1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, p.ID, "U1"); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 5*time.Second, "the deciding check", func() bool {
		saw.mu.Lock()
		defer saw.mu.Unlock()
		return len(saw.verified) == 1
	})
	if n := tool.checks.Load(); n != 3 {
		t.Errorf("checked %d times, want 3", n)
	}
	mu.Lock()
	if want := []time.Duration{time.Minute, 2 * time.Minute, 2 * time.Minute}; !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
	mu.Unlock()
	saw.mu.Lock()
	if got := saw.verified[0].Result.Text; got != "merged, synced; error ratio 0.25 → 0.01" {
		t.Errorf("told %q", got)
	}
	saw.mu.Unlock()
	var pending int
	for _, e := range auditOf(t, st, "verify") {
		if e.Outcome == "pending" {
			pending++
		}
	}
	if pending != 2 {
		t.Errorf("%d pending checks audited, want 2", pending)
	}
}
