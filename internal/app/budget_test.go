package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/triage"
)

// budgetApp is an app whose main model ("main") and fast model ("fast")
// cost $1 per million tokens, so a reply reporting 60,000 tokens costs
// $0.06.
func budgetApp(t *testing.T, budget config.Budget, main, fast agent.Model) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.LLM.Model, cfg.LLM.Fast.Model = "main", "fast"
	cfg.LLM.Prices = map[string]config.Price{"main": {InputPerMTok: 1, OutputPerMTok: 1}, "fast": {InputPerMTok: 1, OutputPerMTok: 1}}
	cfg.LLM.Budget = budget
	a, err := app.New(context.Background(), cfg, app.Options{Model: main, FastModel: fast})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func sixCents(text string) scripted.Turn {
	return scripted.Turn{Text: text, Usage: agent.Usage{InputTokens: 59_000, OutputTokens: 1_000}}
}

// The day's budget is read from the runs every replica recorded: once
// spent, questions are answered without the model, saying why.
func TestDayBudgetSpentAnswersWithoutTheModel(t *testing.T) {
	main := scripted.New(sixCents("the first answer"))
	a := budgetApp(t, config.Budget{QuestionUSD: 1, DayUSD: 0.05}, main, nil)
	ctx := context.Background()
	res, err := a.Ask(ctx, "terminal", "c1", "why is checkout slow?", nil)
	if err != nil || res.Answer != "the first answer" || res.Budget == nil || res.Budget.Scope != "day" {
		t.Fatalf("first question: err=%v answer=%q budget=%+v", err, res.Answer, res.Budget)
	}
	if !strings.Contains(res.Footer(), "$0.0600 of $0.05 day budget") {
		t.Errorf("footer = %q", res.Footer())
	}
	res, err = a.Ask(ctx, "terminal", "c2", "why is checkout slow?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != triage.Model || !strings.Contains(res.Answer, "The day model budget ($0.05) is spent until 00:00 UTC, so this was answered without the model") {
		t.Errorf("second question: model %q, answer:\n%s", res.Model, res.Answer)
	}
	if main.Remaining() != 0 || len(main.Requests()) != 1 {
		t.Errorf("the main model was asked %d times, want once", len(main.Requests()))
	}
	if got := metric(t, a, "watchkeeper_llm_budget_exhausted_total", "day"); got != 1 {
		t.Errorf("budget_exhausted{day} = %v, want 1", got)
	}
	if got := metric(t, a, "watchkeeper_llm_spent_today_usd", ""); got < 0.0599 || got > 0.0601 {
		t.Errorf("spent_today = %v, want 0.06", got)
	}
	if got := metric(t, a, "watchkeeper_llm_budget_usd", "day"); got != 0.05 {
		t.Errorf("budget_usd{day} = %v", got)
	}
}

// An incident's first assessment goes to the fast model; every run in the
// incident's conversation counts against its budget, and another
// conversation is not held to it.
func TestIncidentTriageOnTheFastModelWithinTheIncidentBudget(t *testing.T) {
	main := scripted.New(sixCents("main answers people"))
	fast := scripted.New(sixCents("fast triage: checkout's deploy"))
	a := budgetApp(t, config.Budget{QuestionUSD: 1, IncidentUSD: 0.05, DayUSD: 10}, main, fast)
	ctx := context.Background()

	res, err := a.Ask(incident.WithTriage(ctx), "Slack", "incident:inc_1", "assess the incident", nil)
	if err != nil || res.Answer != "fast triage: checkout's deploy" || res.Model != "fast" {
		t.Fatalf("triage: err=%v model=%q answer=%q", err, res.Model, res.Answer)
	}
	if !strings.HasPrefix(res.Footer(), "fast · ") || res.Budget == nil || res.Budget.Scope != "incident" {
		t.Errorf("triage footer %q, budget %+v", res.Footer(), res.Budget)
	}
	res, err = a.Ask(ctx, "Slack", "incident:inc_1", "and now?", nil)
	if err != nil || res.Model != triage.Model || !strings.Contains(res.Answer, "The incident model budget ($0.05) is spent for this incident") {
		t.Fatalf("in the spent incident: err=%v model=%q answer=%q", err, res.Model, res.Answer)
	}
	res, err = a.Ask(ctx, "Slack", "slack:C1:1.0001", "why is checkout slow?", nil)
	if err != nil || res.Answer != "main answers people" || res.Model != "main" {
		t.Fatalf("elsewhere: err=%v model=%q answer=%q", err, res.Model, res.Answer)
	}
	if fast.Remaining() != 0 || main.Remaining() != 0 {
		t.Errorf("scripted turns left: fast %d, main %d", fast.Remaining(), main.Remaining())
	}
	if got := metric(t, a, "watchkeeper_llm_cost_usd_total", "fast"); got < 0.0599 || got > 0.0601 {
		t.Errorf("cost{fast} = %v", got)
	}
}

// metric reads a metric's value, for the series whose single label has
// value label ("" for none).
func metric(t *testing.T, a *app.App, name, label string) float64 {
	t.Helper()
	mfs, err := a.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}
