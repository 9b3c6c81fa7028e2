package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/watchkeeper/watchkeeper/prompts"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/scope"
)

// Errors a run can end with. Callers branch on them with errors.Is.
var (
	// ErrTokenBudget means the run used its token budget before answering.
	ErrTokenBudget = errors.New("token budget exhausted")
	// ErrRunTimeout means the run hit its wall-clock limit.
	ErrRunTimeout = errors.New("run timed out")
	// ErrNoAnswer means the model produced no usable answer.
	ErrNoAnswer = errors.New("the model gave no answer")
)

// Run outcomes, also used as metric labels.
const (
	RunAnswered    = "answered"
	RunTokenBudget = "token_budget"
	RunTimeout     = "timeout"
	RunCanceled    = "canceled"
	RunModelError  = "model_error"
	RunNoAnswer    = "no_answer"
	// RunBudget is a run the money budget made answer early: it has an
	// answer, with a note saying so.
	RunBudget = "budget"
)

// Agent runs tasks against a model with a set of tools.
//
// An Agent is safe for concurrent use; each Run is independent.
type Agent struct {
	model Model
	tools *tools.Registry
	opts  Options
	// invoker runs the tool calls, as every other surface runs them.
	invoker tools.Invoker
	// textOnly is set when the endpoint refused tools for this agent's
	// model: later runs speak ReAct from their first step.
	textOnly atomic.Bool
}

// New returns an agent that answers with model using the tools in reg.
// reg may be nil (no tools).
func New(model Model, reg *tools.Registry, opts Options) *Agent {
	if reg == nil {
		reg = &tools.Registry{}
	}
	opts = opts.withDefaults()
	return &Agent{model: model, tools: reg, opts: opts, invoker: tools.Invoker{Tools: reg, Timeout: opts.Config.ToolTimeout,
		Redact: opts.Redactor.Redact, Observe: opts.ObserveTool, Tracer: opts.Tracer, Logger: opts.Logger}}
}

// Task is one question to answer.
type Task struct {
	// Input is the user's question or the alert to investigate.
	Input string
	// History is the earlier conversation, oldest first, without a system
	// message.
	History []Message
	// ConversationID groups runs (a Slack thread, a chat session).
	ConversationID string
	// Source names the surface, for the prompt and for metrics.
	Source string
	// Scope limits what this task may look at (a Slack channel's scope);
	// the zero value allows everything.
	Scope Scope
	// Budget is what the run may spend on models; the zero value is no
	// limit. When it runs out the run answers from the evidence so far,
	// with a note, rather than failing.
	Budget Budget
}

// Scope limits a task to some tools and namespaces. The agent offers only
// the allowed tools and limits every call's arguments to Namespaces and
// Clusters (Limit); the prompt states the scope too, so the model keeps to
// it rather than learning it from refusals.
type Scope struct {
	// Tools are the tool names allowed; nil allows all.
	Tools []string `json:"tools,omitempty"`
	// Namespaces are the namespaces allowed; nil allows all.
	Namespaces []string `json:"namespaces,omitempty"`
	// Clusters are the clusters allowed ("cluster" arguments); nil allows all.
	Clusters []string `json:"clusters,omitempty"`
}

// AllowsTool reports whether name is in scope.
func (s Scope) AllowsTool(name string) bool {
	return s.Tools == nil || slices.Contains(s.Tools, name)
}

// Limit returns args limited to the scope for a call of the tool spec
// describes (tools/scope): an omitted namespace is filled in or refused,
// one outside the scope refused, PromQL limited to the scope's namespaces.
func (s Scope) Limit(spec tools.Spec, args json.RawMessage) (json.RawMessage, error) {
	return scope.Limits{Namespaces: s.Namespaces, Clusters: s.Clusters}.Args(spec, args)
}

// Summary is the accounting of a run.
type Summary struct {
	RunID          string        `json:"run_id"`
	ConversationID string        `json:"conversation_id,omitempty"`
	Source         string        `json:"source,omitempty"`
	Model          string        `json:"model,omitempty"`
	Mode           Mode          `json:"mode"`
	StartedAt      time.Time     `json:"started_at"`
	Duration       time.Duration `json:"duration"`
	Outcome        string        `json:"outcome"`
	Error          string        `json:"error,omitempty"`
	Steps          int           `json:"steps"`
	ToolCalls      int           `json:"tool_calls"`
	Usage          Usage         `json:"usage"`
	// CostUSD is nil when no price is configured for the model. It
	// includes the fast model's share (Fast).
	CostUSD *float64 `json:"cost_usd,omitempty"`
	// Fast is the fast model's share of the run, nil when it was not used.
	Fast *FastUse `json:"fast,omitempty"`
	// Budget is the money budget the run was held to, nil when none
	// applied or the model has no price.
	Budget *BudgetUse `json:"budget,omitempty"`
}

// Result is what a run produced.
type Result struct {
	Summary
	// Answer is the final answer, redacted. Empty when the run failed.
	Answer string
	// Messages are the messages this run added to the conversation (the
	// question, tool calls and results, the answer), for memory.
	Messages []Message
	// Proposals are the changes proposed during the run, awaiting approval.
	Proposals []tools.Proposal
	// Attachments are files tools produced (charts), for surfaces.
	Attachments []tools.Attachment
	// Evidence are the run's tool calls in call order, numbered as the
	// model read their results and as the answer cites them ([n]).
	Evidence []Evidence
}

// Run answers task. It returns the result and, when the run ended without
// an answer, an error saying why (wrapping ErrTokenBudget, ErrRunTimeout,
// ErrNoAnswer, context.Canceled or the model's error). The result is never
// nil and always recorded, whether or not the run succeeded. obs may be nil.
func (a *Agent) Run(ctx context.Context, task Task, obs Observer) (*Result, error) {
	r := a.newRun(task, obs)
	ctx, cancel := context.WithTimeoutCause(ctx, a.opts.Config.RunTimeout,
		fmt.Errorf("%w after %s", ErrRunTimeout, a.opts.Config.RunTimeout))
	defer cancel()
	ctx, span := a.opts.Tracer.Start(ctx, "agent.run", trace.WithAttributes(
		attribute.String("watchkeeper.run_id", r.res.RunID),
		attribute.String("watchkeeper.conversation_id", task.ConversationID),
		attribute.String("watchkeeper.source", task.Source),
		attribute.String("gen_ai.request.model", a.opts.Config.ModelName),
	))
	defer span.End()

	r.emit(ctx, Event{Kind: EventRunStarted, Text: r.redact(task.Input)})
	err := r.loop(ctx)
	r.finish(ctx, err)

	span.SetAttributes(
		attribute.String("watchkeeper.outcome", r.res.Outcome),
		attribute.Int("watchkeeper.steps", r.res.Steps),
		attribute.Int("gen_ai.usage.input_tokens", r.res.Usage.InputTokens),
		attribute.Int("gen_ai.usage.output_tokens", r.res.Usage.OutputTokens),
	)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	a.record(ctx, r)
	return &r.res, err
}

// run is the state of one Run.
type run struct {
	a        *Agent
	task     Task
	obs      Observer
	mode     Mode
	res      Result
	msgs     []Message // everything sent to the model, system prompt first
	firstNew int       // index in msgs of the first message of this run
	events   []Event   // the transcript's event log
	mu       sync.Mutex
	seen     map[string]int // call key -> step it was first made
	// repeats counts calls refused as repeats: a model going round in
	// a cycle (A, B, A, B…) is made to answer after maxRepeats.
	repeats atomic.Int32
	// compacted: the history was cut once to fit the context window;
	// retriedCut: a step was asked again after a reply was cut off;
	// budgetEnded: the money budget made the run answer early.
	compacted, retriedCut, budgetEnded bool
	// fastPending is the price of the fast model's summaries in flight,
	// reserved against the money budget (under mu).
	fastPending float64
}

func (r *run) hasTool(name string) bool {
	_, ok := r.a.tools.Get(name)
	return ok
}

// compact drops what a run can do without when its request is too long
// for the model: the conversation's earlier history and the output of
// every tool call but the latest step's. It reports whether anything was
// dropped.
func (r *run) compact() bool {
	const gone = "[this tool output was removed to fit the model's context window; call the tool again if you need it]"
	changed := false
	if r.firstNew > 1 {
		r.msgs = append(r.msgs[:1], r.msgs[r.firstNew:]...)
		r.firstNew, changed = 1, true
	}
	// The latest step's results are the messages after the last
	// assistant message; everything before them may go.
	lastAssistant := -1
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].Role == RoleAssistant {
			lastAssistant = i
			break
		}
	}
	for i := r.firstNew; i < lastAssistant; i++ {
		m := &r.msgs[i]
		// The label ("[3] prom_query") stays: the model may still cite
		// the call it saw.
		switch {
		case m.Role == RoleTool && !strings.HasSuffix(m.Content, gone):
			m.Content, changed = keepLabel(m.Content)+gone, true
		case r.mode == ModeReAct && m.Role == RoleUser && strings.HasPrefix(m.Content, "Observation: ") && !strings.HasSuffix(m.Content, gone):
			m.Content, changed = "Observation: "+keepLabel(strings.TrimPrefix(m.Content, "Observation: "))+gone, true
		}
	}
	return changed
}

// keepLabel returns the "[n] tool\n" line a tool result starts with,
// or "" when it has none.
func keepLabel(content string) string {
	label, _, ok := strings.Cut(content, "\n")
	if !ok || !strings.HasPrefix(label, "[") || !strings.Contains(label, "] ") {
		return ""
	}
	return label + "\n"
}

// maxRepeats is how many repeated calls a run refuses before the model
// must answer from what it has.
const maxRepeats = 2

func (a *Agent) newRun(task Task, obs Observer) *run {
	mode := a.opts.Config.Mode
	if mode == ModeAuto {
		mode = ModeNative
		if tc, ok := a.model.(ToolCallingModel); (ok && !tc.NativeToolCalling()) || a.textOnly.Load() {
			mode = ModeReAct
		}
	}
	r := &run{a: a, task: task, obs: obs, mode: mode, seen: map[string]int{}}
	r.res.Summary = Summary{
		RunID:          newID("run_"),
		ConversationID: task.ConversationID,
		Source:         task.Source,
		Model:          a.opts.Config.ModelName,
		Mode:           mode,
		StartedAt:      a.opts.Now(),
	}
	return r
}

func (r *run) redact(s string) string { return r.a.opts.Redactor.Redact(s) }

// emit stamps e and hands it to the observer and the transcript. It
// serialises events from parallel tool calls.
func (r *run) emit(ctx context.Context, e Event) {
	e.RunID = r.res.RunID
	e.ConversationID = r.task.ConversationID
	if e.Time.IsZero() {
		e.Time = r.a.opts.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind != EventModelText {
		r.events = append(r.events, e)
	}
	if r.obs != nil {
		r.obs(ctx, e)
	}
}

func (r *run) loop(ctx context.Context) error {
	cfg := r.a.opts.Config
	var specs []tools.Spec
	for _, sp := range r.a.tools.Specs() {
		if r.task.Scope.AllowsTool(sp.Name) {
			specs = append(specs, sp)
		}
	}
	system, err := r.systemPrompt(specs)
	if err != nil {
		return err
	}
	r.msgs = append(r.msgs, Message{Role: RoleSystem, Content: system})
	r.msgs = append(r.msgs, relabelHistory(r.task.History)...)
	r.firstNew = len(r.msgs)
	r.msgs = append(r.msgs, Message{Role: RoleUser, Content: r.redact(r.task.Input)})

	emptyReplies := 0
	for step := 1; ; step++ {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		used := r.res.Usage.Total()
		if used >= cfg.MaxRunTokens {
			return fmt.Errorf("%w: used %d of %d tokens in %d steps; ask a narrower question or raise agent.max_run_tokens",
				ErrTokenBudget, used, cfg.MaxRunTokens, r.res.Steps)
		}
		// The last step is the step limit, or the point where this call plus
		// one more (carrying this call's tool output) would likely cross the
		// token budget: then the model must answer while it still can.
		est := EstimateTokens(r.msgs)
		last := step >= cfg.MaxSteps || used+2*est+cfg.ToolOutputTokens >= cfg.MaxRunTokens || r.repeats.Load() >= maxRepeats
		// The money budget: a call it cannot pay for is not made (the
		// answer is the evidence so far); a call it pays for, but not the
		// one after, is the last.
		one, two := r.afford(est + estimateSpecs(specs))
		if !one {
			r.budgetEnded = true
			r.res.Answer = r.redact(r.evidenceAnswer())
			r.msgs = append(r.msgs, Message{Role: RoleAssistant, Content: budgetMemo})
			return nil
		}
		if !two && !last {
			last, r.budgetEnded = true, true
		}

		req := Request{Messages: r.msgs, MaxTokens: cfg.MaxOutputTokens, Temperature: cfg.Temperature}
		if !last && r.mode == ModeNative {
			req.Tools = specs
		}
		if last {
			req.Messages = append(append([]Message(nil), r.msgs...), Message{Role: RoleUser, Content: prompts.AnswerNow})
		}
		if r.mode == ModeReAct {
			req.Stop = []string{"\nObservation:"}
		} else {
			req.OnText = r.streamer(ctx, step)
		}

		resp, err := r.generate(ctx, step, req)
		if err != nil && errors.Is(err, ErrIncompleteReply) && !r.retriedCut {
			// A dropped connection mid-reply: the step once more.
			r.retriedCut = true
			r.a.opts.Logger.Warn("the model's reply was cut off; asking again", "model", cfg.ModelName, "step", step)
			step--
			continue
		}
		if err != nil && errors.Is(err, ErrContextLength) && !r.compacted {
			// Too long for the model: older tool output and history go,
			// once, and the same step is asked again.
			r.compacted = true
			if r.compact() {
				r.a.opts.Logger.Warn("the request did not fit the model's context; older tool output was dropped and the step asked again",
					"model", cfg.ModelName, "step", step)
				step--
				continue
			}
		}
		if err != nil && errors.Is(err, ErrToolsUnsupported) && r.mode == ModeNative && cfg.Mode == ModeAuto {
			// The endpoint takes no tools for this model: the same step
			// again in the text protocol, and every later run too.
			r.a.textOnly.Store(true)
			r.mode, r.res.Summary.Mode = ModeReAct, ModeReAct
			if r.msgs[0].Content, err = r.systemPrompt(specs); err != nil {
				return err
			}
			r.a.opts.Logger.Warn("the model's endpoint refused tools; using the text (ReAct) protocol with it from now on",
				"model", cfg.ModelName)
			step--
			continue
		}
		if err != nil {
			return err
		}
		reply := resp.Message
		reply.Role = RoleAssistant
		reply.Content = stripReasoning(reply.Content)

		var calls []ToolCall
		if r.mode == ModeReAct {
			reply, calls = r.parseReAct(reply, step)
		} else {
			calls = reply.ToolCalls
			if len(calls) == 0 && !last {
				// Some local models write their calls as text; taken as
				// calls only when they name tools the model was given.
				if tc := textToolCalls(reply.Content, step, func(n string) bool { return r.task.Scope.AllowsTool(n) && r.hasTool(n) }); len(tc) > 0 {
					calls, reply.ToolCalls, reply.Content = tc, tc, ""
				}
			}
		}

		if len(calls) == 0 || last {
			answer := strings.TrimSpace(reply.Content)
			if r.mode == ModeReAct && len(calls) > 0 {
				answer = reactThought(reply.Content)
			}
			if answer == "" {
				emptyReplies++
				if last || emptyReplies > 1 {
					return fmt.Errorf("%w: the model returned an empty reply at step %d; try again or use a more capable model", ErrNoAnswer, step)
				}
				r.msgs = append(r.msgs, Message{Role: RoleUser, Content: prompts.EmptyReply})
				continue
			}
			r.res.Answer = r.redact(answer)
			r.msgs = append(r.msgs, Message{Role: RoleAssistant, Content: r.res.Answer})
			return nil
		}
		emptyReplies = 0
		r.msgs = append(r.msgs, reply)
		results := r.runTools(ctx, step, calls)
		if r.mode == ModeReAct {
			r.msgs = append(r.msgs, Message{Role: RoleUser, Content: "Observation: " + results[0].Content})
		} else {
			r.msgs = append(r.msgs, results...)
		}
	}
}

func (r *run) systemPrompt(specs []tools.Spec) (string, error) {
	d := SystemData{Now: r.a.opts.WorldNow(), Source: r.task.Source, Tools: specs, ReAct: r.mode == ModeReAct,
		Namespaces: r.task.Scope.Namespaces}
	if r.a.opts.SystemPrompt != nil {
		return r.a.opts.SystemPrompt(d)
	}
	return prompts.System(prompts.SystemData{Now: d.Now, Source: d.Source, Tools: d.Tools, ReAct: d.ReAct, Namespaces: d.Namespaces})
}

// generate makes one model call with its span, accounting and event.
func (r *run) generate(ctx context.Context, step int, req Request) (Response, error) {
	ctx, span := r.a.opts.Tracer.Start(ctx, "llm.generate", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", r.a.opts.Config.ModelName),
		attribute.Int("watchkeeper.step", step),
		attribute.Int("watchkeeper.tools_offered", len(req.Tools)),
	))
	defer span.End()
	start := r.a.opts.Now()
	resp, err := r.a.model.Generate(ctx, req)
	dur := r.a.opts.Now().Sub(start)
	if req.OnText != nil {
		req.OnText("") // flush the last partial line
	}
	r.res.Steps = step
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = fmt.Errorf("model call at step %d: %w", step, cause)
		} else {
			err = fmt.Errorf("model call at step %d: %w", step, err)
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		r.emit(ctx, Event{Kind: EventModelCall, Step: step, Duration: dur, Model: r.modelName(""), Err: r.redact(err.Error())})
		return resp, err
	}
	usage := resp.Usage
	if usage.InputTokens == 0 && usage.OutputTokens == 0 {
		usage = Usage{
			InputTokens:  EstimateTokens(req.Messages) + estimateSpecs(req.Tools),
			OutputTokens: EstimateTokens([]Message{resp.Message}),
			Estimated:    true,
		}
	}
	r.res.Usage = r.res.Usage.Add(usage)
	if r.res.Model == "" {
		r.res.Model = resp.Model
	}
	span.SetAttributes(
		attribute.String("gen_ai.response.model", resp.Model),
		attribute.String("gen_ai.response.finish_reason", resp.FinishReason),
		attribute.Int("gen_ai.usage.input_tokens", usage.InputTokens),
		attribute.Int("gen_ai.usage.output_tokens", usage.OutputTokens),
	)
	r.emit(ctx, Event{Kind: EventModelCall, Step: step, Duration: dur, Usage: usage, Model: r.modelName(resp.Model)})
	return resp, nil
}

// streamer returns an OnText callback that emits streamed text a line at a
// time. Redacting whole lines catches secrets a provider splits across
// chunks; an empty delta flushes what is buffered.
func (r *run) streamer(ctx context.Context, step int) func(string) {
	var buf strings.Builder
	return func(delta string) {
		buf.WriteString(delta)
		text := buf.String()
		cut := strings.LastIndexByte(text, '\n') + 1
		if delta == "" {
			cut = len(text)
		}
		if cut == 0 {
			return
		}
		buf.Reset()
		buf.WriteString(text[cut:])
		r.emit(ctx, Event{Kind: EventModelText, Step: step, Text: r.redact(text[:cut])})
	}
}

func (r *run) modelName(fromResponse string) string {
	if r.a.opts.Config.ModelName != "" {
		return r.a.opts.Config.ModelName
	}
	return fromResponse
}

// finish fills in the summary and emits the closing event.
func (r *run) finish(ctx context.Context, err error) {
	s := &r.res.Summary
	s.Duration = r.a.opts.Now().Sub(s.StartedAt)
	s.CostUSD = r.a.opts.Config.Prices.Cost(s.Model, s.Usage)
	if f := s.Fast; f != nil && s.CostUSD != nil && f.CostUSD != nil {
		// An unpriced fast model counts as free, as in spentUSD.
		total := *s.CostUSD + *f.CostUSD
		s.CostUSD = &total
	}
	if b := r.task.Budget; b.set() && s.CostUSD != nil {
		s.Budget = &BudgetUse{Scope: b.Scope, LimitUSD: b.LimitUSD, LeftUSD: b.LeftUSD, Ended: r.budgetEnded}
	}
	if err == nil && r.budgetEnded {
		r.res.Answer += "\n\n" + r.task.Budget.note()
	}
	r.res.Messages = append([]Message(nil), r.msgs[r.firstNew:]...)
	if err == nil {
		s.Outcome = RunAnswered
		if r.budgetEnded {
			s.Outcome = RunBudget
		}
		r.emit(ctx, Event{Kind: EventFinal, Text: r.res.Answer, Run: r.summaryCopy()})
		return
	}
	switch {
	case errors.Is(err, ErrTokenBudget):
		s.Outcome = RunTokenBudget
	case errors.Is(err, ErrRunTimeout):
		s.Outcome = RunTimeout
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		s.Outcome = RunCanceled
	case errors.Is(err, ErrNoAnswer):
		s.Outcome = RunNoAnswer
	default:
		s.Outcome = RunModelError
	}
	s.Error = r.redact(err.Error())
	r.emit(ctx, Event{Kind: EventError, Err: s.Error, Run: r.summaryCopy()})
}

func (r *run) summaryCopy() *Summary {
	s := r.res.Summary
	return &s
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + hex.EncodeToString(b[:])
}

// EstimateTokens estimates the tokens msgs take in a request, before a
// provider has counted them: content, tool calls, and a few tokens of
// per-message overhead.
func EstimateTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += 4 + tools.EstimateTokens(m.Content)
		for _, c := range m.ToolCalls {
			n += tools.EstimateTokens(c.Name) + tools.EstimateTokens(c.Arguments)
		}
	}
	return n
}

func estimateSpecs(specs []tools.Spec) int {
	if len(specs) == 0 {
		return 0
	}
	return tools.EstimateTokens(specsJSON(specs))
}
