package agent

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Mode selects how tools are offered to the model.
type Mode string

// Tool-calling modes.
const (
	// ModeAuto uses native tool calling unless the model says it has none.
	ModeAuto Mode = "auto"
	// ModeNative sends tool schemas and reads structured tool calls.
	ModeNative Mode = "native"
	// ModeReAct describes tools in the prompt and parses
	// Thought / Action / Action Input / Final Answer from plain text.
	ModeReAct Mode = "react"
)

// Defaults applied to a zero Config.
const (
	DefaultMaxSteps         = 12
	DefaultMaxParallelTools = 4
	DefaultToolOutputTokens = 4000
	DefaultMaxRunTokens     = 200_000
	DefaultRunTimeout       = 5 * time.Minute
	DefaultToolTimeout      = 2 * time.Minute
)

// Config bounds a run. The zero value means the defaults above.
type Config struct {
	// MaxSteps is the number of model calls in one run. On the last one the
	// tools are withdrawn so the model must answer.
	MaxSteps int
	// MaxParallelTools bounds the tool calls of one step run at once.
	MaxParallelTools int
	// ToolOutputTokens is the most a single tool result may put in front of
	// the model; longer output is cut with a note to narrow the query.
	ToolOutputTokens int
	// MaxRunTokens bounds input plus output tokens over the whole run. Near
	// the limit the model is made to answer; past it the run stops.
	MaxRunTokens int
	// RunTimeout bounds the wall-clock time of a run.
	RunTimeout time.Duration
	// ToolTimeout bounds a single tool call.
	ToolTimeout time.Duration
	// MaxOutputTokens caps each model reply; 0 leaves it to the provider.
	MaxOutputTokens int
	// Temperature is passed to the model when set.
	Temperature *float64
	// Mode selects native tool calling or text ReAct.
	Mode Mode
	// ModelName labels metrics and selects the price; the provider's own
	// name for the model is used when empty.
	ModelName string
	// Prices gives the cost of tokens per model name.
	Prices Prices
	// FastModelName labels and prices Options.Fast, the model that
	// summarises long tool outputs; its own name is used when empty.
	FastModelName string
}

func (c Config) withDefaults() Config {
	if c.MaxSteps <= 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.MaxParallelTools <= 0 {
		c.MaxParallelTools = DefaultMaxParallelTools
	}
	if c.ToolOutputTokens <= 0 {
		c.ToolOutputTokens = DefaultToolOutputTokens
	}
	if c.MaxRunTokens <= 0 {
		c.MaxRunTokens = DefaultMaxRunTokens
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	if c.ToolTimeout <= 0 {
		c.ToolTimeout = DefaultToolTimeout
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	return c
}

// Redactor removes secrets from text. The agent applies it to everything it
// sends to the model or emits to a surface.
type Redactor interface {
	Redact(s string) string
}

// Recorder stores the record of a finished run. The agent calls it once per
// run, including runs that failed, with a context that outlives the run's
// own cancellation.
type Recorder interface {
	RecordRun(ctx context.Context, r RunRecord) error
}

// Proposer stores a proposal from a mutating tool so that it can be approved
// later, possibly after a restart, and returns it with its ID set.
type Proposer interface {
	Propose(ctx context.Context, conversationID string, p tools.Proposal) (tools.Proposal, error)
}

// Options are the agent's dependencies. Every field is optional.
type Options struct {
	Config   Config
	Redactor Redactor
	Recorder Recorder
	Proposer Proposer
	Tracer   trace.Tracer
	Logger   *slog.Logger
	// ObserveTool records each tool call's outcome and duration (metrics);
	// every surface's calls are observed the same way (tools.Invoker).
	ObserveTool func(tool, outcome string, d time.Duration)
	// Fast is an optional cheaper model that summarises a tool output too
	// long for the per-result budget, where the main model would otherwise
	// see it cut. The main model still writes the answer.
	Fast Model
	// SystemPrompt renders the system prompt; prompts.System by default.
	SystemPrompt func(SystemData) (string, error)
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// WorldNow is the time of the systems being observed, told to the
	// model in the system prompt; Now by default. It differs from Now only
	// for simulations that run faster than real time (the sandbox demo).
	WorldNow func() time.Time
}

// SystemData is what the system prompt is rendered from.
type SystemData struct {
	Now    time.Time
	Source string
	Tools  []tools.Spec
	ReAct  bool
	// Namespaces is the task's namespace scope, nil when unlimited.
	Namespaces []string
}

type identity struct{}

func (identity) Redact(s string) string { return s }

func (o Options) withDefaults() Options {
	o.Config = o.Config.withDefaults()
	if o.Redactor == nil {
		o.Redactor = identity{}
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WorldNow == nil {
		o.WorldNow = o.Now
	}
	return o
}
