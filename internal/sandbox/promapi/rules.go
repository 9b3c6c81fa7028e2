package promapi

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
)

// RuleSource is the rule evaluator behind /api/v1/rules and /api/v1/alerts.
// The API reads the rules' state only inside ViewRules.
type RuleSource interface {
	// ViewRules calls f with the rule group between two evaluations, so
	// that every rule f sees is in the state of the same evaluation. f
	// must not keep the group.
	ViewRules(f func(RuleGroup))
}

// RuleGroup is a group of alerting rules as /api/v1/rules reports it.
type RuleGroup struct {
	Name, File string
	// Interval is how often the group is evaluated.
	Interval time.Duration
	Rules    []*rules.AlertingRule
	// LastEvaluation is the simulated time of the last evaluation;
	// EvaluationTime how long it took.
	LastEvaluation time.Time
	EvaluationTime time.Duration
}

// rulesHandler serves /api/v1/rules in Prometheus's shape.
func (a *API) rulesHandler(r *http.Request) (any, []string, *apiError) {
	typ := r.FormValue("type")
	if typ != "" && typ != "alert" && typ != "record" {
		return nil, nil, invalidParam(fmt.Errorf("not supported value %q", typ), "type")
	}
	var data any
	a.rules.ViewRules(func(rs RuleGroup) {
		data = encodeGroup(rs, typ)
	})
	return data, nil, nil
}

// encodeGroup renders the group in /api/v1/rules' shape, its alerting
// rules left out when only recording rules are asked for.
func encodeGroup(rs RuleGroup, typ string) any {
	out := []map[string]any{}
	if typ != "record" {
		for _, rule := range rs.Rules {
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
	group := map[string]any{"name": rs.Name, "file": rs.File, "rules": out, "interval": rs.Interval.Seconds(), "limit": 0,
		"evaluationTime": rs.EvaluationTime.Seconds(), "lastEvaluation": rs.LastEvaluation.Format(time.RFC3339Nano)}
	return map[string]any{"groups": []any{group}}
}

// alertsHandler serves /api/v1/alerts.
func (a *API) alertsHandler(*http.Request) (any, []string, *apiError) {
	all := []map[string]any{}
	a.rules.ViewRules(func(rs RuleGroup) {
		for _, rule := range rs.Rules {
			all = append(all, encodeAlerts(rule, rule.ActiveAlerts())...)
		}
	})
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
