package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/tools"
)

// sandboxApp is the app on a sandbox world with no model, as `make run`
// starts it before a key is configured.
func sandboxApp(t *testing.T, scenario string, opts ...app.Options) *app.App {
	t.Helper()
	a, _ := sandboxAppAndWorld(t, scenario, nil, opts...)
	return a
}

// sandboxAppAndWorld is sandboxApp with the sandbox it runs against;
// tweak, when set, changes the configuration first.
func sandboxAppAndWorld(t *testing.T, scenario string, tweak func(*config.Config), opts ...app.Options) (*app.App, *app.SandboxServer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	if tweak != nil {
		tweak(&cfg)
	}
	sbc := cfg.Sandbox
	sbc.Listen, sbc.Scenario = "127.0.0.1:0", scenario
	sb, err := app.StartSandbox(ctx, sbc, app.SandboxOptions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var o app.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Clock, o.Kubernetes, o.Dynamic = sb.Sandbox.Now, sb.Sandbox.Kubernetes(), sb.Sandbox.Dynamic()
	a, err := app.New(ctx, app.DemoConfig(cfg, sb), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if a.HasModel() {
		t.Fatal("the default configuration has a model")
	}
	return a, sb
}

// Without a model, "why is checkout failing?" in the bad-deploy world runs
// the investigation and names the deploy, the error rate and the new log
// template, and proposes the rollback (issue 18).
func TestAnswerWithoutModel(t *testing.T) {
	a := sandboxApp(t, "bad-deploy")
	var called []string
	res, err := a.Ask(context.Background(), "terminal", "c1", "why is checkout failing?", func(_ context.Context, e agent.Event) {
		if e.Kind == agent.EventToolStart {
			called = append(called, e.Tool)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"checkout:1.5.0",  // the deploy
		"errors checkout", // its error rate, from the anomaly scan
		"NEW",             // the new log template
		"request failed",  // …and what it says
		"Roll back deployment shop/checkout",
	} {
		if !strings.Contains(res.Answer, want) {
			t.Errorf("the answer does not mention %q:\n%s", want, res.Answer)
		}
	}
	if strings.Contains(res.Answer, "untrusted-data") {
		t.Errorf("the answer shows the model's data markers:\n%s", res.Answer)
	}
	if res.Model != triage.Model || res.Outcome != agent.RunAnswered {
		t.Errorf("summary: model %q, outcome %q", res.Model, res.Outcome)
	}
	if len(res.Proposals) != 1 || !strings.HasPrefix(res.Proposals[0].ID, "prop_") || res.Proposals[0].Tool != "kube_remediate" {
		t.Fatalf("proposals: %+v; want the stored rollback plan", res.Proposals)
	}
	// Stored for approval, requested by nobody who could approve it alone.
	if p, err := a.Approvals().Get(context.Background(), res.Proposals[0].ID); err != nil || p.Status != "pending" {
		t.Errorf("stored proposal: %+v, %v", p, err)
	}
	for _, want := range []string{"prom_alerts", "rca_rank", "logs_search", "kube_changes", "kube_remediate"} {
		if !slices.Contains(called, want) {
			t.Errorf("tool calls %v lack %s", called, want)
		}
	}
}

// A healthy world: nothing is proposed, and the answer says what was
// looked at rather than inventing a cause.
func TestAnswerWithoutModelHealthy(t *testing.T) {
	a := sandboxApp(t, "healthy")
	res, err := a.Ask(context.Background(), "terminal", "c1", "why is checkout slow?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Proposals) != 0 {
		t.Errorf("proposed %+v in a healthy world", res.Proposals)
	}
	if strings.Contains(res.Answer, "Roll back") || !strings.Contains(res.Answer, "checkout") {
		t.Errorf("answer:\n%s", res.Answer)
	}
}

// The terminal follows incidents: when an alert arrives the investigation
// runs and its findings are printed; after an approved change, the check
// of it is printed when it lands (issue 18).
func TestTerminalFollowsIncidents(t *testing.T) {
	notices := make(chan string, 16)
	follower := chat.NewFollower(notices, nil)
	a, sb := sandboxAppAndWorld(t, "bad-deploy", nil, app.Options{Reporter: follower, Notifier: follower})
	ctx, cancel := context.WithCancel(context.Background())
	background := make(chan struct{})
	go func() { a.Background(ctx); close(background) }()
	defer func() { cancel(); <-background }()

	// The alert fires two minutes into the bad deploy (the rule's for:),
	// so the incident's onset is the fault's, as when the sandbox sends it.
	faults := sb.Sandbox.Faults()
	if len(faults) == 0 {
		t.Fatal("the bad-deploy scenario has no fault")
	}
	now := faults[0].Start.Add(2 * time.Minute)
	m := incident.Message{Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: "firing",
		GroupLabels:  map[string]string{"alertname": "HighErrorRate"},
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout", "severity": "critical"},
		Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"},
			StartsAt: now.Add(-2 * time.Minute), Fingerprint: "fp1"}}}
	if _, err := a.Incidents().Handle(ctx, m); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notices:
		// The investigation ends with the remediation plan's first step
		// for the deploy it blames, proposed, not applied.
		for _, want := range []string{"Investigation of", "rca_rank", "checkout", "kube_remediate",
			"Proposed prop_", "Step 1 of the change plan: Roll back deployment shop/checkout", "approve it with /approve prop_"} {
			if !strings.Contains(n, want) {
				t.Errorf("the investigation notice lacks %q:\n%s", want, n)
			}
		}
		if strings.Contains(n, "untrusted-data") {
			t.Errorf("the notice shows the model's markers:\n%s", n)
		}
	case <-time.After(testserver.Scale(60 * time.Second)):
		t.Fatal("no investigation was printed")
	}
	pending, err := a.Approvals().List(ctx, approval.Pending, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending proposals: %+v, %v", pending, err)
	}
	// Requested by the notification's sender, so that whoever approves it
	// is a person other than the requester; nothing was applied.
	if p := pending[0]; p.Tool != "kube_remediate" || p.RequestedBy != "alertmanager" || !strings.HasPrefix(p.ConversationID, "incident:") {
		t.Errorf("the proposal: %+v", p)
	}
}

// checkedRestart is a restart whose effect is checked at once and found
// worse, with a way back.
type checkedRestart struct{}

func (checkedRestart) Spec() tools.Spec {
	return tools.Spec{Name: "restart", Description: "Restart.", Mutating: true, Parameters: tools.Object(nil)}
}
func (checkedRestart) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Result{Proposal: &tools.Proposal{Tool: "restart", Summary: "Restart cart"}}, nil
}
func (checkedRestart) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	return tools.Text("restarted"), nil
}
func (checkedRestart) VerifyAfter(tools.Proposal) time.Duration { return time.Millisecond }
func (checkedRestart) Verify(context.Context, tools.Proposal, time.Time) (tools.Verification, error) {
	return tools.Verification{Text: "error ratio 0.01 before, 0.2 after: worse", Worse: true,
		Rollback: &tools.Proposal{Tool: "restart", Summary: "Roll back cart"}}, nil
}

func TestTerminalPrintsTheCheckOfAChange(t *testing.T) {
	notices := make(chan string, 16)
	follower := chat.NewFollower(notices, nil)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Tools: []tools.Tool{checkedRestart{}}, Reporter: follower, Notifier: follower})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	background := make(chan struct{})
	go func() { a.Background(ctx); close(background) }()
	defer func() { cancel(); <-background }()
	p, err := a.Approvals().Propose(ctx, "chat:1", tools.Proposal{Tool: "restart", Summary: "Restart cart"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Approvals().Decide(ctx, p.ID, "terminal:alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Approvals().Execute(ctx, p.ID, "terminal:alice"); err != nil {
		t.Fatal(err)
	}
	var got []string
	deadline := time.After(testserver.Scale(20 * time.Second))
	for len(got) < 2 {
		select {
		case n := <-notices:
			got = append(got, n)
		case <-deadline:
			t.Fatalf("printed %q; want the check and the way back", got)
		}
	}
	if !strings.Contains(got[0], "⚠️ Checked "+p.ID) || !strings.Contains(got[0], "0.2 after: worse") ||
		!strings.Contains(got[1], "Roll back cart") {
		t.Errorf("printed %q", got)
	}
}
