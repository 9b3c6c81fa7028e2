// Package sandbox is Watchkeeper's embedded world: a deterministic
// simulation of a small online shop that the bot's production clients
// observe and act on through the same APIs they use against real systems.
//
//   - Metrics go into the real Prometheus TSDB and are queried with the real
//     PromQL engine behind a Prometheus-compatible HTTP API.
//   - Logs are served through a Loki-compatible API.
//   - Kubernetes objects live in a client-go clientset whose writes change
//     the world: a rollback ends a bad deploy, a restart clears a leak for a
//     while, scaling out relieves CPU saturation.
//   - Alerting rules are evaluated by Prometheus's rules package and
//     delivered as Alertmanager webhooks.
//   - Every request of the last hour is a trace; a tail sampler keeps
//     the telling ones behind Jaeger's query API, and with an OTLP
//     endpoint all of them go to a collector.
//
// The same scenario and seed give the same world.
//
// This package is the composition root: the model and each emulator live
// in a package of their own under it — world (the model, faults,
// scenarios, generated systems and case export), promapi, lokiapi,
// kubesim, alerting and traceapi — which import world and never each other. Sandbox
// wires them together and steps them; the names callers use are
// re-exported here, so one import is enough.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/alerting"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/kubesim"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/lokiapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/promapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/traceapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Options configure a Sandbox. The zero value runs the default scenario
// ending now.
type Options struct {
	// Scenario is a built-in name or a .yaml path ("default" when empty).
	Scenario string
	// Seed overrides the scenario's seed when not zero.
	Seed uint64
	// History overrides the scenario's history length when not zero.
	History time.Duration
	// End is when the history ends and live time begins; now by default.
	End time.Time
	// Speed is simulated seconds per real second for live time (1 when
	// zero).
	Speed float64
	// Notify routes alerts to webhooks; OnAlert is also called for each
	// notification (the demo prints them).
	Notify  NotifyConfig
	OnAlert func(WebhookMessage)
	// ExternalURL is where the sandbox's API is reachable, for alert links.
	ExternalURL string
	// Clock is the wall clock; time.Now by default.
	Clock  func() time.Time
	Logger *slog.Logger
	// OTLPEndpoint, when set, is an OpenTelemetry collector's OTLP/HTTP
	// base URL (http://localhost:4318): every generated trace of live
	// time and of the history's last five minutes is sent to it, before
	// sampling.
	OTLPEndpoint string
	// TraceShare is the head-sampling share of the simulated SDKs
	// (world.DefaultTraceShare, 0.1, when zero).
	TraceShare float64
}

// Sandbox is a running world. Its methods are safe for concurrent use.
type Sandbox struct {
	opts     Options
	scenario *Scenario
	world    *World
	metrics  *promapi.Store
	exporter *promapi.Exporter
	logs     *lokiapi.Store
	logw     *lokiapi.Writer
	kube     *kubesim.Cluster
	dynamic  dynamic.Interface
	gitops   *gitOps // nil unless the scenario has GitOps
	rules    *alerting.RuleSet
	notifier *alerting.Notifier
	traces   *traceapi.Recorder
	otlp     *traceapi.OTLPExporter
	parser   parser.Parser
	logger   *slog.Logger

	mu sync.Mutex // serialises stepping
	// recordMu serialises recording the traces of the steps made, after
	// mu (see AdvanceTo).
	recordMu sync.Mutex
	// begin is the wall clock when New was called and simEnd the
	// simulated time the history ends at, not rounded to a step; Start
	// anchors live time to them.
	begin     time.Time
	simEnd    time.Time
	startWall time.Time
	startSim  time.Time
	lastSnap  *Snapshot
	live      bool
	stop      chan struct{}
	done      chan struct{}
	stepErr   error
}

// traceHistory is how much of the history's end has traces: enough for
// an hour's search, little enough to keep the start fast. otlpHistory is
// how much of it is sent to an OTLP collector, within its queue.
const (
	traceHistory = time.Hour
	otlpHistory  = 5 * time.Minute
)

// ruleWarmup is how much of the history's end is evaluated by the alerting
// rules, so alerts already firing when the sandbox starts are known. It
// must exceed the longest `for:` of the rules (5m).
const ruleWarmup = 10 * time.Minute

// New builds the world and generates its history. It is ready to query when
// it returns; call Start to let time run.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if opts.Speed < 0 || opts.Speed > 1000 {
		return nil, fmt.Errorf("speed %v is outside 0..1000", opts.Speed)
	}
	if opts.ExternalURL == "" {
		opts.ExternalURL = "http://sandbox.watchkeeper.local"
	}
	if err := opts.Notify.Validate(); err != nil {
		return nil, err
	}
	extURL, err := url.Parse(opts.ExternalURL)
	if err != nil {
		return nil, fmt.Errorf("external URL: %w", err)
	}
	topo := world.DefaultTopology()
	sc, err := world.LoadScenario(opts.Scenario, topo)
	if err != nil {
		return nil, err
	}
	seed := sc.Seed
	if opts.Seed != 0 {
		seed = opts.Seed
	}
	history := sc.History
	if opts.History != 0 {
		history = opts.History
	}
	begin := opts.Clock()
	simEnd := opts.End
	if simEnd.IsZero() {
		simEnd = begin
	}
	// The history is computed in whole steps up to the step before
	// simEnd; live time then runs from simEnd itself, so the sandbox's
	// clock reads what the wall clock does (at speed 1).
	end := simEnd.Truncate(world.Step)
	start := end.Add(-history)

	sb := &Sandbox{opts: opts, scenario: sc, logger: opts.Logger, parser: parser.NewParser(parser.Options{}),
		logs: lokiapi.NewStore(50_000), stop: make(chan struct{}), done: make(chan struct{}), begin: begin, simEnd: simEnd}
	if sb.world, err = world.New(topo, seed, start); err != nil {
		return nil, err
	}
	for i, f := range sc.Timeline {
		if _, err := sb.world.Inject(f.FaultSpec, end.Add(f.At)); err != nil {
			return nil, fmt.Errorf("scenario %s, timeline[%d]: %w", sc.Name, i, err)
		}
	}
	sb.logw = lokiapi.NewWriter(sb.logs, topo, seed, sc.Injections, end)
	if sb.metrics, err = promapi.OpenStore(opts.Logger); err != nil {
		return nil, err
	}
	sb.exporter = promapi.NewExporter(sb.metrics, topo)
	query := rules.EngineQueryFunc(sb.metrics.Engine(), sb.metrics.Queryable())
	if sb.rules, err = alerting.LoadShopRules(query, extURL, sb.parser, opts.Logger); err != nil {
		sb.metrics.Close()
		return nil, err
	}
	sb.notifier = alerting.NewNotifier(opts.Notify, opts.ExternalURL, opts.OnAlert, opts.Logger)
	to := traceapi.Options{Share: opts.TraceShare, MaxAge: history}
	if opts.OTLPEndpoint != "" {
		if sb.otlp, err = traceapi.NewOTLPExporter(traceapi.OTLPOptions{Endpoint: opts.OTLPEndpoint,
			Logger: opts.Logger.With("component", "otlp")}); err != nil {
			sb.Close()
			return nil, err
		}
		to.Exporter = sb.otlp
	}
	if sb.traces, err = traceapi.New(topo, seed, to); err != nil {
		sb.Close()
		return nil, err
	}
	if sb.kube, err = kubesim.New(sb.world, start); err != nil {
		sb.Close()
		return nil, err
	}
	sb.dynamic = kubesim.NewDynamic()
	if sc.GitOps != nil {
		sb.kube.SetDeploymentLabels(map[string]string{kubesim.InstanceLabel: gitopsAppName})
	}
	if err := sb.generate(ctx, end); err != nil {
		sb.Close()
		return nil, err
	}
	if sc.GitOps != nil {
		if sb.gitops, err = startGitOps(ctx, sb, start); err != nil {
			sb.Close()
			return nil, err
		}
	}
	return sb, nil
}

// generate writes the history up to end: metrics and logs for every step,
// rule evaluation over the last ruleWarmup, Kubernetes objects as they are
// at the end with the last hour of events.
func (sb *Sandbox) generate(ctx context.Context, end time.Time) error {
	warm := end.Add(-ruleWarmup)
	traceFrom, otlpFrom := end.Add(-traceHistory), end.Add(-otlpHistory)
	// Traces are made beside the metrics and logs, on another core when
	// there is one: snapshots are not changed once made.
	traceQ, traced := make(chan *Snapshot, 64), make(chan struct{})
	go func() {
		defer close(traced)
		for s := range traceQ {
			sb.traces.Record(s, s.Time.After(otlpFrom))
		}
	}()
	var stepErr error
	var events []WorldEvent
	sb.world.Advance(end, func(s *Snapshot) {
		if stepErr != nil || ctx.Err() != nil {
			return
		}
		sb.lastSnap = s
		if stepErr = sb.exporter.Export(s); stepErr != nil {
			return
		}
		sb.logw.Write(s)
		if s.Time.After(traceFrom) {
			traceQ <- s
		}
		events = append(events, s.Events...)
		if s.Time.After(warm) {
			if stepErr = sb.exporter.Flush(); stepErr != nil {
				return
			}
			sb.evalRules(ctx, s.Time, false)
		}
	})
	close(traceQ)
	<-traced
	if stepErr != nil {
		return stepErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sb.exporter.Flush(); err != nil {
		return err
	}
	last := *sb.lastSnap
	last.Events = nil
	for _, e := range events {
		if end.Sub(e.Time) <= time.Hour {
			last.Events = append(last.Events, e)
		}
	}
	return sb.kube.Sync(&last)
}

// evalRules evaluates the alerting rules at t; notify sends what is due.
func (sb *Sandbox) evalRules(ctx context.Context, t time.Time, notify bool) {
	alerts := sb.rules.Eval(ctx, t)
	if notify {
		sb.notifier.Update(t, alerts)
	}
}

// Start lets simulated time follow the clock at the configured speed until
// ctx ends or Close is called. Alerts firing when it starts are notified
// at once.
//
// A sandbox whose history ends now (Options.End zero) starts at the wall
// clock: the seconds spent generating the history passed in the world
// too, so "now" in the sandbox, in its alerts and in the times people are
// shown is the time on their own clock, not the last whole step before
// they started it.
func (sb *Sandbox) Start(ctx context.Context) {
	sb.mu.Lock()
	if sb.live {
		sb.mu.Unlock()
		return
	}
	sb.live = true
	sb.startWall = sb.opts.Clock()
	sb.startSim = sb.simEnd
	if sb.opts.End.IsZero() {
		sb.startSim = sb.simEnd.Add(sb.startWall.Sub(sb.begin))
	}
	evalAt := sb.world.Now() // rules are evaluated at whole steps
	sb.notifier.Update(evalAt, sb.rules.Eval(ctx, evalAt))
	sb.mu.Unlock()
	tick := time.Duration(float64(Step) / sb.opts.Speed)
	if tick > time.Second {
		tick = time.Second
	}
	go func() {
		defer close(sb.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sb.stop:
				return
			case <-t.C:
				if err := sb.AdvanceTo(ctx, sb.Now()); err != nil {
					sb.logger.Error("sandbox step failed", "err", err)
				}
			}
		}
	}()
}

// Now returns the simulated current time.
func (sb *Sandbox) Now() time.Time {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.nowLocked()
}

func (sb *Sandbox) nowLocked() time.Time {
	if !sb.live {
		return sb.world.Now()
	}
	elapsed := sb.opts.Clock().Sub(sb.startWall)
	return sb.startSim.Add(time.Duration(float64(elapsed) * sb.opts.Speed))
}

// AdvanceTo computes every step up to t: samples, logs, objects, rules and
// notifications. Tests and exports drive time with it.
func (sb *Sandbox) AdvanceTo(ctx context.Context, t time.Time) error {
	sb.mu.Lock()
	var stepErr error
	var stepped []*Snapshot
	step := func(s *Snapshot) {
		if stepErr != nil {
			return
		}
		sb.lastSnap = s
		if stepErr = sb.exporter.Export(s); stepErr != nil {
			return
		}
		if stepErr = sb.exporter.Flush(); stepErr != nil {
			return
		}
		sb.logw.Write(s)
		stepped = append(stepped, s)
		if stepErr = sb.kube.Sync(s); stepErr != nil {
			return
		}
		sb.evalRules(ctx, s.Time, true)
	}
	// GitOps syncs happen between steps, at their times: a sync writes
	// through the clientset, which calls into the world. A failed sync
	// (a tree that does not parse) stops no step.
	var syncErrs []error
	if sb.gitops != nil {
		for _, at := range sb.gitops.syncsDue(sb.world.Now(), t) {
			sb.world.Advance(at, step)
			syncErrs = append(syncErrs, sb.gitops.reconcile(ctx))
		}
	}
	sb.world.Advance(t, step)
	sb.kube.PruneEvents(sb.world.Now())
	// Traces are made after the lock is released: sampling and compressing
	// a step's traces takes longer than the rest of the step, and every
	// query of the sandbox's APIs waits for the lock. recordMu, taken
	// before mu is let go, keeps the recordings in the steps' order.
	sb.recordMu.Lock()
	sb.mu.Unlock()
	defer sb.recordMu.Unlock()
	for _, s := range stepped {
		sb.traces.Record(s, true)
	}
	return errors.Join(append(syncErrs, stepErr)...)
}

// Inject adds a fault now.
func (sb *Sandbox) Inject(spec FaultSpec) (Fault, error) {
	f, err := sb.world.Inject(spec, sb.Now())
	if err != nil {
		return Fault{}, err
	}
	return *f, nil
}

// Faults returns every fault so far.
func (sb *Sandbox) Faults() []Fault { return sb.world.Faults() }

// World returns the simulation.
func (sb *Sandbox) World() *World { return sb.world }

// Scenario returns the scenario.
func (sb *Sandbox) Scenario() *Scenario { return sb.scenario }

// Traces returns the store of the traces the sandbox kept.
func (sb *Sandbox) Traces() *spans.Store { return sb.traces.Store() }

// TraceStats returns what the trace store and the OTLP export did.
func (sb *Sandbox) TraceStats() traceapi.Stats { return sb.traces.Stats() }

// Kubernetes returns the client the bot's Kubernetes code uses.
func (sb *Sandbox) Kubernetes() kubernetes.Interface { return sb.kube.Clientset() }

// Close stops time and releases the TSDB.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	live := sb.live
	sb.live = false
	sb.mu.Unlock()
	select {
	case <-sb.stop:
	default:
		close(sb.stop)
	}
	if live {
		<-sb.done
	}
	if sb.notifier != nil {
		sb.notifier.Close()
	}
	if sb.otlp != nil {
		_ = sb.otlp.Close()
	}
	var errs []error
	if sb.metrics != nil {
		errs = append(errs, sb.metrics.Close())
	}
	if sb.gitops != nil {
		errs = append(errs, sb.gitops.close())
	}
	return errors.Join(errs...)
}
