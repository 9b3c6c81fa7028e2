// Package conversation keeps the memory of a conversation — a Slack thread,
// a chat session — across runs, within a token budget. When the history
// outgrows the budget, old tool outputs are dropped first (they are bulky
// and can be fetched again), then older turns are replaced by a summary.
package conversation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/prompts"
)

// Store persists conversations as opaque bytes.
type Store interface {
	LoadConversation(ctx context.Context, id string) ([]byte, error)
	SaveConversation(ctx context.Context, id string, messages []byte) error
	DeleteConversation(ctx context.Context, id string) error
}

// DroppedToolOutput replaces a tool output removed from memory.
const DroppedToolOutput = "[tool output dropped from memory to save space; call the tool again if you need it]"

// SummaryPrefix starts the message that stands for summarised turns.
const SummaryPrefix = "Summary of the earlier conversation, for context:\n"

// summaryTimeout bounds the model call that writes a summary.
const summaryTimeout = 60 * time.Second

// Memory loads, extends and compacts conversations.
//
// Memory is safe for concurrent use; appends to one conversation are
// serialised so two runs in one thread cannot lose each other's messages.
type Memory struct {
	store  Store
	budget int
	model  agent.Model
	logger *slog.Logger
	locks  sync.Map // conversation id -> *sync.Mutex
}

// New returns a Memory keeping at most budgetTokens of history. summarizer
// writes summaries; when nil (no model configured) an extractive summary of
// questions and answers is used instead.
func New(store Store, budgetTokens int, summarizer agent.Model, logger *slog.Logger) *Memory {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Memory{store: store, budget: budgetTokens, model: summarizer, logger: logger}
}

func (m *Memory) lock(id string) func() {
	l, _ := m.locks.LoadOrStore(id, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// History returns the stored messages of conversation id, oldest first.
func (m *Memory) History(ctx context.Context, id string) ([]agent.Message, error) {
	b, err := m.store.LoadConversation(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load conversation memory: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	var msgs []agent.Message
	if err := json.Unmarshal(b, &msgs); err != nil {
		// A corrupt memory must not block the conversation: start over
		// and say so in the logs.
		m.logger.Error("conversation memory is unreadable; starting afresh", "conversation", id, "err", err)
		return nil, nil
	}
	return msgs, nil
}

// Append adds msgs to conversation id, compacts it to the budget and saves
// it.
func (m *Memory) Append(ctx context.Context, id string, msgs []agent.Message) error {
	unlock := m.lock(id)
	defer unlock()
	hist, err := m.History(ctx, id)
	if err != nil {
		return err
	}
	hist = m.Compact(ctx, append(hist, msgs...))
	b, err := json.Marshal(hist)
	if err != nil {
		return fmt.Errorf("encode conversation memory: %w", err)
	}
	if err := m.store.SaveConversation(ctx, id, b); err != nil {
		return fmt.Errorf("save conversation memory: %w", err)
	}
	return nil
}

// Reset forgets conversation id.
func (m *Memory) Reset(ctx context.Context, id string) error {
	unlock := m.lock(id)
	defer unlock()
	return m.store.DeleteConversation(ctx, id)
}

// Compact returns msgs within the budget: first by dropping tool outputs
// from the oldest turns (never the newest turn), then by summarising the
// oldest turns into one message, keeping the newest turns whole. A turn
// starts at a user question, so tool calls stay with their results.
func (m *Memory) Compact(ctx context.Context, msgs []agent.Message) []agent.Message {
	if m.budget <= 0 || agent.EstimateTokens(msgs) <= m.budget {
		return msgs
	}
	out := append([]agent.Message(nil), msgs...)
	starts := turnStarts(out)
	lastTurn := len(out)
	if len(starts) > 0 {
		lastTurn = starts[len(starts)-1]
	}
	total := agent.EstimateTokens(out)
	for i := 0; i < lastTurn && total > m.budget; i++ {
		if !isToolOutput(out[i]) || strings.HasSuffix(out[i].Content, DroppedToolOutput) {
			continue
		}
		before := agent.EstimateTokens(out[i : i+1])
		if out[i].Role == agent.RoleTool {
			out[i].Content = DroppedToolOutput
		} else {
			out[i].Content = "Observation: " + DroppedToolOutput
		}
		total += agent.EstimateTokens(out[i:i+1]) - before
	}
	if total <= m.budget || len(starts) < 2 {
		return out
	}
	// Keep the newest turns that fit in half the budget (at least one), so
	// the summary and the next question have room.
	keepFrom := starts[len(starts)-1]
	for k := len(starts) - 2; k >= 0; k-- {
		if agent.EstimateTokens(out[starts[k]:]) > m.budget/2 {
			break
		}
		keepFrom = starts[k]
	}
	old, kept := out[:keepFrom], out[keepFrom:]
	if len(old) == 0 {
		return out
	}
	summary := m.summarise(ctx, old)
	return append([]agent.Message{{Role: agent.RoleUser, Content: SummaryPrefix + summary}}, kept...)
}

// summarise asks the model for a summary of old, falling back to an
// extractive one.
func (m *Memory) summarise(ctx context.Context, old []agent.Message) string {
	if m.model != nil {
		prompt, err := prompts.Summarize(prompts.SummaryData{Transcript: render(old), MaxWords: 300})
		if err == nil {
			ctx, cancel := context.WithTimeout(ctx, summaryTimeout)
			defer cancel()
			resp, err := m.model.Generate(ctx, agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: prompt}}})
			if err == nil && strings.TrimSpace(resp.Message.Content) != "" {
				return strings.TrimSpace(resp.Message.Content)
			}
			m.logger.Warn("summarising conversation memory failed; using an extractive summary", "err", err)
		}
	}
	return extractive(old)
}

// extractive lists the questions and answers of old turns, shortened.
func extractive(old []agent.Message) string {
	var b strings.Builder
	for _, msg := range old {
		switch {
		case msg.Role == agent.RoleUser && strings.HasPrefix(msg.Content, SummaryPrefix):
			b.WriteString(strings.TrimPrefix(msg.Content, SummaryPrefix))
			b.WriteString("\n")
		case msg.Role == agent.RoleUser && !isToolOutput(msg):
			fmt.Fprintf(&b, "- Asked: %s\n", shorten(msg.Content, 200))
		case msg.Role == agent.RoleAssistant && len(msg.ToolCalls) == 0 && msg.Content != "":
			fmt.Fprintf(&b, "- Answered: %s\n", shorten(msg.Content, 300))
		case msg.Role == agent.RoleAssistant:
			for _, c := range msg.ToolCalls {
				fmt.Fprintf(&b, "- Called %s %s\n", c.Name, shorten(c.Arguments, 120))
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// render writes messages as a plain transcript for the summary prompt.
func render(msgs []agent.Message) string {
	var b strings.Builder
	for _, msg := range msgs {
		switch {
		case msg.Role == agent.RoleTool:
			fmt.Fprintf(&b, "[tool %s result] %s\n", msg.Name, shorten(msg.Content, 1500))
		case len(msg.ToolCalls) > 0:
			if msg.Content != "" {
				fmt.Fprintf(&b, "assistant: %s\n", shorten(msg.Content, 1500))
			}
			for _, c := range msg.ToolCalls {
				fmt.Fprintf(&b, "[assistant called %s %s]\n", c.Name, shorten(c.Arguments, 300))
			}
		default:
			fmt.Fprintf(&b, "%s: %s\n", msg.Role, shorten(msg.Content, 1500))
		}
	}
	return b.String()
}

// turnStarts returns the indexes of user questions (not tool observations).
func turnStarts(msgs []agent.Message) []int {
	var out []int
	for i, msg := range msgs {
		if msg.Role == agent.RoleUser && !isToolOutput(msg) {
			out = append(out, i)
		}
	}
	return out
}

func isToolOutput(msg agent.Message) bool {
	return msg.Role == agent.RoleTool || (msg.Role == agent.RoleUser && strings.HasPrefix(msg.Content, "Observation: "))
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
