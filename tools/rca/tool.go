package rca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
	"github.com/watchkeeper/watchkeeper/tools/prom"
)

// Querier is what the tool needs from Prometheus (prom.Client).
type Querier interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]prom.Series, tools.Result, error)
	Now() time.Time
}

// ChangeSource lists changes (deploys, config) in a namespace and window.
type ChangeSource interface {
	Changes(ctx context.Context, namespace string, from, to time.Time) ([]Event, error)
}

// Metric is a per-service query in the case vocabulary: its result's first
// label other than __name__ names the service. $namespace is replaced by a
// regular expression.
type Metric struct {
	Name, Query string
}

// DefaultMetrics follow the common conventions (and the sandbox).
var DefaultMetrics = []Metric{
	{"latency_server_p90_s", `histogram_quantile(0.9, sum by (service, le) (rate(http_request_duration_seconds_bucket{namespace=~"$namespace"}[1m])))`},
	{"latency_client_p90_s", `histogram_quantile(0.9, sum by (source_workload, le) (rate(istio_request_duration_milliseconds_bucket{source_workload_namespace=~"$namespace", reporter="source"}[1m]))) / 1000`},
	{"success_rate_pct", `100 * (1 - sum by (service) (rate(http_requests_total{namespace=~"$namespace", code=~"5.."}[1m])) / sum by (service) (rate(http_requests_total{namespace=~"$namespace"}[1m])))`},
	{"requests_ops", `sum by (service) (rate(http_requests_total{namespace=~"$namespace"}[1m]))`},
	{"cpu_usage_pct", `100 * sum by (container) (rate(container_cpu_usage_seconds_total{namespace=~"$namespace", container!=""}[1m])) / sum by (container) (kube_pod_container_resource_limits{namespace=~"$namespace", resource="cpu"})`},
	{"mem_usage_pct", `100 * sum by (container) (container_memory_working_set_bytes{namespace=~"$namespace", container!=""}) / sum by (container) (kube_pod_container_resource_limits{namespace=~"$namespace", resource="memory"})`},
	{"restarts", `sum by (container) (increase(kube_pod_container_status_restarts_total{namespace=~"$namespace"}[2m]))`},
	// The share of a service's scrape targets that answer: a datastore or
	// a service that is down shows here, where it has no request metrics
	// of its own to fail (its callers' errors are then explained by it).
	{"available_pct", `100 * avg by (service) (up{namespace=~"$namespace"})`},
	// postgres_exporter's longest running transaction: a database's own
	// latency, which explains its callers' (it serves no HTTP).
	{"db_tx_duration_max_s", `max by (service) (pg_stat_activity_max_tx_duration{namespace=~"$namespace"})`},
}

// maxOnsetSlack bounds onset_slack: the lead-in reaches back past it.
const maxOnsetSlack = 30 * time.Minute

// DefaultTopologyQuery reads call edges from Istio's standard metrics.
const DefaultTopologyQuery = `sum by (source_workload, destination_workload) (rate(istio_requests_total{source_workload_namespace=~"$namespace", reporter="source"}[10m]))`

// ToolConfig configures rca_rank.
type ToolConfig struct {
	Prometheus Querier
	// Changes lists deploys; nil means no change evidence.
	Changes ChangeSource
	// Metrics replace DefaultMetrics; TopologyQuery replaces the Istio
	// query ("-" disables it); Edges are static caller → callee edges
	// used when the query finds none.
	Metrics       []Metric
	TopologyQuery string
	Edges         [][2]string
	// Traces, when set, adds the services' traces around the onset to
	// the case: self time, network time per call edge and errors by
	// origin tell a slow service from a slow network (spans.go).
	Traces SpanSource
}

// SpanSource finds traces; the trace backends (tools/traces) satisfy it.
type SpanSource interface {
	Search(ctx context.Context, q spans.Query) ([]spans.Trace, error)
}

// Traces fetched per service on each side of the onset, and the most
// services asked: enough for per-minute medians of the busy calls,
// bounded so one ranking reads at most a few hundred thousand spans.
const (
	tracesPerSide   = 150
	maxTraceQueries = 30
)

// NewTool returns the rca_rank tool.
func NewTool(cfg ToolConfig) (tools.Tool, error) {
	if cfg.Prometheus == nil {
		return nil, errors.New("rca_rank needs Prometheus")
	}
	if len(cfg.Metrics) == 0 {
		cfg.Metrics = DefaultMetrics
	}
	if cfg.TopologyQuery == "" {
		cfg.TopologyQuery = DefaultTopologyQuery
	}
	return rankTool{cfg}, nil
}

type rankTool struct{ cfg ToolConfig }

func (rankTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "rca_rank",
		Description: "Rank the services most likely to have caused an incident that began at a given time: each service's metrics " +
			"(latency, success rate, traffic, CPU, memory, restarts) after the onset against before it, the call graph (a caller " +
			"suffering from a slow callee points at the callee) and deploys just before. Returns candidates with evidence, a " +
			"confidence, and remediation steps to propose (nothing is changed).",
		Parameters: tools.Object(map[string]*tools.Schema{
			"namespace": tools.String("Kubernetes namespace (default: all)"),
			"onset":     tools.String(`when the incident began: RFC 3339, Unix seconds or e.g. "14:05", "20m ago" (the first alert's start)`),
			"top":       tools.Integer("candidates to describe (default 5)", 1, 20),
			"onset_slack": tools.String(`how much earlier the metrics may have begun to move than onset, e.g. "10m" for an alert's start ` +
				`(late by its rule's for: and rate window); the ranking then compares from when they moved most. Default 0: onset is used as given`),
		}, "onset"),
	}
}

func (t rankTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Namespace, Onset string
		Top              int
		OnsetSlack       string `json:"onset_slack"`
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	q := t.cfg.Prometheus
	now := q.Now().UTC()
	onset, err := clock.Resolve(a.Onset, now)
	if err != nil {
		return tools.Errorf("onset: %v", err), nil
	}
	if onset.After(now) {
		return tools.Errorf("onset %s is in the future", onset.Format(time.RFC3339)), nil
	}
	var slack time.Duration
	if a.OnsetSlack != "" {
		if slack, err = time.ParseDuration(a.OnsetSlack); err != nil || slack < 0 || slack > maxOnsetSlack {
			return tools.Errorf("onset_slack %q: a duration between 0 and %s, e.g. \"10m\"", a.OnsetSlack, maxOnsetSlack), nil
		}
	}
	top := a.Top
	if top == 0 {
		top = 5
	}
	ns := ".+"
	if a.Namespace != "" {
		ns = regexp.QuoteMeta(a.Namespace)
	}
	// The lead-in reaches back past the onset's slack, so that a refined
	// onset keeps half an hour of normal before it.
	from, to := onset.Add(-30*time.Minute-slack), minTime(now, onset.Add(15*time.Minute))
	step := 15 * time.Second
	c := &Case{Onset: onset, Metrics: map[string]map[string][]Sample{}}
	var missing []string
	for _, m := range t.cfg.Metrics {
		ps, res, err := q.QueryRange(ctx, strings.ReplaceAll(m.Query, "$namespace", ns), from, to, step)
		if err != nil {
			return tools.Result{}, err
		}
		if res.Error != "" {
			missing = append(missing, fmt.Sprintf("%s (%s)", m.Name, res.Error))
			continue
		}
		if len(ps) == 0 {
			missing = append(missing, m.Name)
		}
		for _, s := range ps {
			svc := prom.SeriesName(s.Labels)
			if c.Metrics[svc] == nil {
				c.Metrics[svc] = map[string][]Sample{}
			}
			for _, p := range s.Points {
				c.Metrics[svc][m.Name] = append(c.Metrics[svc][m.Name], Sample{p.T, p.V})
			}
		}
	}
	if len(c.Metrics) == 0 {
		return tools.Errorf("no per-service metrics found in namespace %q around %s; check the namespace, or configure rca.metrics for this Prometheus", a.Namespace, onset.Format("15:04")), nil
	}
	onsetNote := ""
	if at := refineOnset(c, onset, slack); at.Before(onset) {
		onsetNote = fmt.Sprintf(" The metrics began to move at %s, %s before the given onset; they are compared from there.",
			at.Format("15:04:05"), shortDuration(onset.Sub(at)))
		c.Onset, onset = at, at
	}
	edgeNote := ""
	if t.cfg.TopologyQuery != "-" {
		ps, res, err := q.QueryRange(ctx, strings.ReplaceAll(t.cfg.TopologyQuery, "$namespace", ns), to.Add(-time.Minute), to, time.Minute)
		if err != nil {
			return tools.Result{}, err
		}
		if res.Error == "" {
			for _, s := range ps {
				src, dst := s.Labels["source_workload"], s.Labels["destination_workload"]
				if src != "" && dst != "" && src != dst {
					c.Edges = append(c.Edges, [2]string{src, dst})
				}
			}
		}
	}
	if len(c.Edges) == 0 {
		c.Edges = t.cfg.Edges
	}
	if len(c.Edges) == 0 {
		edgeNote = " No call graph was found (no Istio metrics, none configured): candidates are ranked on their own metrics."
	}
	if t.cfg.Changes != nil {
		evs, err := t.cfg.Changes.Changes(ctx, a.Namespace, from, to)
		if err != nil {
			edgeNote += fmt.Sprintf(" Changes could not be read: %v.", err)
		}
		c.Events = evs
	}
	traceNote := ""
	if t.cfg.Traces != nil {
		traceNote = t.addTraces(ctx, c, a.Namespace, onset, from, to)
	}
	res := Analyze(c, Options{})
	var b strings.Builder
	fmt.Fprintf(&b, "Likely root causes of the incident at %s UTC, most likely first (scores 0–1: 0.3 is a clear anomaly, 0.5 a strong one; %d services, metrics %s–%s, %d call edges).%s\n",
		onset.Format("2006-01-02 15:04"), len(c.Metrics), from.Format("15:04"), to.Format("15:04"), len(c.Edges), onsetNote+edgeNote+traceNote)
	for i, r := range res.Ranking {
		if i == top {
			break
		}
		b.WriteString(describeCandidate(i+1, r, onset))
		b.WriteString("\n")
	}
	if len(res.Ranking) > 0 {
		first := res.Ranking[0]
		fmt.Fprintf(&b, "Confidence that %s is the cause: %.2f (%s). Its evidence looks like %s; steps to propose, in order (each needs approval):\n",
			first.Service, res.Confidence, res.Likelihood, res.Signature.Kind)
		for i, s := range res.Signature.Steps {
			fmt.Fprintf(&b, "  %d) %s\n", i+1, s)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "No data for: %s.\n", strings.Join(missing, ", "))
	}
	return tools.Result{Text: b.String(), Data: res}, nil
}

// describeCandidate is one line of the ranking, evidence first: what
// decided, the change close to the onset, then the strongest other moves.
func describeCandidate(n int, r Ranked, onset time.Time) string {
	var parts []string
	if r.Change != nil {
		when := "at the onset"
		if d := r.Change.Time.Sub(onset).Round(time.Second); d < 0 {
			when = shortDuration(-d) + " before the onset"
		} else if d > 0 {
			when = shortDuration(d) + " after the onset"
		}
		ch := fmt.Sprintf("%s at %s, %s", r.Change.Kind, r.Change.Time.Format("15:04"), when)
		if r.Change.Detail != "" {
			ch += " (" + r.Change.Detail + ")"
		}
		parts = append(parts, ch)
	}
	decided := r.Decided
	if r.Change != nil {
		// Decided repeats the change first; it is said above.
		if _, rest, ok := strings.Cut(decided, "; "); ok {
			decided = rest
		}
	}
	if r.Score < clearAnomaly && r.Change == nil {
		decided = "nothing clear; the strongest move: " + decided
	}
	parts = append(parts, decided)
	for _, e := range r.Evidence {
		if len(parts) >= 4 || e.Score < clearAnomaly {
			break
		}
		if d := describe(e); !strings.Contains(decided, d) {
			parts = append(parts, d)
		}
	}
	return fmt.Sprintf("%d. %s — %.2f: %s", n, r.Service, r.Score, strings.Join(parts, "; "))
}

// shortDuration writes 30s, 2m, 2m30s, 1h5m: how a person says it.
func shortDuration(d time.Duration) string {
	if d >= time.Minute {
		d = d.Round(time.Second)
		if d >= time.Hour {
			d = d.Round(time.Minute)
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// KubeChanges reads deploys from Kubernetes: each ReplicaSet created in
// the window is a rollout of its Deployment (a new revision, or a rollback).
type KubeChanges struct {
	Client kubernetes.Interface
}

// Changes implements ChangeSource.
func (k KubeChanges) Changes(ctx context.Context, namespace string, from, to time.Time) ([]Event, error) {
	list, err := k.Client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ReplicaSets: %w", err)
	}
	var out []Event
	for _, rs := range list.Items {
		t := rs.CreationTimestamp.Time
		if t.Before(from) || t.After(to) {
			continue
		}
		owner := ownerDeployment(rs)
		if owner == "" {
			continue
		}
		detail := "revision " + rs.Annotations["deployment.kubernetes.io/revision"]
		if cs := rs.Spec.Template.Spec.Containers; len(cs) > 0 {
			detail += ", image " + cs[0].Image
		}
		out = append(out, Event{Time: t.UTC(), Service: owner, Kind: "deploy", Detail: detail})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func ownerDeployment(rs appsv1.ReplicaSet) string {
	for _, o := range rs.OwnerReferences {
		if o.Kind == "Deployment" {
			return o.Name
		}
	}
	return ""
}

// namespaceAttr is the resource attribute (OpenTelemetry's Kubernetes
// conventions) that limits traces to a namespace.
const namespaceAttr = "k8s.namespace.name"

// addTraces fetches each service's traces before and after the onset into
// c.Spans and says in a sentence what it used or why it could not. With a
// namespace, only spans that carry it are used (a span without the
// attribute is left out: a namespace-limited conversation must not rank
// another team's services), and a span whose parent was left out becomes
// a root.
func (t rankTool) addTraces(ctx context.Context, c *Case, namespace string, onset, from, to time.Time) string {
	services := c.Services()
	if len(services) > maxTraceQueries/2 {
		services = services[:maxTraceQueries/2]
	}
	seen := map[string]bool{}
	var failed []string
	for _, svc := range services {
		for _, w := range [][2]time.Time{{from, onset}, {onset, to}} {
			q := spans.Query{Service: svc, Start: w[0], End: w[1], Limit: tracesPerSide}
			if namespace != "" {
				q.Tags = map[string]string{namespaceAttr: namespace}
			}
			trs, err := t.cfg.Traces.Search(ctx, q)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Sprintf(" Traces were not read: %v.", ctx.Err())
				}
				failed = append(failed, svc)
				continue
			}
			for _, tr := range trs {
				if seen[tr.ID] {
					continue
				}
				seen[tr.ID] = true
				in := func(s spans.Span) bool { return namespace == "" || s.Attrs[namespaceAttr] == namespace }
				kept := map[string]bool{}
				for _, s := range tr.Spans {
					if in(s) && s.SpanID != "" {
						kept[s.SpanID] = true
					}
				}
				for _, s := range tr.Spans {
					// Each span by its own namespace: span IDs can repeat
					// across services (B3's shared spans), so membership
					// of the ID set proves nothing.
					if !in(s) {
						continue
					}
					if !kept[s.ParentID] {
						s.ParentID = ""
					}
					s.Attrs, s.Events = attrsForRanking(s.Attrs), nil
					c.Spans = append(c.Spans, s)
				}
			}
		}
	}
	if namespace != "" {
		// Calls out of the namespace must not make their callees
		// candidates: only the services whose metrics the namespace gave
		// are ranked from spans.
		c.spanScope = map[string]bool{}
		for s := range c.Metrics {
			c.spanScope[s] = true
		}
	}
	note := ""
	if len(seen) > 0 {
		note = fmt.Sprintf(" Traces: %d spans of %d traces add self time, network time per call and errors by origin.", len(c.Spans), len(seen))
	}
	if len(failed) > 0 {
		note += fmt.Sprintf(" Traces could not be read for %s.", strings.Join(failed, ", "))
	}
	return note
}
