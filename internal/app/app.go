// Package app wires Watchkeeper together: configuration in, components
// built in dependency order, started and stopped in one place. It is the
// only package that knows every other one, which keeps the rest free of
// global state and lets tests run the whole program in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"log/slog"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/conversation"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/leader"
	"github.com/watchkeeper/watchkeeper/internal/mcp"
	"github.com/watchkeeper/watchkeeper/internal/redact"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/telemetry"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/internal/version"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// Options are dependencies supplied by the caller rather than the config.
type Options struct {
	Logger *slog.Logger
	// Tools are added to the built-in tools (tests add fakes here).
	Tools []tools.Tool
	// Model replaces the configured model (tests).
	Model agent.Model
	// FastModel replaces the configured fast model, llm.fast (tests).
	FastModel agent.Model
	// Clock is the time of the observed systems, for tools and the
	// system prompt; time.Now when nil. The demo passes the sandbox's.
	Clock func() time.Time
	// Kubernetes replaces the client built from cfg.Kubernetes (the demo
	// passes the sandbox's), and Dynamic its client for other projects'
	// kinds (Argo CD Applications, Flux Kustomizations).
	Kubernetes kubernetes.Interface
	Dynamic    dynamic.Interface
	// Slack adjusts the Slack surface's options before it is built
	// (tests: a faster pace, their own logger).
	Slack func(*slack.Options)
	// Reporter shows investigations and Notifier what approvals settle
	// without a click, when Slack is not configured (the terminal's
	// chat.Follower); nil: the log.
	Reporter incident.Reporter
	Notifier approval.Notifier
}

// App is a running Watchkeeper. Close it when done.
type App struct {
	cfg    config.Config
	logger *slog.Logger
	store  store.Backend
	tools  *tools.Registry
	model  agent.Model
	agent  *agent.Agent
	// fast is llm.fast, nil when not configured; triager is an agent on
	// it that writes incidents' first assessments.
	fast      agent.Model
	triager   *agent.Agent
	memory    *conversation.Memory
	approvals *approval.Service
	metrics   *telemetry.Metrics
	tracing   telemetry.Tracing
	redactor  *redact.Redactor
	slack     *slack.Bot
	incidents *incident.Service
	playbook  incident.Playbook
	ledger    *incident.Ledger
	policy    approval.Policy
	// notifier is told what approvals settle without a click.
	notifier approval.Notifier
	// triage answers questions when no model is configured.
	triage   *triage.Triage
	runbooks *runbook.Repo
	library  *runbook.Library
	// mcpClients are the MCP servers whose tools the agent uses.
	mcpClients []*mcp.Client
	// elector is set when replicas elect a leader (leader_election).
	elector *leader.Elector
}

// New builds every component from cfg. On error, whatever was opened is
// closed again.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, logger: logger}
	if err := a.build(ctx, opts); err != nil {
		// Release whatever was opened before the failure.
		a.Close()
		return nil, err
	}
	return a, nil
}

// build constructs the components in dependency order, leaving what it
// opened in a so that Close can release it after a failure.
func (a *App) build(ctx context.Context, opts Options) error {
	cfg, logger := a.cfg, a.logger
	var err error
	a.redactor = redact.New(cfg.Secrets()...)
	a.tracing, err = telemetry.NewTracing(ctx, telemetry.TracingConfig{
		Endpoint: cfg.Telemetry.Tracing.Endpoint, Headers: cfg.Telemetry.Tracing.Headers,
		SampleRatio: cfg.Telemetry.Tracing.SampleRatio, ServiceName: cfg.Telemetry.Tracing.ServiceName,
		Version: version.Version(),
	})
	if err != nil {
		return err
	}
	a.store, err = store.Open(ctx, cfg.Store.Driver, cfg.Store.Path, cfg.Store.DSN.Reveal())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	a.runbooks, err = runbookRepo(cfg)
	if err != nil {
		return err
	}
	obs, spanSource, lib, err := observabilityTools(cfg, opts.Kubernetes, opts.Dynamic, a.runbooks, opts.Clock, logger)
	if err != nil {
		return err
	}
	a.library = lib
	all := append([]tools.Tool{clock.Tool{Now: opts.Clock}}, obs...)
	// Other MCP servers' tools: a server that does not start is reported
	// (MCPHealth: /readyz, the log) and the rest runs without it.
	a.mcpClients = connectMCP(ctx, cfg.MCP.Servers, logger.With("component", "mcp"))
	for _, c := range a.mcpClients {
		ts, skipped := c.Tools()
		for _, sk := range skipped {
			logger.Warn("an MCP tool is left out", "reason", sk)
		}
		all = append(all, ts...)
	}
	if a.runbooks != nil {
		all = append(all, runbook.PostmortemTool{Repo: a.runbooks})
	}
	a.tools, err = tools.NewRegistry(append(all, opts.Tools...)...)
	if err != nil {
		return fmt.Errorf("tools: %w", err)
	}
	a.metrics = telemetry.NewMetrics(version.Version(), version.Revision(), a.tools.Names()...)
	a.metrics.SetBudgets(cfg.LLM.Budget.QuestionUSD, cfg.LLM.Budget.IncidentUSD, cfg.LLM.Budget.DayUSD)
	a.model = opts.Model
	if a.model == nil {
		a.model, err = BuildModel(ctx, cfg.LLM.LLM, logger.With("component", "llm"))
		if err != nil {
			return fmt.Errorf("llm: %w", err)
		}
	}
	a.fast = opts.FastModel
	if a.fast == nil && a.model != nil && cfg.LLM.Fast.Enabled() {
		a.fast, err = BuildModel(ctx, cfg.LLM.FastLLM(), logger.With("component", "llm.fast"))
		if err != nil {
			return fmt.Errorf("llm.fast: %w", err)
		}
	}
	if le := cfg.LeaderElection; le.Enabled {
		if a.elector, err = newElector(cfg, opts.Kubernetes, a.metrics, logger); err != nil {
			return err
		}
	}
	ao := approval.Options{Expiry: cfg.Approval.Expiry.D(), Redactor: a.redactor, Logger: logger.With("component", "approval")}
	if opts.Clock != nil {
		// A change to a world with its own clock (the sandbox, which may
		// run faster than real time) is checked when that world's time
		// says so.
		ao.After, ao.WorldNow = worldAfter(opts.Clock), opts.Clock
	}
	a.approvals = approval.New(a.store, a.tools, ao)
	a.metrics.WatchApprovalQueue(approvalQueue(a.store, cfg.Approval.Expiry.D()))
	a.memory = conversation.New(a.store, cfg.Memory.ContextTokens, a.model, logger.With("component", "memory"))
	if a.model != nil {
		ao := agent.Options{
			Config:      AgentConfig(cfg),
			ObserveTool: a.metrics.ObserveTool,
			Redactor:    a.redactor,
			Recorder:    runRecorder{a.store},
			Proposer:    a.approvals,
			Tracer:      a.tracing.Tracer(),
			Logger:      logger.With("component", "agent"),
			WorldNow:    opts.Clock,
		}
		if a.fast != nil {
			// The triage agent is the same agent on the fast model; it
			// cuts long outputs itself rather than summarising them.
			to := ao
			to.Config.ModelName = ao.Config.FastModelName
			to.Logger = logger.With("component", "agent.triage")
			a.triager = agent.New(a.fast, a.tools, to)
			ao.Fast = a.fast
		}
		a.agent = agent.New(a.model, a.tools, ao)
		if b := cfg.LLM.Budget; b != (config.Budget{}) {
			for _, name := range []string{ao.Config.ModelName, ao.Config.FastModelName} {
				if name != "" && ao.Config.Prices.Cost(name, agent.Usage{}) == nil {
					logger.Warn("the model has no known price, so the money budgets are not held for it; add it to llm.prices (0 for a local model)",
						"model", name)
				}
			}
		}
	}
	a.triage = triageOf(a, opts.Clock)
	// Incidents are built in the order they depend on each other, each
	// complete when built: the ledger (the store's incidents) first, so
	// that the investigation and the Slack surface can change incidents;
	// the service that turns notifications into incidents last, with the
	// surface that shows them.
	a.ledger = incident.NewLedger(a.store, opts.Clock)
	channelScope := slack.ChannelScopes(cfg.Slack)
	a.playbook = incident.Playbook{Tools: a.tools, Invoker: a.Invoker(), Logger: logger.With("component", "investigation"),
		Policy:    func(channel string) tools.Policy { return channelScope(channel) },
		TrustExpr: incident.TrustedURLs(trustedGenerators(cfg)...), Timeline: a.ledger}
	if cfg.Incidents.ProposeRemediation {
		a.playbook.Proposer = a.approvals
	}
	if spanSource != nil && cfg.Traces.KeepWithIncidents {
		a.playbook.Traces = traces.Sampler{Backend: spanSource, Redact: a.redactor.Redact}
		a.playbook.Evidence = a.store
	}
	a.policy = approvalPolicy(cfg)
	if cfg.SlackEnabled() {
		if a.slack, err = a.newSlack(opts.Slack); err != nil {
			return err
		}
	}
	inc := incident.Options{Store: a.store, Ledger: a.ledger, Now: opts.Clock, StormWindow: cfg.Incidents.StormWindow.D(), Logger: logger.With("component", "incidents"),
		MaxFollowUps: cfg.Incidents.MaxInvestigations,
		Route:        func(labels map[string]string) (string, bool) { return slack.AlertChannel(cfg.Slack.Alerts, labels) }}
	if cfg.Incidents.Investigate {
		inc.Investigator = a.playbook
	}
	a.notifier = opts.Notifier
	if a.slack != nil {
		// Incidents open threads in Slack; investigations report there.
		inc.Surface, inc.Reporter = a.slack, a.slack
		if cfg.Incidents.PostmortemOnResolve {
			inc.OnResolved = a.draftPostmortem
		}
		a.notifier = a.slack
	} else {
		inc.Reporter = opts.Reporter
	}
	if a.notifier == nil {
		a.notifier = approval.LogNotifier{Logger: logger.With("component", "approval")}
	}
	a.incidents = incident.New(inc)
	return nil
}

// Close releases everything New opened, flushing traces first.
func (a *App) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.tracing.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush traces: %w", err))
	}
	for _, c := range a.mcpClients {
		if err := c.Close(); err != nil {
			a.logger.Debug("close an MCP server", "server", c.Name(), "err", err)
		}
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// HasModel reports whether questions can be answered.
func (a *App) HasModel() bool { return a.agent != nil }

// Tools returns the tool registry.
func (a *App) Tools() *tools.Registry { return a.tools }

// Invoker runs tool calls for every surface the same way: the schema, the
// caller's scope, agent.tool_timeout, redaction, metrics and traces.
func (a *App) Invoker() tools.Invoker {
	return tools.Invoker{Tools: a.tools, Timeout: a.cfg.Agent.ToolTimeout.D(), Redact: a.redactor.Redact,
		Observe: a.metrics.ObserveTool, Tracer: a.tracing.Tracer(), Logger: a.logger.With("component", "tools")}
}

// Incidents returns the incident service.
func (a *App) Incidents() *incident.Service { return a.incidents }

// Approvals returns the approval service.
func (a *App) Approvals() *approval.Service { return a.approvals }

// Store returns the store.
func (a *App) Store() store.Backend { return a.store }

// Metrics returns the metrics.
func (a *App) Metrics() *telemetry.Metrics { return a.metrics }

// Redactor returns the redactor used for everything shown or sent.
func (a *App) Redactor() *redact.Redactor { return a.redactor }

// Ask answers input in conversation conv from surface source, with memory:
// the conversation's history goes in, the run's messages are kept.
func (a *App) Ask(ctx context.Context, source, conv, input string, obs agent.Observer) (*agent.Result, error) {
	return a.AskScoped(ctx, source, conv, input, agent.Scope{}, obs)
}

// AskScoped is Ask limited to scope (a Slack channel's tools and namespaces).
func (a *App) AskScoped(ctx context.Context, source, conv, input string, scope agent.Scope, obs agent.Observer) (*agent.Result, error) {
	if a.agent == nil {
		return a.answerWithoutModel(ctx, source, conv, input, scope, obs, "")
	}
	hist, err := a.memory.History(ctx, conv)
	if err != nil {
		a.metrics.Error("memory")
		a.logger.Error("load conversation memory; answering without it", "conversation", conv, "err", err)
	}
	budget := a.budgetFor(ctx, conv)
	if budget.Scope != "" && budget.LeftUSD <= 0 {
		// Spent: the question is still answered, without the model.
		a.metrics.BudgetExhausted(budget.Scope)
		return a.answerWithoutModel(ctx, source, conv, input, scope, obs, spentNote(budget))
	}
	ag := a.agent
	if a.triager != nil && incident.IsTriage(ctx) {
		ag = a.triager
	}
	res, runErr := ag.Run(ctx, agent.Task{Input: input, History: hist, ConversationID: conv, Source: source, Scope: scope, Budget: budget},
		agent.Observers(a.metrics.Observe, obs))
	if runErr == nil {
		if err := a.memory.Append(context.WithoutCancel(ctx), conv, res.Messages); err != nil {
			a.metrics.Error("memory")
			a.logger.Error("save conversation memory", "conversation", conv, "err", err)
		}
	}
	return res, runErr
}

// Remember adds a note to a conversation's memory.
func (a *App) Remember(ctx context.Context, conv, note string) error {
	return a.memory.Append(ctx, conv, []agent.Message{{Role: agent.RoleUser, Content: a.redactor.Redact(note)}})
}

// Reset forgets a conversation.
func (a *App) Reset(ctx context.Context, conv string) error { return a.memory.Reset(ctx, conv) }

// Serve runs the long-lived server until ctx ends: /metrics, /healthz and
// /readyz, and the Slack surface when a bot token is configured (Socket
// Mode, or /slack/* on the same listener in http mode).
func (a *App) Serve(ctx context.Context) error {
	warn, err := a.cfg.CheckWebhookExposure()
	if err != nil {
		return err
	}
	if warn {
		a.logger.Warn("the Alertmanager webhook accepts notifications from anyone who can reach it (no incidents.bearer_token: "+
			"allowed by incidents.allow_unauthenticated, or served through what forwards Slack's HTTP mode); "+
			"set incidents.bearer_token, or incidents.webhook: false if Alertmanager is not used", "listen", a.cfg.Server.Listen)
	}
	if a.cfg.SharedStoreWithoutLeader() {
		a.logger.Warn("the store is PostgreSQL but leader_election is off: run one replica, or enable leader_election " +
			"(with several replicas each would deliver Slack messages and run scheduled work itself, and a message could go out twice)")
	}
	mc := a.cfg.Server.Metrics
	srv := telemetry.NewServer(a.metrics, a.logger.With("component", "http"), telemetry.ServerOptions{
		MetricsAuth: telemetry.Credentials{BearerToken: mc.BearerToken.Reveal(), Username: mc.BasicAuth.Username, Password: mc.BasicAuth.Password.Reveal()}})
	srv.AddCheck("store", a.store.Ping)
	for _, c := range a.mcpClients {
		srv.AddOptionalCheck("mcp:"+c.Name(), func(context.Context) error { return c.Health() })
	}
	ic := a.cfg.Incidents
	if ic.Webhook {
		srv.Mount("/webhooks/", a.incidents.Handler(incident.Webhook{
			Auth:      incident.WebhookAuth{BearerToken: ic.BearerToken.Reveal(), Username: ic.BasicAuth.Username, Password: ic.BasicAuth.Password.Reveal()},
			PerSecond: ic.RateLimit.PerSecond, Burst: ic.RateLimit.Burst,
		}))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bot := a.slack
	if bot != nil {
		a.logger.Info("slack enabled", "mode", a.cfg.Slack.Mode)
		if a.cfg.Slack.Mode == "http" {
			srv.Mount("/slack/", bot.Handler())
		}
	}
	if err := srv.Listen(a.cfg.Server.Listen); err != nil {
		return err
	}
	a.logger.Info("watchkeeper serving", "version", version.Version(), "listen", srv.Addr(),
		"model", a.cfg.LLM.Provider+"/"+a.cfg.LLM.Model, "tools", a.tools.Names(), "store", a.cfg.Store.Path,
		"slack", a.cfg.SlackEnabled())
	// Every long-running part runs in one group that Serve waits for:
	// when one fails or ctx ends, all stop, and nothing of this Serve is
	// still running when it returns (Close may then close the store).
	g, gctx := errgroup.WithContext(ctx)
	// Scheduled work (overdue checks of applied changes, expiring
	// proposals, incident follow-ups whose process died) is the leader's
	// with several replicas.
	g.Go(func() error { a.Background(gctx); return nil })
	if bot != nil {
		g.Go(func() error {
			if err := bot.Serve(gctx); err != nil {
				a.logger.Error("slack stopped", "err", err)
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return srv.Serve(gctx, 10*time.Second) })
	err = g.Wait()
	// Investigations and postmortems started by notifications outlive the
	// request that started them; they are given a little time to finish
	// before the store goes away (RunFollowUps takes up any that do not).
	a.incidents.Wait(10 * time.Second)
	a.logger.Info("watchkeeper stopped")
	return err
}

// Slack returns the Slack surface (built by New when Slack is configured;
// Serve runs it).
func (a *App) Slack() (*slack.Bot, error) {
	if a.slack == nil {
		return nil, errors.New("slack is not configured (slack.bot_token)")
	}
	return a.slack, nil
}

// newSlack builds the Slack surface; tune adjusts its options (tests).
func (a *App) newSlack(tune func(*slack.Options)) (*slack.Bot, error) {
	// Without a model, questions are answered by the investigation that
	// fits them (triage), so the surface always has an asker.
	o := slack.Options{
		Config: a.cfg.Slack, Asker: a.Surface("Slack"), NoModel: a.agent == nil, Tools: a.tools, Invoker: a.Invoker(), Approvals: a.approvals,
		Policy: a.policy, Incidents: a.ledger, Investigator: a.playbook,
		Expiry: a.cfg.Approval.Expiry.D(), Store: a.store, Redactor: a.redactor, Metrics: a.metrics, Leadership: a.leadership(),
		TrustedLinks: incident.TrustedURLs(trustedGenerators(a.cfg)...),
		Logger:       a.logger.With("component", "slack"),
	}
	if tune != nil {
		tune(&o)
	}
	return slack.New(o)
}

// draftPostmortem is the postmortem follow-up of a resolved incident.
func (a *App) draftPostmortem(ctx context.Context, in incident.Incident) {
	// The resolve's sender asked for it: the commit it proposes needs an
	// approver, so a forged resolve pushes nothing.
	requester := in.Data.ResolvedBy
	if requester == "" {
		requester = "alertmanager"
	}
	a.slack.DraftPostmortem(approval.WithRequester(ctx, requester), in)
	// Recorded after drafting: the record is what tells a restarted
	// leader the postmortem was done (incident follow-ups).
	if _, err := a.ledger.Record(ctx, in.ID, "postmortem", "postmortem drafted automatically on resolution", "watchkeeper"); err != nil {
		a.logger.Warn("record the postmortem on the incident timeline", "incident", in.ID, "err", err)
	}
}

// Background runs the work that outlives a request until ctx ends, and
// returns when all of it has stopped: checks of the changes applied here,
// and the scheduled work (overdue checks, expiry, incident follow-ups) —
// the leader's when replicas elect one. Serve runs it; a terminal session
// runs it beside the chat.
func (a *App) Background(ctx context.Context) {
	var g errgroup.Group
	// Changes applied here are checked here when due.
	g.Go(func() error { a.approvals.Run(ctx, a.notifier); return nil })
	if a.elector != nil {
		g.Go(func() error { a.elector.Run(ctx); return nil })
		g.Go(func() error {
			a.elector.While(ctx, func(ctx context.Context) { a.approvals.RunScheduled(ctx, a.notifier) })
			return nil
		})
		g.Go(func() error { a.elector.While(ctx, a.incidents.RunFollowUps); return nil })
	} else {
		// Whatever a crash left half-way is settled now (once it is old
		// enough that no other process can still be applying it: the old
		// pod of a rolling update may be).
		a.approvals.Reconcile(ctx, approval.StuckAfter, a.notifier)
		g.Go(func() error { a.approvals.RunScheduled(ctx, a.notifier); return nil })
		g.Go(func() error { a.incidents.RunFollowUps(ctx); return nil })
	}
	_ = g.Wait()
}

// ApprovalPolicy is the configured approval policy: rules when there are any, else
// the approvers list.
func (a *App) ApprovalPolicy() approval.Policy { return a.policy }

func approvalPolicy(cfg config.Config) approval.Policy {
	ac := cfg.Approval
	if len(ac.Rules) == 0 {
		return approval.DefaultPolicy{Approvers: ac.Approvers, SelfApproval: ac.SelfApproval}
	}
	rp := &approval.RulePolicy{}
	if cfg.SlackEnabled() {
		rp.Groups = slack.NewUserGroups(cfg.Slack, nil) // approver groups are Slack user groups
	}
	for _, r := range ac.Rules {
		rp.Rules = append(rp.Rules, approval.Rule{Actions: r.Actions, Namespaces: r.Namespaces, Clusters: r.Clusters,
			Users: r.Users, Groups: r.Groups, TwoPerson: r.TwoPerson, SelfApproval: r.SelfApproval})
	}
	return rp
}

// NotifyAlert posts an alert line to the channel its labels route to
// (slack.alerts). It reports false when no route matches or Slack is off.
func (a *App) NotifyAlert(ctx context.Context, labels map[string]string, line string) (bool, error) {
	if a.slack == nil {
		return false, nil
	}
	ch, ok := slack.AlertChannel(a.cfg.Slack.Alerts, labels)
	if !ok {
		return false, nil
	}
	_, err := a.slack.Notify(ctx, ch, line)
	return err == nil, err
}

// trustedGenerators are the Prometheus servers whose alert expressions
// (generatorURL's g0.expr) the investigation may run: the configured ones
// unless incidents.trusted_generator_urls lists others.
func trustedGenerators(cfg config.Config) []string {
	if len(cfg.Incidents.TrustedGeneratorURLs) > 0 {
		return cfg.Incidents.TrustedGeneratorURLs
	}
	var out []string
	for _, u := range []string{cfg.Prometheus.URL, cfg.Prometheus.Link.URL} {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// runRecorder stores agent runs.
type runRecorder struct{ s store.Runs }

func (r runRecorder) RecordRun(ctx context.Context, rec agent.RunRecord) error {
	return r.s.SaveRun(ctx, store.Run{
		ID: rec.RunID, ConversationID: rec.ConversationID, Source: rec.Source, Model: rec.Model, Mode: string(rec.Mode),
		Outcome: rec.Outcome, Error: rec.Error, Question: rec.Question, Answer: rec.Answer,
		StartedAt: rec.StartedAt, Duration: rec.Duration, Steps: rec.Steps, ToolCalls: rec.ToolCalls,
		InputTokens: rec.Usage.InputTokens, OutputTokens: rec.Usage.OutputTokens, CostUSD: rec.CostUSD,
		Transcript: rec.Transcript,
	})
}

// AgentConfig is the agent's configuration from cfg.
func AgentConfig(cfg config.Config) agent.Config {
	prices := agent.Prices{}
	for m, p := range cfg.LLM.Prices {
		prices[m] = agent.Price{InputPerMTok: p.InputPerMTok, OutputPerMTok: p.OutputPerMTok}
	}
	prices = prices.WithDefaults()
	mode := agent.ModeAuto
	switch cfg.LLM.ToolCalling {
	case "native":
		mode = agent.ModeNative
	case "react":
		mode = agent.ModeReAct
	}
	name := cfg.LLM.Model
	if name == "" {
		name = cfg.LLM.Deployment
	}
	fastName := cfg.LLM.Fast.Model
	if fastName == "" {
		fastName = cfg.LLM.Fast.Deployment
	}
	return agent.Config{
		MaxSteps:         cfg.Agent.MaxSteps,
		MaxParallelTools: cfg.Agent.MaxParallelTools,
		ToolOutputTokens: cfg.Agent.ToolOutputTokens,
		MaxRunTokens:     cfg.Agent.MaxRunTokens,
		RunTimeout:       cfg.Agent.RunTimeout.D(),
		ToolTimeout:      cfg.Agent.ToolTimeout.D(),
		MaxOutputTokens:  cfg.LLM.MaxOutputTokens,
		Temperature:      cfg.LLM.Temperature,
		Mode:             mode,
		ModelName:        name,
		Prices:           prices,
		FastModelName:    fastName,
	}
}

// Surface is the app as seen from one surface: questions are tagged with
// the surface's name in prompts, metrics and run records.
type Surface struct {
	app    *App
	source string
}

// Surface returns the app bound to source ("terminal chat", "slack").
func (a *App) Surface(source string) Surface { return Surface{app: a, source: source} }

// Ask answers input in conversation conv.
func (s Surface) Ask(ctx context.Context, conv, input string, obs agent.Observer) (*agent.Result, error) {
	return s.app.Ask(ctx, s.source, conv, input, obs)
}

// AskScoped answers input in conversation conv within scope.
func (s Surface) AskScoped(ctx context.Context, conv, input string, scope agent.Scope, obs agent.Observer) (*agent.Result, error) {
	return s.app.AskScoped(ctx, s.source, conv, input, scope, obs)
}

// Remember adds a note to a conversation's memory.
func (s Surface) Remember(ctx context.Context, conv, note string) error {
	return s.app.Remember(ctx, conv, note)
}

// Reset forgets a conversation.
func (s Surface) Reset(ctx context.Context, conv string) error { return s.app.Reset(ctx, conv) }

// NoModelHelp tells a person how to configure a model.
const NoModelHelp = `No language model is configured, so Watchkeeper cannot answer questions yet.
Configure one in watchkeeper.yaml (commented example: deploy/examples/config.yaml) or the environment, e.g.:
  OpenAI:     WATCHKEEPER_LLM_PROVIDER=openai WATCHKEEPER_LLM_MODEL=gpt-4o-mini OPENAI_API_KEY=sk-...
  Ollama:     WATCHKEEPER_LLM_PROVIDER=openai-compatible WATCHKEEPER_LLM_BASE_URL=http://localhost:11434/v1 WATCHKEEPER_LLM_MODEL=llama3.1:8b
  Anthropic:  WATCHKEEPER_LLM_PROVIDER=anthropic WATCHKEEPER_LLM_MODEL=claude-sonnet-4-5 ANTHROPIC_API_KEY=...
  Azure:      WATCHKEEPER_LLM_PROVIDER=azure WATCHKEEPER_LLM_BASE_URL=https://NAME.openai.azure.com WATCHKEEPER_LLM_DEPLOYMENT=... AZURE_OPENAI_API_KEY=...
Check it with: watchkeeper config check
Meanwhile you can run tools yourself: /tools lists them, /run TOOL JSON runs one.`

// leadership is the elector as the Slack surface sees it, nil (the only
// replica) without leader election.
func (a *App) leadership() slack.Leadership {
	if a.elector == nil {
		return nil
	}
	return a.elector
}

// newElector builds the leader election on the configured Lease.
func newElector(cfg config.Config, kube kubernetes.Interface, m *telemetry.Metrics, logger *slog.Logger) (*leader.Elector, error) {
	le := cfg.LeaderElection
	if kube == nil {
		k, _, err := kubeClient(cfg.Kubernetes)
		if err != nil {
			return nil, fmt.Errorf("leader_election needs the Kubernetes API (in-cluster, or kubernetes.kubeconfig): %w", err)
		}
		kube = k
	}
	ns := le.Namespace
	if ns == "" {
		ns = kubeNamespace(cfg.Kubernetes)
	}
	m.SetLeader(false) // until elected
	return leader.New(leader.Config{Client: kube, Namespace: ns, Name: le.LeaseName, Identity: le.Identity,
		LeaseDuration: le.LeaseDuration.D(), RenewDeadline: le.RenewDeadline.D(), RetryPeriod: le.RetryPeriod.D(),
		Logger: logger.With("component", "leader"), OnChange: m.SetLeader})
}

// approvalQueue measures the proposals waiting for a person. Expired ones
// are marked so only when someone clicks, so they are left out by age.
func approvalQueue(s store.Proposals, expiry time.Duration) telemetry.ApprovalQueue {
	if expiry <= 0 {
		expiry = 15 * time.Minute
	}
	return func() (int, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, err := s.ListProposals(ctx, store.ProposalPending, 1000)
		if err != nil {
			return 0, 0, err
		}
		n, oldest := 0, time.Duration(0)
		for _, p := range ps {
			age := time.Since(p.CreatedAt)
			if age > expiry {
				continue
			}
			n++
			oldest = max(oldest, age)
		}
		return n, oldest, nil
	}
}
