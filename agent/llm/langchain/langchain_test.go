package langchain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// recorder is an llms.Model that records what it was sent.
type recorder struct {
	msgs []llms.MessageContent
	opts llms.CallOptions
	resp *llms.ContentResponse
}

func (r *recorder) GenerateContent(_ context.Context, msgs []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	r.msgs = msgs
	for _, o := range options {
		o(&r.opts)
	}
	if r.resp == nil {
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}, nil
	}
	return r.resp, nil
}

func (r *recorder) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }

// shape renders a conversation as "role:part,part | role:part".
func shape(msgs []llms.MessageContent) string {
	var turns []string
	for _, m := range msgs {
		var parts []string
		for _, p := range m.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				parts = append(parts, "text")
			case llms.ToolCall:
				parts = append(parts, "call:"+p.ID)
			case llms.ToolCallResponse:
				parts = append(parts, "result:"+p.ToolCallID)
			default:
				parts = append(parts, fmt.Sprintf("%T", p))
			}
		}
		turns = append(turns, string(m.Role)+":"+strings.Join(parts, ","))
	}
	return strings.Join(turns, " | ")
}

var history = []agent.Message{
	{Role: agent.RoleSystem, Content: "sys"},
	{Role: agent.RoleUser, Content: "q"},
	{Role: agent.RoleAssistant, Content: "checking", ToolCalls: []agent.ToolCall{
		{ID: "c1", Name: "a", Arguments: `{"x":1}`}, {ID: "c2", Name: "b", Arguments: `{bad`}}},
	{Role: agent.RoleTool, ToolCallID: "c1", Name: "a", Content: "r1"},
	{Role: agent.RoleTool, ToolCallID: "c2", Name: "b", Content: "Error: invalid JSON"},
}

var oneTool = []tools.Spec{{Name: "a", Description: "A.", Parameters: tools.Object(nil)}}

func TestLayoutPerStyle(t *testing.T) {
	tests := []struct {
		name  string
		style Style
		tools []tools.Spec
		want  string
	}{
		{"grouped", Grouped, oneTool,
			"system:text | human:text | ai:text,call:c1,call:c2 | tool:result:c1,result:c2"},
		{"one part per message", OnePartPerMessage, oneTool,
			"system:text | human:text | ai:text | ai:call:c1 | ai:call:c2 | tool:result:c1 | tool:result:c2"},
		{"no tools offered: calls as text", OnePartPerMessage, nil,
			"system:text | human:text | ai:text | human:text | human:text"},
		{"text only provider", TextOnly, oneTool,
			"system:text | human:text | ai:text | human:text | human:text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			m := Wrap(rec, "m", tt.style, false)
			if _, err := m.Generate(context.Background(), agent.Request{Messages: history, Tools: tt.tools}); err != nil {
				t.Fatal(err)
			}
			if got := shape(rec.msgs); got != tt.want {
				t.Errorf("layout\n got %s\nwant %s", got, tt.want)
			}
			if (len(rec.opts.Tools) > 0) != (tt.tools != nil && tt.style != TextOnly) {
				t.Errorf("tools sent = %d", len(rec.opts.Tools))
			}
		})
	}
}

func TestMalformedArgumentsAreNotForwarded(t *testing.T) {
	rec := &recorder{}
	if _, err := Wrap(rec, "m", Grouped, false).Generate(context.Background(), agent.Request{Messages: history, Tools: oneTool}); err != nil {
		t.Fatal(err)
	}
	call := rec.msgs[2].Parts[2].(llms.ToolCall)
	if call.FunctionCall.Arguments != "{}" {
		t.Errorf("malformed arguments forwarded as %q", call.FunctionCall.Arguments)
	}
}

func TestToolsAsTextKeepEvidence(t *testing.T) {
	rec := &recorder{}
	if _, err := Wrap(rec, "m", TextOnly, false).Generate(context.Background(), agent.Request{Messages: history}); err != nil {
		t.Fatal(err)
	}
	ai := rec.msgs[2].Parts[0].(llms.TextContent).Text
	res := rec.msgs[3].Parts[0].(llms.TextContent).Text
	if !strings.Contains(ai, `[called tool a (c1) with {"x":1}]`) || !strings.Contains(res, "Result of tool a (c1):\nr1") {
		t.Errorf("assistant %q / result %q", ai, res)
	}
}

func TestResponseMergesChoices(t *testing.T) {
	// Anthropic's shape: one choice per content block.
	rec := &recorder{resp: &llms.ContentResponse{Choices: []*llms.ContentChoice{
		{Content: "Looking.", StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 120, "OutputTokens": 30}},
		{ToolCalls: []llms.ToolCall{{ID: "t1", FunctionCall: &llms.FunctionCall{Name: "a", Arguments: `{"x":1}`}}},
			StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 120, "OutputTokens": 30}},
		{ToolCalls: []llms.ToolCall{{ID: "t2", FunctionCall: &llms.FunctionCall{Name: "b", Arguments: `{}`}}},
			StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 120, "OutputTokens": 30}},
	}}}
	resp, err := Wrap(rec, "claude-x", OnePartPerMessage, false).Generate(context.Background(), agent.Request{Messages: history[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "Looking." || len(resp.Message.ToolCalls) != 2 || resp.Message.ToolCalls[1].ID != "t2" {
		t.Errorf("message = %+v", resp.Message)
	}
	if resp.Usage != (agent.Usage{InputTokens: 120, OutputTokens: 30}) {
		t.Errorf("usage = %+v (counts must not be summed across choices)", resp.Usage)
	}
}

func TestUsageKeys(t *testing.T) {
	for _, tt := range []struct {
		info    map[string]any
		in, out int
	}{
		{map[string]any{"InputTokens": 5, "OutputTokens": 6}, 5, 6},                   // anthropic
		{map[string]any{"PromptTokens": 7, "CompletionTokens": 8}, 7, 8},              // ollama, gemini
		{map[string]any{"input_tokens": int32(9), "output_tokens": int32(10)}, 9, 10}, // gemini raw
		{map[string]any{"input_tokens": float64(11), "output_tokens": 12.0}, 11, 12},  // bedrock via JSON
		{nil, 0, 0},
	} {
		if in, out := usage(tt.info); in != tt.in || out != tt.out {
			t.Errorf("usage(%v) = %d, %d", tt.info, in, out)
		}
	}
}

func TestStreamingCallback(t *testing.T) {
	var got strings.Builder
	stream := &streamer{chunks: []string{"par", "tial"}}
	_, err := Wrap(stream, "m", Grouped, true).Generate(context.Background(),
		agent.Request{Messages: history[:2], OnText: func(s string) { got.WriteString(s) }})
	if err != nil || got.String() != "partial" {
		t.Fatalf("err=%v streamed=%q", err, got.String())
	}
}

type streamer struct{ chunks []string }

func (s *streamer) GenerateContent(ctx context.Context, _ []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	var o llms.CallOptions
	for _, f := range options {
		f(&o)
	}
	for _, c := range s.chunks {
		if o.StreamingFunc != nil {
			if err := o.StreamingFunc(ctx, []byte(c)); err != nil {
				return nil, err
			}
		}
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: strings.Join(s.chunks, "")}}}, nil
}

func (s *streamer) Call(context.Context, string, ...llms.CallOption) (string, error) { return "", nil }

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Provider: Anthropic}, "no model configured"},
		{Config{Provider: Anthropic, Model: "claude"}, "no API key"},
		{Config{Provider: Gemini, Model: "gemini"}, "no API key"},
		{Config{Provider: "mystery", Model: "x"}, `unknown langchaingo provider "mystery"`},
	} {
		if _, err := New(context.Background(), tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	m, err := New(context.Background(), Config{Provider: Ollama, Model: "llama3.1", BaseURL: "http://127.0.0.1:11434"})
	if err != nil || m.NativeToolCalling() {
		t.Errorf("ollama: err=%v native=%v", err, m != nil && m.NativeToolCalling())
	}
}

// Bedrock's Claude refuses two user turns in a row, and langchaingo sends
// a tool message and a user message as two: a user message after the
// results (the agent's nudge) joins their message.
func TestGroupedUserAfterResults(t *testing.T) {
	msgs := append(slices.Clone(history), agent.Message{Role: agent.RoleUser, Content: "answer now"})
	for _, tt := range []struct {
		style Style
		want  string
	}{
		{Grouped, "system:text | human:text | ai:text,call:c1,call:c2 | tool:result:c1,result:c2,text"},
		{OnePartPerMessage, "system:text | human:text | ai:text | ai:call:c1 | ai:call:c2 | tool:result:c1 | tool:result:c2 | human:text"},
	} {
		rec := &recorder{}
		if _, err := Wrap(rec, "m", tt.style, false).Generate(context.Background(), agent.Request{Messages: msgs, Tools: oneTool}); err != nil {
			t.Fatal(err)
		}
		if got := shape(rec.msgs); got != tt.want {
			t.Errorf("style %d\n got %s\nwant %s", tt.style, got, tt.want)
		}
	}
}
