package anomaly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
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
}

// DefaultSignals follow the common conventions (and the sandbox):
// http_requests_total and http_request_duration_seconds with a service
// label; cAdvisor and kube-state-metrics container metrics.
var DefaultSignals = []Signal{
	{"traffic", `sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service"}[5m]))`, false},
	{"errors", `sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service", code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total{namespace=~"$namespace", service=~"$service"}[5m]))`, true},
	{"latency_p99", `histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{namespace=~"$namespace", service=~"$service"}[5m])))`, true},
	{"cpu", `sum by (container) (rate(container_cpu_usage_seconds_total{namespace=~"$namespace", container=~"$service"}[5m]))`, true},
	{"memory", `sum by (container) (container_memory_working_set_bytes{namespace=~"$namespace", container=~"$service"})`, true},
	{"restarts", `sum by (container) (increase(kube_pod_container_status_restarts_total{namespace=~"$namespace", container=~"$service"}[5m]))`, true},
}

// MinZ is the smallest robust z-score the tools report as an anomaly.
const MinZ = 4

// ToolConfig configures the anomaly tools.
type ToolConfig struct {
	Prometheus Querier
	// Signals for anomaly_scan (DefaultSignals when empty).
	Signals []Signal
	// Threshold is the score that counts as an anomaly (default 0.83).
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
		cfg.Threshold = 0.83
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

// describe writes one finding as a line.
func describe(f Finding, name string) string {
	dir := "up"
	if !f.Up {
		dir = "down"
	}
	span := clockOf(f.Start)
	if !f.End.Equal(f.Start) {
		span += "–" + clockOf(f.End)
	}
	seasonal := ""
	if f.Seasonal {
		seasonal = " vs the same time on earlier days"
	}
	return fmt.Sprintf("%s: %s from %s to %s at %s (z %.1f%s), anomalous %s UTC, score %.2f",
		name, dir, num(f.Baseline), num(f.Value), clockOf(f.Peak), f.Z, seasonal, span, f.Score)
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

func (detectTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "anomaly_detect",
		Description: "Find anomalies in a PromQL query's series over a time range, learning normal from the history before it " +
			"(including a daily rhythm). Returns, per anomalous series: when it began and ended, direction, value vs baseline, " +
			"strength; strongest first, with a chart. Use it to check whether and when something is abnormal rather than eyeballing numbers.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query":    tools.String("PromQL expression; aggregate (sum by (service) (...)) to keep the series few"),
			"start":    tools.String(`start of the range to check: RFC 3339, Unix seconds or e.g. "1h ago", "14:00"; default one hour before end`),
			"end":      tools.String("end, same forms; default now"),
			"history":  tools.String(`how much history before start to learn from, e.g. "24h" (default 6× the range, 6h–7d)`),
			"detector": tools.Enum("detector (default ensemble, the best)", Kinds...),
			"top":      tools.Integer("how many anomalous series to describe (default 5)", 1, 30),
		}, "query"),
		PromQL: []string{"query"},
	}
}

func (t detectTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Query, Start, End, History, Detector string
		Top                                  int
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
	method := "ensemble detector"
	if len(series) <= 20 {
		for i, s := range series {
			if f := streamFinding(i, s, a.Detector, start, t.cfg.Threshold); f != nil {
				findings = append(findings, *f)
			}
		}
		sort.SliceStable(findings, func(i, j int) bool { return findings[i].Score > findings[j].Score })
		if a.Detector != "" {
			method = a.Detector + " detector"
		}
	} else {
		method = "robust and seasonal scan (many series)"
		findings = Scan(series, ScanOptions{From: start, Threshold: t.cfg.Threshold})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Anomalies in `%s` from %s to %s UTC (learned from %s on; step %s; %s): ", a.Query,
		start.Format("2006-01-02 15:04"), end.Format("15:04"), from.Format("2006-01-02 15:04"), step, method)
	switch {
	case len(series) == 0:
		b.WriteString("the query returned no series. Check names with prom_metrics and prom_labels.\n")
	case len(findings) == 0:
		fmt.Fprintf(&b, "none in %d series — every value was within what the history makes normal.\n", len(series))
	default:
		fmt.Fprintf(&b, "%d of %d series.\n", len(findings), len(series))
	}
	for i, f := range findings {
		if i == top {
			fmt.Fprintf(&b, "(%d more anomalous series not shown.)\n", len(findings)-top)
			break
		}
		b.WriteString("- " + describe(f, prom.LabelString(series[f.Series].Labels)) + "\n")
	}
	if link := q.Link(a.Query, from, end, step); link != "" {
		fmt.Fprintf(&b, "Open: %s\n", link)
	}
	return tools.Result{Text: b.String(), Data: map[string]any{"query": a.Query, "findings": findings},
		Attachments: chartFor(series, findings, a.Query)}, nil
}

// streamFinding runs a streaming detector over a series and returns its
// strongest anomalous stretch at or after from.
func streamFinding(idx int, s Series, kind string, from time.Time, threshold float64) *Finding {
	d, err := NewDetector(kind, Options{})
	if err != nil {
		return nil
	}
	scores := make([]float64, len(s.Values))
	for i := range s.Values {
		scores[i] = d.Score(s.Times[i], s.Values[i])
	}
	first := sort.Search(len(s.Times), func(i int) bool { return !s.Times[i].Before(from) })
	// A finding must be surprising to the detector and large: a robust
	// deviation of at least MinZ, so that a small new extreme of a calm
	// series is not reported as an incident.
	z := make([]float64, len(s.Values))
	batchZ(s.Values, 240, 120, z, make([]float64, 240))
	peak := -1
	for i := first; i < len(scores); i++ {
		if scores[i] >= threshold && z[i] >= MinZ && (peak < 0 || scores[i] > scores[peak]) {
			peak = i
		}
	}
	if peak < 0 {
		return nil
	}
	start, end := stretch(z, peak, first)
	base := baselineBefore(s.Values, start, 240, nil)
	return &Finding{Series: idx, Start: s.Times[start], Peak: s.Times[peak], End: s.Times[end], Score: scores[peak],
		Z: z[peak], Value: s.Values[peak], Baseline: base, Up: s.Values[peak] >= base}
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
		Description: "Scan the golden signals (" + strings.Join(names, ", ") + ") of a namespace or a set of services and rank what is " +
			"abnormal in a time range compared with the history before it: which signal of which service, since when, how strongly. " +
			"A good first step in an incident.",
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
	}
	var rows []row
	var empty, failed []string
	var all []Series
	scanned := 0
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
		scanned += len(series)
		for _, f := range Scan(series, ScanOptions{From: start, Threshold: t.cfg.Threshold}) {
			if sig.Up && !f.Up {
				continue // fewer errors is not a problem
			}
			f.Series += len(all)
			rows = append(rows, row{sig.Name, f, series[f.Series-len(all)].Labels})
		}
		all = append(all, series...)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].f.Score > rows[j].f.Score })
	var b strings.Builder
	fmt.Fprintf(&b, "Golden-signal scan, %s to %s UTC, against %s of history (%d series, step %s): ",
		start.Format("2006-01-02 15:04"), end.Format("15:04"), start.Sub(from), scanned, step)
	if len(rows) == 0 {
		b.WriteString("nothing abnormal.\n")
	} else {
		fmt.Fprintf(&b, "%d abnormal, strongest first.\n", len(rows))
	}
	var findings []Finding
	for i, r := range rows {
		if i == 15 {
			fmt.Fprintf(&b, "(%d more not shown.)\n", len(rows)-15)
			break
		}
		b.WriteString("- " + describe(r.f, r.signal+" "+prom.SeriesName(r.labels)) + "\n")
		findings = append(findings, r.f)
	}
	if len(empty) > 0 {
		fmt.Fprintf(&b, "No data for: %s (metric names may differ here; configure anomaly.signals).\n", strings.Join(empty, ", "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "Failed: %s.\n", strings.Join(failed, "; "))
	}
	title := "golden signals"
	if len(rows) > 0 {
		title = rows[0].signal + " " + prom.SeriesName(rows[0].labels)
	}
	return tools.Result{Text: b.String(), Data: map[string]any{"findings": findings}, Attachments: chartFor(all, findings[:min(1, len(findings))], title)}, nil
}

// --- forecast_threshold ---

type forecastTool struct{ cfg ToolConfig }

func (forecastTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "forecast_threshold",
		Description: "Forecast when a series will cross a threshold at its current trend (with its daily rhythm): disk or memory " +
			"filling up, an error budget running out. Returns the expected time with an interval, the trend per hour and the current level.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"query":     tools.String("PromQL expression, e.g. node_filesystem_avail_bytes{mountpoint=\"/\"}"),
			"threshold": tools.Number("the value to cross"),
			"direction": tools.Enum("above (rising past the threshold, default) or below (falling under it)", "above", "below"),
			"history":   tools.String(`how much history to fit, e.g. "7d" as "168h" (default 72h)`),
			"horizon":   tools.String(`how far ahead to look (default 720h, 30 days)`),
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
	end := q.Now().UTC()
	from := end.Add(-hist)
	step := prom.ChooseStep(from, end, 1500)
	ps, res, err := q.QueryRange(ctx, a.Query, from, end, step)
	if err != nil || res.Error != "" {
		return res, err
	}
	above := a.Direction != "below"
	word := "rise above"
	if !above {
		word = "fall below"
	}
	type fc struct {
		Labels   map[string]string `json:"labels"`
		Forecast Forecast          `json:"forecast"`
	}
	var fcs []fc
	short := 0
	for _, s := range toSeries(ps) {
		f, err := ForecastCrossing(s.Times, s.Values, ForecastOptions{Threshold: a.Threshold, Above: above, Horizon: horizon})
		if err != nil {
			short++
			continue
		}
		fcs = append(fcs, fc{s.Labels, f})
	}
	sort.SliceStable(fcs, func(i, j int) bool {
		a, b := fcs[i].Forecast, fcs[j].Forecast
		if a.Crosses != b.Crosses {
			return a.Crosses
		}
		return a.At.Before(b.At)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "Forecast: when `%s` will %s %s, fitted on %s of history (step %s), horizon %s.\n", a.Query, word, num(a.Threshold), hist, step, horizon)
	if len(ps) == 0 {
		b.WriteString("The query returned no series.\n")
	}
	for i, x := range fcs {
		if i == 10 {
			fmt.Fprintf(&b, "(%d more series not shown.)\n", len(fcs)-10)
			break
		}
		f := x.Forecast
		name := prom.LabelString(x.Labels)
		switch {
		case f.Already:
			fmt.Fprintf(&b, "- %s: already past (now %s).\n", name, num(f.Now))
		case f.Crosses:
			late := "not within the horizon"
			if !f.Latest.IsZero() {
				late = f.Latest.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(&b, "- %s: expected %s UTC (in %s; 90%% interval %s – %s), now %s, trend %s/h, fit R² %.2f.\n", name,
				f.At.Format("2006-01-02 15:04"), f.At.Sub(end).Round(time.Minute), f.Earliest.Format("2006-01-02 15:04"), late,
				num(f.Now), num(f.Slope), f.R2)
		default:
			early := ""
			if !f.Earliest.IsZero() {
				early = fmt.Sprintf(" (the interval's fast end reaches it %s)", f.Earliest.Format("2006-01-02 15:04"))
			}
			fmt.Fprintf(&b, "- %s: not expected within %s at the current trend (%s/h, now %s)%s.\n", name, horizon, num(f.Slope), num(f.Now), early)
		}
	}
	if short > 0 {
		fmt.Fprintf(&b, "%d series had too few points to fit.\n", short)
	}
	return tools.Result{Text: b.String(), Data: fcs}, nil
}
