// Package alerting is the sandbox's Prometheus rule evaluation and
// Alertmanager: the shop's alerting rules evaluated by Prometheus's own
// rules package at every step, and the alerts grouped and delivered as
// Alertmanager v4 webhooks. It imports the world and no other emulator:
// the rules query through a rules.QueryFunc the caller provides.
package alerting

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

//go:embed rules/shop.rules.yml
var shopRules []byte

// RuleSet evaluates alerting rules with Prometheus's own rules package. It
// is safe for concurrent use.
type RuleSet struct {
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

// ShopRulesFile returns the shop's rule file (rules/shop.rules.yml), in
// Prometheus's format: what `watchkeeper runbooks lint` checks the
// shipped runbooks against.
func ShopRulesFile() []byte { return append([]byte(nil), shopRules...) }

// LoadShopRules returns the shop's alerting rules (rules/shop.rules.yml),
// whose expressions query runs. Alerts link to externalURL.
func LoadShopRules(query rules.QueryFunc, externalURL *url.URL, p parser.Parser, logger *slog.Logger) (*RuleSet, error) {
	return loadRules(shopRules, "shop.rules.yml", query, externalURL, p, logger)
}

// loadRules parses a Prometheus rule file.
func loadRules(src []byte, file string, query rules.QueryFunc, externalURL *url.URL, p parser.Parser, logger *slog.Logger) (*RuleSet, error) {
	groups, errs := rulefmt.Parse(src, false, model.UTF8Validation, p, logger)
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules %s: %w", file, errors.Join(errs...))
	}
	rs := &RuleSet{file: file, externalURL: externalURL, query: query, interval: world.Step}
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

// Alert is an alert of one evaluation, with its rule's expression.
type Alert struct {
	*rules.Alert
	// Expr is the rule's PromQL: its generatorURL links to it, as
	// Prometheus's does (/graph?g0.expr=…).
	Expr string
}

// Eval evaluates every rule at t and returns the alerts that are firing or
// were resolved at t, for the Notifier.
func (rs *RuleSet) Eval(ctx context.Context, t time.Time) []Alert {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	start := time.Now()
	var changed []Alert
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
				changed = append(changed, Alert{Alert: &c, Expr: r.Query().String()})
			}
		})
	}
	rs.lastEval, rs.evalTime = t, time.Since(start)
	return changed
}

// Group is the rule set as it stands after an evaluation: what the
// Prometheus API's /api/v1/rules and /api/v1/alerts report.
type Group struct {
	Name, File string
	// Interval is how often the group is evaluated.
	Interval time.Duration
	Rules    []*rules.AlertingRule
	// LastEvaluation is the simulated time of the last evaluation;
	// EvaluationTime how long it took.
	LastEvaluation time.Time
	EvaluationTime time.Duration
}

// View calls f with the group between two evaluations, so that every
// rule's state f reads is from the same evaluation. f must not keep the
// group.
func (rs *RuleSet) View(f func(Group)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	f(Group{Name: rs.group, File: rs.file, Interval: rs.interval, Rules: rs.rules, LastEvaluation: rs.lastEval, EvaluationTime: rs.evalTime})
}
