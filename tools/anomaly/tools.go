package anomaly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
	"github.com/watchkeeper/watchkeeper/tools/prom"
)

// Querier is what the tools need from Prometheus (prom.Client).
type Querier interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]prom.Series, tools.Result, error)
	Now() time.Time
	Link(query string, start, end time.Time, step time.Duration) string
}

// Signal is a golden-signal query for anomaly_scan. Query may use
// $namespace and $service, replaced by regular expressions; its result's
// first label that is not __name__ names the service.
type Signal struct {
	Name  string
	Query string
	// Up says only rises matter (errors, latency, saturation); traffic
	// matters both ways.
	Up bool
	// Kind says how the signal's changes are measured and how large one
	// must be to matter; KindAuto infers it from the values.
	Kind Kind
}

// DefaultSignals follow the common conventions (and the sandbox):
// http_requests_total and http_request_duration_seconds with a service
// label; cAdvisor and kube-state-metrics container metrics.
var DefaultSignals = []Signal{
	{"traffic", `sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service"}[5m]))`, false, KindRate},
	{"errors", `sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service", code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service"}[5m]))`, true, KindRatio},
	{"latency_p99", `histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{namespace=~"$namespace", service=~"$service"}[5m])))`, true, KindLatency},
	{"cpu", `sum by (container) (rate(container_cpu_usage_seconds_total{namespace=~"$namespace", container=~"$service"}[5m]))`, true, KindUsage},
	{"memory", `sum by (container) (container_memory_working_set_bytes{namespace=~"$namespace", container=~"$service"})`, true, KindBytes},
	{"restarts", `sum by (container) (increase(kube_pod_container_status_restarts_total{namespace=~"$namespace", container=~"$service"}[5m]))`, true, KindCount},
}

// DefaultThreshold is the default detector's score that counts as an
// anomaly: its threshold for NAB's standard profile on the dev corpus
// (docs/benchmarks.md).
const DefaultThreshold = 0.68

// ToolConfig configures the anomaly tools.
type ToolConfig struct {
	Prometheus Querier
	// Signals for anomaly_scan (DefaultSignals when empty).
	Signals []Signal
	// Threshold is the detector score anomaly_detect counts as an anomaly
	// (default DefaultThreshold).
	Threshold float64
}

// NewTools returns anomaly_detect, anomaly_scan and forecast_threshold.
func NewTools(cfg ToolConfig) ([]tools.Tool, error) {
	if cfg.Prometheus == nil {
		return nil, errors.New("anomaly tools need Prometheus")
	}
	if len(cfg.Signals) == 0 {
		cfg.Signals = DefaultSignals
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultThreshold
	}
	return []tools.Tool{detectTool{cfg}, scanTool{cfg}, forecastTool{cfg}}, nil
}

// window resolves the tools' time arguments: the range of interest and the
// history before it that detectors learn from.
func window(now time.Time, startArg, endArg, historyArg string, defHistory func(d time.Duration) time.Duration) (start, end, from time.Time, err error) {
	now = now.UTC()
	end = now
	if endArg != "" {
		if end, err = clock.Resolve(endArg, now); err != nil {
			return start, end, from, fmt.Errorf("end: %w", err)
		}
	}
	start = end.Add(-time.Hour)
	if startArg != "" {
		if start, err = clock.Resolve(startArg, now); err != nil {
			return start, end, from, fmt.Errorf("start: %w", err)
		}
	}
	if !start.Before(end) {
		return start, end, from, fmt.Errorf("start %s must be before end %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	hist := defHistory(end.Sub(start))
	if historyArg != "" {
		d, perr := time.ParseDuration(historyArg)
		if perr != nil || d <= 0 {
			return start, end, from, fmt.Errorf("history %q is not a duration such as 24h", historyArg)
		}
		hist = d
	}
	return start, end, start.Add(-hist), nil
}

// defaultHistory is six times the range, at least six hours and at most a
// week: enough for the detectors to learn normal, including a daily rhythm
// when the range is long.
func defaultHistory(r time.Duration) time.Duration {
	return min(max(6*r, 6*time.Hour), 7*24*time.Hour)
}

func toSeries(ps []prom.Series) []Series {
	out := make([]Series, len(ps))
	for i, s := range ps {
		out[i].Labels = s.Labels
		for _, p := range s.Points {
			out[i].Times = append(out[i].Times, p.T)
			out[i].Values = append(out[i].Values, p.V)
		}
	}
	return out
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 1e6 || (a < 0.01 && a > 0):
		return fmt.Sprintf("%.3g", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func clockOf(t time.Time) string { return t.UTC().Format("15:04") }

// describe writes one finding as a line, evidence first: what changed,
// from what to what, since when, then how much it matters and how sure
// the change is. last is the newest sample, to say "since" rather than a
// span when the change is still there.
func describe(f Finding, name string, last time.Time) string {
	when := "since " + clockOf(f.Start)
	if f.End.Before(last) {
		when = "from " + clockOf(f.Start) + " to " + clockOf(f.End)
	}
	seasonal := ""
	if f.Seasonal {
		seasonal = " against the same time on earlier days"
	}
	return fmt.Sprintf("%s: %s%s, %s UTC; score %.2f, confidence %s", name, describeChange(f), seasonal, when, f.Score, confidenceText(f.Confidence))
}

func confidenceText(c float64) string {
	if c >= 0.999 {
		return "> 99.9%"
	}
	return fmt.Sprintf("%.1f%%", 100*c)
}

// floor is what was scanned under one name and the kind it was
// measured as, for saying what a change had to reach.
type floor struct {
	name string
	kind Kind
}

// floorsText says how large a change had to be, per kind, naming what was
// measured as that kind: "1 percentage point for errors, a factor of 1.5
// for traffic and latency_p99, one event for restarts".
func floorsText(fs []floor) string {
	var kinds []Kind
	names := map[Kind][]string{}
	for _, f := range fs {
		k := f.kind
		if spec, ok := kindTable[k]; ok && spec.relative {
			k = KindRate // one factor for every relative kind
		}
		if _, ok := names[k]; !ok {
			kinds = append(kinds, k)
		}
		if !slices.Contains(names[k], f.name) {
			names[k] = append(names[k], f.name)
		}
	}
	var parts []string
	for _, k := range kinds {
		var what string
		switch k {
		case KindRatio:
			what = "1 percentage point"
		case KindCount:
			what = "one event"
		case KindLevel:
			what = "5% of the usual range"
		case KindAuto:
			what = "what the values allow"
		default:
			what = "a factor of 1.5"
		}
		parts = append(parts, what+" for "+andList(names[k]))
	}
	return strings.Join(parts, ", ")
}

func andList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// chartFor draws the series of the top findings with the strongest
// anomaly's stretch shaded.
func chartFor(series []Series, findings []Finding, title string) []tools.Attachment {
	if len(findings) == 0 {
		return nil
	}
	var ps []prom.Series
	for _, f := range findings[:min(len(findings), 4)] {
		s := series[f.Series]
		pts := make([]prom.Point, len(s.Values))
		for i := range s.Values {
			pts[i] = prom.Point{T: s.Times[i], V: s.Values[i]}
		}
		ps = append(ps, prom.Series{Labels: s.Labels, Points: pts})
	}
	top := findings[0]
	png, err := prom.Chart(ps, prom.ChartOptions{Title: title, Unit: prom.UnitOf(title),
		HighlightStart: top.Start, HighlightEnd: top.End.Add(time.Minute)})
	if err != nil {
		return nil
	}
	return []tools.Attachment{{Name: "anomalies.png", MIMEType: "image/png", Title: title, Data: png}}
}

// --- anomaly_detect ---

type detectTool struct{ cfg ToolConfig }

func kindNames() []string {
	return []string{"auto", string(KindRatio), string(KindRate), string(KindLatency), string(KindUsage), string(KindBytes), string(KindCount), string(KindLevel)}
}

func (detectTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "anomaly_detect",
		Description: "Find anomalies in a PromQL query's series over a time range, learning normal from the history before it " +
			"(including a daily rhythm). Returns, per series whose change matters: from what to what, since when, a score in [0, 1] " +
			"(0.5 = the smallest change that matters for the kind of metric) and a confidence; strongest first, with a chart. " +
			"Use it to check whether and when something is abnormal rather than eyeballing numbers.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query":    tools.String("PromQL expression; aggregate (sum by (service) (...)) to keep the series few"),
			"start":    tools.String(`start of the range to check: RFC 3339, Unix seconds or e.g. "1h ago", "14:00"; default one hour before end`),
			"end":      tools.String("end, same forms; default now"),
			"history":  tools.String(`how much history before start to learn from, e.g. "24h" (default 6× the range, 6h–7d)`),
			"detector": tools.Enum("detector (default ensemble, the best)", Kinds...),
			"kind": tools.Enum("what the series measure, which sets the change that matters: ratio (a share in 0–1: 1 percentage point), "+
				"rate, latency, usage, bytes (a factor of 1.5), count (one event), level (5% of its range); default auto, from the values", kindNames()...),
			"top": tools.Integer("how many anomalous series to describe (default 5)", 1, 30),
		}, "query"),
		PromQL: []string{"query"},
	}
}

func (t detectTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Query, Start, End, History, Detector, Kind string
		Top                                        int
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	q := t.cfg.Prometheus
	start, end, from, err := window(q.Now(), a.Start, a.End, a.History, defaultHistory)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	if _, err := NewDetector(a.Detector, Options{}); err != nil {
		return tools.Errorf("%v", err), nil
	}
	kind, err := ParseKind(a.Kind)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	if kind == KindAuto {
		kind = kindOfQuery(a.Query)
	}
	top := a.Top
	if top == 0 {
		top = 5
	}
	step := prom.ChooseStep(from, end, 2000)
	ps, res, err := q.QueryRange(ctx, a.Query, from, end, step)
	if err != nil || res.Error != "" {
		return res, err
	}
	series := toSeries(ps)
	var findings []Finding
	var kinds []floor
	method := "ensemble detector"
	if len(series) <= 20 {
		for i := range series {
			series[i].Kind = kind
			f, k := streamFinding(i, series[i], a.Detector, start, t.cfg.Threshold)
			kinds = append(kinds, floor{"the series", k})
			if f != nil {
				findings = append(findings, *f)
			}
		}
		SortFindings(findings)
		if a.Detector != "" {
			method = a.Detector + " detector"
		}
	} else {
		method = "changes against the history (many series)"
		for i := range series {
			series[i].Kind = kind
		}
		findings = Scan(series, ScanOptions{From: start})
		kinds = append(kinds, floor{"the series", kind})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Anomalies in `%s` from %s to %s UTC (learned from %s on; step %s; %s): ", a.Query,
		start.Format("2006-01-02 15:04"), end.Format("15:04"), from.Format("2006-01-02 15:04"), stepText(step), method)
	switch {
	case len(series) == 0:
		b.WriteString("the query returned no series. Check names with prom_metrics and prom_labels.\n")
	case len(findings) == 0:
		fmt.Fprintf(&b, "none in %d series — no change reached what matters (%s).\n", len(series), floorsText(kinds))
	default:
		fmt.Fprintf(&b, "%d of %d series.\n", len(findings), len(series))
	}
	for i, f := range findings {
		if i == top {
			fmt.Fprintf(&b, "(%d more anomalous series not shown.)\n", len(findings)-top)
			break
		}
		s := series[f.Series]
		b.WriteString("- " + describe(f, prom.LabelString(s.Labels), s.Times[len(s.Times)-1]) + "\n")
	}
	if link := q.Link(a.Query, from, end, step); link != "" {
		fmt.Fprintf(&b, "Open: %s\n", link)
	}
	return tools.Result{Text: b.String(), Data: map[string]any{"query": a.Query, "findings": findings},
		Attachments: chartFor(series, findings, a.Query)}, nil
}

// kindOfQuery guesses what a query measures from its outermost function
// and its metric names; KindAuto when it cannot tell (the values decide
// then). A quotient is left to the values: errors over requests is a
// ratio, bytes over seconds is not.
func kindOfQuery(q string) Kind {
	q = strings.ToLower(q)
	switch {
	case strings.Contains(q, "histogram_quantile") || strings.Contains(q, "_seconds{") && !strings.Contains(q, "rate("):
		return KindLatency
	case strings.Contains(q, "/"):
		return KindAuto
	case strings.Contains(q, "increase("):
		return KindCount
	case strings.Contains(q, "rate("):
		return KindRate
	case strings.Contains(q, "_bytes"):
		return KindBytes
	}
	return KindAuto
}

// streamFinding runs a streaming detector over a series and measures, at
// the points at or after from where it fires, the change against the
// history before from. It returns the largest change that matters (nil
// when none does) and the kind it was measured as.
func streamFinding(idx int, s Series, detector string, from time.Time, threshold float64) (*Finding, Kind) {
	n := len(s.Values)
	d, err := NewDetector(detector, Options{})
	if err != nil || n < 3 || len(s.Times) != n {
		return nil, s.Kind
	}
	scores := make([]float64, n)
	for i := range s.Values {
		scores[i] = d.Score(s.Times[i], s.Values[i])
	}
	first := sort.Search(n, func(i int) bool { return !s.Times[i].Before(from) })
	const window = 240
	scratch := make([]float64, max(window, n))
	m := newMeasure(s, make([]float64, n), scratch)
	if m == nil || first == 0 || first >= n {
		return nil, s.Kind
	}
	m.baseline(s.Times, first, window, make([]float64, n), scratch)
	// The detector says when the series is unusual for itself; the
	// measure says whether the change matters. A finding needs both.
	var best *Finding
	for i := first; i < n; i++ {
		if scores[i] < threshold {
			continue
		}
		e := m.effect(i)
		if math.IsNaN(e) || (s.Up && e <= 0) {
			continue
		}
		f := m.finding(i, n-first)
		if f.Score < 0.5 || f.Confidence < 0.99 || (best != nil && f.Score <= best.Score) {
			continue
		}
		f.Series, f.Peak = idx, s.Times[i]
		best = &f
	}
	if best == nil {
		return nil, m.kind
	}
	// The stretch: back to where the change began, on to where it ended.
	peak := sort.Search(n, func(i int) bool { return !s.Times[i].Before(best.Peak) })
	half := 0.5 * m.need
	same := func(i int) bool {
		e := m.effect(i)
		return !math.IsNaN(e) && (e > 0) == best.Up && math.Abs(e) >= half
	}
	start, end := peak, peak
	for start > first && same(start-1) {
		start--
	}
	for end < n-1 && same(end+1) {
		end++
	}
	best.Start, best.End = s.Times[start], s.Times[end]
	return best, m.kind
}

// --- anomaly_scan ---

type scanTool struct{ cfg ToolConfig }

func (t scanTool) Spec() tools.Spec {
	names := make([]string, len(t.cfg.Signals))
	for i, s := range t.cfg.Signals {
		names[i] = s.Name
	}
	return tools.Spec{
		Name: "anomaly_scan",
		Description: "Scan the golden signals (" + strings.Join(names, ", ") + ") of a namespace or a set of services and rank the changes " +
			"that matter in a time range compared with the history before it: which signal of which service, from what to what, since when, " +
			"with a score in [0, 1] (0.5 = the smallest change that matters: 1 percentage point of errors, a factor of 1.5 of traffic, " +
			"latency, CPU or memory, one restart) and a confidence. A good first step in an incident.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"namespace": tools.String("Kubernetes namespace (default: all)"),
			"services":  tools.Array("services to include (default: all)", tools.String("")),
			"signals":   tools.Array("signals to scan (default: all)", tools.Enum("", names...)),
			"start":     tools.String(`start of the range to check, e.g. "1h ago" or "14:00"; default one hour before end`),
			"end":       tools.String("end; default now"),
			"history":   tools.String(`history to learn normal from, e.g. "24h" (default 6× the range, 6h–7d)`),
		}),
	}
}

func (t scanTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Namespace, Start, End, History string
		Services, Signals              []string
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	q := t.cfg.Prometheus
	start, end, from, err := window(q.Now(), a.Start, a.End, a.History, defaultHistory)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	ns, svc := ".+", ".+"
	if a.Namespace != "" {
		ns = regexp.QuoteMeta(a.Namespace)
	}
	if len(a.Services) > 0 {
		quoted := make([]string, len(a.Services))
		for i, s := range a.Services {
			quoted[i] = regexp.QuoteMeta(s)
		}
		svc = strings.Join(quoted, "|")
	}
	want := map[string]bool{}
	for _, s := range a.Signals {
		want[s] = true
	}
	step := prom.ChooseStep(from, end, 1500)
	type row struct {
		signal string
		f      Finding
		labels map[string]string
		last   time.Time
	}
	var rows []row
	var empty, failed []string
	var all []Series
	var kinds []floor
	for _, sig := range t.cfg.Signals {
		if len(want) > 0 && !want[sig.Name] {
			continue
		}
		query := strings.NewReplacer("$namespace", ns, "$service", svc).Replace(sig.Query)
		ps, res, err := q.QueryRange(ctx, query, from, end, step)
		if err != nil {
			if ctx.Err() != nil {
				return tools.Result{}, err
			}
			failed = append(failed, fmt.Sprintf("%s (%v)", sig.Name, err))
			continue
		}
		if res.Error != "" {
			failed = append(failed, fmt.Sprintf("%s (%s)", sig.Name, res.Error))
			continue
		}
		if len(ps) == 0 {
			empty = append(empty, sig.Name)
			continue
		}
		series := toSeries(ps)
		for i := range series {
			series[i].Kind, series[i].Up = sig.Kind, sig.Up
			if series[i].Kind == KindAuto {
				series[i].Kind = inferKind(series[i].Values)
			}
		}
		kinds = append(kinds, floor{sig.Name, series[0].Kind})
		for _, f := range Scan(series, ScanOptions{From: start}) {
			s := series[f.Series]
			f.Series += len(all)
			rows = append(rows, row{sig.Name, f, s.Labels, s.Times[len(s.Times)-1]})
		}
		all = append(all, series...)
	}
	// Rank across signals the same way as within one.
	sort.SliceStable(rows, func(i, j int) bool { return before(rows[i].f, rows[j].f) })
	var b strings.Builder
	fmt.Fprintf(&b, "Golden-signal scan, %s to %s UTC, against the %s before (%d series, step %s): ",
		start.Format("2006-01-02 15:04"), end.Format("15:04"), humanDuration(start.Sub(from)), len(all), stepText(step))
	if len(rows) == 0 {
		fmt.Fprintf(&b, "nothing abnormal — no change reached what matters (%s).\n", floorsText(kinds))
	} else {
		fmt.Fprintf(&b, "%d changes that matter, largest first (score 0.5 = the smallest change that matters, confidence = the chance it is not noise).\n", len(rows))
	}
	var findings []Finding
	for i, r := range rows {
		if i == 15 {
			fmt.Fprintf(&b, "(%d more not shown.)\n", len(rows)-15)
			break
		}
		b.WriteString("- " + describe(r.f, r.signal+" "+prom.SeriesName(r.labels), r.last) + "\n")
		findings = append(findings, r.f)
	}
	if len(empty) > 0 {
		fmt.Fprintf(&b, "No data for: %s (metric names may differ here; configure anomaly.signals).\n", strings.Join(empty, ", "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "Failed: %s.\n", strings.Join(failed, "; "))
	}
	title := "golden signals"
	if len(findings) > 0 {
		title = rows[0].signal + " " + prom.SeriesName(rows[0].labels)
	}
	return tools.Result{Text: b.String(), Data: map[string]any{"findings": findings}, Attachments: chartFor(all, findings[:min(1, len(findings))], title)}, nil
}

// --- forecast_threshold ---

type forecastTool struct{ cfg ToolConfig }

func (forecastTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "forecast_threshold",
		Description: "Forecast when a series will cross a threshold at its current trend: disk or memory filling up (e.g. a container's " +
			"working set reaching its limit), an error budget running out. Fits the newest stretch of data one line describes (after the " +
			"last restart or cleanup), over the history that exists; returns the expected time with an interval, the trend and the current " +
			"level, or says why it cannot forecast (too few points, a poor fit).",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query":     tools.String("PromQL expression, e.g. container_memory_working_set_bytes{container=\"cart\"} (one series per pod)"),
			"threshold": tools.Number("the value to cross, e.g. the memory limit in bytes"),
			"direction": tools.Enum("above (rising past the threshold, default) or below (falling under it)", "above", "below"),
			"history":   tools.String(`how much history to look at, at most, e.g. "7d" as "168h" (default 72h; shorter when the data is)`),
			"horizon":   tools.String(`how far ahead to look (default 720h, 30 days; never more than ten times the data fitted)`),
		}, "query", "threshold"),
		PromQL: []string{"query"},
	}
}

func (t forecastTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Query            string
		Threshold        float64
		Direction        string
		History, Horizon string
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	hist, horizon := 72*time.Hour, 30*24*time.Hour
	for _, x := range []struct {
		arg string
		d   *time.Duration
	}{{a.History, &hist}, {a.Horizon, &horizon}} {
		if x.arg == "" {
			continue
		}
		d, err := time.ParseDuration(x.arg)
		if err != nil || d <= 0 {
			return tools.Errorf("%q is not a duration such as 72h", x.arg), nil
		}
		*x.d = d
	}
	q := t.cfg.Prometheus
	now := q.Now().UTC()
	from := now.Add(-hist)
	step := prom.ChooseStep(from, now, 1500)
	ps, res, err := q.QueryRange(ctx, a.Query, from, now, step)
	if err != nil || res.Error != "" {
		return res, err
	}
	// Over the history that exists: when the data starts well after the
	// window does, ask again for just that span, at the finer step it
	// allows (6 h of data at a 72 h step is a few points per hour).
	if first, ok := firstSample(ps); ok && first.Sub(from) > hist/4 {
		if finer := prom.ChooseStep(first, now, 1500); finer < step {
			if again, res2, err := q.QueryRange(ctx, a.Query, first, now, finer); err == nil && res2.Error == "" && len(again) > 0 {
				ps, from, step = again, first, finer
			}
		}
	}
	above := a.Direction != "below"
	word := "rise above"
	if !above {
		word = "fall below"
	}
	format := num
	if prom.UnitOf(a.Query) == "bytes" {
		format = tools.Bytes
	}
	o := ForecastOptions{Threshold: a.Threshold, Above: above, Horizon: horizon}
	fcs, short := forecastAll(ps, o)
	// From the newest data: when every series was fitted after a reset,
	// only the stretch since the earliest of them matters; ask for it at
	// the finest step it allows and fit again.
	var since time.Time
	for _, x := range fcs {
		if !x.Forecast.Reset {
			since = time.Time{}
			break
		}
		if since.IsZero() || x.Forecast.FitFrom.Before(since) {
			since = x.Forecast.FitFrom
		}
	}
	if !since.IsZero() {
		since = since.Add(-2 * step)
		if finer := prom.ChooseStep(since, now, 1500); finer < step {
			if again, res2, err := q.QueryRange(ctx, a.Query, since, now, finer); err == nil && res2.Error == "" && len(again) > 0 {
				fcs, short = forecastAll(again, o)
				from, step = since, finer
			}
		}
	}
	// Soonest first: already past, then expected crossings by time, then
	// the rest.
	rank := func(f Forecast) int {
		switch {
		case f.Already:
			return 0
		case f.Crosses:
			return 1
		case f.Refused != "":
			return 2
		}
		return 3
	}
	sort.SliceStable(fcs, func(i, j int) bool {
		a, b := fcs[i].Forecast, fcs[j].Forecast
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		return a.At.Before(b.At)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "Forecast: when `%s` will %s %s, from the data of %s to %s UTC (step %s), looking %s ahead.\n", a.Query, word,
		format(a.Threshold), from.Format("2006-01-02 15:04"), now.Format("15:04"), stepText(step), humanDuration(horizon))
	if len(ps) == 0 {
		b.WriteString("The query returned no series.\n")
	}
	for i, x := range fcs {
		if i == 10 {
			fmt.Fprintf(&b, "(%d more series not shown.)\n", len(fcs)-10)
			break
		}
		b.WriteString("- " + describeForecast(x.Forecast, prom.LabelString(x.Labels), now, format) + "\n")
	}
	if short > 0 {
		fmt.Fprintf(&b, "%d series had too few points to fit.\n", short)
	}
	return tools.Result{Text: b.String(), Data: fcs}, nil
}

// forecastAll forecasts each series; short counts those too short to fit.
func forecastAll(ps []prom.Series, o ForecastOptions) (fcs []SeriesForecast, short int) {
	for _, s := range toSeries(ps) {
		f, err := ForecastCrossing(s.Times, s.Values, o)
		if err != nil {
			short++
			continue
		}
		fcs = append(fcs, SeriesForecast{s.Labels, f})
	}
	return fcs, short
}

// SeriesForecast is one series' forecast, as forecast_threshold returns
// them in its result's data.
type SeriesForecast struct {
	Labels   map[string]string `json:"labels"`
	Forecast Forecast          `json:"forecast"`
}

// firstSample is the earliest sample of any series.
func firstSample(ps []prom.Series) (time.Time, bool) {
	var first time.Time
	for _, s := range ps {
		if len(s.Points) > 0 && (first.IsZero() || s.Points[0].T.Before(first)) {
			first = s.Points[0].T
		}
	}
	return first, !first.IsZero()
}

// describeForecast writes one forecast as a line: the answer first, then
// what it rests on.
func describeForecast(f Forecast, name string, now time.Time, format func(float64) string) string {
	span := f.Last.Sub(f.FitFrom)
	per, unit := 1.0, "h"
	if span < 3*time.Hour {
		per, unit = 1.0/60, "min"
	}
	basis := fmt.Sprintf("now %s, trend %s/%s", format(f.Now), signedWith(f.Slope*per, format), unit)
	if f.Reset {
		basis += " since it fell back at " + clockOf(f.FitFrom)
	}
	basis += fmt.Sprintf(", fit R² %.2f over %d points (%s)", f.R2, f.Points, humanDuration(span))
	if stale := now.Sub(f.Last); stale > 10*time.Minute {
		basis += fmt.Sprintf("; the newest sample is %s old", humanDuration(stale))
	}
	in := func(t time.Time) string { return humanDuration(t.Sub(now)) }
	at := func(t time.Time) string {
		if t.Sub(now) < 2*time.Hour {
			return t.UTC().Format("15:04:05")
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	switch {
	case f.Already:
		return fmt.Sprintf("%s: already past (%s at %s UTC).", name, format(f.Now), clockOf(f.Last))
	case f.Refused != "":
		return fmt.Sprintf("%s: no forecast — %s (%s).", name, f.Refused, basis)
	case f.Crosses:
		late := "not within the horizon"
		if !f.Latest.IsZero() {
			late = at(f.Latest)
		}
		return fmt.Sprintf("%s: expected %s UTC (in %s; 90%% interval %s – %s); %s.", name,
			at(f.At), in(f.At), at(f.Earliest), late, basis)
	case f.Beyond:
		return fmt.Sprintf("%s: not within what %s of data can tell (at this rate in %s, %s UTC); %s.", name,
			humanDuration(span), in(f.At), at(f.At), basis)
	}
	return fmt.Sprintf("%s: not expected at the current trend; %s.", name, basis)
}

// humanDuration rounds a duration to what a person reads at a glance:
// "45s", "7m", "2h5m", "3d4h".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		switch {
		case h == 0:
			return fmt.Sprintf("%dm", m)
		case m == 0:
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	d = d.Round(time.Hour)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// stepText prints a query step without its zero units: "15s", "1m",
// "1m30s", "2h" rather than "1m0s" or "2h0m0s".
func stepText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func signedWith(v float64, format func(float64) string) string {
	if v < 0 {
		return "−" + format(-v)
	}
	return "+" + format(v)
}
