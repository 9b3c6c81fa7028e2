package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/tools"
)

// restart is a mutating test tool: it proposes, and counts applications.
type restart struct{ applied atomic.Int32 }

func (*restart) Spec() tools.Spec {
	return tools.Spec{Name: "restart_deployment", Description: "Restart a deployment.", Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("deployment")}, "name")}
}

func (*restart) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	var a struct{ Name string }
	_ = json.Unmarshal(args, &a)
	return tools.Result{Proposal: &tools.Proposal{Summary: "Restart deployment shop/" + a.Name, Risk: "low",
		Details: "kubectl rollout restart deployment/" + a.Name + " -n shop", Args: args}}, nil
}

func (r *restart) Apply(_ context.Context, p tools.Proposal) (tools.Result, error) {
	r.applied.Add(1)
	return tools.Text("deployment.apps/checkout restarted"), nil
}

type harness struct {
	app          *app.App
	tool         *restart
	model        *scripted.Model
	out, err     bytes.Buffer
	conversation string
}

func newHarness(t *testing.T, model *scripted.Model) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	h := &harness{tool: &restart{}, model: model}
	opts := app.Options{Tools: []tools.Tool{h.tool}}
	if model != nil {
		opts.Model = model
	}
	a, err := app.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	h.app = a
	return h
}

func (h *harness) chat(in string) *chat.Chat {
	cfg := chat.Config{Tools: h.app.Tools(), Approvals: h.app.Approvals(), Redactor: h.app.Redactor(),
		In: strings.NewReader(in), Out: &h.out, Err: &h.err, User: "terminal:alice", NoModelHelp: app.NoModelHelp}
	if h.app.HasModel() {
		cfg.Asker = h.app.Surface("terminal chat")
	}
	c := chat.New(cfg)
	h.conversation = c.ConversationID()
	return c
}

func proposeTurns() []scripted.Turn {
	return []scripted.Turn{
		{ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		{ExpectToolResult: "awaits approval by a person", Text: "I propose restarting checkout; approve it to proceed."},
	}
}

func TestApprovalYesExecutes(t *testing.T) {
	h := newHarness(t, scripted.New(proposeTurns()...))
	if err := h.chat("y\n").Once(context.Background(), "restart checkout"); err != nil {
		t.Fatal(err)
	}
	out := h.out.String()
	for _, want := range []string{
		"I propose restarting checkout",
		"Proposed change prop_",
		": Restart deployment shop/checkout [risk: low]",
		"  kubectl rollout restart deployment/checkout -n shop",
		"Applied prop_",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(h.err.String(), "Approve? [y/N] ") || !strings.Contains(h.err.String(), "→ restart_deployment") {
		t.Errorf("stderr = %s", h.err.String())
	}
	if h.tool.applied.Load() != 1 {
		t.Fatalf("applied %d times", h.tool.applied.Load())
	}
	props, _ := h.app.Approvals().List(context.Background(), approval.Executed, 10)
	if len(props) != 1 || props[0].DecidedBy != "terminal:alice" {
		t.Errorf("executed proposals = %+v", props)
	}
	// The outcome is in memory for follow-up questions.
	hist, _ := h.app.Store().LoadConversation(context.Background(), h.conversation)
	if !strings.Contains(string(hist), "approved proposal prop_") {
		t.Errorf("memory lacks the approval note")
	}
}

func TestApprovalDefaultsToNo(t *testing.T) {
	for name, input := range map[string]string{"no": "n\n", "empty line": "\n", "end of input": "", "anything else": "sure\n"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, scripted.New(proposeTurns()...))
			if err := h.chat(input).Once(context.Background(), "restart checkout"); err != nil {
				t.Fatal(err)
			}
			if h.tool.applied.Load() != 0 {
				t.Fatal("applied without a yes")
			}
			if !strings.Contains(h.out.String(), "Rejected prop_") || !strings.Contains(h.out.String(), "nothing was changed") {
				t.Errorf("stdout = %s", h.out.String())
			}
			props, _ := h.app.Approvals().List(context.Background(), approval.Rejected, 10)
			if len(props) != 1 {
				t.Errorf("rejected proposals = %+v", props)
			}
		})
	}
}

func TestInteractiveSession(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ExpectInput: "what time is it", ToolCalls: []scripted.Call{{Name: "current_time"}}},
		scripted.Turn{ExpectToolResult: "now_utc", Text: "It is afternoon."},
		// The second question sees the first exchange in its history.
		scripted.Turn{Respond: func(_ context.Context, req agent.Request) (agent.Response, error) {
			for _, m := range req.Messages {
				if m.Content == "It is afternoon." {
					return agent.Response{Message: agent.Message{Content: "You asked about the time."}}, nil
				}
			}
			return agent.Response{}, errors.New("history missing from the second request")
		}},
		// After /reset the history is gone.
		scripted.Turn{Respond: func(_ context.Context, req agent.Request) (agent.Response, error) {
			if len(req.Messages) != 2 {
				return agent.Response{}, errors.New("history survived /reset")
			}
			return agent.Response{Message: agent.Message{Content: "Fresh start."}}, nil
		}},
	)
	h := newHarness(t, model)
	in := "/help\n/tools\nwhat time is it?\n\nwhat did I ask?\n/reset\nhello\n/bogus\n/quit\nnever read\n"
	if err := h.chat(in).Loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, errOut := h.out.String(), h.err.String()
	for _, want := range []string{"Commands:", "current_time", "restart_deployment", "(proposes changes; needs approval)",
		"It is afternoon.", "You asked about the time.", "Started a new conversation.", "Fresh start."} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	for _, want := range []string{"→ current_time {}", "✓ current_time", "scripted · 2 steps · 1 tool call", "unknown command /bogus"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if model.Remaining() != 0 {
		t.Errorf("%d scripted turns unused", model.Remaining())
	}
}

func TestNoModel(t *testing.T) {
	h := newHarness(t, nil)
	c := h.chat("")
	err := c.Once(context.Background(), "why is checkout slow?")
	if !errors.Is(err, chat.ErrNoModel) || !strings.Contains(h.err.String(), "WATCHKEEPER_LLM_PROVIDER=openai") {
		t.Fatalf("err=%v stderr=%s", err, h.err.String())
	}
	h.out.Reset()
	if err := h.chat("").Once(context.Background(), `/run current_time {"resolve": ["14:00"]}`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.out.String(), `"expression": "14:00"`) {
		t.Errorf("stdout = %s", h.out.String())
	}
}

func TestRunCommand(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		line, wantErr string
	}{
		{"/run", "usage: /run TOOL key=value"},
		{"/run nope {}", `no tool called "nope"`},
		{`/run current_time {"tz": "x"}`, `unknown argument "tz"`},
		{`/run current_time {"timezone": "Nowhere/City"}`, `unknown time zone "Nowhere/City"`},
		{`/run current_time {bad json`, "not valid JSON"},
	}
	for _, tt := range tests {
		err := h.chat("").Once(context.Background(), tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.line, err, tt.wantErr)
		}
	}
	// A mutating tool run by hand still needs approval.
	if err := h.chat("y\n").Once(context.Background(), `/run restart_deployment {"name": "checkout"}`); err != nil {
		t.Fatal(err)
	}
	if h.tool.applied.Load() != 1 || !strings.Contains(h.out.String(), "Applied prop_") {
		t.Errorf("applied=%d out=%s", h.tool.applied.Load(), h.out.String())
	}
}

func TestFailedRunIsReported(t *testing.T) {
	h := newHarness(t, scripted.New(scripted.Turn{Error: "cannot reach the model at http://127.0.0.1:1/v1"}))
	err := h.chat("").Once(context.Background(), "q")
	if !errors.Is(err, chat.ErrRunFailed) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(h.err.String(), "error: model call at step 1: scripted model: cannot reach the model") {
		t.Errorf("stderr = %s", h.err.String())
	}
	runs, _ := h.app.Store().ListRuns(context.Background(), "", 10)
	if len(runs) != 1 || runs[0].Outcome != agent.RunModelError {
		t.Errorf("runs = %+v", runs)
	}
}

func TestInterruptCancelsOnlyTheQuestion(t *testing.T) {
	model := scripted.New(scripted.Turn{Delay: time.Minute, Text: "late"}, scripted.Turn{Text: "second answer"})
	h := newHarness(t, model)
	interrupts := make(chan osSignal, 1)
	cfg := chat.Config{Asker: h.app.Surface("terminal chat"), Tools: h.app.Tools(), Approvals: h.app.Approvals(),
		In: strings.NewReader("slow question\nnext question\n"), Out: &h.out, Err: &h.err, Interrupts: interrupts}
	go func() {
		time.Sleep(50 * time.Millisecond)
		interrupts <- interruptSignal{}
	}()
	if err := chat.New(cfg).Loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.err.String(), "error: cancelled") || !strings.Contains(h.out.String(), "second answer") {
		t.Errorf("stdout=%s stderr=%s", h.out.String(), h.err.String())
	}
}

func TestProposalFromAFailedRunIsStillDecided(t *testing.T) {
	h := newHarness(t, scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		scripted.Turn{Error: "upstream 503"},
	))
	err := h.chat("y\n").Once(context.Background(), "restart checkout")
	if !errors.Is(err, chat.ErrRunFailed) {
		t.Fatalf("err = %v", err)
	}
	if h.tool.applied.Load() != 1 || !strings.Contains(h.out.String(), "Applied prop_") {
		t.Errorf("applied=%d out=%s", h.tool.applied.Load(), h.out.String())
	}
}

// A proposal made outside a question (the way back after a check) is
// decided with /approve; one already decided is refused.
func TestApproveLater(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	p, err := h.app.Approvals().Propose(ctx, "chat:1", tools.Proposal{Tool: "restart_deployment", Summary: "Roll back checkout",
		Args: json.RawMessage(`{"name":"checkout"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.chat("y\n").Once(ctx, "/approve "+p.ID); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.out.String(), "Proposed change "+p.ID+": Roll back checkout") || !strings.Contains(h.out.String(), "Applied "+p.ID) ||
		h.tool.applied.Load() != 1 {
		t.Fatalf("applied %d; stdout:\n%s", h.tool.applied.Load(), h.out.String())
	}
	err = h.chat("y\n").Once(ctx, "/approve "+p.ID)
	if err == nil || !strings.Contains(err.Error(), "is executed; only a pending proposal") || h.tool.applied.Load() != 1 {
		t.Errorf("approving it again: %v (applied %d)", err, h.tool.applied.Load())
	}
	if err := h.chat("").Once(ctx, "/approve prop_nope"); err == nil || !strings.Contains(err.Error(), "no proposal prop_nope") {
		t.Errorf("an unknown proposal: %v", err)
	}
}

// A change proposed by hand is recorded as proposed by the person who ran
// the tool, not by Watchkeeper (issue 18).
func TestHandMadeProposalNamesItsRequester(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if err := h.chat("n\n").Once(ctx, "/run restart_deployment name=checkout"); err != nil {
		t.Fatal(err)
	}
	audit, err := h.app.Store().ListAudit(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var proposers []string
	for _, e := range audit {
		if e.Action == "propose" {
			proposers = append(proposers, e.Actor)
		}
	}
	if len(proposers) != 1 || proposers[0] != "terminal:alice" {
		t.Errorf("proposed by %v; want terminal:alice", proposers)
	}
	props, _ := h.app.Approvals().List(ctx, approval.Rejected, 10)
	if len(props) != 1 || props[0].RequestedBy != "terminal:alice" {
		t.Errorf("rejected proposals: %+v", props)
	}
}

// The terminal numbers the calls as the answer cites them, marks a number
// that is no call, says when an answer rests on no tool, and /work lists
// the last answer's calls by number.
func TestGroundedAnswersInTheTerminal(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ExpectInput: "what time is it", ToolCalls: []scripted.Call{
			{Name: "current_time"}, {Name: "current_time", Args: map[string]any{"timezone": "Europe/Berlin"}}}},
		scripted.Turn{ExpectToolResult: "[2] current_time", Text: "It is afternoon [1], in Berlin too [2], and raining [7]."},
		scripted.Turn{ExpectInput: "hello", Text: "Hello! Ask me about your systems."},
	)
	h := newHarness(t, model)
	in := "/work\nwhat time is it?\n/work\n/work 2\n/work 9\nhello\n/work\n/quit\n"
	if err := h.chat(in).Loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, errOut := h.out.String(), h.err.String()
	for _, want := range []string{
		"It is afternoon [1], in Berlin too [2], and raining [7: no such tool call].",
		"The last answer's 2 tool calls, as it cites them",
		"[1] ✓ current_time {}",
		`[2] ✓ current_time {"timezone":"Europe/Berlin"}`,
		"    {\n      \"now_utc\": ",
		"Hello! Ask me about your systems.\n",
		agent.NoEvidenceNote + "\n", // /work after an answer without calls
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// /work 2 is call 2 whole: after the list, its own header once more.
	if i := strings.LastIndex(out, `[2] ✓ current_time {"timezone":"Europe/Berlin"}`); i < 0 || !strings.Contains(out[i:], "Europe/Berlin") ||
		strings.Count(out, `[2] ✓ current_time`) != 2 {
		t.Errorf("/work 2 did not show call 2:\n%s", out)
	}
	for _, want := range []string{
		"[1] → current_time {}",
		`[2] → current_time {"timezone":"Europe/Berlin"}`,
		"[1] ✓ current_time",
		"no question has been answered in this session yet",
		"the last answer made 2 tool calls, [1] to [2]",
		agent.NoEvidenceNote, // under "Hello!"
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, agent.UncitedNote) || strings.Count(errOut, agent.NoEvidenceNote) != 1 {
		t.Errorf("notes where there should be none:\n%s", errOut)
	}
}
