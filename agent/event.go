package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// EventKind names what happened.
type EventKind string

// The kinds of events a run emits, in the order they can occur.
const (
	EventRunStarted EventKind = "run_started"
	// EventModelText carries streamed text (Text) while the model writes.
	EventModelText EventKind = "model_text"
	// EventModelCall follows every model call: Duration, Usage, Model.
	EventModelCall EventKind = "model_call"
	// EventToolStart precedes a tool call: Tool, CallID, Args.
	EventToolStart EventKind = "tool_start"
	// EventToolEnd follows it: Outcome, Duration, Text (what the model saw).
	EventToolEnd EventKind = "tool_end"
	// EventProposal reports a change awaiting approval: Proposal.
	EventProposal EventKind = "proposal"
	// EventFinal carries the answer (Text) and the run's totals.
	EventFinal EventKind = "final"
	// EventError reports why a run ended without an answer (Err).
	EventError EventKind = "error"
)

// Tool call outcomes, also used as metric labels: tools.Invoker's, and
// the agent's own "proposed" (a proposal was stored).
const (
	OutcomeOK        = tools.OutcomeOK
	OutcomeToolError = tools.OutcomeToolError
	OutcomeError     = tools.OutcomeError
	OutcomeRefused   = tools.OutcomeRefused
	OutcomePanic     = tools.OutcomePanic
	// OutcomeProposed is a mutating tool's proposal, stored and awaiting
	// approval.
	OutcomeProposed = "proposed"
)

// Event is one thing that happened during a run. Which fields are set
// depends on Kind; see the constants.
type Event struct {
	Kind           EventKind       `json:"kind"`
	RunID          string          `json:"run_id"`
	ConversationID string          `json:"conversation_id,omitempty"`
	Time           time.Time       `json:"time"`
	Step           int             `json:"step,omitempty"`
	Model          string          `json:"model,omitempty"`
	Tool           string          `json:"tool,omitempty"`
	CallID         string          `json:"call_id,omitempty"`
	Args           json.RawMessage `json:"args,omitempty"`
	Duration       time.Duration   `json:"duration,omitempty"`
	Usage          Usage           `json:"usage,omitzero"`
	Outcome        string          `json:"outcome,omitempty"`
	Text           string          `json:"text,omitempty"`
	Truncated      bool            `json:"truncated,omitempty"`
	Err            string          `json:"error,omitempty"`
	Proposal       *tools.Proposal `json:"proposal,omitempty"`
	// Result is the tool's full result on EventToolEnd, for surfaces that
	// render structured data or attachments. Not serialised.
	Result *tools.Result `json:"-"`
	// Run is the final summary on EventFinal and EventError.
	Run *Summary `json:"run,omitempty"`
}

// Observer receives a run's events. The agent calls it synchronously, one
// event at a time and in order, even when tools run in parallel, so an
// observer needs no locking of its own. It must not block for long: the run
// waits for it. ctx is the run's: work the observer starts for the event
// (a progress update) is cancelled with the run.
type Observer func(ctx context.Context, e Event)

// Observers returns an Observer that forwards every event to each non-nil
// observer in turn.
func Observers(obs ...Observer) Observer {
	var live []Observer
	for _, o := range obs {
		if o != nil {
			live = append(live, o)
		}
	}
	return func(ctx context.Context, e Event) {
		for _, o := range live {
			o(ctx, e)
		}
	}
}
