// Package agent runs the investigation loop: it asks a Model what to do,
// runs the tool calls the model asks for, feeds the results back, and stops
// when the model answers or a budget runs out. Every run emits a stream of
// Events that surfaces render, and is recorded with its full transcript.
package agent

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Model is a language model. It is the only thing the agent needs from a
// provider.
//
// Generate sends the conversation and the tools on offer and returns the
// model's next message: text, tool calls, or both. A returned error means the
// provider failed (unreachable, rate limited after retries, bad credentials);
// it ends the run. Implementations must be safe for concurrent use.
type Model interface {
	Generate(ctx context.Context, req Request) (Response, error)
}

// ErrToolsUnsupported is wrapped by a provider's error when the endpoint
// refused a request because the model takes no tools (Ollama's "does not
// support tools", vLLM without --enable-auto-tool-choice). The agent then
// speaks the text ReAct protocol with that model.
var ErrToolsUnsupported = errors.New("the model does not support tool calling")

// ErrContextLength is wrapped by a provider's error when the request did
// not fit the model's context window. The agent compacts the run's
// history once and asks again.
var ErrContextLength = errors.New("the request does not fit the model's context window")

// ErrIncompleteReply is wrapped by a provider's error when a reply ended
// before it was complete (a stream cut mid-message). The agent asks for
// the step again, once per run.
var ErrIncompleteReply = errors.New("the reply ended before it was complete")

// ToolCallingModel is implemented by models that can say whether they
// support native tool calling. The agent uses the text ReAct protocol for a
// model that reports false, and native tool calling otherwise.
type ToolCallingModel interface {
	Model
	NativeToolCalling() bool
}

// Role is the author of a message.
type Role string

// Roles of messages. Providers map them onto their own vocabulary.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one entry of a conversation.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content,omitempty"`
	// ToolCalls are the calls an assistant message asks for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID links a tool message to the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Name is the tool's name on tool messages.
	Name string `json:"name,omitempty"`
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the raw argument text as the model produced it. It may
	// not be valid JSON; the agent repairs or rejects it.
	Arguments string `json:"arguments"`
}

// Request is one call to a model.
type Request struct {
	Messages []Message
	// Tools is empty when the model must answer without tools.
	Tools []tools.Spec
	// MaxTokens caps the length of the reply; 0 leaves it to the provider.
	MaxTokens int
	// Temperature is passed through when set.
	Temperature *float64
	// Stop lists sequences at which generation stops (used by ReAct).
	Stop []string
	// OnText, when set, receives text as the model streams it. Providers
	// that cannot stream ignore it. It is called from the Generate goroutine.
	OnText func(delta string)
}

// Response is a model's reply.
type Response struct {
	Message Message
	Usage   Usage
	// Model is the model that answered, as the provider names it.
	Model string
	// FinishReason is the provider's reason for stopping ("stop",
	// "tool_calls", "length"...), for diagnostics.
	FinishReason string
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens" yaml:"input_tokens"`
	OutputTokens int `json:"output_tokens" yaml:"output_tokens"`
	// Estimated is true when the provider reported no counts and the agent
	// estimated them from text length.
	Estimated bool `json:"estimated,omitempty" yaml:"-"`
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:  u.InputTokens + v.InputTokens,
		OutputTokens: u.OutputTokens + v.OutputTokens,
		Estimated:    u.Estimated || v.Estimated,
	}
}

// Total is input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// specsJSON renders tool specs for prompts and transcripts.
func specsJSON(specs []tools.Spec) string {
	b, _ := json.MarshalIndent(specs, "", "  ")
	return string(b)
}
