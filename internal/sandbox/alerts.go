package sandbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
)

//go:embed rules/shop.rules.yml
var shopRules []byte

// ruleSet evaluates alerting rules with Prometheus's own rules package.
type ruleSet struct {
	mu          sync.Mutex
	group       string
	file        string
	interval    time.Duration
	rules       []*rules.AlertingRule
	lastEval    time.Time
	evalTime    time.Duration
	externalURL *url.URL
	query       rules.QueryFunc
}

// loadRules parses a Prometheus rule file.
func loadRules(src []byte, file string, store *metricStore, externalURL *url.URL, p parser.Parser, logger *slog.Logger) (*ruleSet, error) {
	groups, errs := rulefmt.Parse(src, false, model.UTF8Validation, p, logger)
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules %s: %w", file, errors.Join(errs...))
	}
	rs := &ruleSet{file: file, externalURL: externalURL, query: rules.EngineQueryFunc(store.engine, store.db), interval: Step}
	for _, g := range groups.Groups {
		rs.group = g.Name
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.Alert, err)
			}
			rs.rules = append(rs.rules, rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), externalURL.String(), false, logger))
		}
	}
	return rs, nil
}

// eval evaluates every rule at t and returns the alerts that are firing or
// were resolved at t.
func (rs *ruleSet) eval(ctx context.Context, t time.Time) []*rules.Alert {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	start := time.Now()
	var changed []*rules.Alert
	for _, r := range rs.rules {
		rstart := time.Now()
		_, err := r.Eval(ctx, 0, t, rs.query, rs.externalURL, 0)
		r.SetEvaluationTimestamp(t)
		r.SetEvaluationDuration(time.Since(rstart))
		if err != nil {
			r.SetHealth(rules.HealthBad)
			r.SetLastError(err)
			continue
		}
		r.SetHealth(rules.HealthGood)
		r.SetLastError(nil)
		r.ForEachActiveAlert(func(a *rules.Alert) {
			if a.State == rules.StateFiring || a.ResolvedAt.Equal(t) {
				c := *a
				c.Labels = labels.NewBuilder(a.Labels).Set(labels.AlertName, r.Name()).Labels()
				changed = append(changed, &c)
			}
		})
	}
	rs.lastEval, rs.evalTime = t, time.Since(start)
	return changed
}

// rulesHandler serves /api/v1/rules in Prometheus's shape.
func (a *promAPI) rulesHandler(r *http.Request) (any, []string, *apiError) {
	rs := a.rules
	rs.mu.Lock()
	defer rs.mu.Unlock()
	typ := r.FormValue("type")
	if typ != "" && typ != "alert" && typ != "record" {
		return nil, nil, invalidParam(fmt.Errorf("not supported value %q", typ), "type")
	}
	out := []map[string]any{}
	if typ != "record" {
		for _, rule := range rs.rules {
			health := string(rule.Health())
			lastErr := ""
			if err := rule.LastError(); err != nil {
				lastErr = err.Error()
			}
			out = append(out, map[string]any{
				"state": rule.State().String(), "name": rule.Name(), "query": rule.Query().String(),
				"duration": rule.HoldDuration().Seconds(), "keepFiringFor": rule.KeepFiringFor().Seconds(),
				"labels": rule.Labels().Map(), "annotations": rule.Annotations().Map(),
				"alerts": encodeAlerts(rule, rule.ActiveAlerts()), "health": health, "lastError": lastErr,
				"evaluationTime": rule.GetEvaluationDuration().Seconds(),
				"lastEvaluation": rule.GetEvaluationTimestamp().Format(time.RFC3339Nano), "type": "alerting",
			})
		}
	}
	group := map[string]any{"name": rs.group, "file": rs.file, "rules": out, "interval": rs.interval.Seconds(), "limit": 0,
		"evaluationTime": rs.evalTime.Seconds(), "lastEvaluation": rs.lastEval.Format(time.RFC3339Nano)}
	return map[string]any{"groups": []any{group}}, nil, nil
}

// alertsHandler serves /api/v1/alerts.
func (a *promAPI) alertsHandler(*http.Request) (any, []string, *apiError) {
	rs := a.rules
	rs.mu.Lock()
	defer rs.mu.Unlock()
	all := []map[string]any{}
	for _, rule := range rs.rules {
		all = append(all, encodeAlerts(rule, rule.ActiveAlerts())...)
	}
	return map[string]any{"alerts": all}, nil, nil
}

func encodeAlerts(rule *rules.AlertingRule, alerts []*rules.Alert) []map[string]any {
	out := []map[string]any{}
	for _, al := range alerts {
		ls := labels.NewBuilder(al.Labels).Set(labels.AlertName, rule.Name()).Labels()
		out = append(out, map[string]any{
			"labels": ls.Map(), "annotations": al.Annotations.Map(), "state": al.State.String(),
			"activeAt": al.ActiveAt.Format(time.RFC3339Nano), "value": formatValue(al.Value),
		})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]["labels"]) < fmt.Sprint(out[j]["labels"]) })
	return out
}
