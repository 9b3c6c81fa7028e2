package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/tools"
)

func TestRunAnswersWithToolEvidence(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ExpectInput: "why is checkout slow", Text: "Let me check.",
			ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "p99 2.3s"}}},
			Usage:     agent.Usage{InputTokens: 1000, OutputTokens: 50}},
		scripted.Turn{ExpectToolResult: "echo: p99 2.3s", Text: "Checkout p99 is 2.3s.",
			Usage: agent.Usage{InputTokens: 1200, OutputTokens: 30}},
	)
	rec := &memRecorder{}
	var log eventLog
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{
		Recorder: rec,
		Now:      fixedClock(10 * time.Millisecond),
		Config: agent.Config{ModelName: "gpt-test",
			Prices: agent.Prices{"gpt-test": {InputPerMTok: 1, OutputPerMTok: 4}}},
	})
	res, err := a.Run(context.Background(), agent.Task{Input: "why is checkout slow since 14:00?", ConversationID: "c1", Source: "test"}, log.observe)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Answer != "Checkout p99 is 2.3s." {
		t.Errorf("answer = %q", res.Answer)
	}
	if res.Outcome != agent.RunAnswered || res.Steps != 2 || res.ToolCalls != 1 {
		t.Errorf("outcome=%s steps=%d toolcalls=%d, want answered/2/1", res.Outcome, res.Steps, res.ToolCalls)
	}
	if res.Usage.InputTokens != 2200 || res.Usage.OutputTokens != 80 || res.Usage.Estimated {
		t.Errorf("usage = %+v", res.Usage)
	}
	wantCost := (2200*1.0 + 80*4.0) / 1e6
	if res.CostUSD == nil || *res.CostUSD != wantCost {
		t.Errorf("cost = %v, want %v", res.CostUSD, wantCost)
	}
	wantKinds := []agent.EventKind{agent.EventRunStarted, agent.EventModelCall, agent.EventToolStart,
		agent.EventToolEnd, agent.EventModelCall, agent.EventFinal}
	if got := log.kinds(); !slices.Equal(got, wantKinds) {
		t.Errorf("events = %v\nwant %v", got, wantKinds)
	}
	end := log.of(agent.EventToolEnd)[0]
	if end.Tool != "echo" || end.Outcome != agent.OutcomeOK || end.Duration != 10*time.Millisecond || end.Text != "echo: p99 2.3s" {
		t.Errorf("tool_end = %+v", end)
	}
	start := log.of(agent.EventToolStart)[0]
	if string(start.Args) != `{"text":"p99 2.3s"}` {
		t.Errorf("tool_start args = %s", start.Args)
	}
	// The messages added to memory: question, assistant call, tool result, answer.
	roles := []agent.Role{}
	for _, m := range res.Messages {
		roles = append(roles, m.Role)
	}
	if !slices.Equal(roles, []agent.Role{agent.RoleUser, agent.RoleAssistant, agent.RoleTool, agent.RoleAssistant}) {
		t.Errorf("new message roles = %v", roles)
	}
	// The first request had the system prompt and the tool on offer.
	req := model.Requests()[0]
	if req.Messages[0].Role != agent.RoleSystem || len(req.Tools) != 1 || req.Tools[0].Name != "echo" {
		t.Errorf("first request: system=%v tools=%v", req.Messages[0].Role, req.Tools)
	}
	rr := rec.only(t)
	if rr.Outcome != agent.RunAnswered || rr.Answer != res.Answer || rr.Question == "" {
		t.Errorf("record = %+v", rr.Summary)
	}
	var tr agent.Transcript
	if err := json.Unmarshal(rr.Transcript, &tr); err != nil {
		t.Fatalf("transcript: %v", err)
	}
	if len(tr.Messages) != 5 || len(tr.Events) != 6 {
		t.Errorf("transcript has %d messages and %d events, want 5 and 6", len(tr.Messages), len(tr.Events))
	}
	if !strings.Contains(res.Footer(), "2 steps · 1 tool call · 2,200 in / 80 out tokens · $0.0025") {
		t.Errorf("footer = %q", res.Footer())
	}
}

func TestLastStepWithdrawsToolsAndForcesAnswer(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "1"}}}},
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "2"}}}},
		scripted.Turn{ExpectNoTools: true, Text: "Best effort: 1 and 2."},
	)
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{Config: agent.Config{MaxSteps: 3}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answer != "Best effort: 1 and 2." || res.Steps != 3 {
		t.Errorf("answer=%q steps=%d", res.Answer, res.Steps)
	}
	reqs := model.Requests()
	last := reqs[2].Messages[len(reqs[2].Messages)-1]
	if last.Role != agent.RoleUser || !strings.Contains(last.Content, "no tool calls left") {
		t.Errorf("last request does not tell the model to answer: %+v", last)
	}
	if len(reqs[1].Tools) == 0 {
		t.Error("tools were withdrawn before the last step")
	}
}

func TestModelIgnoringLastStepYieldsNoAnswer(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "1"}}}},
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "2"}}}},
	)
	rec := &memRecorder{}
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{Recorder: rec, Config: agent.Config{MaxSteps: 2}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if !errors.Is(err, agent.ErrNoAnswer) || res.Outcome != agent.RunNoAnswer {
		t.Fatalf("err=%v outcome=%s", err, res.Outcome)
	}
	if rec.only(t).Outcome != agent.RunNoAnswer {
		t.Error("failed run was not recorded with its outcome")
	}
}

func TestRepeatedIdenticalCallIsRefused(t *testing.T) {
	echo := &echoTool{}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", RawArgs: `{"text": "x"}`}}},
		// Same call, different whitespace: still identical.
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", RawArgs: `{ "text":"x" }`}}},
		scripted.Turn{ExpectToolResult: "Refused", Text: "done"},
	)
	var log eventLog
	a := agent.New(model, registry(t, echo), agent.Options{})
	if _, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe); err != nil {
		t.Fatal(err)
	}
	if echo.calls.Load() != 1 {
		t.Errorf("tool ran %d times, want 1", echo.calls.Load())
	}
	ends := log.of(agent.EventToolEnd)
	if ends[1].Outcome != agent.OutcomeRefused || !strings.Contains(ends[1].Text, "at step 1") {
		t.Errorf("second call: %+v", ends[1])
	}
}

func TestDuplicateCallsInOneStepRunOnce(t *testing.T) {
	echo := &echoTool{}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{
			{Name: "echo", Args: map[string]any{"text": "x"}},
			{Name: "echo", Args: map[string]any{"text": "x"}},
		}},
		scripted.Turn{Text: "done"},
	)
	var log eventLog
	a := agent.New(model, registry(t, echo), agent.Options{})
	if _, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range log.of(agent.EventToolEnd) {
		outcomes = append(outcomes, e.CallID+"="+e.Outcome)
	}
	slices.Sort(outcomes)
	if echo.calls.Load() != 1 || !slices.Equal(outcomes, []string{"call_1_1=ok", "call_1_2=refused"}) {
		t.Errorf("calls=%d outcomes=%v", echo.calls.Load(), outcomes)
	}
}

func TestParallelToolCallsAreBounded(t *testing.T) {
	var inFlight, peak atomic.Int32
	slow := &funcTool{name: "slow", run: func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// Hold the slot until the limit is reached or a bound passes, so
		// the peak reflects the limit rather than scheduling luck.
		deadline := time.Now().Add(2 * time.Second)
		for peak.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return tools.Text("ok"), nil
	}}
	var calls []scripted.Call
	for i := range 6 {
		calls = append(calls, scripted.Call{Name: "slow", Args: map[string]any{"n": i}})
	}
	model := scripted.New(scripted.Turn{ToolCalls: calls}, scripted.Turn{Text: "done"})
	a := agent.New(model, registry(t, slow), agent.Options{Config: agent.Config{MaxParallelTools: 2}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 2 {
		t.Errorf("peak concurrency = %d, want 2", peak.Load())
	}
	// Results come back in call order whatever order the calls finished in.
	tm := lastToolMessages(res.Messages)
	for i, m := range tm {
		if m.ToolCallID != fmt.Sprintf("call_1_%d", i+1) {
			t.Errorf("tool message %d answers %s", i, m.ToolCallID)
		}
	}
}

func TestToolOutputIsCutToBudget(t *testing.T) {
	huge := &funcTool{name: "huge", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Text(strings.Repeat("a log line that repeats\n", 10<<20/24)), nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "huge"}}},
		scripted.Turn{ExpectToolResult: "Narrow your query", Text: "too much"},
	)
	a := agent.New(model, registry(t, huge), agent.Options{Config: agent.Config{ToolOutputTokens: 500}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := lastToolMessages(res.Messages)[0].Content
	if len(got) > 500*4+400 {
		t.Errorf("tool message is %d bytes, budget is about %d", len(got), 500*4)
	}
}

func TestTokenBudgetEndsRun(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "1"}}},
			Usage: agent.Usage{InputTokens: 9000, OutputTokens: 1500}},
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "2"}}}},
	)
	rec := &memRecorder{}
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{Recorder: rec,
		Config: agent.Config{MaxRunTokens: 10000, ToolOutputTokens: 100}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if !errors.Is(err, agent.ErrTokenBudget) {
		t.Fatalf("err = %v, want ErrTokenBudget", err)
	}
	if res.Outcome != agent.RunTokenBudget || res.Steps != 1 || rec.only(t).Outcome != agent.RunTokenBudget {
		t.Errorf("outcome=%s steps=%d", res.Outcome, res.Steps)
	}
	contains(t, err.Error(), "agent.max_run_tokens")
}

func TestNearTokenBudgetForcesAnswer(t *testing.T) {
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "1"}}},
			Usage: agent.Usage{InputTokens: 9000, OutputTokens: 100}},
		scripted.Turn{ExpectNoTools: true, Text: "answer within budget"},
	)
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{Config: agent.Config{MaxRunTokens: 10000, ToolOutputTokens: 500}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil || res.Answer != "answer within budget" {
		t.Fatalf("err=%v answer=%q", err, res.Answer)
	}
}

func TestRunTimeout(t *testing.T) {
	model := scripted.New(scripted.Turn{Delay: 10 * time.Second, Text: "late"})
	rec := &memRecorder{}
	a := agent.New(model, nil, agent.Options{Recorder: rec, Config: agent.Config{RunTimeout: 50 * time.Millisecond}})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if !errors.Is(err, agent.ErrRunTimeout) || res.Outcome != agent.RunTimeout {
		t.Fatalf("err=%v outcome=%s", err, res.Outcome)
	}
	contains(t, err.Error(), "after 50ms")
	if rec.only(t).Outcome != agent.RunTimeout {
		t.Error("timed-out run not recorded")
	}
}

func TestCancellationStopsRunAndIsRecorded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	blocker := &funcTool{name: "block", run: func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
		close(started)
		<-ctx.Done()
		return tools.Result{}, ctx.Err()
	}}
	model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{{Name: "block"}}}, scripted.Turn{Text: "never"})
	rec := &memRecorder{}
	a := agent.New(model, registry(t, blocker), agent.Options{Recorder: rec})
	go func() { <-started; cancel() }()
	res, err := a.Run(ctx, agent.Task{Input: "q"}, nil)
	if !errors.Is(err, context.Canceled) || res.Outcome != agent.RunCanceled {
		t.Fatalf("err=%v outcome=%s", err, res.Outcome)
	}
	if model.Remaining() != 1 {
		t.Error("model was called after cancellation")
	}
	if rec.only(t).Outcome != agent.RunCanceled {
		t.Error("cancelled run not recorded")
	}
}

func TestBadToolCallsBecomeFixableErrors(t *testing.T) {
	tests := []struct {
		name        string
		call        scripted.Call
		wantOutcome string
		wantText    string
	}{
		{"unknown tool", scripted.Call{Name: "kubectl_delete_everything"}, agent.OutcomeRefused, `no tool called "kubectl_delete_everything". Available tools: echo`},
		{"unrepairable json", scripted.Call{Name: "echo", RawArgs: `text = hello`}, agent.OutcomeToolError, "not valid JSON and could not be repaired"},
		{"missing required", scripted.Call{Name: "echo", RawArgs: `{}`}, agent.OutcomeToolError, `missing required argument "text"`},
		{"wrong type", scripted.Call{Name: "echo", RawArgs: `{"text": 5}`}, agent.OutcomeToolError, `argument "text": expected a string, got the number 5`},
		{"unknown argument", scripted.Call{Name: "echo", RawArgs: `{"text":"a","txt":"b"}`}, agent.OutcomeToolError, `unknown argument "txt"; valid arguments are text`},
		{"array not object", scripted.Call{Name: "echo", RawArgs: `["a"]`}, agent.OutcomeToolError, "not valid JSON"},
		{"repairable json", scripted.Call{Name: "echo", RawArgs: "```json\n{'text': 'fixed',}\n```"}, agent.OutcomeOK, "echo: fixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{tt.call}}, scripted.Turn{Text: "ok"})
			var log eventLog
			a := agent.New(model, registry(t, &echoTool{}), agent.Options{})
			if _, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe); err != nil {
				t.Fatal(err)
			}
			end := log.of(agent.EventToolEnd)[0]
			if end.Outcome != tt.wantOutcome {
				t.Errorf("outcome = %s, want %s (%s)", end.Outcome, tt.wantOutcome, end.Text)
			}
			contains(t, end.Text, tt.wantText)
			// The model saw the same text.
			got := lastToolMessages(model.Requests()[1].Messages)[0].Content
			if got != "[1] "+tt.call.Name+"\n"+end.Text {
				t.Errorf("model saw %q, event says %q", got, end.Text)
			}
		})
	}
}

func TestToolFailuresDoNotEndTheRun(t *testing.T) {
	tests := []struct {
		name        string
		run         func(context.Context, json.RawMessage) (tools.Result, error)
		toolTimeout time.Duration
		wantOutcome string
		wantText    string
	}{
		{"panic", func(context.Context, json.RawMessage) (tools.Result, error) { panic("nil map") },
			0, agent.OutcomePanic, "crashed (nil map)"},
		{"infrastructure error", func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Result{}, errors.New("dial tcp 127.0.0.1:9090: connection refused")
		}, 0, agent.OutcomeError, "connection refused. The system behind the tool failed"},
		{"fixable error", func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Errorf(`parse error: unexpected "}"`), nil
		}, 0, agent.OutcomeToolError, `Error: parse error: unexpected "}"`},
		{"tool timeout", func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
			<-ctx.Done()
			return tools.Result{}, ctx.Err()
		}, 20 * time.Millisecond, agent.OutcomeError, "timed out after 20ms"},
		{"proposal from read-only tool", func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Result{Proposal: &tools.Proposal{Summary: "sneaky"}}, nil
		}, 0, agent.OutcomeError, "not declared as mutating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := &funcTool{name: "bad", run: tt.run}
			model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{{Name: "bad"}}}, scripted.Turn{Text: "answered anyway"})
			var log eventLog
			a := agent.New(model, registry(t, bad), agent.Options{Config: agent.Config{ToolTimeout: tt.toolTimeout}})
			res, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe)
			if err != nil || res.Answer != "answered anyway" {
				t.Fatalf("err=%v answer=%q", err, res.Answer)
			}
			end := log.of(agent.EventToolEnd)[0]
			if end.Outcome != tt.wantOutcome {
				t.Errorf("outcome = %s, want %s", end.Outcome, tt.wantOutcome)
			}
			contains(t, end.Text, tt.wantText)
			if len(res.Proposals) != 0 {
				t.Errorf("proposals = %v", res.Proposals)
			}
		})
	}
}

type memProposer struct{ got []tools.Proposal }

func (m *memProposer) Propose(_ context.Context, conv string, p tools.Proposal) (tools.Proposal, error) {
	p.ID = fmt.Sprintf("P-%d", len(m.got)+1)
	m.got = append(m.got, p)
	return p, nil
}

func TestMutatingToolOnlyProposes(t *testing.T) {
	restart := &funcTool{name: "restart", mutating: true, run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Result{Proposal: &tools.Proposal{Summary: "Restart deployment shop/checkout", Details: "kubectl rollout restart deployment/checkout -n shop", Risk: "low"}}, nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "restart"}}},
		scripted.Turn{ExpectToolResult: "Proposal P-1 created", Text: "I propose a restart; approve it to proceed."},
	)
	prop := &memProposer{}
	var log eventLog
	a := agent.New(model, registry(t, restart), agent.Options{Proposer: prop})
	res, err := a.Run(context.Background(), agent.Task{Input: "restart checkout", ConversationID: "c9"}, log.observe)
	if err != nil {
		t.Fatal(err)
	}
	if restart.applied.Load() != 0 {
		t.Fatal("the agent applied a mutation")
	}
	if len(res.Proposals) != 1 || res.Proposals[0].ID != "P-1" || res.Proposals[0].Tool != "restart" {
		t.Fatalf("proposals = %+v", res.Proposals)
	}
	if len(prop.got) != 1 {
		t.Fatalf("proposer got %d proposals", len(prop.got))
	}
	ev := log.of(agent.EventProposal)
	// Nothing was looked at before proposing: the proposal says so.
	if len(ev) != 1 || ev[0].Proposal.Details != agent.UntrustedSupportWarning+"\nkubectl rollout restart deployment/checkout -n shop" {
		t.Errorf("proposal events = %+v", ev)
	}
	if end := log.of(agent.EventToolEnd)[0]; end.Outcome != agent.OutcomeProposed {
		t.Errorf("outcome = %s", end.Outcome)
	}
}

func TestModelErrorEndsRunAndIsRecorded(t *testing.T) {
	model := scripted.New(scripted.Turn{Error: "cannot reach the model at http://127.0.0.1:1/v1"})
	rec := &memRecorder{}
	var log eventLog
	a := agent.New(model, nil, agent.Options{Recorder: rec})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe)
	if err == nil || res.Outcome != agent.RunModelError {
		t.Fatalf("err=%v outcome=%s", err, res.Outcome)
	}
	contains(t, err.Error(), "model call at step 1: scripted model: cannot reach the model")
	if got := log.kinds(); got[len(got)-1] != agent.EventError {
		t.Errorf("events = %v", got)
	}
	if rec.only(t).Error == "" {
		t.Error("recorded run has no error")
	}
}

func TestEmptyReplyIsNudgedOnce(t *testing.T) {
	model := scripted.New(scripted.Turn{Text: "  "}, scripted.Turn{ExpectInput: "Your last reply was empty", Text: "here"})
	a := agent.New(model, nil, agent.Options{})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil || res.Answer != "here" {
		t.Fatalf("err=%v answer=%q", err, res.Answer)
	}
	model = scripted.New(scripted.Turn{Text: ""}, scripted.Turn{Text: ""})
	_, err = agent.New(model, nil, agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, nil)
	if !errors.Is(err, agent.ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
}

type upperRedactor struct{}

// Redact hides the word "hunter2" — a stand-in for the real redactor,
// which has its own tests.
func (upperRedactor) Redact(s string) string { return strings.ReplaceAll(s, "hunter2", "[REDACTED]") }

func TestRedactionBeforeModelAndSurfaces(t *testing.T) {
	leaky := &funcTool{name: "leaky", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Text("DB_PASSWORD=hunter2"), nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "leaky"}}},
		scripted.Turn{Text: "the password is hunter2"},
	)
	var log eventLog
	rec := &memRecorder{}
	a := agent.New(model, registry(t, leaky), agent.Options{Redactor: upperRedactor{}, Recorder: rec})
	res, err := a.Run(context.Background(), agent.Task{Input: "my password hunter2 fails"}, log.observe)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range model.Requests() {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "hunter2") {
				t.Errorf("secret reached the model in a %s message", m.Role)
			}
		}
	}
	if strings.Contains(res.Answer, "hunter2") {
		t.Error("secret in the answer")
	}
	if strings.Contains(string(rec.only(t).Transcript), "hunter2") {
		t.Error("secret in the stored transcript")
	}
	for _, e := range log.events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("secret in %s event", e.Kind)
		}
	}
}

func TestStreamingTextIsEmitted(t *testing.T) {
	model := scripted.New(scripted.Turn{Text: "one two three"})
	var log eventLog
	if _, err := agent.New(model, nil, agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, log.observe); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, e := range log.of(agent.EventModelText) {
		got.WriteString(e.Text)
	}
	if got.String() != "one two three" {
		t.Errorf("streamed %q", got.String())
	}
}

func TestUsageIsEstimatedWhenProviderReportsNone(t *testing.T) {
	model := scripted.New(scripted.Turn{Text: "an answer of some length"})
	res, err := agent.New(model, nil, agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Usage.Estimated || res.Usage.InputTokens == 0 || res.Usage.OutputTokens == 0 {
		t.Errorf("usage = %+v", res.Usage)
	}
	if !strings.Contains(res.Footer(), "~") {
		t.Errorf("footer does not mark the estimate: %q", res.Footer())
	}
	if res.CostUSD != nil {
		t.Error("cost without a price")
	}
}

func TestHistoryIsSentBeforeTheQuestion(t *testing.T) {
	model := scripted.New(scripted.Turn{Text: "yes"})
	hist := []agent.Message{{Role: agent.RoleUser, Content: "earlier"}, {Role: agent.RoleAssistant, Content: "reply"}}
	res, err := agent.New(model, nil, agent.Options{}).Run(context.Background(), agent.Task{Input: "now", History: hist}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := model.Requests()[0].Messages
	if len(msgs) != 4 || msgs[1].Content != "earlier" || msgs[3].Content != "now" {
		t.Errorf("request messages = %+v", msgs)
	}
	if len(res.Messages) != 2 {
		t.Errorf("new messages should exclude history: %+v", res.Messages)
	}
}

func TestAttachmentsAreCollected(t *testing.T) {
	chart := &funcTool{name: "chart", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Result{Text: "chart of p99", Attachments: []tools.Attachment{{Name: "p99.png", MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}}}}, nil
	}}
	model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{{Name: "chart"}}}, scripted.Turn{Text: "see chart"})
	var log eventLog
	res, err := agent.New(model, registry(t, chart), agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, log.observe)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attachments) != 1 || res.Attachments[0].Name != "p99.png" {
		t.Errorf("attachments = %+v", res.Attachments)
	}
	if end := log.of(agent.EventToolEnd)[0]; end.Result == nil || len(end.Result.Attachments) != 1 {
		t.Error("tool_end event does not carry the result for surfaces")
	}
}

func TestScopeLimitsToolsAndNamespaces(t *testing.T) {
	echo := &echoTool{}
	var seen []agent.Request
	ns := &funcTool{name: "pods", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Text("pods listed"), nil
	}}
	model := recordingModel{Model: scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "x"}}}},
		scripted.Turn{ExpectToolResult: "not allowed in this conversation",
			ToolCalls: []scripted.Call{{Name: "pods", RawArgs: `{"namespace": "kube-system"}`}}},
		scripted.Turn{ExpectToolResult: `namespace "kube-system" is outside this conversation's scope (allowed: shop)`,
			ToolCalls: []scripted.Call{{Name: "pods", RawArgs: `{"namespace": "shop"}`}}},
		scripted.Turn{ExpectToolResult: "pods listed", Text: "done"},
	), seen: &seen}
	a := agent.New(model, registry(t, echo, &scopedArgsTool{ns}), agent.Options{})
	_, err := a.Run(context.Background(), agent.Task{Input: "q",
		Scope: agent.Scope{Tools: []string{"pods"}, Namespaces: []string{"shop"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if echo.calls.Load() != 0 {
		t.Error("a tool outside the scope ran")
	}
	for _, s := range seen[0].Tools {
		if s.Name != "pods" {
			t.Errorf("tool %s offered outside the scope", s.Name)
		}
	}
	if !strings.Contains(seen[0].Messages[0].Content, "only look at these Kubernetes namespaces: shop") {
		t.Error("system prompt does not state the scope")
	}
}

// scopedArgsTool gives funcTool a namespace argument.
type scopedArgsTool struct{ *funcTool }

func (s *scopedArgsTool) Spec() tools.Spec {
	sp := s.funcTool.Spec()
	sp.Parameters = tools.Object(map[string]*tools.Schema{"namespace": tools.String("namespace")})
	return sp
}

// recordingModel keeps every request.
type recordingModel struct {
	agent.Model
	seen *[]agent.Request
}

func (m recordingModel) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	*m.seen = append(*m.seen, req)
	return m.Model.Generate(ctx, req)
}

// textTool stands for log search: its output is text the systems wrote.
type textTool struct{ echoTool }

func (t *textTool) Spec() tools.Spec {
	s := t.echoTool.Spec()
	s.Name, s.Evidence = "logs", tools.EvidenceText
	return s
}

func TestProposalsSupportedOnlyByTextAreFlagged(t *testing.T) {
	for _, tt := range []struct {
		name    string
		first   string
		flagged bool
	}{
		{"after metrics", "echo", false},
		{"after log text only", "logs", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			restart := &funcTool{name: "restart", mutating: true, run: func(context.Context, json.RawMessage) (tools.Result, error) {
				return tools.Result{Proposal: &tools.Proposal{Summary: "restart", Details: "d"}}, nil
			}}
			model := scripted.New(
				scripted.Turn{ToolCalls: []scripted.Call{{Name: tt.first, Args: map[string]any{"text": "x"}}}},
				scripted.Turn{ToolCalls: []scripted.Call{{Name: "restart"}}},
				scripted.Turn{Text: "proposed"},
			)
			a := agent.New(model, registry(t, &echoTool{}, &textTool{}, restart), agent.Options{})
			res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.HasPrefix(res.Proposals[0].Details, agent.UntrustedSupportWarning)
			if got != tt.flagged {
				t.Errorf("flagged = %v, want %v: %q", got, tt.flagged, res.Proposals[0].Details)
			}
			// The approver sees what the proposal rests on.
			if !strings.Contains(res.Proposals[0].Details, "Evidence (this run's tool calls before the proposal):\n- "+tt.first+` {"text":"x"} (run `+res.RunID) {
				t.Errorf("no evidence in the proposal: %q", res.Proposals[0].Details)
			}
		})
	}
}
