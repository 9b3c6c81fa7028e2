package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/watchkeeper/watchkeeper/tools"
)

// runTools runs the calls of one step, at most MaxParallelTools at a time,
// and returns one tool message per call, in call order. Each call gets the
// run's next number (Evidence), and its message is labelled with it.
func (r *run) runTools(ctx context.Context, step int, calls []ToolCall) []Message {
	out := make([]Message, len(calls))
	// Claim repeated-call keys in call order before starting anything, so
	// that which of two identical calls is refused does not depend on
	// goroutine scheduling.
	repeatOf := make([]int, len(calls))
	for i := range calls {
		if calls[i].ID == "" {
			calls[i].ID = fmt.Sprintf("call_%d_%d", step, i+1)
		}
		repeatOf[i] = r.claim(calls[i], step)
	}
	// Numbered before anything runs, in the order the model listed the
	// calls: the numbers cannot depend on which call finishes first.
	r.mu.Lock()
	first := len(r.res.Evidence)
	for i, c := range calls {
		r.res.Evidence = append(r.res.Evidence, Evidence{N: first + i + 1, Step: step, CallID: c.ID, Tool: c.Name})
	}
	r.mu.Unlock()
	seq := newStepEvents(r)
	var g errgroup.Group
	g.SetLimit(r.a.opts.Config.MaxParallelTools)
	for i, c := range calls {
		g.Go(func() error {
			out[i] = r.runTool(ctx, step, first+i, c, repeatOf[i], func(ctx context.Context, evs ...Event) {
				if evs[0].Kind == EventToolStart {
					seq.start(ctx, i, evs[0])
				} else {
					seq.end(ctx, i, evs...)
				}
			})
			return nil
		})
	}
	_ = g.Wait() // the closures never return errors
	r.res.ToolCalls += len(calls)
	return out
}

// claim records the call and returns the step at which an identical call
// was already made, or 0.
func (r *run) claim(c ToolCall, step int) int {
	key := c.Name + "\x00" + canonicalArgs(c.Arguments)
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, ok := r.seen[key]; ok {
		return first
	}
	r.seen[key] = step
	return 0
}

// toolOutcome is what one call produced, before it becomes a message.
type toolOutcome struct {
	text    string
	outcome string
	result  *tools.Result
}

// runTool runs call c, the run's call number idx+1 (its index in
// r.res.Evidence is idx), and hands its events to emit: the start, then
// the end with the proposal if there is one.
func (r *run) runTool(ctx context.Context, step, idx int, c ToolCall, repeatOf int, emit func(context.Context, ...Event)) Message {
	ctx, span := r.a.opts.Tracer.Start(ctx, "tool.call", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", c.Name),
		attribute.String("gen_ai.tool.call.id", c.ID),
		attribute.Int("watchkeeper.step", step),
		attribute.Int("watchkeeper.tool.number", idx+1),
	))
	defer span.End()

	args := json.RawMessage(r.redact(c.Arguments))
	if json.Valid(args) {
		args = compactJSON(args)
	}
	r.mu.Lock()
	r.res.Evidence[idx].Args = rawOrString(args)
	r.mu.Unlock()
	emit(ctx, Event{Kind: EventToolStart, Step: step, Tool: c.Name, CallID: c.ID, Args: rawOrString(args)})
	start := r.a.opts.Now()
	o := r.execute(ctx, c, repeatOf)
	dur := r.a.opts.Now().Sub(start)

	text, cut := r.fit(ctx, c, r.redact(o.text))
	span.SetAttributes(attribute.String("watchkeeper.tool.outcome", o.outcome), attribute.Bool("watchkeeper.tool.truncated", cut))
	if o.outcome == OutcomeError || o.outcome == OutcomePanic {
		span.SetStatus(codes.Error, text)
	}
	ev := Event{Kind: EventToolEnd, Step: step, Tool: c.Name, CallID: c.ID, Duration: dur, Outcome: o.outcome, Text: text, Truncated: cut, Result: o.result}
	r.mu.Lock()
	e := &r.res.Evidence[idx]
	e.Outcome, e.Duration, e.Result = o.outcome, dur, shortResult(text)
	if o.result != nil && len(o.result.Attachments) > 0 {
		r.res.Attachments = append(r.res.Attachments, o.result.Attachments...)
	}
	r.mu.Unlock()
	if o.result != nil {
		ev.Proposal = o.result.Proposal
	}
	if ev.Proposal != nil {
		emit(ctx, ev, Event{Kind: EventProposal, Step: step, Tool: c.Name, CallID: c.ID, Proposal: ev.Proposal})
	} else {
		emit(ctx, ev)
	}
	// The label is the model's only way to know a result's number.
	return Message{Role: RoleTool, ToolCallID: c.ID, Name: c.Name, Content: label(idx+1, c.Name) + text}
}

// execute runs one call and turns every way it can fail into text the model
// can read. It never panics and never returns a Go error: a failing tool is
// a fact for the model to reason about, not a reason to end the run.
func (r *run) execute(ctx context.Context, c ToolCall, repeatOf int) (o toolOutcome) {
	tool, known := r.a.tools.Get(c.Name)
	if !known || !r.task.Scope.AllowsTool(c.Name) {
		// The invoker refuses (and counts) it; the model is told in the
		// agent's words, with what it may use instead.
		r.a.invoker.Invoke(ctx, tools.Invocation{Tool: c.Name, Policy: r.task.Scope, Source: "agent"})
		if !known {
			// A model that invents a name usually meant a near one:
			// those first, then everything it may use.
			hint := ""
			if near := closestTools(c.Name, r.a.tools.Names()); len(near) > 0 {
				hint = " Did you mean " + strings.Join(near, " or ") + "?"
			}
			return toolOutcome{outcome: OutcomeRefused, text: fmt.Sprintf(
				"Error: there is no tool called %q.%s Available tools: %s.", c.Name, hint, listOrNone(r.a.tools.Names()))}
		}
		return toolOutcome{outcome: OutcomeRefused, text: fmt.Sprintf(
			"Refused: the tool %q is not allowed in this conversation. Use one of the tools you were given.", c.Name)}
	}
	if repeatOf > 0 {
		r.observe(c.Name, OutcomeRefused)
		r.repeats.Add(1)
		return toolOutcome{outcome: OutcomeRefused, text: fmt.Sprintf(
			"Refused: you already called %s with exactly these arguments at step %d, and its result is above. "+
				"Use that result, call it with different arguments, or give your answer.", c.Name, repeatOf)}
	}
	spec := tool.Spec()
	if spec.Mutating && !isObject(strings.TrimSpace(c.Arguments)) {
		// A repaired argument is a guess ({"namespace":"prod cut short is
		// not evidence the model meant prod); a change is never proposed
		// on a guess.
		r.observe(c.Name, OutcomeToolError)
		return toolOutcome{outcome: OutcomeToolError, text: fmt.Sprintf(
			"Error: your arguments for %s are not one complete JSON object (cut off, or with text around it). %s proposes a change, "+
				"so its arguments are never repaired: send the whole JSON object again.", c.Name, c.Name)}
	}
	args, err := repairJSON(c.Arguments)
	if err != nil {
		r.observe(c.Name, OutcomeToolError)
		return toolOutcome{outcome: OutcomeToolError, text: fmt.Sprintf(
			"Error: your arguments for %s are not valid JSON and could not be repaired (%v). Send one JSON object that matches the tool's schema.", c.Name, err)}
	}
	// The rest is every surface's one way to call a tool: schema, scope,
	// timeout, panics, redaction, metrics (tools.Invoker).
	inv := r.a.invoker.Invoke(ctx, tools.Invocation{Tool: c.Name, Args: args, Policy: r.task.Scope, Source: "agent"})
	switch inv.Outcome {
	case tools.OutcomeRefused:
		return toolOutcome{outcome: OutcomeRefused, text: "Refused: " + inv.Reason + "."}
	case tools.OutcomePanic:
		return toolOutcome{outcome: OutcomePanic, text: "Error: " + inv.Reason + ", not in your arguments; do not call it again in this run."}
	case tools.OutcomeError:
		if inv.Result == nil && inv.Failed {
			return toolOutcome{outcome: OutcomeError, text: "Error: " + inv.Reason +
				". The system behind the tool failed, not your arguments; retrying the same call will not help."}
		}
		return toolOutcome{outcome: OutcomeError, text: "Error: " + inv.Reason + "."}
	case tools.OutcomeToolError:
		if inv.Result == nil {
			// The schema refused the arguments.
			return toolOutcome{outcome: OutcomeToolError, text: "Error: " + inv.Reason + "\nCorrect the call and try again."}
		}
		if spec.Mutating {
			return toolOutcome{outcome: OutcomeToolError, text: "Error: " + inv.Reason, result: inv.Result}
		}
		text := "Error: " + inv.Reason
		if inv.Result.Text != "" {
			text += "\n" + inv.Result.Text
		}
		return toolOutcome{outcome: OutcomeToolError, text: text, result: inv.Result}
	}
	if spec.Mutating {
		return r.propose(ctx, spec, *inv.Result)
	}
	return toolOutcome{outcome: OutcomeOK, text: inv.Result.Text, result: inv.Result}
}

// observe counts a call the agent itself refused before it reached the
// invoker (a repeat, arguments that are not JSON), so metrics see every
// call the model made.
func (r *run) observe(tool, outcome string) {
	if r.a.opts.ObserveTool != nil {
		r.a.opts.ObserveTool(tool, outcome, 0)
	}
}

// propose stores the proposal of a mutating tool. Nothing has changed yet.
func (r *run) propose(ctx context.Context, spec tools.Spec, res tools.Result) toolOutcome {
	p := *res.Proposal
	p.Tool = spec.Name
	p.Summary = r.redact(p.Summary)
	p.Details = r.redact(p.Details)
	if ev := r.evidence(); ev != "" {
		p.Details += "\nEvidence (this run's tool calls before the proposal):\n" + ev
	}
	if !r.hasTrustedEvidence() {
		p.Details = UntrustedSupportWarning + "\n" + p.Details
	}
	if r.a.opts.Proposer != nil {
		stored, err := r.a.opts.Proposer.Propose(context.WithoutCancel(ctx), r.task.ConversationID, p)
		if err != nil {
			return toolOutcome{outcome: OutcomeError, text: fmt.Sprintf(
				"Error: the proposal %q could not be stored (%v), so it cannot be approved. Tell the user.", p.Summary, err)}
		}
		p = stored
	} else if p.ID == "" {
		p.ID = newID("prop_")
	}
	res.Proposal = &p
	r.mu.Lock()
	r.res.Proposals = append(r.res.Proposals, p)
	r.mu.Unlock()
	text := fmt.Sprintf("Proposal %s created: %s. It awaits approval by a person; nothing has been changed. "+
		"Tell the user what you propose and why, and that it needs their approval.", p.ID, p.Summary)
	return toolOutcome{outcome: OutcomeProposed, text: text, result: &res}
}

// canonicalArgs normalises arguments so that calls differing only in key
// order or whitespace count as identical.
func canonicalArgs(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return strings.TrimSpace(s)
	}
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return strings.TrimSpace(s)
	}
	return string(b)
}

func compactJSON(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// rawOrString returns b if it is valid JSON, else b as a JSON string, so an
// event always serialises.
func rawOrString(b json.RawMessage) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// UntrustedSupportWarning heads a proposal whose only support in the run is
// free text from the observed systems (or nothing at all).
const UntrustedSupportWarning = "WARNING: only log or alert text (which anyone who can write a log line controls) supports this proposal; check the metrics before approving."

// hasTrustedEvidence reports whether an earlier call in the run returned
// data other than free text: metrics, computed analyses, object state.
//
// It reads the calls as they finished (r.res.Evidence), not the events
// passed on so far, which wait for the earlier calls of their step.
func (r *run) hasTrustedEvidence() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.res.Evidence {
		if e.Outcome != OutcomeOK {
			continue
		}
		if t, ok := r.a.tools.Get(e.Tool); ok && t.Spec().Evidence == "" && !t.Spec().Mutating {
			return true
		}
	}
	return false
}

// evidence lists the run's successful tool calls so far, each with its
// arguments and number, so the approver sees what the proposal rests on
// and can match it to the answer's citations.
func (r *run) evidence() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for _, e := range r.res.Evidence {
		if e.Outcome != OutcomeOK {
			continue
		}
		a := string(e.Args)
		if len(a) > 200 {
			a = a[:200] + "…"
		}
		lines = append(lines, fmt.Sprintf("- %s %s (run %s, step %d, call [%d])", e.Tool, a, r.res.RunID, e.Step, e.N))
	}
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("- … %d more", len(lines)-10))
	}
	return strings.Join(lines, "\n")
}

// closestTools are the tools a made-up name most likely meant: near in
// spelling (tools.Suggest), or sharing a word with it ("lookup_service"
// for "lookup", "get_pods" for "kube_get"), three at most.
func closestTools(name string, names []string) []string {
	out := tools.Suggest(name, names)
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for _, n := range names {
		if len(out) >= 3 {
			break
		}
		if slices.Contains(out, n) {
			continue
		}
		for _, w := range strings.Split(n, "_") {
			if len(w) >= 3 && slices.Contains(words, w) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
