// Package langchain provides the agent.Model for Anthropic and native Ollama
// through github.com/tmc/langchaingo, for Google Gemini through a direct
// client of its REST API (see GeminiModel for why), and for AWS Bedrock
// through the AWS SDK's Converse API (see BedrockModel).
//
// langchaingo's providers differ in how they read a conversation, and the
// adapter hides that: Anthropic reads only the first part of an assistant or
// tool message, so each tool call and each result travels in its own message
// (the Messages API merges consecutive turns of one role); other providers
// want the results of one step together; native Ollama has no tool calling
// in langchaingo at all, so the agent talks to it in text ReAct.
// When a request offers no tools but the history holds tool calls (the last
// step of a run), the calls are written out as text, because some providers
// refuse tool blocks without tool definitions.
package langchain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/watchkeeper/watchkeeper/agent"
)

// Style is how a provider wants tool calls and results laid out.
type Style int

// Layouts of tool calls and results.
const (
	// Grouped puts all tool calls of a step in one assistant message and
	// all results in one tool message, which also takes a user message
	// that follows it (for providers whose turns must alternate:
	// langchaingo sends tool and user messages as separate user turns).
	Grouped Style = iota
	// OnePartPerMessage sends each part in a message of its own
	// (Anthropic).
	OnePartPerMessage
	// TextOnly has no native tool calling: tools are described in the
	// prompt and calls and results travel as text (Ollama native).
	TextOnly
)

// Model adapts an llms.Model. It is safe for concurrent use if the wrapped
// model is.
type Model struct {
	llm    llms.Model
	name   string
	style  Style
	stream bool
	// explain, when set, rewrites the provider's errors into ones that
	// say what to change; streamed says whether the reply was streamed.
	explain func(err error, streamed bool) error
}

// Wrap adapts m, which answers as model name, laying out tool calls in
// style. stream enables text streaming when the agent asks for it.
func Wrap(m llms.Model, name string, style Style, stream bool) *Model {
	return &Model{llm: m, name: name, style: style, stream: stream}
}

// NativeToolCalling reports whether the provider takes tool schemas.
func (m *Model) NativeToolCalling() bool { return m.style != TextOnly }

// Generate sends req through langchaingo.
func (m *Model) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	native := m.style != TextOnly && len(req.Tools) > 0
	msgs := m.convert(req.Messages, native)
	opts := []llms.CallOption{llms.WithModel(m.name)}
	if req.MaxTokens > 0 {
		opts = append(opts, llms.WithMaxTokens(req.MaxTokens))
	}
	if req.Temperature != nil {
		opts = append(opts, llms.WithTemperature(*req.Temperature))
	}
	if len(req.Stop) > 0 {
		opts = append(opts, llms.WithStopWords(req.Stop))
	}
	if native {
		var ts []llms.Tool
		for _, s := range req.Tools {
			params := any(s.Parameters)
			if s.Parameters == nil {
				params = map[string]any{"type": "object", "properties": map[string]any{}}
			}
			ts = append(ts, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
				Name: s.Name, Description: s.Description, Parameters: params}})
		}
		opts = append(opts, llms.WithTools(ts))
	}
	streamed := m.stream && req.OnText != nil
	if streamed {
		opts = append(opts, llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
			if len(chunk) > 0 {
				req.OnText(string(chunk))
			}
			return nil
		}))
	}
	resp, err := m.llm.GenerateContent(ctx, msgs, opts...)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			return agent.Response{}, cause
		}
		if m.explain != nil {
			err = m.explain(err, streamed)
		}
		return agent.Response{}, fmt.Errorf("%s: %w", m.name, err)
	}
	return m.response(resp)
}

// convert lays out messages for the provider.
func (m *Model) convert(msgs []agent.Message, native bool) []llms.MessageContent {
	out := make([]llms.MessageContent, 0, len(msgs))
	add := func(role llms.ChatMessageType, parts ...llms.ContentPart) {
		if len(parts) > 0 {
			out = append(out, llms.MessageContent{Role: role, Parts: parts})
		}
	}
	for _, msg := range msgs {
		switch msg.Role {
		case agent.RoleSystem:
			add(llms.ChatMessageTypeSystem, llms.TextPart(msg.Content))
		case agent.RoleUser:
			if n := len(out); m.style == Grouped && n > 0 && out[n-1].Role == llms.ChatMessageTypeTool {
				out[n-1].Parts = append(out[n-1].Parts, llms.TextPart(msg.Content))
				continue
			}
			add(llms.ChatMessageTypeHuman, llms.TextPart(msg.Content))
		case agent.RoleAssistant:
			if !native {
				add(llms.ChatMessageTypeAI, llms.TextPart(assistantText(msg)))
				continue
			}
			var parts []llms.ContentPart
			if msg.Content != "" {
				parts = append(parts, llms.TextPart(msg.Content))
			}
			for _, tc := range msg.ToolCalls {
				parts = append(parts, llms.ToolCall{ID: tc.ID, Type: "function",
					FunctionCall: &llms.FunctionCall{Name: tc.Name, Arguments: validArgs(tc.Arguments)}})
			}
			if m.style == OnePartPerMessage {
				for _, p := range parts {
					add(llms.ChatMessageTypeAI, p)
				}
			} else {
				add(llms.ChatMessageTypeAI, parts...)
			}
		case agent.RoleTool:
			if !native {
				add(llms.ChatMessageTypeHuman, llms.TextPart(fmt.Sprintf("Result of tool %s (%s):\n%s", msg.Name, msg.ToolCallID, msg.Content)))
				continue
			}
			part := llms.ToolCallResponse{ToolCallID: msg.ToolCallID, Name: msg.Name, Content: msg.Content}
			// Results of one step arrive as consecutive tool messages;
			// Grouped providers want them in one message.
			if n := len(out); m.style == Grouped && n > 0 && out[n-1].Role == llms.ChatMessageTypeTool {
				out[n-1].Parts = append(out[n-1].Parts, part)
				continue
			}
			add(llms.ChatMessageTypeTool, part)
		}
	}
	return out
}

// assistantText writes an assistant message's tool calls as text, for
// requests that carry no tool definitions.
func assistantText(msg agent.Message) string {
	var b strings.Builder
	b.WriteString(msg.Content)
	for _, tc := range msg.ToolCalls {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[called tool %s (%s) with %s]", tc.Name, tc.ID, tc.Arguments)
	}
	if b.Len() == 0 {
		return "(no reply)"
	}
	return b.String()
}

// validArgs returns args if it is a JSON object and {} otherwise: providers
// that re-parse arguments (Anthropic, Gemini) fail the whole request on a
// malformed one that the agent already answered with an error.
func validArgs(args string) string {
	if isJSONObject(args) {
		return args
	}
	return "{}"
}

// response merges the choices langchaingo returns. Anthropic returns one
// choice per content block (text, each tool call), so the text is joined and
// the calls collected; token counts are the same on every choice.
func (m *Model) response(resp *llms.ContentResponse) (agent.Response, error) {
	if resp == nil || len(resp.Choices) == 0 {
		return agent.Response{}, errors.New(m.name + ": the model returned no choices")
	}
	var (
		out   = agent.Response{Model: m.name}
		texts []string
	)
	out.Message.Role = agent.RoleAssistant
	for _, ch := range resp.Choices {
		if ch == nil {
			continue
		}
		if ch.Content != "" {
			texts = append(texts, ch.Content)
		}
		for _, tc := range ch.ToolCalls {
			if tc.FunctionCall == nil {
				continue
			}
			out.Message.ToolCalls = append(out.Message.ToolCalls, agent.ToolCall{ID: tc.ID, Name: tc.FunctionCall.Name, Arguments: tc.FunctionCall.Arguments})
		}
		if ch.StopReason != "" {
			out.FinishReason = ch.StopReason
		}
		in, outTok := usage(ch.GenerationInfo)
		out.Usage.InputTokens = max(out.Usage.InputTokens, in)
		out.Usage.OutputTokens = max(out.Usage.OutputTokens, outTok)
	}
	out.Message.Content = strings.Join(texts, "\n")
	return out, nil
}

// usage reads token counts under the keys the providers use.
func usage(info map[string]any) (in, out int) {
	in = firstInt(info, "InputTokens", "PromptTokens", "input_tokens", "prompt_tokens")
	out = firstInt(info, "OutputTokens", "CompletionTokens", "output_tokens", "completion_tokens")
	return in, out
}

func firstInt(info map[string]any, keys ...string) int {
	for _, k := range keys {
		switch v := info[k].(type) {
		case int:
			return v
		case int32:
			return int(v)
		case int64:
			return int(v)
		case float64:
			return int(v)
		}
	}
	return 0
}
