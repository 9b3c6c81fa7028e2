package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools"
)

type restartTool struct {
	applied atomic.Int32
	fail    bool
}

func (*restartTool) Spec() tools.Spec {
	return tools.Spec{Name: "restart", Description: "Restart.", Mutating: true, Parameters: tools.Object(nil)}
}

func (*restartTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Result{Proposal: &tools.Proposal{Summary: "Restart checkout"}}, nil
}

func (r *restartTool) Apply(_ context.Context, p tools.Proposal) (tools.Result, error) {
	r.applied.Add(1)
	if r.fail {
		return tools.Result{}, errors.New("deployments.apps \"checkout\" not found")
	}
	return tools.Text("restarted " + string(p.Args)), nil
}

func setup(t *testing.T, tool *restartTool) (*approval.Service, *store.SQLite) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, _ := tools.NewRegistry(tool)
	return approval.New(st, reg, nil), st
}

func TestApproveAndExecuteOnce(t *testing.T) {
	tool := &restartTool{}
	svc, st := setup(t, tool)
	ctx := context.Background()
	p, err := svc.Propose(ctx, "c1", tools.Proposal{Tool: "restart", Summary: "Restart checkout", Args: json.RawMessage(`{"name":"checkout"}`)})
	if err != nil || !strings.HasPrefix(p.ID, "prop_") {
		t.Fatalf("propose: %+v, %v", p, err)
	}
	// Executing before approval is refused.
	if _, err := svc.Execute(ctx, p.ID, "alice"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("execute before approval: %v", err)
	}
	if _, err := svc.Decide(ctx, p.ID, "alice", true); err != nil {
		t.Fatal(err)
	}
	// Ten concurrent executions: one acts.
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := svc.Execute(ctx, p.ID, "alice"); err == nil && res.Text == `restarted {"name":"checkout"}` {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if tool.applied.Load() != 1 || ok.Load() != 1 {
		t.Fatalf("applied %d times, %d successes", tool.applied.Load(), ok.Load())
	}
	got, _ := svc.Get(ctx, p.ID)
	if got.Status != store.ProposalExecuted || got.DecidedBy != "alice" || got.Result != `restarted {"name":"checkout"}` {
		t.Errorf("stored = %+v", got)
	}
	audit, _ := st.ListAudit(ctx, 0)
	var actions []string
	for i := len(audit) - 1; i >= 0; i-- {
		if audit[i].Target == p.ID {
			actions = append(actions, audit[i].Action+":"+strings.SplitN(audit[i].Outcome, ":", 2)[0])
		}
	}
	if actions[0] != "propose:pending" || actions[1] != "execute:refused" || actions[2] != "approve:approved" || !slices.Contains(actions, "execute:executed") {
		t.Errorf("audit trail = %v", actions)
	}
}

func TestRejectedNeverRuns(t *testing.T) {
	tool := &restartTool{}
	svc, _ := setup(t, tool)
	ctx := context.Background()
	p, _ := svc.Propose(ctx, "c1", tools.Proposal{Tool: "restart", Summary: "Restart"})
	if _, err := svc.Decide(ctx, p.ID, "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decide(ctx, p.ID, "alice", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approving a rejected proposal: %v", err)
	}
	if _, err := svc.Execute(ctx, p.ID, "alice"); err == nil || tool.applied.Load() != 0 {
		t.Errorf("a rejected proposal ran: %v", err)
	}
}

func TestFailedExecutionIsRecorded(t *testing.T) {
	tool := &restartTool{fail: true}
	svc, _ := setup(t, tool)
	ctx := context.Background()
	p, _ := svc.Propose(ctx, "c1", tools.Proposal{Tool: "restart", Summary: "Restart"})
	_, _ = svc.Decide(ctx, p.ID, "alice", true)
	if _, err := svc.Execute(ctx, p.ID, "alice"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
	got, _ := svc.Get(ctx, p.ID)
	if got.Status != store.ProposalFailed || !strings.Contains(got.Result, "not found") {
		t.Errorf("stored = %+v", got)
	}
}

func TestUnknownProposal(t *testing.T) {
	svc, _ := setup(t, &restartTool{})
	if _, err := svc.Decide(context.Background(), "prop_nope", "alice", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}
