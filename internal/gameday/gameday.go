// Package gameday proves, with a report, that Watchkeeper finds and fixes
// faults: for each fault of the sandbox's catalogue and each seed it
// starts a fresh sandbox world, injects the fault where the seed puts it,
// and lets the production pipeline handle it — the sandbox's alerting
// rules, an Alertmanager-format webhook over HTTP, the incident, the
// automatic investigation and its root-cause ranking, the remediation
// proposal, an approver acting under the real approval policy, the change
// through the Kubernetes API, its check — measuring how long each took
// and what the shop's users saw.
package gameday

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/tools/prom"
	"github.com/watchkeeper/watchkeeper/tools/rca/remedy"
)

// Approver is the simulated on-call engineer's user ID: the only
// approver the game day's policy lists.
const Approver = "U_GAMEDAY"

// Options configure a game day.
type Options struct {
	// Faults are the fault kinds to play (default: the whole catalogue);
	// Runs, when set, are played instead (a game-day file's runs).
	Faults []string
	Runs   []RunSpec
	// Seeds is how many seeds each fault is played with (≥ 1).
	Seeds int
	// Speed is simulated seconds per real second (default 60, at most
	// 1000).
	Speed float64
	// Thresholds a run is judged against.
	Thresholds Thresholds
	// Dir holds each run's store.
	Dir string
	// Limit is the simulated time each run lasts after the fault (default
	// 30 minutes): what happens in it is measured, availability over all
	// of it.
	Limit time.Duration
	// Model, when set (and not "none"), is the model the agent assesses
	// each incident with, after the playbook, as it does in Slack; LLM is
	// the provider it is reached through (the configuration's llm
	// section). What the agent proposes goes to the same approver.
	Model  string
	LLM    config.LLM
	Logger *slog.Logger
}

func (o Options) withModel() bool { return o.Model != "" && o.Model != "none" }

// Validate checks o before anything runs, with errors a person can act
// on.
func (o Options) Validate() error {
	if o.Seeds < 1 {
		return fmt.Errorf("--seeds %d: play at least one seed", o.Seeds)
	}
	if o.Speed < 0 || o.Speed > 1000 {
		return fmt.Errorf("--speed %g: between 1 and 1000 simulated seconds per second", o.Speed)
	}
	for _, f := range o.Faults {
		if _, err := sandbox.LookupFault(f); err != nil {
			return err
		}
	}
	if o.withModel() && (o.LLM.Provider == "" || o.LLM.Provider == "none") {
		return fmt.Errorf("--model %s: no provider to reach it through; set llm.provider (and its base_url, api_key) in the configuration (--config FILE)", o.Model)
	}
	topo := sandbox.DefaultTopology()
	for _, r := range o.Runs {
		if err := r.validate(topo); err != nil {
			return err
		}
	}
	return o.Thresholds.validate()
}

// Run is one fault played with one seed: what was injected, what the
// pipeline did and when (durations from the fault's start, in simulated
// time), and the verdict.
type Run struct {
	// Name is the game-day file's name for the run, when it gave one.
	Name    string             `json:"name,omitempty"`
	Fault   string             `json:"fault"`
	Seed    uint64             `json:"seed"`
	Service string             `json:"service"`
	Target  string             `json:"target,omitempty"`
	Fixable bool               `json:"fixable"`
	Fix     string             `json:"fix"`
	Params  map[string]float64 `json:"params,omitempty"`

	Detected    bool     `json:"detected"`
	DetectAfter Duration `json:"detect_after,omitempty"`
	Alerts      []string `json:"alerts,omitempty"`
	RankedFirst string   `json:"ranked_first,omitempty"`
	// Ranking is the first investigation's top three and Signature its
	// top candidate's signature: what the diagnosis rested on.
	Ranking   []remedy.Candidate `json:"ranking,omitempty"`
	Signature string             `json:"signature,omitempty"`
	// Diagnosis is what rca_rank said first, as the thread shows it.
	Diagnosis string `json:"diagnosis,omitempty"`
	// Assessments are the agent's answers to the incidents (with
	// --model), AssessmentErrors why a run of it failed.
	Assessments      []string `json:"assessments,omitempty"`
	AssessmentErrors []string `json:"assessment_errors,omitempty"`

	CauseCorrect  bool     `json:"cause_correct"`
	DiagnoseAfter Duration `json:"diagnose_after,omitempty"`

	Proposals int `json:"proposals"`
	Approved  int `json:"approved"`
	Rejected  int `json:"rejected"`
	// Wrong counts approved changes to anything but the faulty service,
	// or changes for a fault no change in the cluster fixes.
	Wrong int `json:"wrong"`
	// Changes are the approved proposals' summaries, in order.
	Changes []string `json:"changes,omitempty"`

	// Escalated is true when an investigation handed the fault to a
	// person; EscalatedCause is the service it named (rca_rank's first),
	// Escalation what it said.
	Escalated      bool     `json:"escalated"`
	EscalatedCause string   `json:"escalated_cause,omitempty"`
	Escalation     string   `json:"escalation,omitempty"`
	Recovered      bool     `json:"recovered"`
	RecoverAfter   Duration `json:"recover_after,omitempty"`
	FixedBy        string   `json:"fixed_by,omitempty"`

	// Availability is the share of the shop's requests (its entry
	// service's) that succeeded from the fault to the end of the run;
	// BudgetBurned the error budget used meanwhile, as a share of what
	// the availability threshold allows over the run.
	Availability float64  `json:"availability"`
	BudgetBurned float64  `json:"error_budget_burned"`
	Simulated    Duration `json:"simulated"`
	Wall         Duration `json:"wall"`
	// FaultAt is when the fault began (simulated time); ApprovedAt when
	// the first change was approved. SLO is the entry service's success
	// ratio per 30 s from five minutes before the fault to the end.
	FaultAt    time.Time  `json:"fault_at"`
	ApprovedAt time.Time  `json:"approved_at,omitempty"`
	SLO        []SLOPoint `json:"slo,omitempty"`

	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Play runs every fault with every seed, one after the other.
func Play(ctx context.Context, o Options) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	if len(o.Runs) == 0 {
		if len(o.Faults) == 0 {
			for _, f := range sandbox.Catalogue() {
				o.Faults = append(o.Faults, string(f.Kind))
			}
		}
		for _, f := range o.Faults {
			o.Runs = append(o.Runs, RunSpec{Fault: f})
		}
	}
	if o.Speed == 0 {
		o.Speed = 60
	}
	if o.Limit <= 0 {
		o.Limit = 30 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Thresholds = o.Thresholds.withDefaults()
	rep := Report{Thresholds: o.Thresholds, Speed: o.Speed, Started: time.Now().UTC()}
	for _, rs := range o.Runs {
		for s := range o.Seeds {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			r := playOne(ctx, o, rs, uint64(s+1))
			o.Thresholds.judge(&r)
			o.Logger.Info("game day run", "fault", r.Fault, "seed", r.Seed, "service", r.Service, "pass", r.Pass, "failures", r.Failures)
			rep.Runs = append(rep.Runs, r)
		}
	}
	rep.Wall = Duration(time.Since(rep.Started))
	return rep, nil
}

// playOne plays rs with seed in a world of its own.
func playOne(ctx context.Context, o Options, rs RunSpec, seed uint64) (r Run) {
	start := time.Now()
	kind := rs.Fault
	r = Run{Name: rs.Name, Fault: kind, Seed: seed}
	defer func() { r.Wall = Duration(time.Since(start)) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	dir := filepath.Join(o.Dir, fmt.Sprintf("%s-%d", safeName(rs.label()), seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Error = err.Error()
		return r
	}
	// The webhook listens before the sandbox starts, so its notifications
	// have somewhere to go; the incident service answers once built.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Error = fmt.Sprintf("listen for the webhook: %v", err)
		return r
	}
	var hook atomic.Pointer[http.Handler]
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h := hook.Load(); h != nil {
			(*h).ServeHTTP(w, req)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cfg := config.Default()
	cfg.Store.Path = filepath.Join(dir, "watchkeeper.db")
	cfg.Sandbox.History = config.Duration(time.Hour)
	cfg.Approval.Approvers = []string{Approver}
	if o.withModel() {
		cfg.LLM.LLM = o.LLM
		cfg.LLM.Model = o.Model
	}
	sbs, err := app.StartSandbox(ctx, cfg.Sandbox, app.SandboxOptions{Scenario: "healthy", Seed: seed, Speed: o.Speed, Listen: "127.0.0.1:0",
		Webhooks: []string{"http://" + ln.Addr().String() + "/webhooks/alertmanager"}, End: StartOf(seed)}, o.Logger)
	if err != nil {
		r.Error = fmt.Sprintf("start the sandbox: %v", err)
		return r
	}
	defer sbs.Close()
	sb := sbs.Sandbox
	obs := &observer{clock: sb.Now}
	// As the demo is wired: Prometheus, Loki and Kubernetes of the
	// sandbox. (Its traces are left out: with them rca_rank's reads made
	// a diagnosis take 5m24s of simulated time instead of 3m3s at speed
	// 100, and a network delay still ranked as the caller's latency.)
	a, err := app.New(ctx, app.DemoConfig(cfg, sbs), app.Options{Logger: o.Logger, Clock: sb.Now, Kubernetes: sb.Kubernetes(), Dynamic: sb.Dynamic(), Reporter: obs, Notifier: obs})
	if err != nil {
		r.Error = fmt.Sprintf("start Watchkeeper: %v", err)
		return r
	}
	defer a.Close()
	if o.withModel() {
		obs.ask = func(ctx context.Context, conv, prompt string) (string, error) {
			res, err := a.Ask(ctx, "gameday", conv, prompt, nil)
			if res == nil {
				return "", err
			}
			return res.Answer, err
		}
	}
	var h http.Handler = a.Incidents().Handler(incident.Webhook{})
	hook.Store(&h)
	bg := make(chan struct{})
	go func() { a.Background(ctx); close(bg) }()
	defer func() { cancel(); <-bg }()

	spec, err := rs.spec(sb.World().Topology(), seed)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if _, set := rs.Params["factor"]; kind == string(sandbox.FaultCPUSaturation) && !set {
		if f, ok := saturatingFactor(ctx, sbs.URL, sb.World().Topology(), spec.Service, sb.Now(), seed); ok {
			spec.Params["factor"] = f
		}
	}
	info, _ := sandbox.LookupFault(kind)
	r.Service, r.Target, r.Params, r.Fix = spec.Service, spec.Target, spec.Params, info.Fix
	r.Fixable = !strings.HasPrefix(info.Fix, "none")
	spec.Duration = o.Limit + time.Hour // the fault lasts until fixed
	f, err := sb.Inject(spec)
	if err != nil {
		r.Error = fmt.Sprintf("inject %s: %v", kind, err)
		return r
	}
	r.FaultAt = f.Start
	play := &player{a: a, sb: sb, url: sbs.URL, obs: obs, fault: f, run: &r, policy: a.ApprovalPolicy()}
	play.loop(ctx, o)
	return r
}

// player drives one run: it approves what the remediation plan proposes,
// rejects anything else, and watches the world until the run ends.
type player struct {
	a      *app.App
	sb     *sandbox.Sandbox
	url    string // the sandbox's APIs
	obs    *observer
	fault  sandbox.Fault
	run    *Run
	policy approval.Policy
	seen   map[string]bool
}

// loop plays the run until Limit of simulated time after the fault, so
// that every run's availability covers the same span whatever happened
// in it.
func (p *player) loop(ctx context.Context, o Options) {
	p.seen = map[string]bool{}
	end := p.fault.Start.Add(o.Limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.run.Error = ctx.Err().Error()
			return
		case <-tick.C:
		}
		now := p.sb.Now()
		p.approve(ctx)
		p.observe()
		if !p.run.Recovered && p.run.Fixable && p.recovered(ctx) {
			p.run.Recovered, p.run.RecoverAfter = true, Duration(now.Sub(p.fault.Start))
		}
		if now.After(end) {
			p.finish(ctx, now)
			return
		}
	}
}

// approve decides every new pending proposal as the game day's policy
// says: the remediation plan's steps are approved (under the real
// approval policy, then applied as a click would), anything else is
// rejected.
func (p *player) approve(ctx context.Context) {
	pending, err := p.a.Approvals().List(ctx, approval.Pending, 50)
	if err != nil {
		return
	}
	for _, pr := range pending {
		if p.seen[pr.ID] {
			continue
		}
		p.seen[pr.ID] = true
		p.run.Proposals++
		req := approval.Request{Actor: Approver, ChannelMember: true, Approve: pr.Tool == "kube_remediate", Proposal: pr}
		if !req.Approve {
			if _, err := p.a.Approvals().Decide(ctx, pr.ID, Approver, false); err == nil {
				p.run.Rejected++
			}
			continue
		}
		if err := p.a.Approvals().Check(ctx, p.policy, req); err != nil {
			continue
		}
		if _, complete, err := p.a.Approvals().Approve(ctx, p.policy, req); err != nil || !complete {
			continue
		}
		p.run.Approved++
		p.run.Changes = append(p.run.Changes, pr.Summary)
		if p.run.ApprovedAt.IsZero() {
			p.run.ApprovedAt = p.sb.Now()
		}
		if !p.run.Fixable || target(pr.Args) != p.fault.Service {
			p.run.Wrong++
		}
		if _, err := p.a.Approvals().ExecuteChecked(ctx, p.policy, pr.ID, Approver); err != nil {
			p.obs.note("apply %s: %v", pr.ID, err)
		}
	}
}

// observe reads what the investigations found so far.
func (p *player) observe() {
	p.obs.mu.Lock()
	defer p.obs.mu.Unlock()
	r := p.run
	for _, in := range p.obs.incidents {
		for _, al := range in.Data.Alerts {
			if al.StartsAt.Before(p.fault.Start) {
				continue // firing before the fault: not its detection
			}
			name := al.Labels["alertname"]
			if !slices.Contains(r.Alerts, name) {
				r.Alerts = append(r.Alerts, name)
			}
			if d := al.StartsAt.Sub(p.fault.Start); !r.Detected || Duration(d) < r.DetectAfter {
				r.Detected, r.DetectAfter = true, Duration(d)
			}
		}
	}
	r.Assessments = append([]string(nil), p.obs.assessed...)
	r.AssessmentErrors = append([]string(nil), p.obs.assessErr...)
	for _, rep := range p.obs.reports {
		if r.RankedFirst == "" && rep.first != "" {
			r.RankedFirst, r.Ranking, r.Signature, r.Diagnosis = rep.first, rep.top, rep.signature, rep.text
		}
		if !r.CauseCorrect && rep.first == p.fault.Service {
			r.CauseCorrect, r.DiagnoseAfter = true, Duration(rep.at.Sub(p.fault.Start))
			r.RankedFirst = rep.first
		}
		// The first escalation counts, unless a later one names the
		// faulty service where the first did not.
		if rep.escalated != "" && (!r.Escalated || r.EscalatedCause != p.fault.Service && rep.first == p.fault.Service) {
			r.Escalated, r.EscalatedCause, r.Escalation = true, rep.first, rep.escalated
		}
	}
}

// StartOf is when a seed's world starts: a weekday in working hours
// (09:00–17:00 UTC, the hour and minute from the seed), as game days are
// played while people are around. The shop's traffic follows the time of
// day (lowest at 04:00 UTC), so a world that started at the wall clock's
// time made the same seed pass at noon and fail at night.
func StartOf(seed uint64) time.Time {
	h := fnv.New64a()
	fmt.Fprintf(h, "gameday-start/%d", seed)
	m := h.Sum64() % (8 * 60)
	return time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)
}

// recovered reports whether the fault is over for the shop's users: the
// world recorded it fixed (a rollback of the bad change), or, after an
// applied change, every incident the fault opened has resolved — its
// alerts, the shop's SLOs here, stopped firing (a scale-out relieving a
// saturation, a restart clearing a leak for a while).
func (p *player) recovered(ctx context.Context) bool {
	for _, f := range p.sb.Faults() {
		if f.ID == p.fault.ID && !f.FixedAt.IsZero() {
			p.run.FixedBy = f.FixedBy
			return true
		}
	}
	if p.run.Approved == 0 {
		return false
	}
	p.obs.mu.Lock()
	ids := make([]string, 0, len(p.obs.incidents))
	for id := range p.obs.incidents {
		ids = append(ids, id)
	}
	p.obs.mu.Unlock()
	if len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		in, err := p.a.Incidents().Get(ctx, id)
		if err != nil || in.Status != incident.Resolved {
			return false
		}
	}
	return true
}

// finish measures what the shop's users saw, from the sandbox's
// Prometheus API as an SRE would: the success ratio of the entry
// service's requests from the fault to now.
func (p *player) finish(ctx context.Context, now time.Time) {
	p.run.Simulated = Duration(now.Sub(p.fault.Start))
	c, err := prom.New(prom.Config{URL: p.url})
	if err != nil {
		p.run.Error = err.Error()
		return
	}
	entry := p.sb.World().Topology().Entry
	window := now.Sub(p.fault.Start).Round(time.Second)
	if window < time.Minute {
		window = time.Minute
	}
	q := fmt.Sprintf(`sum(increase(http_requests_total{service=%q, code!~"5.."}[%s])) / sum(increase(http_requests_total{service=%q}[%s]))`,
		entry, promDuration(window), entry, promDuration(window))
	series, _, err := c.QueryRange(ctx, q, now, now, time.Minute)
	if err != nil || len(series) == 0 || len(series[0].Points) == 0 {
		p.run.Error = fmt.Sprintf("availability: %q gave no value (%v)", q, err)
		return
	}
	p.run.Availability = series[0].Points[len(series[0].Points)-1].V
	q = fmt.Sprintf(`sum(rate(http_requests_total{service=%q, code!~"5.."}[1m])) / sum(rate(http_requests_total{service=%q}[1m]))`, entry, entry)
	series, _, err = c.QueryRange(ctx, q, p.fault.Start.Add(-5*time.Minute), now, 30*time.Second)
	if err == nil && len(series) > 0 {
		for _, pt := range series[0].Points {
			p.run.SLO = append(p.run.SLO, SLOPoint{T: pt.T.UTC(), Success: pt.V})
		}
	}
}

// SLOPoint is the entry service's success ratio at one time.
type SLOPoint struct {
	T       time.Time `json:"t"`
	Success float64   `json:"success"`
}

func promDuration(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) }

// observer is the incidents' Reporter and the approvals' Notifier: it
// records what the pipeline reported, when (in simulated time).
type observer struct {
	clock func() time.Time
	// ask runs the agent on an incident (with a model); nil without.
	ask       func(ctx context.Context, conv, prompt string) (string, error)
	mu        sync.Mutex
	assessed  []string
	assessErr []string
	incidents map[string]incident.Incident
	reports   []report
	notes     []string
}

type report struct {
	at        time.Time
	first     string
	top       []remedy.Candidate
	signature string
	text      string
	escalated string
}

func (o *observer) note(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notes = append(o.notes, fmt.Sprintf(format, a...))
}

// ReportFindings implements incident.Reporter.
func (o *observer) ReportFindings(_ context.Context, in incident.Incident, findings []incident.Finding) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.incidents == nil {
		o.incidents = map[string]incident.Incident{}
	}
	o.incidents[in.ID] = in
	rep := report{at: o.clock()}
	for _, f := range findings {
		switch {
		case f.Tool == "rca_rank" && !f.Failed:
			rep.first = remedy.First(f.Data)
			rep.top, rep.signature = remedy.Top(f.Data, 3)
			rep.text = f.Text
		case f.Escalation:
			rep.escalated = f.Text
		}
	}
	o.reports = append(o.reports, rep)
	return nil
}

// Assess implements incident.Reporter: with a model, the agent assesses
// the incident as it would in its Slack thread — what it proposes is
// requested by the notification's sender, so the approver decides it —
// and its answer is kept for the report.
func (o *observer) Assess(ctx context.Context, in incident.Incident, prompt string) error {
	if o.ask == nil {
		return nil
	}
	requester := in.Data.OpenedBy
	if requester == "" {
		requester = "alertmanager"
	}
	answer, err := o.ask(incident.WithTriage(approval.WithRequester(ctx, requester)), "incident:"+in.ID, prompt)
	o.mu.Lock()
	defer o.mu.Unlock()
	if answer != "" {
		o.assessed = append(o.assessed, answer)
	}
	if err != nil {
		o.assessErr = append(o.assessErr, err.Error())
	}
	return err
}

// Verified implements approval.Notifier.
func (o *observer) Verified(_ context.Context, v approval.Verified) {
	o.note("checked %s: %s", v.Proposal.ID, v.Result.Text)
}

// Settled implements approval.Notifier.
func (o *observer) Settled(_ context.Context, p approval.Proposal) {
	o.note("%s %s", p.ID, p.Status)
}

// saturatingFactor is the per-request CPU factor that brings service's
// demand to 1.2–2 times its CPU limit (the seed says where) at its load
// now, read from the sandbox's Prometheus as an experimenter would: a CPU
// saturation experiment is specified by the load it puts on the CPU, as
// chaos tools' CPU attacks are. The catalogue's factor (the RCA suites' 3–8
// times the cost of a request) leaves a quiet service at half its limit,
// which saturates nothing. False when the service does no work now.
func saturatingFactor(ctx context.Context, url string, topo sandbox.Topology, service string, now time.Time, seed uint64) (float64, bool) {
	spec, ok := topo.Service(service)
	c, err := prom.New(prom.Config{URL: url})
	if !ok || err != nil {
		return 0, false
	}
	q := fmt.Sprintf(`avg(rate(container_cpu_usage_seconds_total{namespace=%q, container=%q}[5m]))`, sandbox.Namespace, service)
	series, _, err := c.QueryRange(ctx, q, now, now, time.Minute)
	if err != nil || len(series) == 0 || len(series[0].Points) == 0 {
		return 0, false
	}
	work := series[0].Points[0].V - spec.CPUIdle // the requests' share of a pod's cores
	if !(work > 0) {
		return 0, false
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "gameday/cpu_saturation/load/%d", seed)
	target := 1.2 + 0.8*float64(h.Sum64()%1000)/1000
	return (target*spec.CPULimit - spec.CPUIdle) / work, true
}

// safeName keeps a run's label usable as a directory name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// target is the deployment a proposal's arguments name.
func target(args []byte) string {
	var a struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(args, &a)
	return a.Name
}
