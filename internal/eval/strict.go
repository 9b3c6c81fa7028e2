package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/watchkeeper/watchkeeper/agent"
)

// transcriptKeeper is the agent's Recorder for one run: it keeps the
// run's transcript for RecordRun. The agent records once, after the run.
type transcriptKeeper struct{ transcript []byte }

func (k *transcriptKeeper) RecordRun(_ context.Context, r agent.RunRecord) error {
	k.transcript = r.Transcript
	return nil
}

// groundingCheck fails a run whose answer cites less than min of its
// claims, or cites a tool call the run did not make.
func groundingCheck(min float64, g Grounding) Check {
	c := Check{Name: "groundedness", Target: fmt.Sprintf(">= %.2f", min), Pass: true, By: "deterministic"}
	var why []string
	if g.Groundedness != nil && *g.Groundedness < min {
		why = append(why, fmt.Sprintf("%d of %d claims cite a tool call (%.2f); uncited: %s", g.Cited, g.Claims, *g.Groundedness, quoteList(g.Uncited, 3)))
	}
	if len(g.InvalidCitations) > 0 {
		why = append(why, fmt.Sprintf("cites %v, which name no tool call of the run", g.InvalidCitations))
	}
	if len(why) > 0 {
		c.Pass, c.Detail = false, strings.Join(why, "; ")
	}
	return c
}

// replayChecks compare a strict scenario's replay with the run it was
// recorded from: the calls the agent makes now must be the recorded
// ones, and the model's recorded replies must all be asked for. A
// deviation means the agent loop, the parsing of replies or a tool's
// schema changed what a recorded model's behaviour produces.
func replayChecks(s *Scenario, rp *replay, agentCalls []Call, turnsLeft int) []Check {
	const again = " If the change is intended, record the run again (docs/eval.md, \"Recorded runs\")."
	var checks []Check
	for _, c := range rp.Calls() {
		if c.Recording == "" {
			checks = append(checks, Check{Name: "replay", Target: "call recorded", By: "deterministic",
				Detail: fmt.Sprintf("the %s called %s %s and no recording answers it: the recorded run made no such call, or its recording was removed.%s", by(c.By), c.Tool, c.Args, again)})
		}
	}
	for _, file := range rp.Unused() {
		var rec Recording
		for _, r := range s.Recordings {
			if r.File == file {
				rec = r
			}
		}
		detail := fmt.Sprintf("%s (%s) answered a call of the recorded run that the replay did not make", file, rec.CallRule)
		for _, c := range agentCalls {
			if c.Tool == rec.Tool && c.Detail != "" {
				detail += fmt.Sprintf("; the agent's call %s %s ended %s: %s", c.Tool, c.Args, c.Outcome, c.Detail)
			}
		}
		checks = append(checks, Check{Name: "replay", Target: "recording used", By: "deterministic", Detail: strings.TrimRight(detail, ". ") + "." + again})
	}
	if turnsLeft > 0 {
		n := len(s.Script.Turns)
		checks = append(checks, Check{Name: "replay", Target: "script consumed", By: "deterministic",
			Detail: fmt.Sprintf("the run ended after %d of the recorded model's %d replies: the agent stopped asking the model before the recorded run did.%s", n-turnsLeft, n, again)})
	}
	if len(checks) == 0 {
		checks = append(checks, Check{Name: "replay", Target: "as recorded", Pass: true, By: "deterministic"})
	}
	return checks
}

func by(who string) string {
	if who == "investigation" {
		return "incident investigation"
	}
	return who
}

func quoteList(s []string, n int) string {
	var q []string
	for i, x := range s {
		if i == n {
			q = append(q, fmt.Sprintf("and %d more", len(s)-n))
			break
		}
		q = append(q, fmt.Sprintf("%q", x))
	}
	return strings.Join(q, ", ")
}
