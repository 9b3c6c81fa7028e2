// Package scripted is a deterministic agent.Model for tests and offline
// demos. It replays a fixed list of turns and fails loudly — with an error
// naming the request — when it is asked for more turns than it has, or when
// a request does not match what a turn expects.
package scripted

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/agent"
)

// Turn is one scripted reply.
type Turn struct {
	// ExpectInput, when set, must occur in the last user message.
	ExpectInput string `yaml:"expect_input,omitempty"`
	// ExpectToolResult, when set, must occur in a tool result (or ReAct
	// observation) sent since the previous turn.
	ExpectToolResult string `yaml:"expect_tool_result,omitempty"`
	// ExpectNoTools requires that the request offers no tools (the last
	// step of a run).
	ExpectNoTools bool `yaml:"expect_no_tools,omitempty"`

	// Text is the reply's text.
	Text string `yaml:"text,omitempty"`
	// ToolCalls are the calls the reply asks for.
	ToolCalls []Call `yaml:"tool_calls,omitempty"`
	// Error makes the call fail with this message.
	Error string `yaml:"error,omitempty"`
	// Delay is waited before replying; a cancelled context ends the wait.
	Delay time.Duration `yaml:"delay,omitempty"`
	// Usage is reported as the call's token usage.
	Usage agent.Usage `yaml:"usage,omitempty"`

	// Respond, when set, computes the reply instead. Not loadable from YAML.
	Respond func(ctx context.Context, req agent.Request) (agent.Response, error) `yaml:"-"`
}

// Call is a scripted tool call.
type Call struct {
	Name string `yaml:"name"`
	// Args are marshalled to JSON.
	Args map[string]any `yaml:"args,omitempty"`
	// RawArgs is sent verbatim instead of Args, to script malformed JSON.
	RawArgs string `yaml:"raw_args,omitempty"`
}

// Script is the YAML form of a scripted model.
type Script struct {
	// Model is the name reported in responses.
	Model string `yaml:"model,omitempty"`
	// NoToolCalling makes the model report that it has no native tool
	// calling, so the agent uses the text ReAct protocol.
	NoToolCalling bool   `yaml:"no_tool_calling,omitempty"`
	Turns         []Turn `yaml:"turns"`
}

// Model replays turns in order. It is safe for concurrent use, though
// concurrent runs share one script.
type Model struct {
	mu       sync.Mutex
	script   Script
	next     int
	requests []agent.Request
}

// New returns a model that replays turns.
func New(turns ...Turn) *Model {
	return &Model{script: Script{Model: "scripted", Turns: turns}}
}

// NewScript returns a model for s.
func NewScript(s Script) *Model {
	if s.Model == "" {
		s.Model = "scripted"
	}
	return &Model{script: s}
}

// Load reads a Script from a YAML file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model script: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Script
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("model script %s: %w", path, err)
	}
	if len(s.Turns) == 0 {
		return nil, fmt.Errorf("model script %s: has no turns", path)
	}
	return NewScript(s), nil
}

// NativeToolCalling reports whether the script uses native tool calls.
func (m *Model) NativeToolCalling() bool { return !m.script.NoToolCalling }

// Requests returns a copy of the requests received so far.
func (m *Model) Requests() []agent.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]agent.Request(nil), m.requests...)
}

// Remaining returns the number of turns not yet replayed.
func (m *Model) Remaining() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.script.Turns) - m.next
}

// Generate replays the next turn.
func (m *Model) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	m.mu.Lock()
	n := m.next
	m.requests = append(m.requests, req)
	if n >= len(m.script.Turns) {
		m.mu.Unlock()
		return agent.Response{}, fmt.Errorf("scripted model: unexpected request #%d: the script has only %d turns (last message: %q)",
			n+1, len(m.script.Turns), lastContent(req.Messages))
	}
	m.next++
	t := m.script.Turns[n]
	m.mu.Unlock()

	if err := t.check(req); err != nil {
		return agent.Response{}, fmt.Errorf("scripted model: request #%d does not match the script: %w", n+1, err)
	}
	if t.Delay > 0 {
		timer := time.NewTimer(t.Delay)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return agent.Response{}, ctx.Err()
		case <-timer.C:
		}
	}
	if t.Respond != nil {
		return t.Respond(ctx, req)
	}
	if t.Error != "" {
		return agent.Response{}, fmt.Errorf("scripted model: %s", t.Error)
	}
	msg := agent.Message{Role: agent.RoleAssistant, Content: t.Text}
	for i, c := range t.ToolCalls {
		args := c.RawArgs
		if args == "" {
			b, err := json.Marshal(c.Args)
			if err != nil {
				return agent.Response{}, fmt.Errorf("scripted model: turn %d call %s: %w", n+1, c.Name, err)
			}
			if c.Args == nil {
				b = []byte("{}")
			}
			args = string(b)
		}
		msg.ToolCalls = append(msg.ToolCalls, agent.ToolCall{ID: fmt.Sprintf("call_%d_%d", n+1, i+1), Name: c.Name, Arguments: args})
	}
	if req.OnText != nil && t.Text != "" {
		for _, w := range strings.SplitAfter(t.Text, " ") {
			req.OnText(w)
		}
	}
	finish := "stop"
	if len(msg.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	return agent.Response{Message: msg, Usage: t.Usage, Model: m.script.Model, FinishReason: finish}, nil
}

func (t Turn) check(req agent.Request) error {
	if t.ExpectInput != "" {
		last := ""
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if req.Messages[i].Role == agent.RoleUser && !strings.HasPrefix(req.Messages[i].Content, "Observation:") {
				last = req.Messages[i].Content
				break
			}
		}
		if !strings.Contains(last, t.ExpectInput) {
			return fmt.Errorf("expected the last user message to contain %q, got %q", t.ExpectInput, last)
		}
	}
	if t.ExpectToolResult != "" {
		found := false
		for i := len(req.Messages) - 1; i >= 0; i-- {
			m := req.Messages[i]
			isResult := m.Role == agent.RoleTool || (m.Role == agent.RoleUser && strings.HasPrefix(m.Content, "Observation:"))
			if m.Role == agent.RoleAssistant {
				break
			}
			if isResult && strings.Contains(m.Content, t.ExpectToolResult) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("expected a tool result containing %q since the last reply", t.ExpectToolResult)
		}
	}
	if t.ExpectNoTools && len(req.Tools) > 0 {
		return fmt.Errorf("expected no tools on offer, got %d", len(req.Tools))
	}
	return nil
}

func lastContent(msgs []agent.Message) string {
	if len(msgs) == 0 {
		return ""
	}
	c := msgs[len(msgs)-1].Content
	if len(c) > 200 {
		c = c[:200] + "…"
	}
	return c
}
