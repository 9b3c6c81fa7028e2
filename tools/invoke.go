package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The outcomes of an invocation, as metrics and events name them.
const (
	// OutcomeOK: the tool ran and returned a result.
	OutcomeOK = "ok"
	// OutcomeToolError: the tool refused the arguments (bad PromQL, an
	// unknown namespace) or the schema did; the caller can fix the call.
	OutcomeToolError = "tool_error"
	// OutcomeError: the system behind the tool failed, or timed out.
	OutcomeError = "error"
	// OutcomeRefused: the policy refused the call (a tool or namespace
	// outside the scope), or the tool does not exist.
	OutcomeRefused = "refused"
	// OutcomePanic: the tool crashed; a bug in Watchkeeper.
	OutcomePanic = "panic"
)

// Policy is what a call may do: the scope of a Slack channel, of a
// terminal session, of an incident's channel. The zero Invocation has no
// policy and allows everything.
type Policy interface {
	AllowsTool(name string) bool
	// Limit returns the arguments limited to the policy (a namespace
	// filled in, PromQL selectors restricted) or an error saying why the
	// call is refused.
	Limit(spec Spec, args json.RawMessage) (json.RawMessage, error)
}

// Lookup finds tools by name (a Registry).
type Lookup interface {
	Get(name string) (Tool, bool)
}

// Invoker runs tool calls the one way every surface uses — the agent, the
// terminal's /run, Slack's commands and buttons, the incident playbook —
// so none can skip a step: the tool must exist and be allowed, the
// arguments must match its schema and are limited to the policy, the call
// has a timeout whose cause survives, a panic becomes an outcome, text
// that leaves is redacted, and every call is measured and traced.
//
// The zero value of every field but Tools is usable.
type Invoker struct {
	Tools Lookup
	// Timeout bounds one call (default 60s).
	Timeout time.Duration
	// Redact is applied to every text of the result (nil: none).
	Redact func(string) string
	// Observe records a call's outcome and duration (metrics).
	Observe func(tool, outcome string, d time.Duration)
	Tracer  trace.Tracer
	Logger  *slog.Logger
	Now     func() time.Time
}

// Invocation is one call.
type Invocation struct {
	Tool string
	Args json.RawMessage
	// Policy limits the call; nil allows everything.
	Policy Policy
	// Source names the caller for traces and logs ("agent", "slack",
	// "terminal", "playbook").
	Source string
}

// Invoked is what a call came to.
type Invoked struct {
	Outcome string
	// Reason says, for a person or a model, why the call did not produce
	// a result (empty when Outcome is OutcomeOK). It is redacted.
	Reason string
	// Result is the tool's result, redacted; set when the tool ran
	// (OutcomeOK, or OutcomeToolError from the tool itself).
	Result *Result
	// Failed marks an OutcomeError from the system behind the tool (down,
	// timed out), as opposed to a tool that broke its own contract.
	Failed bool
	// Args are the arguments the tool ran with, after the policy.
	Args     json.RawMessage
	Spec     Spec
	Duration time.Duration
}

// Invoke runs one call. It never panics and returns no Go error: every
// failure is an Outcome with a Reason.
func (iv Invoker) Invoke(ctx context.Context, in Invocation) (out Invoked) {
	now := iv.Now
	if now == nil {
		now = time.Now
	}
	tracer := iv.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	ctx, span := tracer.Start(ctx, "tool.invoke", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", in.Tool),
		attribute.String("watchkeeper.source", in.Source),
	))
	start := now()
	defer func() {
		out.Duration = now().Sub(start)
		out.Reason = iv.redact(out.Reason)
		span.SetAttributes(attribute.String("watchkeeper.tool.outcome", out.Outcome))
		if out.Outcome != OutcomeOK {
			span.SetStatus(codes.Error, out.Reason)
		}
		span.End()
		if iv.Observe != nil {
			iv.Observe(in.Tool, out.Outcome, out.Duration)
		}
	}()

	var tool Tool
	ok := false
	if iv.Tools != nil {
		tool, ok = iv.Tools.Get(in.Tool)
	}
	if !ok {
		return Invoked{Outcome: OutcomeRefused, Reason: fmt.Sprintf("there is no tool called %q", in.Tool)}
	}
	out.Spec = tool.Spec()
	if in.Policy != nil && !in.Policy.AllowsTool(in.Tool) {
		out.Outcome, out.Reason = OutcomeRefused, fmt.Sprintf("the tool %q is not allowed here", in.Tool)
		return out
	}
	args := in.Args
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if err := out.Spec.Parameters.Validate(args); err != nil {
		out.Outcome, out.Reason = OutcomeToolError, fmt.Sprintf("invalid arguments for %s:\n%v", in.Tool, err)
		return out
	}
	if in.Policy != nil {
		limited, err := in.Policy.Limit(out.Spec, args)
		if err != nil {
			out.Outcome, out.Reason = OutcomeRefused, err.Error()
			return out
		}
		args = limited
	}
	out.Args = args

	timeout := iv.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("tool %s timed out after %s", in.Tool, timeout))
	defer cancel()
	res, err := iv.run(ctx, tool, args)
	var crash *crashError
	switch {
	case errors.As(err, &crash):
		logger := iv.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		logger.Error("tool panicked", "tool", in.Tool, "source", in.Source, "panic", crash.value, "stack", crash.stack)
		out.Outcome, out.Reason = OutcomePanic, fmt.Sprintf("tool %s crashed (%v); this is a bug in Watchkeeper", in.Tool, crash.value)
		return out
	case err != nil:
		if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.DeadlineExceeded) {
			err = cause
		}
		out.Outcome, out.Reason, out.Failed = OutcomeError, fmt.Sprintf("tool %s failed: %v", in.Tool, err), true
		return out
	}
	iv.redactResult(&res)
	out.Result = &res
	switch {
	case res.Error != "":
		out.Outcome, out.Reason = OutcomeToolError, res.Error
	case res.Proposal != nil && !out.Spec.Mutating:
		// Only tools declared mutating may propose; anything else is a
		// bug and must not reach an approval button.
		out.Result = nil
		out.Outcome, out.Reason = OutcomeError, fmt.Sprintf("tool %s returned a proposal but is not declared as mutating; the proposal was dropped", in.Tool)
	case out.Spec.Mutating && res.Proposal == nil:
		out.Outcome, out.Reason = OutcomeError, fmt.Sprintf("tool %s changes systems but returned no proposal, so nothing was done", in.Tool)
	default:
		out.Outcome = OutcomeOK
		if res.Proposal != nil {
			res.Proposal.Tool = in.Tool
		}
	}
	return out
}

// crashError is a tool's panic, carried out of run.
type crashError struct {
	value any
	stack string
}

func (e *crashError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

func (iv Invoker) run(ctx context.Context, t Tool, args json.RawMessage) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &crashError{value: p, stack: string(debug.Stack())}
		}
	}()
	return t.Run(ctx, args)
}

func (iv Invoker) redact(s string) string {
	if iv.Redact == nil || s == "" {
		return s
	}
	return iv.Redact(s)
}

// redactResult redacts every text a result carries out: what the caller
// shows, what a proposal asks a person to approve, a chart's title.
func (iv Invoker) redactResult(r *Result) {
	r.Text, r.Error, r.Display = iv.redact(r.Text), iv.redact(r.Error), iv.redact(r.Display)
	if p := r.Proposal; p != nil {
		cp := *p
		cp.Summary, cp.Details, cp.Reason, cp.Risk = iv.redact(cp.Summary), iv.redact(cp.Details), iv.redact(cp.Reason), iv.redact(cp.Risk)
		r.Proposal = &cp
	}
	for i := range r.Attachments {
		r.Attachments[i].Title = iv.redact(r.Attachments[i].Title)
	}
}
