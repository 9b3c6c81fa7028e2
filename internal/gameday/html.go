package gameday

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/watchkeeper/watchkeeper/tools/prom"
)

// htmlRun is one run as report.html shows it.
type htmlRun struct {
	Run
	Chart   template.URL // a PNG data URL, or "" without samples
	Marks   []string
	Verdict string
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Watchkeeper game day</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;font-size:90%}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.pass{color:#1a7f37}.fail{color:#c62828}img{max-width:100%}</style></head>
<body><h1>Watchkeeper game day</h1>
<p>{{.Passed}} of {{len .Runs}} runs passed · speed {{.Speed}}× · wall time {{.Wall}} · thresholds: detect ≤ {{.Detect}}, diagnose ≤ {{.Diagnose}}, recover ≤ {{.Recover}}, availability ≥ {{.Availability}} where a fix exists</p>
<table><tr><th>fault</th><th>seed</th><th>service</th><th>detected</th><th>cause first</th><th>recovered / escalated</th><th>availability</th><th>changes (approved / rejected / wrong)</th><th>verdict</th></tr>
{{range .Runs}}<tr><td>{{if .Name}}{{.Name}} ({{.Fault}}){{else}}{{.Fault}}{{end}}</td><td>{{.Seed}}</td><td>{{.Service}}{{if .Target}} → {{.Target}}{{end}}</td>
<td>{{if .Detected}}after {{.DetectAfter}}{{else}}no{{end}}</td><td>{{if .CauseCorrect}}after {{.DiagnoseAfter}}{{else}}no ({{.RankedFirst}}){{end}}</td>
<td>{{if .Recovered}}recovered after {{.RecoverAfter}}{{else if .Escalated}}escalated{{else}}—{{end}}</td><td>{{printf "%.4f" .Availability}}</td>
<td>{{.Proposals}} ({{.Approved}} / {{.Rejected}} / {{.Wrong}})</td><td class="{{if .Pass}}pass{{else}}fail{{end}}">{{.Verdict}}</td></tr>
{{end}}</table>
{{range .Runs}}<h2>{{if .Name}}{{.Name}} ({{.Fault}}){{else}}{{.Fault}}{{end}}, seed {{.Seed}}: {{.Service}}{{if .Target}} → {{.Target}}{{end}}</h2>
{{if .Chart}}<img alt="the shop's success ratio over the run" src="{{.Chart}}">{{end}}
<ul>{{range .Marks}}<li>{{.}}</li>{{end}}{{range .Failures}}<li class="fail">{{.}}</li>{{end}}</ul>
{{end}}</body></html>
`))

// WriteHTML writes the report with a chart per run: the shop's success
// ratio over the run, the fault's span shaded (to its recovery, or the
// end), and the times of the fault, the alert, the diagnosis, the
// approval and the recovery listed below it.
func (r Report) WriteHTML(w io.Writer) error {
	data := struct {
		Report
		Passed                    int
		Detect, Diagnose, Recover time.Duration
		Availability              float64
		Runs                      []htmlRun
	}{Report: r, Detect: r.Thresholds.Detect.D(), Diagnose: r.Thresholds.Diagnose.D(), Recover: r.Thresholds.Recover.D(), Availability: r.Thresholds.Availability}
	for _, run := range r.Runs {
		h := htmlRun{Run: run, Verdict: "fail"}
		if run.Pass {
			data.Passed++
			h.Verdict = "pass"
		}
		h.Marks = marks(run)
		if png, err := sloChart(run); err == nil && png != nil {
			h.Chart = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
		data.Runs = append(data.Runs, h)
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// marks are the run's moments, in simulated time.
func marks(r Run) []string {
	at := func(d Duration) string { return r.FaultAt.Add(time.Duration(d)).Format("15:04:05") }
	out := []string{"fault injected at " + r.FaultAt.Format("15:04:05")}
	if r.Detected {
		out = append(out, fmt.Sprintf("alert firing at %s (+%s)", at(r.DetectAfter), r.DetectAfter))
	}
	if r.CauseCorrect {
		out = append(out, fmt.Sprintf("%s ranked first at %s (+%s)", r.Service, at(r.DiagnoseAfter), r.DiagnoseAfter))
	}
	if !r.ApprovedAt.IsZero() {
		out = append(out, fmt.Sprintf("change approved at %s: %s", r.ApprovedAt.Format("15:04:05"), r.Changes[0]))
	}
	if r.Recovered {
		out = append(out, fmt.Sprintf("recovered at %s (+%s)", at(r.RecoverAfter), r.RecoverAfter))
	}
	if r.Escalated {
		out = append(out, "escalated to a person")
	}
	return out
}

// sloChart draws the run's success ratio with gonum/plot, as the bot's
// other charts are drawn.
func sloChart(r Run) ([]byte, error) {
	if len(r.SLO) == 0 {
		return nil, nil
	}
	s := prom.Series{Labels: map[string]string{"__name__": "success ratio"}}
	for _, p := range r.SLO {
		s.Points = append(s.Points, prom.Point{T: p.T, V: p.Success})
	}
	end := r.SLO[len(r.SLO)-1].T
	if r.Recovered {
		end = r.FaultAt.Add(time.Duration(r.RecoverAfter))
	}
	return prom.Chart([]prom.Series{s}, prom.ChartOptions{Title: fmt.Sprintf("%s at %s: the shop's success ratio", r.Fault, r.Service),
		Unit: "success ratio", HighlightStart: r.FaultAt, HighlightEnd: end})
}
