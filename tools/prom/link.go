package prom

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Link returns the query's link in the configured UI ("" when none).
func (c *Client) Link(query string, start, end time.Time, step time.Duration) string {
	return c.link(query, start, end, step)
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
