package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/fakeopenai"
	"github.com/watchkeeper/watchkeeper/agent/llm/openai"
	"github.com/watchkeeper/watchkeeper/tools"
)

// An OpenAI-compatible server that refuses tools for its model (Ollama's
// 400 "does not support tools") does not end the run: the same step is
// asked again in the text protocol, and the agent remembers, so its next
// run speaks ReAct from the start.
func TestModelFailureToolsRejected(t *testing.T) {
	for _, refusal := range []string{
		"registry.ollama.ai/library/gemma:2b does not support tools",
		`"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set`,
	} {
		t.Run(refusal[:20], func(t *testing.T) {
			srv := fakeopenai.New([]fakeopenai.Reply{
				{Status: 400, ErrorType: "invalid_request_error", ErrorMessage: refusal},
				{Content: "Thought: I need the replicas.\nAction: lookup\nAction Input: {\"service\": \"checkout\"}"},
				{Content: "Thought: I have it.\nFinal Answer: checkout has 3 replicas."},
				{Content: "Final Answer: cart has 3 replicas too."},
			}, fakeopenai.WithAPIKey(key))
			defer srv.Close()
			reg, _ := tools.NewRegistry(lookupTool{})
			a := agent.New(newClient(t, srv, nil), reg, agent.Options{})
			res, err := a.Run(context.Background(), agent.Task{Input: "how many replicas has checkout?"}, nil)
			if err != nil || res.Answer != "checkout has 3 replicas." || res.Mode != agent.ModeReAct {
				t.Fatalf("run: %+v, %v", res, err)
			}
			res, err = a.Run(context.Background(), agent.Task{Input: "and cart?"}, nil)
			if err != nil || res.Answer != "cart has 3 replicas too." {
				t.Fatalf("second run: %+v, %v", res, err)
			}
			checkScriptUsed(t, srv)
			reqs := srv.Requests()
			if len(reqs[0].Body.Tools) == 0 {
				t.Error("the first request offered no tools")
			}
			for i, r := range reqs[1:] {
				if len(r.Body.Tools) != 0 {
					t.Errorf("request %d offered tools after the refusal", i+1)
				}
				if !strings.Contains(r.Body.Messages[0].Text(), "Action Input:") {
					t.Errorf("request %d's system prompt is not the ReAct one", i+1)
				}
			}
			// The tool ran: its result reached the model as an observation.
			if last := reqs[2].Body.Messages; !strings.Contains(last[len(last)-1].Text(), "Observation: [1] lookup\ncheckout has 3 replicas") {
				t.Errorf("the observation: %q", last[len(last)-1].Text())
			}
		})
	}
}

// A model configured for native tool calling (llm.tool_calling: native)
// is not switched: the refusal ends the run with a message that says so.
func TestModelFailureToolsRejectedWhenForcedNative(t *testing.T) {
	srv := fakeopenai.New([]fakeopenai.Reply{{Status: 400, ErrorMessage: "this model does not support tools"}}, fakeopenai.WithAPIKey(key))
	defer srv.Close()
	reg, _ := tools.NewRegistry(lookupTool{})
	_, err := agent.New(newClient(t, srv, nil), reg, agent.Options{Config: agent.Config{Mode: agent.ModeNative}}).
		Run(context.Background(), agent.Task{Input: "how many replicas?"}, nil)
	if !errors.Is(err, agent.ErrToolsUnsupported) || !strings.Contains(err.Error(), `model "gpt-test"`) || !strings.Contains(err.Error(), "takes no tools") {
		t.Errorf("got %v", err)
	}
}

// scaleTool is a write tool: its arguments are never repaired.
type scaleTool struct{}

func (scaleTool) Spec() tools.Spec {
	return tools.Spec{Name: "scale", Description: "Scale a deployment.", Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("deployment"), "replicas": tools.Integer("replicas", 0, 50)}, "name", "replicas")}
}

func (scaleTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	return tools.Result{Proposal: &tools.Proposal{Tool: "scale", Summary: "Scale", Args: args}}, nil
}

func (scaleTool) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	return tools.Text("scaled"), nil
}

// run runs the agent over the wire against replies and returns the
// result, the error and the requests the fake received.
func runOverTheWire(t *testing.T, replies []fakeopenai.Reply, cfg agent.Config, mut func(*openai.Config), opts ...openai.Option) (*agent.Result, error, []fakeopenai.Request) {
	t.Helper()
	srv := fakeopenai.New(replies, fakeopenai.WithAPIKey(key))
	t.Cleanup(srv.Close)
	reg, _ := tools.NewRegistry(lookupTool{}, scaleTool{})
	res, err := agent.New(newClient(t, srv, mut, opts...), reg, agent.Options{Config: cfg}).
		Run(context.Background(), agent.Task{Input: "how many replicas has checkout?"}, nil)
	if u := srv.Unexpected(); len(u) > 0 {
		t.Errorf("unexpected requests: %v", u)
	}
	return res, err, srv.Requests()
}

// toolResults are the tool messages of a request, "id=text".
func toolResults(r fakeopenai.Request) []string {
	var out []string
	for _, m := range r.Body.Messages {
		if m.Role == "tool" {
			out = append(out, m.ToolCallID+"="+m.Text())
		}
	}
	return out
}

// Tool calls written as text in the content (Hermes/Qwen tags, a bare
// JSON object in a fence) are made as calls; prose with JSON in it is not.
func TestModelFailureToolCallsAsText(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"tags", `<tool_call>{"name": "lookup", "arguments": {"service": "checkout"}}</tool_call>`},
		{"fenced object", "```json\n{\"name\": \"lookup\", \"parameters\": {\"service\": \"checkout\"}}\n```"},
		{"arguments as a string", `{"name": "lookup", "arguments": "{\"service\": \"checkout\"}"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{{Content: tt.content}, {Content: "checkout has 3 replicas."}}, agent.Config{}, nil)
			if err != nil || res.Answer != "checkout has 3 replicas." {
				t.Fatalf("run: %+v, %v", res, err)
			}
			if got := toolResults(reqs[1]); len(got) != 1 || !strings.HasSuffix(got[0], "=[1] lookup\ncheckout has 3 replicas") {
				t.Errorf("the text call did not run: %v", got)
			}
		})
	}
	res, err, _ := runOverTheWire(t, []fakeopenai.Reply{{Content: `The service is {"name": "checkout"} in the config.`}}, agent.Config{}, nil)
	if err != nil || !strings.Contains(res.Answer, `{"name": "checkout"}`) {
		t.Errorf("prose with JSON in it: %+v, %v", res, err)
	}
}

// Malformed or truncated arguments: repaired for a read tool, a
// corrective message for a change, which is never made on a guess.
func TestModelFailureMalformedArguments(t *testing.T) {
	res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{
		{ToolCalls: []fakeopenai.ToolCall{
			{ID: "c1", Name: "lookup", Arguments: `{"service": "checkout"`},
			{ID: "c2", Name: "scale", Arguments: `{"name": "checkout", "replicas": 4`},
		}},
		{Content: "checkout has 3 replicas; I did not scale it."},
	}, agent.Config{}, nil)
	if err != nil || res.Answer == "" {
		t.Fatalf("run: %+v, %v", res, err)
	}
	got := strings.Join(toolResults(reqs[1]), "\n")
	if !strings.Contains(got, "c1=[1] lookup\ncheckout has 3 replicas") || !strings.Contains(got, "c2=[2] scale\nError: your arguments for scale are not one complete JSON object") {
		t.Errorf("results: %s", got)
	}
}

// A tool name the model made up gets the closest real names.
func TestModelFailureHallucinatedTool(t *testing.T) {
	res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{
		{ToolCalls: []fakeopenai.ToolCall{{ID: "c1", Name: "lookup_service", Arguments: `{"service": "checkout"}`}}},
		{ToolCalls: []fakeopenai.ToolCall{{ID: "c2", Name: "lookup", Arguments: `{"service": "checkout"}`}}},
		{Content: "checkout has 3 replicas."},
	}, agent.Config{}, nil)
	if err != nil || res.Answer != "checkout has 3 replicas." {
		t.Fatalf("run: %+v, %v", res, err)
	}
	if got := strings.Join(toolResults(reqs[1]), "\n"); !strings.Contains(got, `there is no tool called "lookup_service". Did you mean lookup?`) {
		t.Errorf("the correction: %s", got)
	}
}

// The same call again, or a cycle of calls, is refused with guidance; after
// two refusals the model must answer with what it has, without tools.
func TestModelFailureRepeatedCalls(t *testing.T) {
	call := func(id, svc string) fakeopenai.Reply {
		return fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{{ID: id, Name: "lookup", Arguments: `{"service": "` + svc + `"}`}}}
	}
	res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{
		call("c1", "checkout"), call("c2", "cart"), call("c3", "checkout"), call("c4", "cart"),
		{Content: "checkout and cart have 3 replicas each."},
	}, agent.Config{}, nil)
	if err != nil || res.Answer != "checkout and cart have 3 replicas each." {
		t.Fatalf("run: %+v, %v", res, err)
	}
	if got := strings.Join(toolResults(reqs[3]), "\n"); !strings.Contains(got, "c3=[3] lookup\nRefused: you already called lookup with exactly these arguments at step 1") {
		t.Errorf("the first repeat: %s", got)
	}
	last := reqs[4].Body
	if len(last.Tools) != 0 || !strings.Contains(strings.ToLower(last.Messages[len(last.Messages)-1].Text()), "answer now") {
		t.Errorf("after two repeats the model was not made to answer: tools %d, last message %q", len(last.Tools), last.Messages[len(last.Messages)-1].Text())
	}
}

// At the step limit the model answers from the evidence so far, without
// tools; the run is not an error.
func TestModelFailureStepLimit(t *testing.T) {
	res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{
		{ToolCalls: []fakeopenai.ToolCall{{ID: "c1", Name: "lookup", Arguments: `{"service": "checkout"}`}}},
		{Content: "From what I have: checkout has 3 replicas."},
	}, agent.Config{MaxSteps: 2}, nil)
	if err != nil || res.Answer != "From what I have: checkout has 3 replicas." {
		t.Fatalf("run: %+v, %v", res, err)
	}
	if len(reqs[1].Body.Tools) != 0 {
		t.Error("tools were offered at the step limit")
	}
}

// A request too long for the model: older tool output is dropped once and
// the step asked again; if it still does not fit, the run says so.
func TestModelFailureContextLength(t *testing.T) {
	overflow := fakeopenai.Reply{Status: 400, ErrorType: "invalid_request_error",
		ErrorMessage: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens."}
	step := func(id, svc string) fakeopenai.Reply {
		return fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{{ID: id, Name: "lookup", Arguments: `{"service": "` + svc + `"}`}}}
	}
	res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{step("c1", "checkout"), step("c2", "cart"), overflow, {Content: "both have 3 replicas."}}, agent.Config{}, nil)
	if err != nil || res.Answer != "both have 3 replicas." {
		t.Fatalf("run: %+v, %v", res, err)
	}
	got := strings.Join(toolResults(reqs[3]), "\n")
	if !strings.Contains(got, "c1=[1] lookup\n[this tool output was removed to fit the model's context window") || !strings.Contains(got, "c2=[2] lookup\ncart has 3 replicas") {
		t.Errorf("the compacted request: %s", got)
	}
	_, err, _ = runOverTheWire(t, []fakeopenai.Reply{step("c1", "checkout"), step("c2", "cart"), overflow, overflow}, agent.Config{}, nil)
	if !errors.Is(err, agent.ErrContextLength) || !strings.Contains(err.Error(), "longer than its context window") {
		t.Errorf("still too long: %v", err)
	}
}

// 429 with Retry-After: waited when it fits the run's deadline, reported
// at once when it does not.
func TestModelFailureRateLimited(t *testing.T) {
	s := &sleeps{}
	limited := fakeopenai.Reply{Status: 429, ErrorType: "rate_limit_exceeded", ErrorMessage: "Rate limit reached", RetryAfter: "2"}
	res, err, _ := runOverTheWire(t, []fakeopenai.Reply{limited, {Content: "checkout has 3 replicas."}}, agent.Config{}, nil, openai.WithSleep(s.sleep))
	if err != nil || res.Answer != "checkout has 3 replicas." || len(s.waits()) != 1 || s.waits()[0] != 2*time.Second {
		t.Fatalf("a wait within the deadline: %+v, %v, waits %v", res, err, s.waits())
	}
	s = &sleeps{}
	long := limited
	long.RetryAfter = "20"
	_, err, _ = runOverTheWire(t, []fakeopenai.Reply{long}, agent.Config{RunTimeout: 3 * time.Second}, nil, openai.WithSleep(s.sleep))
	if err == nil || !strings.Contains(err.Error(), "is rate limiting us (429") || len(s.waits()) != 0 {
		t.Errorf("a wait past the deadline: %v, waits %v", err, s.waits())
	}
}

// An empty reply, or one that is only a reasoning model's thinking, is
// answered with a nudge; the next reply's thinking is not the answer.
func TestModelFailureEmptyOrReasoningOnly(t *testing.T) {
	for _, first := range []string{"", "<think>The user wants replicas. I should look it up... maybe not.</think>"} {
		res, err, reqs := runOverTheWire(t, []fakeopenai.Reply{{Content: first}, {Content: "<think>ok</think>\ncheckout has 3 replicas."}}, agent.Config{}, nil)
		if err != nil || res.Answer != "checkout has 3 replicas." {
			t.Fatalf("after %q: %+v, %v", first, res, err)
		}
		if len(reqs) != 2 {
			t.Errorf("after %q: %d requests", first, len(reqs))
		}
	}
}

// A stream cut mid-message is asked again once; cut twice, the run ends
// saying the connection dropped.
func TestModelFailureStreamCut(t *testing.T) {
	stream := func(c *openai.Config) { c.Stream = true }
	res, err, _ := runOverTheWire(t, []fakeopenai.Reply{{CutStream: true, Content: "checkout has"}, {Content: "checkout has 3 replicas."}}, agent.Config{}, stream)
	if err != nil || res.Answer != "checkout has 3 replicas." {
		t.Fatalf("one cut: %+v, %v", res, err)
	}
	_, err, _ = runOverTheWire(t, []fakeopenai.Reply{{CutStream: true, Content: "a"}, {CutStream: true, Content: "b"}}, agent.Config{}, stream)
	if !errors.Is(err, agent.ErrIncompleteReply) || !strings.Contains(err.Error(), "the connection may have dropped") {
		t.Errorf("two cuts: %v", err)
	}
}
