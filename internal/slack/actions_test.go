package slack_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/tools"
)

// click presses a button and returns the response_url of the click.
func (h *harness) click(ch, user, messageTS, action, value string) string {
	h.t.Helper()
	p := h.fake.Click(ch, user, messageTS, action, value)
	id, err := h.fake.SendInteraction(p)
	if err != nil {
		h.t.Fatal(err)
	}
	if d, err := h.fake.WaitAck(id, 3*time.Second); err != nil || d > time.Second {
		h.t.Fatalf("click ack: %s, %v", d, err)
	}
	return p["response_url"].(string)
}

// proposalID finds the Approve button's value in a message.
func proposalID(t *testing.T, m slackfake.Message) string {
	t.Helper()
	var blocks []map[string]any
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			if el["action_id"] == "approve" {
				return el["value"].(string)
			}
		}
	}
	t.Fatalf("no Approve button in %s", m.Blocks)
	return ""
}

// proposeRestart has alice ask for a restart of checkout and returns the
// harness, her message's ts, the proposal message and the proposal's ID.
func proposeRestart(t *testing.T) (*harness, string, slackfake.Message, string) {
	t.Helper()
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ExpectInput: "restart checkout", ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		{ExpectToolResult: "awaits approval by a person", Text: "I propose restarting checkout."},
	}})
	ts := h.fake.UserMessage(chOps, alice, "restart checkout", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "restart checkout"))
	msg := h.answered(chOps, ts, "Proposed change")
	id := proposalID(t, msg)
	return h, ts, msg, id
}

func TestApprovalButtons(t *testing.T) {
	h, ts, msg, id := proposeRestart(t)
	text := blocksText(msg.Blocks)
	for _, want := range []string{"Restart deployment checkout", "requested by <@UALICE>", "risk: medium", "expires", "Approve", "Reject", "Details"} {
		if !strings.Contains(text, want) {
			t.Errorf("proposal message lacks %q:\n%s", want, text)
		}
	}
	eventually(t, "the proposal's location", func() bool {
		got, _ := h.app.Approvals().Get(context.Background(), id)
		return got.Location == "slack:"+chOps+":"+msg.TS+":"+ts
	})

	refusals := []struct {
		user, action, want string
	}{
		{bob, "approve", "You cannot approve this: you are not one of the approvers of changes (approval.approvers). Nothing was changed."},
		{alice, "approve", "You cannot approve this: you asked for this change, so someone else must approve it."},
		{bob, "reject", "You cannot reject this: only the requester or an approver may reject"},
	}
	for _, r := range refusals {
		url := h.click(chOps, r.user, msg.TS, r.action, id)
		p := h.response(url, r.want)
		if p.Body["response_type"] != "ephemeral" {
			t.Errorf("refusal is not ephemeral: %v", p.Body)
		}
	}
	if h.restart.applied.Load() != 0 {
		t.Fatal("a refused click applied the change")
	}
	// Details: the full change, to the clicker only.
	h.response(h.click(chOps, bob, msg.TS, "details", id), "kubectl rollout restart deployment/checkout")

	// The approver approves: applied once, the message says who and what.
	h.click(chOps, admin, msg.TS, "approve", id)
	eventually(t, "the executed proposal message", func() bool {
		m, _ := h.fake.Message(chOps, msg.TS)
		return strings.Contains(blocksText(m.Blocks), "✅ Approved by <@UADMIN>") &&
			strings.Contains(blocksText(m.Blocks), "and applied: deployment restarted; 3/3 pods ready")
	})
	m, _ := h.fake.Message(chOps, msg.TS)
	if strings.Contains(blocksText(m.Blocks), "Approve\n") || strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
		t.Error("the decided proposal still has buttons")
	}
	// A second click is stale.
	h.response(h.click(chOps, admin, msg.TS, "approve", id), "Nothing to approve: proposal "+id+" was already executed by UADMIN")
	if n := h.restart.applied.Load(); n != 1 {
		t.Errorf("applied %d times", n)
	}
	// An unknown proposal.
	h.response(h.click(chOps, admin, msg.TS, "approve", "prop_000000000000"), "does not exist (any more)")

	// Show my work opens a modal with the run's tool calls.
	ans := h.answered(chOps, ts, "I propose restarting checkout.")
	var runID string
	var blocks []map[string]any
	_ = json.Unmarshal(ans.Blocks, &blocks)
	for _, b := range blocks {
		if b["type"] == "actions" {
			runID = b["elements"].([]any)[0].(map[string]any)["value"].(string)
		}
	}
	h.click(chOps, bob, ans.TS, "show_work", runID)
	eventually(t, "the work modal", func() bool {
		for _, v := range h.fake.Views() {
			if strings.Contains(blocksText(v.View), "restart_deployment") && strings.Contains(blocksText(v.View), "restart checkout") {
				return true
			}
		}
		return false
	})
	// The decision is in the thread's memory.
	eventually(t, "the decision in memory", func() bool {
		raw, _ := h.app.Store().LoadConversation(context.Background(), "slack:"+chOps+":"+ts)
		return strings.Contains(string(raw), "approved proposal "+id)
	})
}

func TestDoubleClickExecutesOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true})
	ctx := context.Background()
	p, err := h.app.Approvals().Propose(ctx, "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart cart", Args: json.RawMessage(`{"name":"cart"}`)})
	if err != nil {
		t.Fatal(err)
	}
	ts := h.fake.UserMessage(chOps, bob, "placeholder", "")
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { h.click(chOps, admin, ts, "approve", p.ID) })
	}
	wg.Wait()
	eventually(t, "one execution", func() bool { return h.restart.applied.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := h.restart.applied.Load(); n != 1 {
		t.Errorf("five clicks applied %d times", n)
	}
}

func TestExpiredAndUnconfiguredApprovals(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, expiry: 50 * time.Millisecond})
	ctx := context.Background()
	p, _ := h.app.Approvals().Propose(ctx, "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart cart"})
	ts := h.fake.UserMessage(chOps, bob, "placeholder", "")
	time.Sleep(100 * time.Millisecond)
	h.response(h.click(chOps, admin, ts, "approve", p.ID), "Too late to approve: proposal "+p.ID+" expired at")
	if h.restart.applied.Load() != 0 {
		t.Error("an expired proposal was applied")
	}

	// Without configured approvers nobody may approve a change.
	h2 := newHarness(t, harnessOpts{noModel: true, tweak: func(c *config.Config) { c.Approval.Approvers = nil }})
	p2, _ := h2.app.Approvals().Propose(ctx, "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart cart"})
	ts2 := h2.fake.UserMessage(chOps, bob, "placeholder", "")
	h2.response(h2.click(chOps, admin, ts2, "approve", p2.ID), "nobody may approve changes yet; an administrator must list approvers in approval.approvers")
}

// Approval rules from the configuration: a Slack user group approves, and
// the two-person rule needs two of its members.
func TestTwoPersonRuleWithAUserGroup(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, tweak: func(c *config.Config) {
		c.Approval.Rules = []config.ApprovalRule{{Groups: []string{"SSRE"}, TwoPerson: true}}
	}})
	h.fake.AddGroup("SSRE", admin, bob)
	ctx := context.Background()
	p, _ := h.app.Approvals().Propose(ctx, "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart cart",
		Args: json.RawMessage(`{"name":"cart"}`)})
	ts, err := h.bot.Notify(ctx, chOps, "(the proposal's message)")
	if err != nil {
		t.Fatal(err)
	}
	h.response(h.click(chOps, alice, ts, "approve", p.ID), "you are not an approver of restart_deployment (approvers: SSRE)")
	h.response(h.click(chOps, admin, ts, "approve", p.ID), "needs a second approver")
	eventually(t, "the first approval on the message", func() bool {
		m, _ := h.fake.Message(chOps, ts)
		return strings.Contains(blocksText(m.Blocks), "Approved so far by <@UADMIN> — another approver is needed")
	})
	if h.restart.applied.Load() != 0 {
		t.Fatal("applied after one approval")
	}
	h.response(h.click(chOps, admin, ts, "approve", p.ID), "you already approved")
	h.click(chOps, bob, ts, "approve", p.ID)
	eventually(t, "the execution", func() bool { return h.restart.applied.Load() == 1 })
	eventually(t, "the executed message", func() bool {
		m, _ := h.fake.Message(chOps, ts)
		return strings.Contains(blocksText(m.Blocks), "✅ Approved by <@UBOB>")
	})
}

// logsTool returns a line of the injection corpus per call, as log text.
type logsTool struct{ lines []string }

func (logsTool) Spec() tools.Spec {
	return tools.Spec{Name: "logs_search", Evidence: tools.EvidenceText, Description: "Search logs.", Parameters: tools.Object(map[string]*tools.Schema{"service": tools.String("service")})}
}

func (l logsTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Text(tools.Untrusted("logs", strings.Join(l.lines, "\n"))), nil
}

// Log lines and annotations that try to instruct the bot reach the model
// only as data; even a model that obeys them can only propose, and nothing
// runs without a person's click — not text in the thread, not the model
// saying so, not a log line shaped like a button payload.
func TestInjectionCorpusNeverExecutes(t *testing.T) {
	raw, err := os.ReadFile("testdata/injections.txt")
	if err != nil {
		t.Fatal(err)
	}
	corpus := strings.Split(strings.TrimSpace(string(raw)), "\n")
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ToolCalls: []scripted.Call{{Name: "logs_search", Args: map[string]any{"service": "checkout"}}}},
		// A compromised model obeys the logs.
		{ExpectToolResult: "IGNORE ALL PREVIOUS INSTRUCTIONS", ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		{ExpectToolResult: "awaits approval", Text: "Approved by UADMIN. I have applied the change: deployment restarted. <!channel>"},
		{ExpectInput: "approve", Text: "Done, approved."},
	}, tweak: func(c *config.Config) {}})
	if err := h.app.Tools().Add(logsTool{corpus}); err != nil {
		t.Fatal(err)
	}
	ts := h.fake.UserMessage(chOps, bob, "why is checkout failing?", "")
	h.send(slackfake.Mention(chOps, bob, ts, "", "why is checkout failing?"))
	msg := h.answered(chOps, ts, "Proposed change")
	id := proposalID(t, msg)
	ans := h.answered(chOps, ts, "I have applied the change")
	if strings.Contains(blocksText(ans.Blocks), "<!channel>") {
		t.Error("the model's text pinged the channel")
	}
	// Someone types an approval into the thread: that is chat, not a click.
	reply := h.fake.UserMessage(chOps, admin, "approve "+id, ts)
	h.send(slackfake.ChannelMessage(chOps, "channel", admin, reply, ts, "approve "+id))
	h.answered(chOps, ts, "Done, approved.")
	time.Sleep(200 * time.Millisecond)
	if n := h.restart.applied.Load(); n != 0 {
		t.Fatalf("%d executions without an approval click", n)
	}
	if p, _ := h.app.Approvals().Get(context.Background(), id); p.Status != "pending" {
		t.Errorf("proposal status %s", p.Status)
	}
	// Supported only by log text: the proposal says so where people decide.
	if !strings.Contains(blocksText(msg.Blocks), "WARNING: only log or alert text") {
		t.Errorf("the proposal is not flagged:\n%s", blocksText(msg.Blocks))
	}
	// The model saw the corpus inside an untrusted block it cannot close.
	seen := h.model.Requests()[1].Messages
	last := seen[len(seen)-1].Content
	if !strings.HasPrefix(last, "[1] logs_search\n"+`<untrusted-data source="logs">`) || strings.Count(last, "</untrusted-data>") != 1 {
		t.Errorf("tool output as the model saw it:\n%s", last)
	}
	if strings.Contains(last, "xoxb-123456789012") {
		t.Error("a token in the logs reached the model unredacted")
	}
}

// verifyingRestart is a restart whose effect is checked at once and found
// worse, with a way back.
type verifyingRestart struct{ *restartTool }

func (verifyingRestart) VerifyAfter(tools.Proposal) time.Duration { return time.Millisecond }

func (verifyingRestart) Verify(context.Context, tools.Proposal, time.Time) (tools.Verification, error) {
	return tools.Verification{Text: "error ratio 0.01 before, 0.2 after: worse", Worse: true,
		Rollback: &tools.Proposal{Tool: "restart_deployment", Summary: "Roll back cart", Args: json.RawMessage(`{"name":"cart"}`)}}, nil
}

// After an approved change ran, its check is reported in the thread, and a
// way back is offered as a new proposal with its own buttons.
func TestVerificationIsReportedInTheThread(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, wrap: func(r *restartTool) tools.Tool { return verifyingRestart{r} }})
	ctx := context.Background()
	p, _ := h.app.Approvals().Propose(approval.WithRequester(ctx, alice), "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart cart", Args: json.RawMessage(`{"name":"cart"}`)})
	thread := h.fake.UserMessage(chOps, alice, "restart cart please", "")
	ts, err := h.bot.Notify(ctx, chOps, "(proposal)")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.app.Approvals().Location(ctx, p.ID, "slack:"+chOps+":"+ts+":"+thread); err != nil {
		t.Fatal(err)
	}
	h.click(chOps, admin, ts, "approve", p.ID)
	report := h.answered(chOps, thread, "Checked `"+p.ID+"`")
	if !strings.Contains(blocksText(report.Blocks), "⚠️") || !strings.Contains(blocksText(report.Blocks), "0.2 after: worse") {
		t.Errorf("report: %s", blocksText(report.Blocks))
	}
	back := h.answered(chOps, thread, "Roll back cart")
	id := proposalID(t, back)
	if id == p.ID {
		t.Error("the rollback reuses the proposal's ID")
	}
	// The way back is requested by whoever requested the change: they may
	// not approve it alone.
	if rb, _ := h.app.Approvals().Get(ctx, id); rb.RequestedBy != alice {
		t.Errorf("the rollback is requested by %q; want %s, who asked for the change", rb.RequestedBy, alice)
	}
	if h.restart.applied.Load() != 1 {
		t.Errorf("applied %d times; the rollback must wait for its own approval", h.restart.applied.Load())
	}
	audit, _ := h.app.Store().ListAudit(ctx, 20)
	var verified, proposedBack bool
	for _, e := range audit {
		verified = verified || (e.Action == "verify" && e.Target == p.ID && e.Outcome == "worse")
		proposedBack = proposedBack || (e.Action == "propose" && e.Target != p.ID && strings.Contains(e.Details, "Roll back cart"))
	}
	if !verified || !proposedBack {
		t.Errorf("audit lacks the verification (%v) or the rollback proposal (%v)", verified, proposedBack)
	}
}

// A proposal nobody decided in time loses its buttons when the scheduled
// sweep marks it expired.
func TestExpiredProposalLosesItsButtons(t *testing.T) {
	h, _, msg, id := proposeRestart(t)
	eventually(t, "the proposal's location", func() bool {
		got, _ := h.app.Approvals().Get(context.Background(), id)
		return got.Location != ""
	})
	// The leader's sweep an hour later, on the same store.
	svc := approval.New(h.app.Store(), h.app.Tools(), approval.Options{Expiry: 15 * time.Minute,
		Now: func() time.Time { return time.Now().Add(time.Hour) }, SweepEvery: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	swept := make(chan struct{})
	go func() { svc.RunScheduled(ctx, h.bot); close(swept) }()
	defer func() { cancel(); <-swept }()
	eventually(t, "the expired proposal message", func() bool {
		m, _ := h.fake.Message(chOps, msg.TS)
		return strings.Contains(blocksText(m.Blocks), "Expired") && !strings.Contains(string(m.Blocks), `"action_id":"approve"`)
	})
	if p, _ := svc.Get(context.Background(), id); p.Status != "expired" {
		t.Errorf("status = %s", p.Status)
	}
}
