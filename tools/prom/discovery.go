package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/watchkeeper/watchkeeper/tools"
)

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
