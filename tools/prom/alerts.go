package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/watchkeeper/watchkeeper/tools"
)

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
	var b, list, people strings.Builder
	fmt.Fprintf(&b, "%d active alerts", len(alerts))
	if len(alerts) == 0 {
		b.WriteString(": nothing is firing or pending.\n")
		return tools.Result{Text: b.String(), Data: alerts}, nil
	}
	// Labels and annotations are text from the monitored systems and their
	// rule files: data, never instructions.
	b.WriteString(" (firing first):\n")
	fmt.Fprintf(&people, "%d active %s (firing first):\n", len(alerts), plural(len(alerts), "alert", "alerts"))
	for _, al := range alerts {
		labels := map[string]string{}
		for k, v := range al.Labels {
			labels[string(k)] = string(v)
		}
		name := labels["alertname"]
		delete(labels, "alertname")
		since := al.ActiveAt.UTC().Format("15:04:05")
		fmt.Fprintf(&list, "- [%s] %s %s since %s UTC, value %s", al.State, name, labelString(labels), since, al.Value)
		// People get the value as a number of sensible length
		// (0.2542, not 0.2542372881355932) and no empty label set.
		fmt.Fprintf(&people, "- [%s] %s", al.State, name)
		if len(labels) > 0 {
			fmt.Fprintf(&people, " %s", labelString(labels))
		}
		fmt.Fprintf(&people, " since %s UTC, value %s", since, alertValue(al.Value))
		if s := string(al.Annotations["summary"]); s != "" {
			fmt.Fprintf(&list, ": %s", s)
			fmt.Fprintf(&people, ": %s", s)
		}
		list.WriteString("\n")
		people.WriteString("\n")
	}
	b.WriteString(tools.Untrusted("prometheus alerts", list.String()))
	return tools.Result{Text: b.String(), Display: people.String(), Data: alerts}, nil
}

// alertValue writes an alert's value, which Prometheus sends as text, with
// four significant digits; text that is not a number is kept.
func alertValue(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return num(f)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
