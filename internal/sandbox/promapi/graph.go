package promapi

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
)

// graphPage answers the links that point at Prometheus's graph page —
// alerts' generatorURL and the tools' "Open:" links,
// /graph?g0.expr=…&g0.range_input=1h&g0.end_input=… — with a small page:
// the expression's value as a table, and links to the same query in the
// JSON API. It is not Prometheus's UI, only enough that no link the
// sandbox prints leads nowhere.
func (a *API) graphPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	expr := q.Get("g0.expr")
	p := graphData{Expr: expr, Now: a.now().UTC()}
	at := p.Now
	if s := q.Get("g0.end_input"); s != "" {
		if t, err := time.Parse("2006-01-02 15:04:05", s); err == nil {
			at = t.UTC()
		}
	}
	p.At = at
	if expr != "" {
		p.Rows, p.Err = a.evalTable(r.Context(), expr, at)
		p.QueryURL = "/api/v1/query?" + url.Values{"query": {expr}, "time": {at.Format(time.RFC3339)}}.Encode()
		rng := time.Hour
		if d, err := model.ParseDuration(q.Get("g0.range_input")); err == nil && d > 0 {
			rng = time.Duration(d)
		}
		step := max(rng/250, 15*time.Second)
		if s, err := strconv.Atoi(q.Get("g0.step_input")); err == nil && s > 0 {
			step = time.Duration(s) * time.Second
		}
		p.Range = model.Duration(rng).String()
		p.RangeURL = "/api/v1/query_range?" + url.Values{"query": {expr}, "start": {at.Add(-rng).Format(time.RFC3339)},
			"end": {at.Format(time.RFC3339)}, "step": {strconv.Itoa(int(step.Seconds()))}}.Encode()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.Err != "" {
		w.WriteHeader(http.StatusBadRequest)
	}
	_ = graphTemplate.Execute(w, p)
}

type graphData struct {
	Expr, Err, Range   string
	QueryURL, RangeURL string
	Now, At            time.Time
	Rows               []graphRow
}

type graphRow struct{ Series, Value string }

// evalTable evaluates expr at t and renders each result as a row.
func (a *API) evalTable(ctx context.Context, expr string, t time.Time) ([]graphRow, string) {
	qry, err := a.store.engine.NewInstantQuery(ctx, a.store.db, nil, expr, t)
	if err != nil {
		return nil, err.Error()
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err.Error()
	}
	var rows []graphRow
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			rows = append(rows, graphRow{s.Metric.String(), strconv.FormatFloat(s.F, 'g', -1, 64)})
		}
	case promql.Matrix:
		for _, s := range v {
			rows = append(rows, graphRow{s.Metric.String(), fmt.Sprintf("%d samples", len(s.Floats)+len(s.Histograms))})
		}
	case promql.Scalar:
		rows = append(rows, graphRow{"scalar", strconv.FormatFloat(v.V, 'g', -1, 64)})
	case promql.String:
		rows = append(rows, graphRow{"string", v.V})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Series < rows[j].Series })
	return rows, ""
}

var graphTemplate = template.Must(template.New("graph").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{if .Expr}}{{.Expr}} — {{end}}Watchkeeper sandbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}code,td,input{font-family:ui-monospace,monospace}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:left}.err{color:#b00}</style></head>
<body><p><a href="/">Watchkeeper sandbox</a> · simulated time {{.Now.Format "2006-01-02 15:04:05 UTC"}}</p>
<form action="/graph"><input name="g0.expr" size="90" value="{{.Expr}}" placeholder="PromQL, e.g. sum by (service) (rate(http_requests_total[5m]))"> <button>Evaluate</button></form>
{{if .Expr}}<p>At {{.At.Format "2006-01-02 15:04:05 UTC"}} · JSON: <a href="{{.QueryURL}}">instant query</a> · <a href="{{.RangeURL}}">range query over {{.Range}}</a></p>
{{if .Err}}<p class="err">{{.Err}}</p>{{else if .Rows}}<table><tr><th>Series</th><th>Value</th></tr>
{{range .Rows}}<tr><td>{{.Series}}</td><td>{{.Value}}</td></tr>
{{end}}</table>{{else}}<p>No data.</p>{{end}}{{end}}
</body></html>
`))
