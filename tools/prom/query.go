package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/watchkeeper/watchkeeper/tools"
)

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
	// b is for the model, d for people: the same but for values, which
	// the model gets with their exact form beside.
	var b, d strings.Builder
	both := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		fmt.Fprintf(&d, format, args...)
	}
	both("Instant query %s at %s UTC", a.Query, ts.UTC().Format("2006-01-02 15:04:05"))
	data := map[string]any{"query": a.Query, "time": ts}
	unit := valueUnit(a.Query)
	switch x := v.(type) {
	case model.Vector:
		sort.SliceStable(x, func(i, j int) bool { return math.Abs(float64(x[i].Value)) > math.Abs(float64(x[j].Value)) })
		both(": %d series", len(x))
		if len(x) == 0 {
			both(". No series matched: check names with prom_metrics and prom_labels, or the time.\n")
		} else {
			both("\n")
		}
		limit := 30
		rows := make([]map[string]any, 0, len(x))
		for i, s := range x {
			if i < limit {
				labels := metricMap(s.Metric)
				u := unit
				if u == "" {
					u = seriesUnit(a.Query, labels)
				}
				val := float64(s.Value)
				fmt.Fprintf(&b, "- %s = %s\n", labelString(labels), withExact(u, val))
				fmt.Fprintf(&d, "- %s = %s\n", labelString(labels), humanOrNum(u, val))
			}
			rows = append(rows, map[string]any{"labels": metricMap(s.Metric), "value": float64(s.Value)})
		}
		if len(x) > limit {
			both("(%d more series with smaller absolute values not shown; aggregate or use topk() to narrow.)\n", len(x)-limit)
		}
		data["series"] = rows
		if unit != "" {
			data["unit"] = unit
		}
	case *model.Scalar:
		both(" = %s\n", num(float64(x.Value)))
		data["value"] = float64(x.Value)
	case *model.String:
		both(" = %q\n", x.Value)
		data["value"] = x.Value
	case model.Matrix:
		both(": the expression returns a range vector; wrap it in a function such as rate() or use prom_query_range.\n")
	}
	writeWarnings(&b, warnings)
	writeWarnings(&d, warnings)
	link := c.link(a.Query, ts.Add(-time.Hour), ts, time.Minute)
	if link != "" {
		both("Open: %s\n", link)
	}
	data["link"] = link
	res := tools.Result{Text: b.String(), Data: data}
	if d.String() != res.Text {
		res.Display = d.String()
	}
	return res, nil
}

// humanOrNum writes v in unit, or as a number when the unit is unknown.
func humanOrNum(unit string, v float64) string {
	if h := human(unit, v); h != "" {
		return h
	}
	return num(v)
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
	unit := valueUnit(a.Query)
	if unit == "" && len(series) > 0 {
		unit = unitBytes
		for _, s := range series {
			if seriesUnit(a.Query, s.Labels) != unitBytes {
				unit = ""
				break
			}
		}
	}
	var b strings.Builder
	b.WriteString(Render(Rendering{Query: a.Query, Start: start, End: end, Step: step, RankBy: rank, TopK: top, Link: link, Unit: unit}, sums))
	writeWarnings(&b, warnings)
	data := map[string]any{"query": a.Query, "start": start, "end": end, "step": step.String(), "summaries": sums, "link": link}
	if unit != "" {
		data["unit"] = unit
	}
	res := tools.Result{Text: b.String(), Data: data}
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
