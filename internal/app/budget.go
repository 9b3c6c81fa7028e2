package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/slack"
)

// budgetFor is what a run in conversation conv may spend: the least of
// what is left of the question's, the incident's (when conv is an
// incident's thread) and the day's budget (UTC). The spend so far is read
// from the store, so replicas sharing it share the budgets. A store that
// cannot answer leaves the question's budget in force and is logged:
// answering on is better than refusing while the database is down.
func (a *App) budgetFor(ctx context.Context, conv string) agent.Budget {
	b := a.cfg.LLM.Budget
	var best agent.Budget
	consider := func(scope string, limit, spent float64) {
		if limit <= 0 {
			return
		}
		left := limit - spent
		if best.Scope == "" || left < best.LeftUSD {
			best = agent.Budget{Scope: scope, LimitUSD: limit, LeftUSD: left}
		}
	}
	consider("question", b.QuestionUSD, 0)
	if b.IncidentUSD > 0 && a.isIncidentConversation(ctx, conv) {
		spent, err := a.store.SpentUSD(ctx, time.Time{}, conv)
		if err != nil {
			a.metrics.Error("store")
			a.logger.Error("read the incident's model spend; holding the run to the question budget", "conversation", conv, "err", err)
		} else {
			consider("incident", b.IncidentUSD, spent)
		}
	}
	if b.DayUSD > 0 {
		// Runs are stamped with the wall clock (agent.Options.Now), not
		// the observed world's (a sandbox's may run faster): the day is
		// the wall clock's too.
		now := time.Now().UTC()
		day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		spent, err := a.store.SpentUSD(ctx, day, "")
		if err != nil {
			a.metrics.Error("store")
			a.logger.Error("read the day's model spend; holding the run to the question budget", "err", err)
		} else {
			a.metrics.SetSpentToday(spent)
			consider("day", b.DayUSD, spent)
		}
	}
	return best
}

// isIncidentConversation reports whether conv is an incident's: its Slack
// thread, or the conversation the incident's own assessment runs in
// without Slack ("incident:ID").
func (a *App) isIncidentConversation(ctx context.Context, conv string) bool {
	if strings.HasPrefix(conv, "incident:") {
		return true
	}
	channel, ts, ok := slack.ThreadOf(conv)
	if !ok {
		return false
	}
	_, err := a.store.IncidentByThread(ctx, channel, ts)
	return err == nil
}

// spentNote says why a question was answered without the model.
func spentNote(b agent.Budget) string {
	when := ""
	switch b.Scope {
	case "day":
		when = " until 00:00 UTC"
	case "incident":
		when = " for this incident"
	}
	return fmt.Sprintf("_The %s model budget ($%.2f) is spent%s, so this was answered without the model; raise llm.budget.%s_usd to use it again._",
		b.Scope, b.LimitUSD, when, b.Scope)
}
