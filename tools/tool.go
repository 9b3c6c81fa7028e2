// Package tools defines the seam between the agent and the things it can do:
// the Tool interface, an explicit Registry, the Result a tool hands back, and
// the helpers every tool shares (argument schemas, strict decoding, output
// budgets).
//
// A tool's failure that the model can correct — bad PromQL, an unknown
// namespace, a missing argument — is a Result with Error set, so the model
// reads it and tries again. A Go error from Run means the infrastructure broke
// (the backend is down, the context was cancelled) and is reported as such.
//
// Mutating tools never act. Their Run returns a Result carrying a Proposal;
// a human approves it on some surface, and only then is Applier.Apply called.
package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Tool is one capability offered to the model.
//
// Implementations must be safe for concurrent use: the agent runs the tool
// calls of one step in parallel, and several runs share one Registry.
type Tool interface {
	// Spec describes the tool to the model. It must be constant for the
	// lifetime of the tool.
	Spec() Spec
	// Run executes a call. args is a JSON object the agent has already
	// checked against Spec().Parameters. A failure the model can fix is
	// returned as a Result with Error set and a nil error.
	Run(ctx context.Context, args json.RawMessage) (Result, error)
}

// Applier is implemented by mutating tools. Apply carries out a proposal that
// a person approved; it is never called by the agent loop itself.
type Applier interface {
	Apply(ctx context.Context, p Proposal) (Result, error)
}

// Delegator is implemented by mutating tools whose proposals carry out
// another tool's action (one step of a remediation plan). Approval rules
// and the number of approvers are decided on the action that will really
// run, so a change cannot need fewer approvers through a wrapper.
type Delegator interface {
	// Effective returns the action p will carry out: the tool that does
	// it and that tool's arguments (namespace included).
	Effective(p Proposal) (Proposal, error)
}

// Spec is what the model sees of a tool.
type Spec struct {
	// Name is unique in a Registry: lower case letters, digits and '_'.
	Name string `json:"name"`
	// Description tells the model when to use the tool and what it returns.
	Description string `json:"description"`
	// Parameters is the JSON schema of the arguments object.
	Parameters *Schema `json:"parameters"`
	// Mutating marks tools that change the world. They must return a
	// Proposal and implement Applier.
	Mutating bool `json:"mutating,omitempty"`
	// Evidence says what the tool's output is worth as support for a
	// proposed change: data (the default: metrics, analyses, object state),
	// EvidenceText for text the observed systems wrote (log lines, alert
	// annotations — anyone able to write a log line controls it), or
	// EvidenceNone. A proposal supported only by text is flagged.
	Evidence string `json:"evidence,omitempty"`
	// PromQL names the arguments that hold PromQL (a string or a list of
	// strings): a conversation limited to some namespaces gets them
	// enforced on every selector (tools/scope). A "namespace" argument
	// needs no declaration: scope finds it in Parameters.
	PromQL []string `json:"-"`
	// LabelMatchers names arguments that are label → value matchers (a
	// silence's): in a conversation limited to namespaces they must match
	// a namespace of the scope.
	LabelMatchers []string `json:"-"`
	// ClusterScoped marks tools that act on the whole cluster (nodes),
	// which a conversation limited to namespaces may not use.
	ClusterScoped bool `json:"-"`
}

// Evidence kinds; the zero value is data.
const (
	EvidenceText = "text"
	EvidenceNone = "none"
)

// Result is what a tool call produced.
//
// The zero value is an empty, successful result.
type Result struct {
	// Text is what the model reads. The agent cuts it to the per-tool budget.
	// Text from the observed systems in it is marked (Untrusted).
	Text string `json:"text,omitempty"`
	// Display, when set, is what people see instead of Text: the same
	// facts without what only the model needs (untrusted-data markers,
	// hints about which tool to call next, a backend's full query in a
	// header), in short headers and humanised units. It is never sent to
	// the model. Surfaces show ForPeople, not Display or Text.
	Display string `json:"display,omitempty"`
	// Error is a failure the model can correct, in words the model can act
	// on. When set, the call counts as failed and Text is optional context.
	Error string `json:"error,omitempty"`
	// Data is structured output for surfaces (tables, series). It is never
	// sent to the model. It must be JSON-serialisable.
	Data any `json:"data,omitempty"`
	// Proposal is set by mutating tools instead of acting.
	Proposal *Proposal `json:"proposal,omitempty"`
	// Attachments are files a surface may show, such as chart PNGs.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file produced by a tool.
type Attachment struct {
	Name     string `json:"name"`
	MIMEType string `json:"mime_type"`
	Title    string `json:"title,omitempty"`
	Data     []byte `json:"-"`
}

// Proposal is a change a mutating tool wants to make. It carries everything a
// person needs to decide and everything Applier.Apply needs to act.
type Proposal struct {
	// ID is assigned when the proposal is stored; tools leave it empty.
	ID string `json:"id,omitempty"`
	// Tool is the name of the tool that proposed it and will apply it.
	Tool string `json:"tool"`
	// Summary is one line: "Restart deployment shop/checkout".
	Summary string `json:"summary"`
	// Details is the full preview shown before approval, written by the
	// tool from what it checked: the exact command, a diff, a dry-run
	// result. Surfaces show it first.
	Details string `json:"details,omitempty"`
	// Reason is why, in the words of whoever asked (usually the model's
	// "reason" argument). It is not checked by anything, so surfaces show
	// it after the details, capped and labelled as such.
	Reason string `json:"reason,omitempty"`
	// Risk is "low", "medium" or "high".
	Risk string `json:"risk,omitempty"`
	// Args are the arguments Apply needs, in the tool's own format.
	Args json.RawMessage `json:"args,omitempty"`
}

// ForPeople returns what a person should see of r: Display when the tool
// set one, otherwise Text without the marker lines Untrusted adds (what
// they enclose is kept). Either way the result holds no live
// untrusted-data marker: one written into a log line stays defused
// (StripMarkers).
func (r Result) ForPeople() string {
	if r.Display != "" {
		return StripMarkers(r.Display)
	}
	return StripMarkers(r.Text)
}

// Text returns a successful result holding s.
func Text(s string) Result { return Result{Text: s} }

// Errorf returns a result describing a failure the model can fix.
func Errorf(format string, a ...any) Result {
	return Result{Error: fmt.Sprintf(format, a...)}
}

// JSON returns a successful result whose text is v as indented JSON and whose
// Data is v. It fails only if v cannot be marshalled, which is a bug in the
// calling tool.
func JSON(v any) (Result, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("encode tool result: %w", err)
	}
	return Result{Text: string(b), Data: v}, nil
}

type approverKey struct{}

// WithApprover records who approved the proposal being applied, so an
// Applier can act as that person (Kubernetes impersonation).
func WithApprover(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, approverKey{}, user)
}

// Approver returns who approved the proposal being applied, or "".
func Approver(ctx context.Context) string {
	s, _ := ctx.Value(approverKey{}).(string)
	return s
}

// Verification is what checking an applied change found.
type Verification struct {
	// Text says what was compared and how it came out.
	Text string
	// Worse is true when the change made things worse.
	Worse bool
	// Rollback, when the change made things worse and it can be undone,
	// is a proposal to undo it (it still needs its own approval).
	Rollback *Proposal
	// Next, when the change did not help and it was one step of a
	// remediation plan, is the plan's next step (its own approval too).
	Next *Proposal
	// Again, when positive, says the check could not decide yet (a pull
	// request not merged, a sync not done) and is to be made again after
	// that long; Text says what it is waiting for. Nobody is told until a
	// check decides.
	Again time.Duration
}

// Verifier is implemented by Appliers whose effect can be checked some
// time after applying (a key metric before and after).
type Verifier interface {
	// VerifyAfter is how long after applying p to check; 0 means p is not
	// verified.
	VerifyAfter(p Proposal) time.Duration
	Verify(ctx context.Context, p Proposal, appliedAt time.Time) (Verification, error)
}
