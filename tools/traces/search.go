package traces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
)

// SearchConfig configures the traces_search tool.
type SearchConfig struct {
	Backend Backend
	// MaxSpans read per window (default 200,000): past it the rest of the
	// window's traces are left out and the answer says it is partial.
	MaxSpans int
	// MaxTokens bounds the answer (default 1,500).
	MaxTokens int
	// Top is how many rows each list shows at most (default 8).
	Top int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Limits of the limit argument: traces fetched per window.
const (
	DefaultLimit = 500
	MaxLimit     = 5000
)

// Search is the traces_search tool. It is safe for concurrent use.
type Search struct{ cfg SearchConfig }

// NewSearch returns the tool for cfg; it fails without a backend.
func NewSearch(cfg SearchConfig) (*Search, error) {
	if cfg.Backend == nil {
		return nil, errors.New("traces: no backend configured")
	}
	if cfg.MaxSpans <= 0 {
		cfg.MaxSpans = 200_000
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 1500
	}
	if cfg.Top <= 0 {
		cfg.Top = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Search{cfg: cfg}, nil
}

// Spec implements tools.Tool.
func (s *Search) Spec() tools.Spec {
	anyValue := true
	return tools.Spec{
		Name: "traces_search", Evidence: tools.EvidenceText,
		Description: "Summarise the distributed traces (" + s.cfg.Backend.Name() + ") of a service over a window: trace counts and root latency " +
			"p50/p95/p99, self time by service, calls between services (client and network time — a delay on the wire shows in the caller's " +
			"client span, not the callee's server span), the critical path of the slowest trace, where errors began (the deepest failing span), " +
			"and what is new against the hour before (new call paths, calls twice as slow, new errors). Cites example trace IDs; read one with trace_get.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"service":      tools.String("service whose traces to read (the traces it appears in); required — an error lists the known services"),
			"namespace":    tools.String("Kubernetes namespace: only spans of services in it (attribute " + NamespaceAttr + ") are read; spans of other namespaces are hidden, even within a trace"),
			"operation":    tools.String(`operation (span name) of that service, e.g. "POST /checkout"`),
			"tags":         {Type: "object", Description: `span attributes that must all match on one span of the service, e.g. {"http.response.status_code": "500"}`, AdditionalProperties: &anyValue},
			"errors":       tools.Boolean("only traces with an error"),
			"min_duration": tools.String(`only traces at least this long, e.g. "500ms", "2s"`),
			"max_duration": tools.String(`only traces at most this long`),
			"start":        tools.String(`start: RFC 3339, Unix seconds or e.g. "1h ago", "14:00"; default one hour before end`),
			"since":        tools.String(`same as start`),
			"end":          tools.String("end, same forms; default now"),
			"limit":        tools.Integer(fmt.Sprintf("traces fetched per window (default %d)", DefaultLimit), 1, MaxLimit),
		}),
	}
}

type searchArgs struct {
	Service     string            `json:"service"`
	Namespace   string            `json:"namespace"`
	Operation   string            `json:"operation"`
	Tags        map[string]string `json:"tags"`
	Errors      bool              `json:"errors"`
	MinDuration string            `json:"min_duration"`
	MaxDuration string            `json:"max_duration"`
	Start       string            `json:"start"`
	Since       string            `json:"since"`
	End         string            `json:"end"`
	Limit       int               `json:"limit"`
}

// Answer is traces_search's structured result (tools.Result.Data).
type Answer struct {
	Backend string `json:"backend"`
	Query   string `json:"query"`
	// Namespace limited the answer to spans of that namespace;
	// HiddenSpans counts the spans of other namespaces left out of the
	// window, HiddenTraces the traces with none in it.
	Namespace    string    `json:"namespace,omitempty"`
	HiddenSpans  int       `json:"hidden_spans,omitempty"`
	HiddenTraces int       `json:"hidden_traces,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	*Summary
	// Partial: the span cap or the trace limit cut a window.
	Partial bool              `json:"partial,omitempty"`
	Links   map[string]string `json:"links,omitempty"`
}

// Run implements tools.Tool.
func (s *Search) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a searchArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	q, err := s.query(a)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	ns := strings.TrimSpace(a.Namespace)
	if q.Service == "" {
		return s.askService(ctx, ns)
	}
	bq := q
	bq.Start, bq.End = q.Start.Add(-time.Hour), q.Start
	// Errors only is applied here (read matches q), not asked of the
	// store: no store can match "an error anywhere in the trace", so the
	// backends would filter a page of Limit traces after fetching it, and
	// a page of 500 with 40 errors would look like a complete answer.
	// Fetched whole, a full page says the window holds more.
	fq, fbq := q, bq
	fq.ErrorsOnly, fbq.ErrorsOnly = false, false
	var cur, prev []spans.Trace
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { var err error; cur, err = s.cfg.Backend.Search(gctx, fq); return err })
	g.Go(func() error { var err error; prev, err = s.cfg.Backend.Search(gctx, fbq); return err })
	if err := g.Wait(); err != nil {
		return s.fail(ctx, err)
	}
	// Whether the store hit the limit is a question of what it returned,
	// before any span is hidden.
	curFull, prevFull := len(cur) >= q.Limit, len(prev) >= q.Limit
	// The store matched the namespace on one span of each trace (and
	// Tempo loosely, as a substring); every span is checked here, so that
	// no span of another namespace reaches the answer whatever the store
	// did.
	cur, hiddenSpans, hiddenTraces := limitNamespace(cur, ns)
	prev, _, _ = limitNamespace(prev, ns)
	base := newWindow()
	bCut := s.read(base, prev, bq)
	w := newWindow()
	w.base = base
	cut := s.read(w, cur, q)
	sum := summarize(w, base, s.cfg.Top)
	ans := Answer{Backend: s.cfg.Backend.Name(), Query: describe(q, ns), Namespace: ns, HiddenSpans: hiddenSpans, HiddenTraces: hiddenTraces,
		Start: q.Start, End: q.End, Summary: sum}
	var notes []string
	if n := hiddenNote(ns, hiddenSpans, hiddenTraces); n != "" {
		notes = append(notes, n)
	}
	if cut > 0 {
		ans.Partial = true
		notes = append(notes, fmt.Sprintf("Partial: %d traces of the window were left out past %d spans (traces.max_spans); narrow the search (a shorter range, an operation, errors only).", cut, s.cfg.MaxSpans))
	}
	if curFull {
		ans.Partial = true
		notes = append(notes, fmt.Sprintf("The store returned the limit of %d traces: the window holds more, so counts are of a sample; narrow the search or raise limit.", q.Limit))
	}
	if bCut > 0 || prevFull {
		notes = append(notes, "The hour before was read only in part.")
	}
	text, display, links := s.render(ans, notes)
	ans.Links = links
	return tools.Result{Text: text, Display: display, Data: ans}, nil
}

// read builds the traces into w, stopping at MaxSpans; it returns how
// many traces it left out. Traces the store returned that do not match
// q (a store matches tags loosely) are skipped.
func (s *Search) read(w *windowStats, ts []spans.Trace, q spans.Query) int {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID }) // deterministic answers
	n := 0
	for i, t := range ts {
		if n+len(t.Spans) > s.cfg.MaxSpans {
			return len(ts) - i
		}
		tr := spans.Build(t)
		if !spans.Match(tr, q) {
			continue
		}
		n += len(t.Spans)
		w.add(tr)
	}
	return 0
}

func (s *Search) query(a searchArgs) (spans.Query, error) {
	now := s.cfg.Now().UTC()
	end := now
	if a.End != "" {
		t, err := clock.Resolve(a.End, now)
		if err != nil {
			return spans.Query{}, fmt.Errorf("end: %w", err)
		}
		end = t
	}
	start := end.Add(-time.Hour)
	if a.Start != "" && a.Since != "" && a.Start != a.Since {
		return spans.Query{}, errors.New("give start or since, not both")
	}
	if v := a.Start + a.Since; v != "" {
		if a.Start != "" {
			v = a.Start
		}
		t, err := clock.Resolve(v, now)
		if err != nil {
			return spans.Query{}, fmt.Errorf("start: %w", err)
		}
		start = t
	}
	if !start.Before(end) {
		return spans.Query{}, fmt.Errorf("start %s must be before end %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	q := spans.Query{Service: strings.TrimSpace(a.Service), Operation: a.Operation, Tags: a.Tags, ErrorsOnly: a.Errors, Start: start, End: end, Limit: a.Limit}
	if ns := strings.TrimSpace(a.Namespace); ns != "" {
		// The store matches the namespace like any tag: the service's
		// span must carry it (a resource attribute, so all its spans do).
		if v, ok := a.Tags[NamespaceAttr]; ok && v != ns {
			return spans.Query{}, fmt.Errorf("tags %s=%q contradicts namespace %q: give the namespace once", NamespaceAttr, v, ns)
		}
		q.Tags = make(map[string]string, len(a.Tags)+1)
		for k, v := range a.Tags {
			q.Tags[k] = v
		}
		q.Tags[NamespaceAttr] = ns
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		return spans.Query{}, fmt.Errorf("limit %d is above %d", q.Limit, MaxLimit)
	}
	for _, d := range []struct {
		name, v string
		to      *time.Duration
	}{{"min_duration", a.MinDuration, &q.MinDuration}, {"max_duration", a.MaxDuration, &q.MaxDuration}} {
		if d.v == "" {
			continue
		}
		x, err := time.ParseDuration(strings.TrimSpace(d.v))
		if err != nil || x < 0 {
			return spans.Query{}, fmt.Errorf("%s %q: write a duration such as 250ms or 2s", d.name, d.v)
		}
		*d.to = x
	}
	if q.MaxDuration > 0 && q.MinDuration > q.MaxDuration {
		return spans.Query{}, fmt.Errorf("min_duration %v is above max_duration %v", q.MinDuration, q.MaxDuration)
	}
	return q, nil
}

// askService answers a search without a service with the services the
// store knows, so the model can pick one. Limited to a namespace it lists
// none: the store's list spans every namespace, and the names of other
// namespaces' services are not this conversation's to read.
func (s *Search) askService(ctx context.Context, ns string) (tools.Result, error) {
	if ns != "" {
		return tools.Errorf("give a service: one of namespace %s (its deployments and services are named like its services; "+
			"the trace store's list of services spans every namespace, so it is not shown here)", clean(ns, 63)), nil
	}
	svcs, err := s.cfg.Backend.Services(ctx)
	if err != nil || len(svcs) == 0 {
		return tools.Errorf("give a service"), nil
	}
	sort.Strings(svcs)
	shown := svcs[:min(len(svcs), 50)]
	for i := range shown {
		shown[i] = clean(shown[i], 60)
	}
	more := ""
	if len(svcs) > len(shown) {
		more = fmt.Sprintf(" (and %d more)", len(svcs)-len(shown))
	}
	return tools.Result{Error: "give a service; the trace store knows these (untrusted names, below)",
		Text: tools.Untrusted("traces", strings.Join(shown, ", ")+more)}, nil
}

// fail turns a backend error into a result the model can act on, or a Go
// error for a store that is down.
func (s *Search) fail(ctx context.Context, err error) (tools.Result, error) {
	var qe *QueryError
	if errors.As(err, &qe) {
		return tools.Errorf("%s", qe.Error()), nil
	}
	if ctx.Err() != nil {
		return tools.Result{}, err
	}
	return tools.Result{}, fmt.Errorf("traces (%s): %w", s.cfg.Backend.Name(), err)
}

// describe writes q in words for headers; ns is the namespace the
// search is limited to (a tag of q, named as a namespace).
func describe(q spans.Query, ns string) string {
	parts := []string{"service " + clean(q.Service, 60)}
	if ns != "" {
		parts = append(parts, "namespace "+clean(ns, 63))
	}
	if q.Operation != "" {
		parts = append(parts, "operation "+clean(q.Operation, 80))
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		if ns != "" && k == NamespaceAttr {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, clean(k, 60)+"="+clean(q.Tags[k], 80))
	}
	if q.ErrorsOnly {
		parts = append(parts, "errors only")
	}
	if q.MinDuration > 0 {
		parts = append(parts, "≥ "+fmtDur(q.MinDuration))
	}
	if q.MaxDuration > 0 {
		parts = append(parts, "≤ "+fmtDur(q.MaxDuration))
	}
	return strings.Join(parts, ", ")
}

// render writes the answer for the model (within MaxTokens) and for
// people, and the links of the cited traces.
func (s *Search) render(a Answer, notes []string) (text, display string, links map[string]string) {
	layout := "15:04"
	if a.End.Sub(a.Start) >= 24*time.Hour || a.Start.YearDay() != a.End.YearDay() {
		layout = "2006-01-02 15:04"
	}
	var head strings.Builder
	fmt.Fprintf(&head, "Traces (%s), %s, %s – %s UTC: ", a.Backend, a.Query, a.Start.UTC().Format(layout), a.End.UTC().Format(layout))
	sm := a.Summary
	if sm.Traces == 0 && a.Namespace != "" {
		fmt.Fprintf(&head, "no traces in namespace %s. Spans are matched to a namespace by their %s attribute: check that the service runs in %s "+
			"and that its spans carry the attribute (the OpenTelemetry Collector's k8sattributes processor sets it); widen the range, or drop filters.\n",
			clean(a.Namespace, 63), NamespaceAttr, clean(a.Namespace, 63))
		for _, n := range notes {
			head.WriteString(n + "\n")
		}
		return head.String(), head.String(), nil
	}
	if sm.Traces == 0 {
		fmt.Fprintf(&head, "no traces. Check the service name (a search without one lists them), widen the range, or drop filters.\n")
		for _, n := range notes {
			head.WriteString(n + "\n")
		}
		return head.String(), head.String(), nil
	}
	errShare := 100 * float64(sm.ErrorTraces) / float64(sm.Traces)
	fmt.Fprintf(&head, "%d traces, %d spans, %d with errors (%.1f%%); root latency p50 %s, p95 %s, p99 %s. The hour before: %d traces.\n",
		sm.Traces, sm.Spans, sm.ErrorTraces, errShare, fmtDur(sm.P50), fmtDur(sm.P95), fmtDur(sm.P99), sm.BeforeTraces)
	if r := sm.Repairs; r != (Repairs{}) {
		fmt.Fprintf(&head, "Repaired: %s.\n", repairs(r))
	}
	for _, n := range notes {
		head.WriteString(n + "\n")
	}
	budget := s.cfg.MaxTokens*4 - head.Len() - 120 // markers and the links' head
	// Links are worth their room only when short; the body first.
	body, cited := sm.body(budget * 3 / 4)
	var lb strings.Builder
	links = map[string]string{}
	for _, id := range cited {
		if l := s.cfg.Backend.Link(id); l != "" {
			links[id] = l
			row := fmt.Sprintf("  %s %s\n", id, l)
			if head.Len()+len(body)+lb.Len()+len(row)+150 > s.cfg.MaxTokens*4 {
				continue
			}
			if lb.Len() == 0 {
				lb.WriteString("Open:\n")
			}
			lb.WriteString(row)
		}
	}
	if len(links) == 0 {
		links = nil
	}
	text = head.String() + tools.Untrusted("traces", body) + lb.String()
	if len(cited) > 0 {
		text += "Read one of the cited traces with trace_get.\n"
	}
	display = head.String() + body + lb.String()
	return text, display, links
}

func repairs(r Repairs) string {
	var parts []string
	if r.Orphans > 0 {
		parts = append(parts, fmt.Sprintf("%d orphan spans (parent missing: lost or sampled away)", r.Orphans))
	}
	if r.Cycles > 0 {
		parts = append(parts, fmt.Sprintf("%d parent-link cycles cut", r.Cycles))
	}
	if r.Skewed > 0 {
		parts = append(parts, fmt.Sprintf("%d children outside their parent's time (clock skew between hosts)", r.Skewed))
	}
	if r.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d spans dropped (repeated IDs, or past %d spans in one trace)", r.Dropped, spans.MaxSpans))
	}
	return strings.Join(parts, ", ")
}
