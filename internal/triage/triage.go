// Package triage answers questions without a language model. A question in
// plain words is routed, by the words it uses, to the deterministic
// investigation that fits it — a service failing or slow, what changed, what
// is firing, whether something will run out, a service's logs — and answered
// with the same tool calls, through the same tools.Invoker, that a model
// would make, so every surface shows the same evidence. The answer states
// what the evidence says and no more: ranking, not reasoning, is what a
// model adds.
//
// The routing knows no system: services are the label values and
// deployments the configured Prometheus and cluster report, and each
// investigation uses only tools that exist here (a missing one is a step
// skipped, not an error).
package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
	"github.com/watchkeeper/watchkeeper/tools/rca/remedy"
)

// Model names the answerer in a run's summary when no language model is
// configured and the question was routed to an investigation.
const Model = "no model (deterministic investigation)"

// Note ends an answer made without a model: what a model would add, and
// how to configure one. Surfaces show it (the terminal once per session).
const Note = "Answered without a language model: the investigation that fits the question ran and its evidence is above. " +
	"A model would weigh it, follow up with its own queries and explain the cause in words. " +
	"To add one, set llm.provider and its key (watchkeeper config check says what is missing)."

// NeedsModel is said when a question fits no investigation.
const NeedsModel = "No language model is configured, and this question fits none of the investigations Watchkeeper runs without one. " +
	"To add a model, set llm.provider and its key (watchkeeper config check says what is missing)."

// NotUnderstood is a run's outcome when the question fitted no
// investigation: the answer lists what can be asked.
const NotUnderstood = "not_understood"

// Intent is the kind of question, as its words say.
type Intent string

// The intents, in the order a question is tested for them.
const (
	// Firing: what is firing or alerting now.
	Firing Intent = "firing"
	// Changes: what changed, was deployed or rolled out.
	Changes Intent = "changes"
	// Capacity: whether something will run out (memory, disk, a limit).
	Capacity Intent = "capacity"
	// Logs: a service's log lines.
	Logs Intent = "logs"
	// Health: why a service fails, errors or is slow.
	Health Intent = "health"
	// Unknown: none of the above; the answer says what can be asked.
	Unknown Intent = "unknown"
)

// Options configure a Triage.
type Options struct {
	// Invoker runs every step, as it runs the agent's calls.
	Invoker tools.Invoker
	// Now is the time of the observed systems (time.Now when nil).
	Now func() time.Time
	// Namespace is where questions that name none look (the configured
	// Kubernetes namespace); empty: everywhere.
	Namespace string
	Logger    *slog.Logger
}

// Triage routes questions to investigations. Its zero value is not usable;
// build it with New.
type Triage struct{ opts Options }

// New returns a Triage.
func New(o Options) *Triage {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Triage{opts: o}
}

// Question is what was asked, where.
type Question struct {
	Text string
	// Policy is the asker's scope (a Slack channel's); nil limits nothing.
	Policy tools.Policy
	// Source names the surface, for metrics and traces.
	Source string
	// Step is told about each step as it starts (Invoked zero) and ends.
	Step func(ctx context.Context, s Step, done bool)
}

// Step is one tool call of an investigation.
type Step struct {
	Title string
	Tool  string
	Args  json.RawMessage
	// Invoked is the call's outcome, once done.
	Invoked tools.Invoked
}

// OK reports whether the step ran and returned a result.
func (s Step) OK() bool { return s.Invoked.Outcome == tools.OutcomeOK && s.Invoked.Result != nil }

// Answer is what the investigation found.
type Answer struct {
	Intent  Intent
	Service string
	// Since is the start of the window looked at.
	Since time.Time
	// Text is the answer in Markdown: what the evidence says, then each
	// step's evidence.
	Text  string
	Steps []Step
	// Proposals are the changes the evidence points to (unstored: the
	// caller stores them for approval).
	Proposals []tools.Proposal
}

// Route returns the question's intent and the service it names, if any,
// among services.
func Route(question string, services []string) (Intent, string) {
	words := wordsOf(question)
	svc := matchService(words, services)
	has := func(stems ...string) bool {
		for _, w := range words {
			for _, s := range stems {
				if strings.HasPrefix(w, s) {
					return true
				}
			}
		}
		return false
	}
	lower := strings.ToLower(question)
	phrase := func(ps ...string) bool {
		for _, p := range ps {
			if strings.Contains(lower, p) {
				return true
			}
		}
		return false
	}
	// The most specific wish first: "show checkout's error logs" asks for
	// logs, "why is checkout failing since the deploy" for the failure.
	switch {
	case has("log"):
		return Logs, svc
	case has("firing", "alert", "paging"):
		return Firing, svc
	case has("capacity", "forecast", "oom", "exhaust") || phrase("run out", "runs out", "running out", "fill up", "fills up", "filling up"):
		return Capacity, svc
	case has("error", "fail", "slow", "latenc", "down", "broken", "5xx", "timeout", "outage", "wrong", "problem", "issue", "degrad", "why"):
		return Health, svc
	case has("deploy", "rollout", "rolled", "release", "changed", "change"):
		return Changes, svc
	case svc != "":
		return Health, svc
	}
	return Unknown, svc
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}][\p{L}\p{N}_.\-]*`)

func wordsOf(s string) []string {
	var out []string
	for _, w := range wordRE.FindAllString(strings.ToLower(s), -1) {
		out = append(out, strings.TrimRight(w, ".-"))
	}
	return out
}

// matchService finds a service the words name: exactly, or as the part of
// a longer name before or after a separator ("checkout" names
// "checkout-api"), or in a possessive ("checkout's"). The longest exact
// match wins.
func matchService(words, services []string) string {
	best := ""
	for _, s := range services {
		ls := strings.ToLower(s)
		for _, w := range words {
			w = strings.TrimSuffix(strings.TrimSuffix(w, "'s"), "’s")
			if w == ls && len(s) > len(best) {
				best = s
			}
		}
	}
	if best != "" {
		return best
	}
	for _, s := range services {
		parts := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		for _, w := range words {
			for _, p := range parts {
				if len(p) >= 4 && p == w && (best == "" || len(s) < len(best)) {
					best = s
				}
			}
		}
	}
	return best
}

// Answer routes q and runs its investigation.
func (t *Triage) Answer(ctx context.Context, q Question) Answer {
	now := t.opts.Now().UTC()
	services := t.services(ctx, q)
	intent, svc := Route(q.Text, services)
	since, explicit := sinceOf(q.Text, now)
	a := Answer{Intent: intent, Service: svc, Since: since}
	r := &run{t: t, q: q, ctx: ctx, a: &a}
	switch intent {
	case Firing:
		r.step("What is firing", "prom_alerts", map[string]any{})
	case Changes:
		r.step("What changed", "kube_changes", r.nsArgs(map[string]any{"since": rfc(since.Add(-time.Hour))}))
		if svc != "" {
			r.step("Rollouts of "+svc, "kube_rollout_history", r.nsArgs(map[string]any{"name": svc}))
		}
	case Capacity:
		r.capacity(svc)
	case Logs:
		r.logs(svc, since)
	case Health:
		if !explicit {
			// No time given: from when the service's alert fired, if one
			// does, else the last half hour.
			if at, ok := r.firingSince(svc); ok {
				a.Since, since = at, at
			}
		}
		r.health(svc, since)
	}
	a.Text = compose(a)
	return a
}

// run is one investigation under way.
type run struct {
	t   *Triage
	q   Question
	ctx context.Context
	a   *Answer
	// alerts caches prom_alerts' result within the run.
	alerts *Step
}

func (r *run) nsArgs(args map[string]any) map[string]any {
	if r.t.opts.Namespace != "" {
		args["namespace"] = r.t.opts.Namespace
	}
	return args
}

// step runs one tool when it exists here and records it.
func (r *run) step(title, tool string, args map[string]any) Step {
	if _, ok := r.t.opts.Invoker.Tools.Get(tool); !ok {
		return Step{Title: title, Tool: tool}
	}
	raw, _ := json.Marshal(args)
	s := Step{Title: title, Tool: tool, Args: raw}
	if r.q.Step != nil {
		r.q.Step(r.ctx, s, false)
	}
	s.Invoked = r.t.opts.Invoker.Invoke(r.ctx, tools.Invocation{Tool: tool, Args: raw, Policy: r.q.Policy, Source: r.q.Source})
	if s.Invoked.Args != nil {
		s.Args = s.Invoked.Args
	}
	if r.q.Step != nil {
		r.q.Step(r.ctx, s, true)
	}
	r.a.Steps = append(r.a.Steps, s)
	return s
}

// quiet runs a tool for the routing itself (the services that exist): it
// is not evidence and is not shown.
func (t *Triage) quiet(ctx context.Context, q Question, tool string, args map[string]any) (tools.Invoked, bool) {
	if _, ok := t.opts.Invoker.Tools.Get(tool); !ok {
		return tools.Invoked{}, false
	}
	raw, _ := json.Marshal(args)
	inv := t.opts.Invoker.Invoke(ctx, tools.Invocation{Tool: tool, Args: raw, Policy: q.Policy, Source: q.Source})
	return inv, inv.Outcome == tools.OutcomeOK && inv.Result != nil
}

// serviceLabels are the labels that name a service in the usual metric
// conventions (Prometheus, Kubernetes, OpenTelemetry).
var serviceLabels = []string{"service", "app", "job", "deployment", "container", "service_name"}

// services lists the names a question may mean: label values that name
// services, and deployments.
func (t *Triage) services(ctx context.Context, q Question) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, l := range serviceLabels {
		inv, ok := t.quiet(ctx, q, "prom_labels", map[string]any{"label": l})
		if !ok {
			break // no Prometheus here (or it is down): the next labels fail alike
		}
		if vs, ok := inv.Result.Data.([]string); ok {
			for _, v := range vs {
				add(v)
			}
		}
	}
	args := map[string]any{"kind": "deployments"}
	if t.opts.Namespace != "" {
		args["namespace"] = t.opts.Namespace
	}
	if inv, ok := t.quiet(ctx, q, "kube_get", args); ok {
		for _, n := range firstColumn(inv.Result.Text) {
			add(n)
		}
	}
	return out
}

// firstColumn reads the names of a kubectl-style table: the first field
// of each row after the NAME header.
func firstColumn(text string) []string {
	var out []string
	header := false
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "<"):
		case strings.EqualFold(f[0], "NAME") || strings.EqualFold(f[0], "NAMESPACE"):
			header = true
		case header:
			out = append(out, f[0])
		}
	}
	return out
}

// sinceOf finds "since 14:00", "since 20 minutes ago", "in the last hour"
// in the question; else the last half hour.
func sinceOf(question string, now time.Time) (time.Time, bool) {
	lower := strings.ToLower(question)
	for _, re := range sinceREs {
		m := re.FindStringSubmatch(lower)
		if m == nil {
			continue
		}
		expr := strings.TrimSpace(m[1])
		if strings.HasPrefix(re.String(), `(?:in|over|during) the (?:last|past)`) {
			expr = lastToAgo(expr)
		}
		if t, err := clock.Resolve(expr, now); err == nil && !t.After(now) {
			return t, true
		}
	}
	return now.Add(-30 * time.Minute), false
}

var sinceREs = []*regexp.Regexp{
	regexp.MustCompile(`(?:in|over|during) the (?:last|past) ((?:\d+\s*)?(?:[a-z]+))`),
	regexp.MustCompile(`since ([0-9:.apm ]+(?:ago)?|[0-9]+\s*[a-z]+ ago|yesterday|today)`),
	regexp.MustCompile(`(?:started|began|from) (?:at )?([0-9]{1,2}:[0-9]{2})`),
}

// lastToAgo turns "hour", "2 hours", "30 minutes" into "1h ago" forms the
// clock resolves.
func lastToAgo(s string) string {
	fields := strings.Fields(s)
	n := "1"
	unit := s
	if len(fields) == 2 {
		n, unit = fields[0], fields[1]
	}
	switch {
	case strings.HasPrefix(unit, "min"):
		return n + "m ago"
	case strings.HasPrefix(unit, "h"):
		return n + "h ago"
	case strings.HasPrefix(unit, "day"):
		return n + "d ago"
	}
	return s
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// firingSince returns when the service's earliest firing alert became
// active.
func (r *run) firingSince(svc string) (time.Time, bool) {
	s := r.step("What is firing", "prom_alerts", map[string]any{})
	r.alerts = &s
	if !s.OK() {
		return time.Time{}, false
	}
	var best time.Time
	for _, al := range alertsIn(s.Invoked.Result.Data) {
		if al.State != "firing" || (svc != "" && !al.names(svc)) {
			continue
		}
		if best.IsZero() || al.ActiveAt.Before(best) {
			best = al.ActiveAt
		}
	}
	// The alert fires after its condition held for a while: the change
	// began a little earlier.
	return best.Add(-5 * time.Minute), !best.IsZero()
}

type alert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
}

func (a alert) names(svc string) bool {
	for _, l := range serviceLabels {
		if a.Labels[l] == svc {
			return true
		}
	}
	return false
}

func alertsIn(data any) []alert {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil
	}
	var out []alert
	_ = json.Unmarshal(raw, &out)
	return out
}

// health is the first look at a service that fails or is slow: what the
// incident playbook runs for an alert, for the service asked about.
func (r *run) health(svc string, since time.Time) {
	if r.alerts == nil {
		s := r.step("What is firing", "prom_alerts", map[string]any{})
		r.alerts = &s
	}
	r.step("What else is abnormal", "anomaly_scan", r.nsArgs(map[string]any{"start": rfc(since.Add(-15 * time.Minute))}))
	rank := r.step("Likely root causes", "rca_rank", r.nsArgs(map[string]any{"onset": rfc(since)}))
	if svc != "" {
		r.logs(svc, since)
	}
	r.step("Recent changes", "kube_changes", r.nsArgs(map[string]any{"since": rfc(since.Add(-time.Hour))}))
	rb := map[string]any{}
	if svc != "" {
		rb["service"] = svc
	}
	r.step("The runbook", "runbook_find", rb)
	r.propose(rank, svc)
}

// propose asks the remediation tool for the first step of the plan the
// ranking's top candidate calls for, when the top candidate is the service
// asked about (or none was named) and its evidence has a known shape
// (remedy.Of).
func (r *run) propose(rank Step, svc string) {
	if !rank.OK() {
		return
	}
	rem, ok := remedy.Of(rank.Invoked.Result.Data)
	if !ok || (svc != "" && rem.Service != svc) {
		return
	}
	s := r.step("The remediation plan's first step", "kube_remediate", r.nsArgs(map[string]any{
		"name": rem.Service, "signature": rem.Signature, "reason": rem.Reason,
	}))
	if s.OK() && s.Invoked.Result.Proposal != nil {
		r.a.Proposals = append(r.a.Proposals, *s.Invoked.Result.Proposal)
	}
}

func (r *run) logs(svc string, since time.Time) {
	args := map[string]any{"start": rfc(since.Add(-15 * time.Minute))}
	if svc != "" {
		args["service"] = svc
	}
	r.step("Log templates new or surging", "logs_search", r.nsArgs(args))
}

// capacity forecasts when the service's memory reaches its limit, in the
// Kubernetes metric names (cAdvisor, kube-state-metrics).
func (r *run) capacity(svc string) {
	if svc == "" {
		r.step("What is close to a limit", "anomaly_scan", r.nsArgs(map[string]any{}))
		return
	}
	sel := fmt.Sprintf(`container=%q`, svc)
	if ns := r.t.opts.Namespace; ns != "" {
		sel += fmt.Sprintf(`, namespace=%q`, ns)
	}
	lim := r.step("Memory limit of "+svc, "prom_query",
		map[string]any{"query": fmt.Sprintf(`min(kube_pod_container_resource_limits{%s, resource="memory"})`, sel)})
	limit, ok := scalarOf(lim)
	if !ok {
		return
	}
	r.step("When "+svc+"'s memory reaches its limit", "forecast_threshold", map[string]any{
		"query": fmt.Sprintf(`container_memory_working_set_bytes{%s}`, sel), "threshold": limit})
}

// scalarOf reads the single value of an instant query's result.
func scalarOf(s Step) (float64, bool) {
	if !s.OK() {
		return 0, false
	}
	raw, err := json.Marshal(s.Invoked.Result.Data)
	if err != nil {
		return 0, false
	}
	var series []struct {
		Value  float64 `json:"value"`
		Points []struct {
			V float64 `json:"v"`
		} `json:"points"`
	}
	if json.Unmarshal(raw, &series) == nil && len(series) == 1 {
		if n := len(series[0].Points); n > 0 {
			return series[0].Points[n-1].V, true
		}
		return series[0].Value, series[0].Value != 0
	}
	return 0, false
}

// compose writes the answer: the lines of the evidence that bear on the
// question, then what was looked at.
func compose(a Answer) string {
	var b strings.Builder
	subject := "the systems"
	if a.Service != "" {
		subject = "`" + a.Service + "`"
	}
	switch a.Intent {
	case Unknown:
		b.WriteString("I could not tell what to look at from the question. Without a language model I answer questions like:\n" +
			"- why is *service* failing / slow (since 14:00)?\n- what is firing?\n- what changed in the last hour?\n" +
			"- will *service* run out of memory?\n- show *service*'s logs\n" +
			"…or run a tool yourself: `/tools` lists them.\n")
		return b.String()
	case Health:
		fmt.Fprintf(&b, "**What the evidence says about %s since %s UTC:**\n", subject, a.Since.UTC().Format("15:04"))
	default:
		fmt.Fprintf(&b, "**%s** — %s:\n", titleOf(a.Intent), subject)
	}
	// Every line cites the step it comes from as a model's answer cites a
	// tool call: the steps are the run's calls, numbered in the order they
	// were made, as the surfaces number the calls they are told of.
	var facts []string
	for i, s := range a.Steps {
		for _, f := range highlights(s, a.Service) {
			facts = append(facts, fmt.Sprintf("%s [%d]", f, i+1))
		}
	}
	if len(facts) == 0 {
		b.WriteString("- nothing stands out in what could be read.\n")
	}
	for _, f := range facts {
		b.WriteString("- " + f + "\n")
	}
	for _, p := range a.Proposals {
		cite := ""
		for i, s := range a.Steps {
			if s.OK() && s.Invoked.Result.Proposal != nil && s.Invoked.Result.Proposal.Summary == p.Summary {
				cite = fmt.Sprintf(" [%d]", i+1)
			}
		}
		fmt.Fprintf(&b, "\n**Proposed:** %s%s — it needs an approval; nothing changes until then.\n", p.Summary, cite)
	}
	var failed []string
	for i, s := range a.Steps {
		if s.Invoked.Outcome != "" && !s.OK() {
			failed = append(failed, fmt.Sprintf("%s (%s) [%d]", s.Tool, firstLine(s.Invoked.Reason), i+1))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\nNot available: %s.\n", strings.Join(failed, "; "))
	}
	return b.String()
}

func titleOf(i Intent) string {
	switch i {
	case Firing:
		return "Firing now"
	case Changes:
		return "Recent changes"
	case Capacity:
		return "Capacity"
	case Logs:
		return "Logs"
	}
	return string(i)
}

// highlights are the lines of a step's result that bear on the service:
// every line that names it, else the first lines, without the markers
// around data from the observed systems.
func highlights(s Step, svc string) []string {
	if !s.OK() {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(s.Invoked.Result.ForPeople(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.TrimLeft(l, "-• "))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	max := 3
	switch s.Tool {
	case "rca_rank":
		// The header, the top candidate and the verdict.
		var out []string
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "1.") || strings.HasPrefix(l, "Confidence") {
				l, _, _ = strings.Cut(l, "; steps to propose") // the steps are the proposal below
				out = append(out, "Root cause ranking: "+trim(l))
			}
		}
		return out
	case "kube_remediate", "prom_labels", "kube_get":
		return nil
	case "runbook_find":
		max = 1
	}
	var named []string
	if svc != "" {
		for _, l := range lines {
			if containsWord(strings.ToLower(l), strings.ToLower(svc)) {
				named = append(named, l)
			}
		}
	}
	pick := named
	if len(pick) == 0 {
		pick = lines
	}
	if len(pick) > max {
		pick = pick[:max]
	}
	out := make([]string, 0, len(pick))
	for _, l := range pick {
		out = append(out, label(s.Tool)+trim(l))
	}
	return out
}

func label(tool string) string {
	switch tool {
	case "prom_alerts":
		return "Alert: "
	case "kube_changes", "kube_rollout_history":
		return "Change: "
	case "logs_search":
		return "Logs: "
	case "anomaly_scan":
		return "Anomaly: "
	case "runbook_find":
		return "Runbook: "
	case "forecast_threshold":
		return "Forecast: "
	}
	return ""
}

func containsWord(line, w string) bool {
	for i := strings.Index(line, w); i >= 0; {
		before := i == 0 || !isWordChar(rune(line[i-1]))
		end := i + len(w)
		after := end >= len(line) || !isWordChar(rune(line[end]))
		if before && after {
			return true
		}
		next := strings.Index(line[i+1:], w)
		if next < 0 {
			break
		}
		i += next + 1
	}
	return false
}

func isWordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func trim(s string) string {
	if r := []rune(s); len(r) > 240 {
		return string(r[:240]) + "…"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return trim(l)
}
