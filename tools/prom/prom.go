// Package prom gives the agent Prometheus: instant and range queries,
// metric, label and series discovery, alerts, rules and target health. It
// speaks the standard HTTP API through client_golang, so it works with
// Prometheus, Thanos, Mimir and VictoriaMetrics.
//
// Results are evidence, not dumps: a range query becomes one line per
// series — level, extremes and when, trend, and when it changed — ranked
// and cut to a few series with a note of what was left out, plus a chart
// and a link to the same query in the UI.
package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
)

// Config configures the tools.
type Config struct {
	// URL is the API's base URL.
	URL string
	// HTTPClient carries auth, TLS and limits (endpoint.Config.Client).
	HTTPClient *http.Client
	// LinkKind is prometheus, grafana or none; LinkURL the UI's base (URL when
	// empty); Datasource Grafana's data source UID.
	LinkKind, LinkURL, Datasource string
	// MaxPoints per series for range queries when no step is given (200).
	MaxPoints int
	// TopK series are shown in detail (10).
	TopK int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Client is the Prometheus API and the tools built on it. It is safe for
// concurrent use.
type Client struct {
	api promv1.API
	cfg Config
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("prometheus: no URL configured; set prometheus.url")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("prometheus: url: %w", err)
	}
	if cfg.HTTPClient == nil {
		hc, err := endpoint.Config{Name: "prometheus"}.Client()
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = hc
	}
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 200
	}
	if cfg.TopK <= 0 {
		cfg.TopK = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LinkURL == "" {
		cfg.LinkURL = cfg.URL
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, Client: cfg.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return &Client{api: promv1.NewAPI(c), cfg: cfg}, nil
}

// Tools returns every Prometheus tool.
func (c *Client) Tools() []tools.Tool {
	return []tools.Tool{
		queryTool{c}, rangeTool{c}, metricsTool{c}, labelsTool{c}, seriesTool{c},
		alertsTool{c}, rulesTool{c}, targetsTool{c},
	}
}

// QueryRange runs a range query and returns its series, for other tools
// that analyse the data (anomaly detection, forecasts). On failure, the
// returned Result (when its Error is set) is what the model can fix;
// otherwise err is the backend's failure.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, tools.Result, error) {
	v, _, _, err := c.api.QueryRange(ctx, query, promv1.Range{Start: start, End: end, Step: step})
	if err != nil {
		res, err := c.classify(ctx, err, query)
		return nil, res, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, tools.Errorf("the query returned a %s, not series over time", v.Type()), nil
	}
	out := make([]Series, 0, len(m))
	for _, s := range m {
		pts := make([]Point, 0, len(s.Values))
		for _, p := range s.Values {
			pts = append(pts, Point{T: p.Timestamp.Time(), V: float64(p.Value)})
		}
		out = append(out, Series{Labels: metricMap(s.Metric), Points: pts})
	}
	return out, tools.Result{}, nil
}

// Now is the client's clock.
func (c *Client) Now() time.Time { return c.cfg.Now() }

// Link returns the query's link in the configured UI ("" when none).
func (c *Client) Link(query string, start, end time.Time, step time.Duration) string {
	return c.link(query, start, end, step)
}

// classify turns an API error into a result the model can act on (the
// query was wrong) or a Go error (the backend failed).
func (c *Client) classify(ctx context.Context, err error, query string) (tools.Result, error) {
	var perr *promv1.Error
	if errors.As(err, &perr) {
		switch perr.Type {
		case promv1.ErrBadData, promv1.ErrExec:
			return tools.Errorf("Prometheus rejected %s: %s", quoteQuery(query), perr.Msg), nil
		case promv1.ErrTimeout:
			return tools.Errorf("Prometheus timed out running %s: %s; narrow it (fewer series, a shorter range, a larger step)", quoteQuery(query), perr.Msg), nil
		}
	}
	if errors.Is(err, endpoint.ErrResponseTooLarge) {
		return tools.Errorf("%v", err), nil
	}
	if ctx.Err() != nil {
		return tools.Result{}, ctx.Err()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return tools.Result{}, fmt.Errorf("prometheus at %s did not answer in time (%v); narrow the query or raise prometheus.timeout", c.cfg.URL, err)
	}
	return tools.Result{}, fmt.Errorf("prometheus at %s: %w", c.cfg.URL, err)
}

func quoteQuery(q string) string {
	if q == "" {
		return "the request"
	}
	return "`" + q + "`"
}

// resolveTime reads a time argument: RFC 3339, Unix seconds, or an
// expression such as "2h ago" or "14:00" (tools/clock).
func (c *Client) resolveTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	return clock.Resolve(s, c.cfg.Now().UTC())
}

// --- instant query ---

type queryTool struct{ c *Client }

func (queryTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "prom_query",
		Description: "Run an instant PromQL query and get each series' value at one time. Use it for current state " +
			"(error ratios, saturation, what is up). Use prom_query_range for how something changed. Results with many series " +
			"show the largest values first.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query": tools.String("PromQL expression"),
			"time":  tools.String(`evaluation time: RFC 3339, Unix seconds or e.g. "10m ago"; default now`),
		}, "query"),
		PromQL: []string{"query"},
	}
}

func (t queryTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Query, Time string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	c := t.c
	ts, err := c.resolveTime(a.Time, c.cfg.Now())
	if err != nil {
		return tools.Errorf("time: %v", err), nil
	}
	v, warnings, _, err := c.api.Query(ctx, a.Query, ts)
	if err != nil {
		return c.classify(ctx, err, a.Query)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Instant query %s at %s UTC", a.Query, ts.UTC().Format("2006-01-02 15:04:05"))
	data := map[string]any{"query": a.Query, "time": ts}
	switch x := v.(type) {
	case model.Vector:
		sort.SliceStable(x, func(i, j int) bool { return math.Abs(float64(x[i].Value)) > math.Abs(float64(x[j].Value)) })
		fmt.Fprintf(&b, ": %d series", len(x))
		if len(x) == 0 {
			b.WriteString(". No series matched: check names with prom_metrics and prom_labels, or the time.\n")
		} else {
			b.WriteString("\n")
		}
		limit := 30
		rows := make([]map[string]any, 0, len(x))
		for i, s := range x {
			if i < limit {
				fmt.Fprintf(&b, "- %s = %s\n", labelString(metricMap(s.Metric)), num(float64(s.Value)))
			}
			rows = append(rows, map[string]any{"labels": metricMap(s.Metric), "value": float64(s.Value)})
		}
		if len(x) > limit {
			fmt.Fprintf(&b, "(%d more series with smaller absolute values not shown; aggregate or use topk() to narrow.)\n", len(x)-limit)
		}
		data["series"] = rows
	case *model.Scalar:
		fmt.Fprintf(&b, " = %s\n", num(float64(x.Value)))
		data["value"] = float64(x.Value)
	case *model.String:
		fmt.Fprintf(&b, " = %q\n", x.Value)
		data["value"] = x.Value
	case model.Matrix:
		b.WriteString(": the expression returns a range vector; wrap it in a function such as rate() or use prom_query_range.\n")
	}
	writeWarnings(&b, warnings)
	link := c.link(a.Query, ts.Add(-time.Hour), ts, time.Minute)
	if link != "" {
		fmt.Fprintf(&b, "Open: %s\n", link)
	}
	data["link"] = link
	return tools.Result{Text: b.String(), Data: data}, nil
}

func writeWarnings(b *strings.Builder, w promv1.Warnings) {
	for _, s := range w {
		fmt.Fprintf(b, "Warning from Prometheus: %s\n", s)
	}
}

func metricMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

// --- range query ---

type rangeTool struct{ c *Client }

func (rangeTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "prom_query_range",
		Description: "Run a PromQL range query and get, per series, its last/mean/min/max (with times), trend and the times it " +
			"changed level, ranked so the most relevant series come first, with a chart. Use it to see when and where something " +
			"changed. Aggregate (sum by (service) (...)) rather than asking for hundreds of series.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query": tools.String("PromQL expression"),
			"start": tools.String(`start: RFC 3339, Unix seconds or e.g. "2h ago", "14:00"; default one hour before end`),
			"end":   tools.String("end, same forms; default now"),
			"step":  tools.String(`resolution such as "30s" or "5m"; default: at most 200 points per series`),
			"rank_by": tools.Enum("statistic that chooses which series to show first (default max; change = biggest level shift)",
				"max", "mean", "last", "min", "change"),
			"top":             tools.Integer("how many series to describe (default 10)", 1, 50),
			"highlight_start": tools.String("start of a window to shade on the chart (e.g. an incident)"),
			"highlight_end":   tools.String("end of the shaded window"),
		}, "query"),
		PromQL: []string{"query"},
	}
}

type rangeArgs struct {
	Query          string `json:"query"`
	Start          string `json:"start"`
	End            string `json:"end"`
	Step           string `json:"step"`
	RankBy         string `json:"rank_by"`
	Top            int    `json:"top"`
	HighlightStart string `json:"highlight_start"`
	HighlightEnd   string `json:"highlight_end"`
}

// niceSteps are the resolutions steps are rounded up to.
var niceSteps = []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// ChooseStep returns the smallest nice step giving at most maxPoints
// points over the range.
func ChooseStep(start, end time.Time, maxPoints int) time.Duration {
	want := end.Sub(start) / time.Duration(maxPoints)
	for _, s := range niceSteps {
		if s >= want {
			return s
		}
	}
	return niceSteps[len(niceSteps)-1]
}

func (t rangeTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a rangeArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	c := t.c
	end, err := c.resolveTime(a.End, c.cfg.Now())
	if err != nil {
		return tools.Errorf("end: %v", err), nil
	}
	start, err := c.resolveTime(a.Start, end.Add(-time.Hour))
	if err != nil {
		return tools.Errorf("start: %v", err), nil
	}
	if !start.Before(end) {
		return tools.Errorf("start (%s) must be before end (%s)", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)), nil
	}
	step := ChooseStep(start, end, c.cfg.MaxPoints)
	if a.Step != "" {
		d, err := model.ParseDuration(a.Step)
		if err != nil || d <= 0 {
			return tools.Errorf("step %q is not a duration such as 30s or 5m", a.Step), nil
		}
		step = time.Duration(d)
		if end.Sub(start)/step > 11000 {
			return tools.Errorf("step %s gives %d points per series over this range; Prometheus allows 11,000. Use a larger step or a shorter range", a.Step, end.Sub(start)/step), nil
		}
	}
	rank := RankBy(a.RankBy)
	if rank == "" {
		rank = RankMax
	}
	top := a.Top
	if top == 0 {
		top = c.cfg.TopK
	}
	v, warnings, _, err := c.api.QueryRange(ctx, a.Query, promv1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return c.classify(ctx, err, a.Query)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return tools.Errorf("the query returned a %s, not series over time", v.Type()), nil
	}
	series := make([]Series, 0, len(m))
	for _, s := range m {
		pts := make([]Point, 0, len(s.Values))
		for _, p := range s.Values {
			pts = append(pts, Point{T: p.Timestamp.Time(), V: float64(p.Value)})
		}
		series = append(series, Series{Labels: metricMap(s.Metric), Points: pts})
	}
	sums := make([]Summary, len(series))
	byLabels := map[string]Series{}
	for i, s := range series {
		sums[i] = Summarize(s)
		byLabels[labelString(s.Labels)] = s
	}
	Rank(sums, rank)
	link := c.link(a.Query, start, end, step)
	var b strings.Builder
	b.WriteString(Render(Rendering{Query: a.Query, Start: start, End: end, Step: step, RankBy: rank, TopK: top, Link: link}, sums))
	writeWarnings(&b, warnings)
	res := tools.Result{Text: b.String(), Data: map[string]any{"query": a.Query, "start": start, "end": end, "step": step.String(),
		"summaries": sums, "link": link}}
	if len(series) > 0 {
		ordered := make([]Series, 0, len(sums))
		for _, s := range sums {
			ordered = append(ordered, byLabels[labelString(s.Labels)])
		}
		o := ChartOptions{Title: a.Query, Unit: unitOf(a.Query)}
		if a.HighlightStart != "" {
			o.HighlightStart, _ = c.resolveTime(a.HighlightStart, time.Time{})
			o.HighlightEnd, _ = c.resolveTime(a.HighlightEnd, end)
		}
		if png, err := Chart(ordered, o); err == nil {
			res.Attachments = []tools.Attachment{{Name: "chart.png", MIMEType: "image/png", Title: a.Query, Data: png}}
		}
	}
	return res, nil
}

// link returns the query in the Prometheus graph page or Grafana Explore.
func (c *Client) link(query string, start, end time.Time, step time.Duration) string {
	base := strings.TrimRight(c.cfg.LinkURL, "/")
	if base == "" || c.cfg.LinkKind == "none" {
		return ""
	}
	if c.cfg.LinkKind == "grafana" {
		ds := map[string]string{"type": "prometheus", "uid": c.cfg.Datasource}
		pane := map[string]any{"a": map[string]any{
			"datasource": c.cfg.Datasource,
			"queries":    []any{map[string]any{"refId": "A", "expr": query, "datasource": ds}},
			"range":      map[string]string{"from": fmt.Sprint(start.UnixMilli()), "to": fmt.Sprint(end.UnixMilli())},
		}}
		b, _ := json.Marshal(pane)
		return base + "/explore?schemaVersion=1&orgId=1&panes=" + url.QueryEscape(string(b))
	}
	q := url.Values{}
	q.Set("g0.expr", query)
	q.Set("g0.tab", "0")
	q.Set("g0.range_input", model.Duration(end.Sub(start)).String())
	q.Set("g0.end_input", end.UTC().Format("2006-01-02 15:04:05"))
	q.Set("g0.step_input", fmt.Sprint(int(step.Seconds())))
	return base + "/graph?" + q.Encode()
}

// --- discovery ---

type metricsTool struct{ c *Client }

func (metricsTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "prom_metrics",
		Description: "Find metric names (with type and help text) matching a search, so queries use names that exist. " +
			"Search by words such as \"http request duration\" or a regular expression.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"search": tools.String("words that must all appear in the name or help, or a regular expression; empty lists all"),
			"limit":  tools.Integer("most names to return (default 40)", 1, 500),
		}),
	}
}

func (t metricsTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Search string
		Limit  int
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Limit == 0 {
		a.Limit = 40
	}
	c := t.c
	names, _, _, err := c.api.LabelValues(ctx, "__name__", nil, time.Time{}, time.Time{})
	if err != nil {
		return c.classify(ctx, err, "")
	}
	meta, err := c.api.Metadata(ctx, "", "")
	if err != nil {
		meta = map[string][]promv1.Metadata{} // older servers: names alone still help
	}
	match := matcher(a.Search)
	var rows []string
	var found []map[string]string
	for _, n := range names {
		name := string(n)
		help, typ := "", ""
		// Metadata is per family: histogram series add _bucket etc.
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		for _, key := range []string{name, family} {
			if ms := meta[key]; len(ms) > 0 {
				help, typ = ms[0].Help, string(ms[0].Type)
				break
			}
		}
		if !match(name + " " + help) {
			continue
		}
		found = append(found, map[string]string{"name": name, "type": typ, "help": help})
		line := "- " + name
		if typ != "" {
			line += " (" + typ + ")"
		}
		if help != "" {
			line += ": " + truncate(help, 100)
		}
		rows = append(rows, line)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d metric names match %q", len(rows), a.Search)
	if len(rows) > a.Limit {
		fmt.Fprintf(&b, "; the first %d:\n%s\n(%d more; search more precisely.)\n", a.Limit, strings.Join(rows[:a.Limit], "\n"), len(rows)-a.Limit)
	} else if len(rows) > 0 {
		fmt.Fprintf(&b, ":\n%s\n", strings.Join(rows, "\n"))
	} else {
		b.WriteString(". Try fewer or other words.\n")
	}
	return tools.Result{Text: b.String(), Data: found}, nil
}

// matcher matches all words of s (case-insensitively), or s as a regular
// expression when it looks like one.
func matcher(s string) func(string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return func(string) bool { return true }
	}
	if strings.ContainsAny(s, `.*+?[]()|^$\`) {
		if re, err := regexp.Compile("(?i)" + s); err == nil {
			return re.MatchString
		}
	}
	words := strings.Fields(strings.ToLower(strings.NewReplacer("_", " ").Replace(s)))
	return func(x string) bool {
		x = strings.ToLower(strings.NewReplacer("_", " ").Replace(x))
		for _, w := range words {
			if !strings.Contains(x, w) {
				return false
			}
		}
		return true
	}
}

type labelsTool struct{ c *Client }

func (labelsTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "prom_labels",
		Description: "List the label names of series matching a selector, or the values of one label (for example every " +
			"service, or every route of one service), so queries use label values that exist.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"match": tools.String(`series selector such as http_requests_total{service="checkout"}; empty means all series`),
			"label": tools.String("a label whose values to list; empty lists label names"),
			"since": tools.String(`only series present since this time (default "1h ago")`),
		}),
		PromQL: []string{"match"},
	}
}

func (t labelsTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Match, Label, Since string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	c := t.c
	end := c.cfg.Now()
	start, err := c.resolveTime(a.Since, end.Add(-time.Hour))
	if err != nil {
		return tools.Errorf("since: %v", err), nil
	}
	var matches []string
	if a.Match != "" {
		matches = []string{a.Match}
	}
	var values []string
	what := "label names"
	if a.Label == "" {
		names, _, _, err := c.api.LabelNames(ctx, matches, start, end)
		if err != nil {
			return c.classify(ctx, err, a.Match)
		}
		for _, n := range names {
			values = append(values, string(n))
		}
	} else {
		what = fmt.Sprintf("values of %s", a.Label)
		vs, _, _, err := c.api.LabelValues(ctx, a.Label, matches, start, end)
		if err != nil {
			return c.classify(ctx, err, a.Match)
		}
		for _, v := range vs {
			values = append(values, string(v))
		}
	}
	scope := "all series"
	if a.Match != "" {
		scope = a.Match
	}
	text := fmt.Sprintf("%d %s for %s since %s UTC", len(values), what, scope, start.UTC().Format("15:04"))
	const limit = 100
	shown := values
	if len(shown) > limit {
		shown = shown[:limit]
	}
	if len(values) > 0 {
		text += ": " + strings.Join(shown, ", ")
	}
	if len(values) > limit {
		text += fmt.Sprintf(" … and %d more; narrow the selector", len(values)-limit)
	}
	return tools.Result{Text: text + "\n", Data: values}, nil
}

type seriesTool struct{ c *Client }

func (seriesTool) Spec() tools.Spec {
	return tools.Spec{
		Name:        "prom_series",
		Description: "List the series (full label sets) that match a selector, to see exactly which dimensions exist before querying.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"match": tools.String(`series selector, e.g. up{service="redis"}`),
			"limit": tools.Integer("most series to list (default 20)", 1, 200),
		}, "match"),
		PromQL: []string{"match"},
	}
}

func (t seriesTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Match string
		Limit int
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Limit == 0 {
		a.Limit = 20
	}
	c := t.c
	end := c.cfg.Now()
	sets, _, _, err := c.api.Series(ctx, []string{a.Match}, end.Add(-time.Hour), end)
	if err != nil {
		return c.classify(ctx, err, a.Match)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d series match %s in the last hour", len(sets), a.Match)
	if len(sets) > 0 {
		b.WriteString(":\n")
	}
	var out []map[string]string
	for i, s := range sets {
		m := map[string]string{}
		for k, v := range s {
			m[string(k)] = string(v)
		}
		out = append(out, m)
		if i < a.Limit {
			fmt.Fprintf(&b, "- %s\n", labelString(m))
		}
	}
	if len(sets) > a.Limit {
		fmt.Fprintf(&b, "(%d more not listed.)\n", len(sets)-a.Limit)
	}
	if len(sets) == 0 {
		b.WriteString(". Check the name with prom_metrics.\n")
	}
	return tools.Result{Text: b.String(), Data: out}, nil
}

// --- alerts, rules, targets ---

type alertsTool struct{ c *Client }

func (alertsTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "prom_alerts", Evidence: tools.EvidenceText,
		Description: "List the alerts that are firing or pending now, with labels, summary, value and since when.",
		Parameters:  tools.Object(map[string]*tools.Schema{}),
	}
}

func (t alertsTool) Run(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
	c := t.c
	res, err := c.api.Alerts(ctx)
	if err != nil {
		return c.classify(ctx, err, "")
	}
	alerts := res.Alerts
	sort.SliceStable(alerts, func(i, j int) bool {
		if alerts[i].State != alerts[j].State {
			return alerts[i].State == promv1.AlertStateFiring
		}
		return alerts[i].ActiveAt.Before(alerts[j].ActiveAt)
	})
	var b, list strings.Builder
	fmt.Fprintf(&b, "%d active alerts", len(alerts))
	if len(alerts) == 0 {
		b.WriteString(": nothing is firing or pending.\n")
		return tools.Result{Text: b.String(), Data: alerts}, nil
	}
	// Labels and annotations are text from the monitored systems and their
	// rule files: data, never instructions.
	b.WriteString(" (firing first):\n")
	for _, al := range alerts {
		labels := map[string]string{}
		for k, v := range al.Labels {
			labels[string(k)] = string(v)
		}
		name := labels["alertname"]
		delete(labels, "alertname")
		fmt.Fprintf(&list, "- [%s] %s %s since %s UTC, value %s", al.State, name, labelString(labels),
			al.ActiveAt.UTC().Format("15:04:05"), al.Value)
		if s := string(al.Annotations["summary"]); s != "" {
			fmt.Fprintf(&list, ": %s", s)
		}
		list.WriteString("\n")
	}
	b.WriteString(tools.Untrusted("prometheus alerts", list.String()))
	return tools.Result{Text: b.String(), Data: alerts}, nil
}

type rulesTool struct{ c *Client }

func (rulesTool) Spec() tools.Spec {
	return tools.Spec{
		Name:        "prom_rules",
		Description: "List alerting rules: name, state, health, the PromQL they evaluate and for how long it must hold. Use it to see what an alert means.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"name": tools.String("only rules whose name contains this"),
		}),
	}
}

func (t rulesTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Name string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	c := t.c
	res, err := c.api.Rules(ctx, nil)
	if err != nil {
		return c.classify(ctx, err, "")
	}
	var b strings.Builder
	n := 0
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			ar, ok := r.(promv1.AlertingRule)
			if !ok || (a.Name != "" && !strings.Contains(strings.ToLower(ar.Name), strings.ToLower(a.Name))) {
				continue
			}
			n++
			fmt.Fprintf(&b, "- %s [%s, health %s] for %s: %s", ar.Name, ar.State, ar.Health,
				model.Duration(time.Duration(ar.Duration*float64(time.Second))), strings.Join(strings.Fields(ar.Query), " "))
			if ar.LastError != "" {
				fmt.Fprintf(&b, " (last error: %s)", ar.LastError)
			}
			if s := string(ar.Annotations["summary"]); s != "" {
				fmt.Fprintf(&b, "\n  summary: %s", s)
			}
			b.WriteString("\n")
		}
	}
	return tools.Result{Text: fmt.Sprintf("%d alerting rules:\n%s", n, b.String()), Data: res.Groups}, nil
}

type targetsTool struct{ c *Client }

func (targetsTool) Spec() tools.Spec {
	return tools.Spec{
		Name:        "prom_targets",
		Description: "Show scrape target health: how many targets of each job are up, and which are down with their last scrape error.",
		Parameters:  tools.Object(map[string]*tools.Schema{}),
	}
}

func (t targetsTool) Run(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
	c := t.c
	res, err := c.api.Targets(ctx)
	if err != nil {
		return c.classify(ctx, err, "")
	}
	type jobState struct{ up, total int }
	jobs := map[string]*jobState{}
	var down []string
	for _, tg := range res.Active {
		job := string(tg.Labels["job"])
		if jobs[job] == nil {
			jobs[job] = &jobState{}
		}
		jobs[job].total++
		if tg.Health == promv1.HealthGood {
			jobs[job].up++
			continue
		}
		down = append(down, fmt.Sprintf("- %s (job %s) is %s since %s UTC: %s", tg.Labels["instance"], job, tg.Health,
			tg.LastScrape.UTC().Format("15:04:05"), truncate(tg.LastError, 200)))
	}
	names := make([]string, 0, len(jobs))
	for j := range jobs {
		names = append(names, j)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d targets in %d jobs; %d down.\n", len(res.Active), len(jobs), len(down))
	for _, j := range names {
		fmt.Fprintf(&b, "- job %s: %d/%d up\n", j, jobs[j].up, jobs[j].total)
	}
	if len(down) > 0 {
		b.WriteString("Down:\n" + strings.Join(down, "\n") + "\n")
	}
	return tools.Result{Text: b.String(), Data: res.Active}, nil
}
