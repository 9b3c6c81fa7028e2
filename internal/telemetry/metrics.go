// Package telemetry is Watchkeeper's own observability: Prometheus metrics
// derived from the agent's event stream, the /metrics, /healthz and /readyz
// endpoints, and OpenTelemetry tracing exported over OTLP.
package telemetry

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/watchkeeper/watchkeeper/agent"
)

// Metrics holds the bot's metrics in its own registry (no global state, so
// tests and several instances in one process do not collide).
//
// Metrics is safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	steps         prometheus.Counter
	toolCalls     *prometheus.CounterVec
	toolDuration  *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	modelLatency  *prometheus.HistogramVec
	modelErrors   *prometheus.CounterVec
	costUSD       *prometheus.CounterVec
	budget        *prometheus.GaugeVec
	budgetEnded   *prometheus.CounterVec
	spentToday    prometheus.Gauge
	proposals     prometheus.Counter
	errors        *prometheus.CounterVec
	truncatedRuns prometheus.Counter
	slackEvents   *prometheus.CounterVec
	slackFailures *prometheus.CounterVec
	leader        prometheus.Gauge
	// tools are the registered tool names: the only values the tool
	// label takes (see toolLabel).
	tools map[string]bool
}

// NewMetrics creates and registers the metrics, with Go runtime and process
// collectors and a build_info gauge. tools are the registered tool names;
// a call of any other name (a model can write anything there) is counted
// under tool="unknown", so the label's values stay few and say nothing a
// model chose.
func NewMetrics(version, revision string, tools ...string) *Metrics {
	r := prometheus.NewRegistry()
	known := make(map[string]bool, len(tools))
	for _, t := range tools {
		known[t] = true
	}
	m := &Metrics{
		Registry: r,
		tools:    known,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_agent_runs_total", Help: "Agent runs by source and outcome.",
		}, []string{"source", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchkeeper_agent_run_duration_seconds", Help: "Wall-clock duration of agent runs.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320},
		}, []string{"source"}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchkeeper_agent_steps_total", Help: "Model calls made by agent runs.",
		}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_tool_calls_total", Help: "Tool calls by tool and outcome (ok, tool_error, error, refused, panic), from every surface: the agent, Slack commands and buttons, the terminal, the incident playbook.",
		}, []string{"tool", "outcome"}),
		toolDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchkeeper_tool_call_duration_seconds", Help: "Duration of tool calls.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}, []string{"tool"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_llm_tokens_total", Help: "Tokens by model and direction (input, output).",
		}, []string{"model", "direction"}),
		modelLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watchkeeper_llm_request_duration_seconds", Help: "Latency of model calls, retries included.",
			Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128},
		}, []string{"model"}),
		modelErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_llm_errors_total", Help: "Failed model calls by model.",
		}, []string{"model"}),
		costUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_llm_cost_usd_total", Help: "Estimated model cost in US dollars, from the configured price table.",
		}, []string{"model"}),
		budget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watchkeeper_llm_budget_usd", Help: "Configured model budgets in US dollars by scope (question, incident, day); absent when unlimited.",
		}, []string{"scope"}),
		budgetEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_llm_budget_exhausted_total", Help: "Runs a money budget cut short (answered from the evidence so far) or kept from the model (answered without it), by scope.",
		}, []string{"scope"}),
		spentToday: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchkeeper_llm_spent_today_usd", Help: "Model cost of the current UTC day across replicas sharing the store, as last read before a run.",
		}),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchkeeper_proposals_total", Help: "Change proposals created by mutating tools.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_errors_total", Help: "Errors by component.",
		}, []string{"component"}),
		truncatedRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watchkeeper_tool_output_truncated_total", Help: "Tool results cut to the per-tool output budget.",
		}),
		slackEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_slack_events_total", Help: "Slack events, commands and clicks by kind and outcome (handled, ignored, duplicate, busy, refused, …).",
		}, []string{"kind", "outcome"}),
		slackFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchkeeper_slack_delivery_failures_total", Help: "Slack messages or files that could not be delivered, by kind and Slack error.",
		}, []string{"kind", "reason"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watchkeeper_leader", Help: "1 when this replica leads (delivers Slack messages), 0 when it follows; 1 without leader election.",
		}),
	}
	m.leader.Set(1)
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "watchkeeper_build_info", Help: "Build information; always 1.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(version, revision, runtime.Version()).Set(1)
	r.MustRegister(m.runs, m.runDuration, m.steps, m.toolCalls, m.toolDuration, m.tokens, m.modelLatency,
		m.modelErrors, m.costUSD, m.budget, m.budgetEnded, m.spentToday, m.proposals, m.errors, m.truncatedRuns, m.slackEvents, m.slackFailures, m.leader, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe updates the metrics from one agent event. Use it as (part of) an
// agent.Observer.
func (m *Metrics) Observe(_ context.Context, e agent.Event) {
	switch e.Kind {
	case agent.EventModelCall:
		m.steps.Inc()
		model := label(e.Model)
		m.modelLatency.WithLabelValues(model).Observe(e.Duration.Seconds())
		if e.Err != "" {
			m.modelErrors.WithLabelValues(model).Inc()
			return
		}
		m.tokens.WithLabelValues(model, "input").Add(float64(e.Usage.InputTokens))
		m.tokens.WithLabelValues(model, "output").Add(float64(e.Usage.OutputTokens))
	case agent.EventToolEnd:
		// The call itself is counted by ObserveTool, on the path every
		// surface's calls take (a proposal: as "ok", and in proposals).
		if e.Truncated {
			m.truncatedRuns.Inc()
		}
	case agent.EventProposal:
		m.proposals.Inc()
	case agent.EventFinal, agent.EventError:
		if e.Run == nil {
			return
		}
		m.runs.WithLabelValues(label(e.Run.Source), e.Run.Outcome).Inc()
		m.runDuration.WithLabelValues(label(e.Run.Source)).Observe(e.Run.Duration.Seconds())
		main := e.Run.CostUSD
		if f := e.Run.Fast; f != nil {
			// The fast model's share under its own name.
			fast := label(f.Model)
			m.tokens.WithLabelValues(fast, "input").Add(float64(f.Usage.InputTokens))
			m.tokens.WithLabelValues(fast, "output").Add(float64(f.Usage.OutputTokens))
			if f.CostUSD != nil {
				m.costUSD.WithLabelValues(fast).Add(*f.CostUSD)
				if main != nil {
					rest := *main - *f.CostUSD
					main = &rest
				}
			}
		}
		if main != nil {
			m.costUSD.WithLabelValues(label(e.Run.Model)).Add(*main)
		}
		if b := e.Run.Budget; b != nil && b.Ended {
			m.budgetEnded.WithLabelValues(b.Scope).Inc()
		}
	}
}

// SetBudgets publishes the configured budgets; 0 is unlimited and not
// published.
func (m *Metrics) SetBudgets(question, incident, day float64) {
	for scope, v := range map[string]float64{"question": question, "incident": incident, "day": day} {
		if v > 0 {
			m.budget.WithLabelValues(scope).Set(v)
		}
	}
}

// BudgetExhausted counts a question answered without the model because
// scope's budget was spent.
func (m *Metrics) BudgetExhausted(scope string) { m.budgetEnded.WithLabelValues(scope).Inc() }

// SetSpentToday records the day's model spend.
func (m *Metrics) SetSpentToday(usd float64) { m.spentToday.Set(usd) }

// ObserveTool counts one tool call and its duration, whoever made it (the
// agent, a Slack command, the terminal, the incident playbook): use it as
// tools.Invoker's Observe.
func (m *Metrics) ObserveTool(tool, outcome string, d time.Duration) {
	label := m.toolLabel(tool)
	m.toolCalls.WithLabelValues(label, outcome).Inc()
	m.toolDuration.WithLabelValues(label).Observe(d.Seconds())
}

// toolLabel is name when it is a registered tool, else "unknown".
func (m *Metrics) toolLabel(name string) string {
	if m.tools[name] {
		return name
	}
	return "unknown"
}

// Error counts an error in a component ("store", "slack", ...).
func (m *Metrics) Error(component string) { m.errors.WithLabelValues(component).Inc() }

// SetLeader records whether this replica leads (leader election).
func (m *Metrics) SetLeader(leading bool) {
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
}

func label(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// SlackEvent counts a Slack event, command or click and what became of it.
func (m *Metrics) SlackEvent(kind, outcome string) {
	m.slackEvents.WithLabelValues(label(kind), label(outcome)).Inc()
}

// SlackDeliveryFailed counts a message Slack did not accept.
func (m *Metrics) SlackDeliveryFailed(kind, reason string) {
	m.slackFailures.WithLabelValues(label(kind), label(reason)).Inc()
}

// ApprovalQueue reports the proposals waiting for a person: how many, and
// how long the oldest has waited.
type ApprovalQueue func() (pending int, oldest time.Duration, err error)

// WatchApprovalQueue exports the queue at every scrape, as
// watchkeeper_approvals_pending and
// watchkeeper_approval_oldest_pending_seconds. Every replica reads the
// shared store, so rules should take max() across replicas.
func (m *Metrics) WatchApprovalQueue(q ApprovalQueue) {
	read := func() (int, time.Duration) {
		n, age, err := q()
		if err != nil {
			m.Error("approval_queue")
			return 0, 0
		}
		return n, age
	}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchkeeper_approvals_pending", Help: "Proposals waiting for a decision (not yet expired).",
		}, func() float64 { n, _ := read(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "watchkeeper_approval_oldest_pending_seconds", Help: "How long the oldest proposal still waiting for a decision has waited; 0 when none waits.",
		}, func() float64 { _, age := read(); return age.Seconds() }),
	)
}
