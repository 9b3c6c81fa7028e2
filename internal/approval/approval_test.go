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
	"time"

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
	return setupWith(t, tool, approval.Options{})
}

func setupWith(t *testing.T, tool tools.Tool, o approval.Options) (*approval.Service, *store.SQLite) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, _ := tools.NewRegistry(tool)
	return approval.New(st, reg, o), st
}

// clock is a test's time, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// notified records what a Notifier is told.
type notified struct {
	mu       sync.Mutex
	verified []approval.Verified
	settled  []string
}

func (n *notified) Verified(_ context.Context, v approval.Verified) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.verified = append(n.verified, v)
}

func (n *notified) Settled(_ context.Context, p approval.Proposal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settled = append(n.settled, p.ID+"="+string(p.Status))
}

func (n *notified) Settles() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.settled...)
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
	if got.Status != approval.Executed || got.DecidedBy != "alice" || got.Result != `restarted {"name":"checkout"}` {
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
	if got.Status != approval.Failed || !strings.Contains(got.Result, "not found") {
		t.Errorf("stored = %+v", got)
	}
}

func TestUnknownProposal(t *testing.T) {
	svc, _ := setup(t, &restartTool{})
	if _, err := svc.Decide(context.Background(), "prop_nope", "alice", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}

func TestDefaultPolicy(t *testing.T) {
	write := approval.Proposal{ID: "p1", Risk: "medium", RequestedBy: "UASK"}
	read := approval.Proposal{ID: "p2", Risk: approval.RiskRead, RequestedBy: "UASK"}
	for _, tt := range []struct {
		name   string
		policy approval.DefaultPolicy
		req    approval.Request
		want   string // "" allowed, else part of the refusal
	}{
		{"no approvers: nobody approves writes", approval.DefaultPolicy{}, approval.Request{Actor: "UADMIN", ChannelMember: true, Approve: true, Proposal: write}, "nobody may approve changes yet"},
		{"approver approves a write", approval.DefaultPolicy{Approvers: []string{"UADMIN"}}, approval.Request{Actor: "UADMIN", Approve: true, Proposal: write}, ""},
		{"non-approver refused", approval.DefaultPolicy{Approvers: []string{"UADMIN"}}, approval.Request{Actor: "UOTHER", ChannelMember: true, Approve: true, Proposal: write}, "not one of the approvers"},
		{"requester cannot approve own", approval.DefaultPolicy{Approvers: []string{"UASK"}}, approval.Request{Actor: "UASK", Approve: true, Proposal: write}, "someone else must approve"},
		{"self approval allowed when configured", approval.DefaultPolicy{Approvers: []string{"UASK"}, SelfApproval: true}, approval.Request{Actor: "UASK", Approve: true, Proposal: write}, ""},
		{"channel member approves a read", approval.DefaultPolicy{}, approval.Request{Actor: "UOTHER", ChannelMember: true, Approve: true, Proposal: read}, ""},
		{"outsider cannot approve a read", approval.DefaultPolicy{}, approval.Request{Actor: "UOUT", Approve: true, Proposal: read}, "only members of this channel"},
		{"requester may reject", approval.DefaultPolicy{}, approval.Request{Actor: "UASK", Proposal: write}, ""},
		{"bystander may not reject a write", approval.DefaultPolicy{Approvers: []string{"UADMIN"}}, approval.Request{Actor: "UOTHER", ChannelMember: true, Proposal: write}, "only the requester or an approver"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Authorize(context.Background(), tt.req)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, approval.ErrNotAuthorized) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckRefusesStaleAndExpired(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	svc, _ := setupWith(t, &restartTool{}, approval.Options{Expiry: 15 * time.Minute, Now: func() time.Time { return now }})
	p, err := svc.Propose(approval.WithRequester(ctx, "UASK"), "conv", tools.Proposal{Tool: "restart", Summary: "restart x"})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := svc.Get(ctx, p.ID)
	if stored.RequestedBy != "UASK" {
		t.Errorf("requester = %q", stored.RequestedBy)
	}
	policy := approval.DefaultPolicy{Approvers: []string{"UADMIN"}}
	if err := svc.Check(ctx, policy, approval.Request{Actor: "UADMIN", Approve: true, Proposal: stored}); err != nil {
		t.Fatalf("fresh proposal refused: %v", err)
	}
	// Decided: a second click is stale and says who decided.
	if _, err := svc.Decide(ctx, p.ID, "UADMIN", false); err != nil {
		t.Fatal(err)
	}
	stored, _ = svc.Get(ctx, p.ID)
	err = svc.Check(ctx, policy, approval.Request{Actor: "UADMIN", Approve: true, Proposal: stored})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "already rejected by UADMIN") {
		t.Errorf("stale click: %v", err)
	}
	// Expired: refused and marked.
	p2, _ := svc.Propose(ctx, "conv", tools.Proposal{Tool: "restart", Summary: "restart y"})
	now = now.Add(16 * time.Minute)
	stored, _ = svc.Get(ctx, p2.ID)
	err = svc.Check(ctx, policy, approval.Request{Actor: "UADMIN", Approve: true, Proposal: stored})
	if !errors.Is(err, approval.ErrExpired) || !strings.Contains(approval.Reason(err), "ask again for a fresh one") {
		t.Errorf("expired: %v", err)
	}
	if got, _ := svc.Get(ctx, p2.ID); got.Status != approval.Expired {
		t.Errorf("status after expiry = %s", got.Status)
	}
	if _, err := svc.Decide(ctx, p2.ID, "UADMIN", true); err == nil {
		t.Error("an expired proposal was approved")
	}
}

type groups map[string][]string

func (g groups) GroupMembers(_ context.Context, id string) ([]string, error) {
	m, ok := g[id]
	if !ok {
		return nil, errors.New("no_such_subteam")
	}
	return m, nil
}

func TestRulePolicy(t *testing.T) {
	rp := &approval.RulePolicy{Groups: groups{"SSRE": {"USRE1", "USRE2"}}, Rules: []approval.Rule{
		{Actions: []string{"kube_scale", "kube_rollout_restart"}, Namespaces: []string{"prod"}, Groups: []string{"SSRE"}, TwoPerson: true},
		{Namespaces: []string{"staging"}, Users: []string{"UDEV"}, SelfApproval: true},
		{Actions: []string{"kube_cordon"}, Users: []string{"UOPS"}},
	}}
	prop := func(tool, ns, requester string, approvals ...string) approval.Proposal {
		args, _ := json.Marshal(map[string]string{"namespace": ns, "name": "x"})
		return approval.Proposal{ID: "p", Tool: tool, Args: args, RequestedBy: requester, Risk: "medium", Approvals: approvals}
	}
	for _, tt := range []struct {
		name string
		req  approval.Request
		want string
	}{
		{"group member approves in prod", approval.Request{Actor: "USRE1", Approve: true, Proposal: prop("kube_scale", "prod", "UDEV")}, ""},
		{"non-member refused in prod", approval.Request{Actor: "UDEV", Approve: true, Proposal: prop("kube_scale", "prod", "UX")}, "not an approver of kube_scale in namespace prod (approvers: SSRE)"},
		{"the same person twice", approval.Request{Actor: "USRE1", Approve: true, Proposal: prop("kube_scale", "prod", "UDEV", "USRE1")}, "already approved"},
		{"no rule covers undo in prod", approval.Request{Actor: "USRE1", Approve: true, Proposal: prop("kube_rollout_undo", "prod", "UDEV")}, "no approval rule covers kube_rollout_undo in namespace prod"},
		{"self approval allowed in staging", approval.Request{Actor: "UDEV", Approve: true, Proposal: prop("kube_rollout_undo", "staging", "UDEV")}, ""},
		{"cluster-scoped action", approval.Request{Actor: "UOPS", Approve: true, Proposal: prop("kube_cordon", "", "UX")}, ""},
		{"requester may reject", approval.Request{Actor: "UDEV", Proposal: prop("kube_scale", "prod", "UDEV")}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := rp.Authorize(context.Background(), tt.req)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, approval.ErrNotAuthorized) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if rp.Required(prop("kube_scale", "prod", "")) != 2 || rp.Required(prop("kube_scale", "staging", "")) != 1 {
		t.Error("two-person rule not reported")
	}
}

func TestTwoPersonApproval(t *testing.T) {
	ctx := context.Background()
	tool := &restartTool{}
	svc, _ := setup(t, tool)
	rp := &approval.RulePolicy{Rules: []approval.Rule{{Users: []string{"UA", "UB"}, TwoPerson: true}}}
	p, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "restart", Args: json.RawMessage(`{"namespace":"prod"}`)})
	approve := func(actor string) (bool, error) {
		cur, _ := svc.Get(ctx, p.ID)
		req := approval.Request{Actor: actor, Approve: true, Proposal: cur}
		if err := svc.Check(ctx, rp, req); err != nil {
			return false, err
		}
		_, done, err := svc.Approve(ctx, rp, req)
		return done, err
	}
	if done, err := approve("UA"); err != nil || done {
		t.Fatalf("first approval: done=%v err=%v", done, err)
	}
	if cur, _ := svc.Get(ctx, p.ID); cur.Status != approval.Pending || len(cur.Approvals) != 1 {
		t.Fatalf("after one approval: %+v", cur)
	}
	if _, err := approve("UA"); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Errorf("same approver twice: %v", err)
	}
	if done, err := approve("UB"); err != nil || !done {
		t.Fatalf("second approval: done=%v err=%v", done, err)
	}
	if _, err := svc.Execute(ctx, p.ID, "UB"); err != nil {
		t.Fatal(err)
	}
	if tool.applied.Load() != 1 {
		t.Errorf("applied %d times", tool.applied.Load())
	}
}

// Between the first and the second of two approvals the first approver
// left the approvers' group: the execution re-checks and refuses.
func TestExecutionRechecksThePolicy(t *testing.T) {
	ctx := context.Background()
	tool := &restartTool{}
	svc, _ := setup(t, tool)
	members := groups{"SSRE": {"UA", "UB"}}
	rp := &approval.RulePolicy{Groups: members, Rules: []approval.Rule{{Groups: []string{"SSRE"}, TwoPerson: true}}}
	p, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "restart"})
	for _, who := range []string{"UA", "UB"} {
		cur, _ := svc.Get(ctx, p.ID)
		req := approval.Request{Actor: who, Approve: true, Proposal: cur}
		if err := svc.Check(ctx, rp, req); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Approve(ctx, rp, req); err != nil {
			t.Fatal(err)
		}
		if who == "UA" {
			// UA leaves the group (a fresh policy: no cached membership).
			members["SSRE"] = []string{"UB"}
			rp = &approval.RulePolicy{Groups: members, Rules: rp.Rules}
		}
	}
	_, err := svc.ExecuteChecked(ctx, rp, p.ID, "UB")
	if !errors.Is(err, approval.ErrNotAuthorized) || !strings.Contains(err.Error(), "no longer allows UA") {
		t.Fatalf("err = %v", err)
	}
	if tool.applied.Load() != 0 {
		t.Error("applied despite the policy")
	}
	if got, _ := svc.Get(ctx, p.ID); got.Status != approval.Failed {
		t.Errorf("status %s", got.Status)
	}
}

// planTool proposes one step of a plan whose action is another tool's,
// as kube_remediate does.
type planTool struct{ applied atomic.Int32 }

func (*planTool) Spec() tools.Spec {
	return tools.Spec{Name: "plan", Description: "A plan's step.", Mutating: true, Parameters: tools.Object(nil)}
}

func (*planTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Result{}, nil
}

func (p *planTool) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	p.applied.Add(1)
	return tools.Text("done"), nil
}

func (*planTool) Effective(p tools.Proposal) (tools.Proposal, error) {
	var a struct {
		Action struct {
			Tool      string `json:"tool"`
			Namespace string `json:"namespace"`
		} `json:"action"`
	}
	if err := json.Unmarshal(p.Args, &a); err != nil || a.Action.Tool == "" {
		return tools.Proposal{}, errors.New("no action")
	}
	inner, _ := json.Marshal(map[string]string{"namespace": a.Action.Namespace})
	return tools.Proposal{Tool: a.Action.Tool, Args: inner}, nil
}

// Approval rules and the number of approvers are decided on the action a
// proposal will really carry out: a production rollback that needs two
// approvers needs two when a remediation plan proposes it too.
func TestSecurityRulesJudgeTheEffectiveAction(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plan := &planTool{}
	reg, _ := tools.NewRegistry(plan)
	svc := approval.New(st, reg, approval.Options{})
	rp := &approval.RulePolicy{Rules: []approval.Rule{
		{Actions: []string{"kube_rollout_undo"}, Namespaces: []string{"prod"}, Users: []string{"UA", "UB"}, TwoPerson: true},
		{Actions: []string{"*"}, Users: []string{"UA", "UB", "UC"}},
	}}
	p, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "plan", Summary: "Step 1: roll back prod/checkout",
		Args: json.RawMessage(`{"namespace":"prod","action":{"tool":"kube_rollout_undo","namespace":"prod"}}`)})
	cur, _ := svc.Get(ctx, p.ID)
	// UC may approve anything but a production rollback.
	if err := svc.Check(ctx, rp, approval.Request{Actor: "UC", Approve: true, Proposal: cur}); !errors.Is(err, approval.ErrNotAuthorized) {
		t.Errorf("UC approving a production rollback through the plan: %v", err)
	}
	req := approval.Request{Actor: "UA", Approve: true, Proposal: cur}
	if err := svc.Check(ctx, rp, req); err != nil {
		t.Fatal(err)
	}
	if _, done, err := svc.Approve(ctx, rp, req); err != nil || done {
		t.Fatalf("one approval of a two-person action: done=%v err=%v", done, err)
	}
	if _, err := svc.ExecuteChecked(ctx, rp, p.ID, "UA"); err == nil || plan.applied.Load() != 0 {
		t.Fatalf("executed after one approval: %v, applied %d", err, plan.applied.Load())
	}
	// A plan whose action cannot be told is not approvable at all.
	q, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "plan", Summary: "?", Args: json.RawMessage(`{"namespace":"dev"}`)})
	cur, _ = svc.Get(ctx, q.ID)
	if err := svc.Check(ctx, rp, approval.Request{Actor: "UA", Approve: true, Proposal: cur}); !errors.Is(err, approval.ErrNotAuthorized) {
		t.Errorf("a plan without an action: %v", err)
	}
	// …but it can be rejected.
	if err := svc.Check(ctx, rp, approval.Request{Actor: "UA", Approve: false, Proposal: cur}); err != nil {
		t.Errorf("rejecting a plan without an action: %v", err)
	}
}

// A crash leaves proposals approved-but-not-started or executing. On
// start (and on the leader's sweep, for processes long gone) they are
// settled: failed, saying what is known, audited, shown — and never
// applied late.
func TestSecurityStuckProposalsAreReconciled(t *testing.T) {
	ctx := context.Background()
	tool := &restartTool{}
	now := time.Now()
	svc, s := setupWith(t, tool, approval.Options{Now: func() time.Time { return now }})
	shown := &notified{}
	mk := func(to ...approval.Status) string {
		p, err := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "restart"})
		if err != nil {
			t.Fatal(err)
		}
		from := approval.Pending
		for _, st := range to {
			// As a crashed process left it.
			if _, err := s.TransitionProposal(ctx, p.ID, []string{string(from)}, string(st), "UADMIN", ""); err != nil {
				t.Fatal(err)
			}
			from = st
		}
		return p.ID
	}
	approved, executing, pending := mk(approval.Approved), mk(approval.Approved, approval.Executing), mk()

	// Another replica may be applying them right now: recent ones stay.
	svc.Reconcile(ctx, time.Hour, shown)
	if len(shown.Settles()) != 0 {
		t.Fatalf("recent proposals were settled: %v", shown)
	}
	svc.Reconcile(ctx, 0, shown)
	for id, want := range map[string]string{approved: "nothing was changed", executing: "whether the change was made is unknown"} {
		p, _ := svc.Get(ctx, id)
		if p.Status != approval.Failed || !strings.Contains(p.Result, want) {
			t.Errorf("%s: %s %q; want failed saying %q", id, p.Status, p.Result, want)
		}
	}
	if p, _ := svc.Get(ctx, pending); p.Status != approval.Pending {
		t.Errorf("a pending proposal was touched: %s", p.Status)
	}
	if got := shown.Settles(); len(got) != 2 {
		t.Errorf("shown: %v; want both settled proposals", got)
	}
	if _, err := svc.Execute(ctx, approved, "UADMIN"); err == nil || tool.applied.Load() != 0 {
		t.Errorf("a reconciled proposal was applied: %v", err)
	}
	audit, _ := s.ListAudit(ctx, 20)
	n := 0
	for _, e := range audit {
		if e.Action == "reconcile" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d reconcile audit entries; want 2", n)
	}
}

// slowTool applies only when released.
type slowTool struct {
	restartTool
	started, release chan struct{}
}

func (s *slowTool) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	close(s.started)
	<-s.release
	return s.restartTool.Apply(ctx, p)
}

// A process that was only slow — not dead — when its proposal was taken
// for stuck still records the real outcome.
func TestSecurityReconcileYieldsToTheRealOutcome(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slow := &slowTool{started: make(chan struct{}), release: make(chan struct{})}
	reg, _ := tools.NewRegistry(slow)
	svc := approval.New(st, reg, approval.Options{})
	p, _ := svc.Propose(ctx, "c", tools.Proposal{Tool: "restart", Summary: "restart"})
	if _, err := svc.Decide(ctx, p.ID, "UADMIN", true); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := svc.Execute(ctx, p.ID, "UADMIN"); done <- err }()
	<-slow.started
	svc.Reconcile(ctx, 0, nil)
	if cur, _ := svc.Get(ctx, p.ID); cur.Status != approval.Failed {
		t.Fatalf("reconciled: %s", cur.Status)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cur, _ := svc.Get(ctx, p.ID); cur.Status != approval.Executed || !strings.Contains(cur.Result, "restarted") {
		t.Errorf("after the slow apply finished: %s %q; want executed with its result", cur.Status, cur.Result)
	}
}
