package approval_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/store"
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
	dying := approval.New(st, reg, nil)
	dying.Now = func() time.Time { return start }
	dying.After = func(time.Duration) <-chan time.Time { return fire } // never fires: the process is gone
	dying.OnVerified = func(context.Context, store.Proposal, tools.Verification, []tools.Proposal, error) {
		t.Error("the dead replica checked")
	}
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
	stored, _ := st.GetProposal(ctx, p.ID)
	if !stored.VerifyAt.Equal(start.Add(5 * time.Minute)) {
		t.Fatalf("verify_at = %v", stored.VerifyAt)
	}

	var mu sync.Mutex
	var got []string
	leader := approval.New(st, reg, nil)
	leader.OnVerified = func(_ context.Context, p store.Proposal, v tools.Verification, _ []tools.Proposal, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p.ID+": "+v.Text)
	}
	// Due but not yet overdue: the applying process still has time.
	leader.Now = func() time.Time { return start.Add(5*time.Minute + 10*time.Second) }
	sweepOnce(leader)
	time.Sleep(100 * time.Millisecond)
	if tool.checks.Load() != 0 {
		t.Fatal("checked before the applying process's grace ran out")
	}
	leader.Now = func() time.Time { return start.Add(6 * time.Minute) }
	sweepOnce(leader)
	sweepOnce(leader) // a second sweep finds nothing left to do
	deadline := time.Now().Add(5 * time.Second)
	for tool.checks.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	// The change was applied when the store recorded it executed.
	want := p.ID + ": error ratio 0.25 → 0.01 since " + stored.DecidedAt.UTC().Format("15:04")
	if tool.checks.Load() != 1 || len(got) != 1 || got[0] != want {
		t.Errorf("checks %d, reports %v", tool.checks.Load(), got)
	}
	mu.Unlock()
	// The dead replica's timer, had it fired, finds the check taken.
	close(fire)
	time.Sleep(100 * time.Millisecond)
	if tool.checks.Load() != 1 {
		t.Errorf("checked %d times", tool.checks.Load())
	}
	audit, _ := st.ListAudit(ctx, 20)
	verifies := 0
	for _, e := range audit {
		if e.Action == "verify" {
			verifies++
		}
	}
	if verifies != 1 {
		t.Errorf("%d verify entries", verifies)
	}
}

// Proposals nobody decided in time are marked expired by the sweep, and
// the surface is told so it can take the buttons away.
func TestSweepExpiresUndecidedProposals(t *testing.T) {
	ctx := context.Background()
	svc, st := setup(t, &restartTool{})
	svc.Expiry = 15 * time.Minute
	var expired []string
	svc.OnSettled = func(_ context.Context, p store.Proposal) { expired = append(expired, p.ID+"="+p.Status) }
	old, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "old"})
	fresh, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "fresh"})
	decided, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "decided"})
	if _, err := svc.Decide(ctx, decided.ID, "U1", false); err != nil {
		t.Fatal(err)
	}
	created, _ := st.GetProposal(ctx, fresh.ID)
	svc.Now = func() time.Time { return created.CreatedAt.Add(10 * time.Minute) }
	sweepOnce(svc)
	if len(expired) != 0 {
		t.Fatalf("expired too early: %v", expired)
	}
	// Make "old" old: only it is past the expiry.
	svc.Now = func() time.Time { return created.CreatedAt.Add(16 * time.Minute) }
	sweepOnce(svc)
	if len(expired) != 2 {
		t.Fatalf("expired = %v", expired)
	}
	for _, id := range []string{old.ID, fresh.ID} {
		p, _ := st.GetProposal(ctx, id)
		if p.Status != store.ProposalExpired {
			t.Errorf("%s is %s", id, p.Status)
		}
	}
	if p, _ := st.GetProposal(ctx, decided.ID); p.Status != store.ProposalRejected {
		t.Errorf("a decided proposal became %s", p.Status)
	}
}

// sweepOnce runs RunScheduled for one pass.
func sweepOnce(s *approval.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	s.SweepEvery = time.Hour
	done := make(chan struct{})
	go func() { s.RunScheduled(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
}
