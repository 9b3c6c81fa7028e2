package sandbox

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// indexHandler serves / : what the sandbox is, what it serves, its
// services and faults, and how to add one. It is the page a person lands
// on when they open the sandbox's address in a browser.
func (sb *Sandbox) indexHandler(w http.ResponseWriter, r *http.Request) {
	sb.mu.Lock()
	snap := sb.lastSnap
	now := sb.nowLocked()
	sb.mu.Unlock()
	p := indexData{Host: r.Host, Scenario: sb.scenario.Name, Description: sb.scenario.Description, Seed: sb.world.Seed(),
		Now: now.UTC().Format("2006-01-02 15:04:05 UTC")}
	if snap != nil {
		for _, st := range snap.Services {
			p.Services = append(p.Services, indexService{Name: st.Name, Version: st.Version,
				RPS: strconv.FormatFloat(st.RPS, 'f', 1, 64), Errors: fmt.Sprintf("%.2f%%", st.ErrorRate*100),
				Latency: (time.Duration(st.Latency * float64(time.Second))).Round(time.Millisecond).String(),
				Pods:    fmt.Sprintf("%d/%d", st.Ready, st.Replicas)})
		}
	}
	for _, f := range sb.Faults() {
		p.Faults = append(p.Faults, indexFault{ID: f.ID, Name: f.String(), Start: f.Start.UTC().Format("15:04:05"), State: f.State(now)})
	}
	for _, c := range Catalogue() {
		var params []string
		for k, v := range c.Params {
			params = append(params, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
		sort.Strings(params)
		p.Catalogue = append(p.Catalogue, indexCatalogue{Kind: string(c.Kind), Target: c.NeedsTarget, Description: c.Description,
			Fix: c.Fix, Params: strings.Join(params, " ")})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexTemplate.Execute(w, p)
}

type indexData struct {
	Host, Scenario, Description, Now string
	Seed                             uint64
	Services                         []indexService
	Faults                           []indexFault
	Catalogue                        []indexCatalogue
}

type indexService struct{ Name, Version, RPS, Errors, Latency, Pods string }

type indexFault struct {
	ID                 int
	Name, Start, State string
}

type indexCatalogue struct {
	Kind, Description, Fix, Params string
	Target                         bool
}

var indexTemplate = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Watchkeeper sandbox — {{.Scenario}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}code,pre{font-family:ui-monospace,monospace}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:left;vertical-align:top}</style></head>
<body><h1>Watchkeeper sandbox</h1>
<p>Scenario <b>{{.Scenario}}</b>, seed {{.Seed}}, simulated time {{.Now}}.<br>{{.Description}}</p>
<h2>What it serves</h2>
<table>
<tr><td><a href="/graph">/graph</a></td><td>evaluate a PromQL expression (where alerts and "Open:" links point)</td></tr>
<tr><td><a href="/api/v1/query?query=up">/api/v1/query</a>, /api/v1/query_range, /api/v1/series, /api/v1/labels, /api/v1/label/NAME/values, /api/v1/metadata</td><td>the Prometheus HTTP API</td></tr>
<tr><td><a href="/api/v1/alerts">/api/v1/alerts</a>, <a href="/api/v1/rules">/api/v1/rules</a>, <a href="/api/v1/targets">/api/v1/targets</a></td><td>alerts, alerting rules and scrape targets, as Prometheus reports them</td></tr>
<tr><td><a href="/loki/api/v1/labels">/loki/api/v1/labels</a>, /loki/api/v1/query_range, /loki/api/v1/query, /loki/api/v1/series</td><td>the Loki HTTP API</td></tr>
<tr><td><a href="/api/services">/api/services</a>, /api/services/SERVICE/operations, /api/operations?service=SERVICE, <a href="/api/traces?service=frontend&amp;limit=20">/api/traces</a>?service=&amp;operation=&amp;tags=&amp;minDuration=&amp;lookback=&amp;limit=, /api/traces/ID</td><td>the Jaeger query API: the traces of the last hour's requests that the tail sampler kept</td></tr>
<tr><td><a href="/sandbox/v1/status">/sandbox/v1/status</a></td><td>the scenario, the time, every service and fault, what the trace store saw and kept (JSON)</td></tr>
<tr><td><a href="/sandbox/v1/faults">/sandbox/v1/faults</a></td><td>GET: the faults and the catalogue; POST a fault to inject it (JSON)</td></tr>
</table>
{{if .Services}}<h2>Services</h2>
<table><tr><th>Service</th><th>Version</th><th>Requests/s</th><th>Errors</th><th>p50 latency</th><th>Pods ready</th></tr>
{{range .Services}}<tr><td>{{.Name}}</td><td>{{.Version}}</td><td>{{.RPS}}</td><td>{{.Errors}}</td><td>{{.Latency}}</td><td>{{.Pods}}</td></tr>
{{end}}</table>{{end}}
<h2>Faults</h2>
{{if .Faults}}<table><tr><th>ID</th><th>Fault</th><th>Start (UTC)</th><th>State</th></tr>
{{range .Faults}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Start}}</td><td>{{.State}}</td></tr>
{{end}}</table>{{else}}<p>No faults so far.</p>{{end}}
<h2>Injecting a fault</h2>
<pre>watchkeeper sandbox inject memory_leak cart
curl -X POST -d '{"fault":"memory_leak","service":"cart","duration":"10m"}' http://{{.Host}}/sandbox/v1/faults</pre>
<table><tr><th>Fault</th><th>What it does</th><th>What ends it</th><th>Parameters</th></tr>
{{range .Catalogue}}<tr><td><code>{{.Kind}} SERVICE{{if .Target}} TARGET{{end}}</code></td><td>{{.Description}}</td><td>{{.Fix}}</td><td><code>{{.Params}}</code></td></tr>
{{end}}</table>
</body></html>
`))
