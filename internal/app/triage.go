package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/triage"
)

// answerWithoutModel routes input to the deterministic investigation that
// fits it, emitting the same events as a model's run (tool calls, the
// answer) so that every surface renders it the same way, and stores what
// it proposes for approval. note, when set, ends the answer (why the model
// was not asked).
func (a *App) answerWithoutModel(ctx context.Context, source, conv, input string, scope agent.Scope, obs agent.Observer, note string) (*agent.Result, error) {
	start := time.Now()
	res := &agent.Result{Summary: agent.Summary{RunID: newRunID(), ConversationID: conv, Source: source, Model: triage.Model,
		StartedAt: start}}
	emit := func(ctx context.Context, e agent.Event) {
		if obs == nil {
			return
		}
		e.RunID, e.ConversationID, e.Time, e.Model = res.RunID, conv, time.Now(), triage.Model
		obs(ctx, e)
	}
	emit(ctx, agent.Event{Kind: agent.EventRunStarted, Text: a.redactor.Redact(input)})
	calls := 0
	ans := a.triage.Answer(ctx, triage.Question{Text: input, Policy: scope, Source: source,
		Step: func(ctx context.Context, s triage.Step, done bool) {
			if !done {
				calls++
				emit(ctx, agent.Event{Kind: agent.EventToolStart, Step: 1, Tool: s.Tool, CallID: s.Tool, Args: s.Args})
				return
			}
			e := agent.Event{Kind: agent.EventToolEnd, Step: 1, Tool: s.Tool, CallID: s.Tool, Args: s.Args,
				Duration: s.Invoked.Duration, Outcome: s.Invoked.Outcome, Result: s.Invoked.Result}
			if s.OK() {
				e.Text = s.Invoked.Result.Text
				if s.Invoked.Result.Proposal != nil {
					e.Outcome = agent.OutcomeProposed
				}
			} else {
				e.Text = "Error: " + s.Invoked.Reason
			}
			emit(ctx, e)
		}})
	for _, s := range ans.Steps {
		if s.OK() {
			res.Attachments = append(res.Attachments, s.Invoked.Result.Attachments...)
		}
	}
	for _, p := range ans.Proposals {
		stored, err := a.approvals.Propose(ctx, conv, p)
		if err != nil {
			a.logger.Error("store a proposal of an investigation without a model", "tool", p.Tool, "err", err)
			continue
		}
		res.Proposals = append(res.Proposals, stored)
		emit(ctx, agent.Event{Kind: agent.EventProposal, Tool: stored.Tool, Proposal: &stored})
	}
	res.Answer = a.redactor.Redact(ans.Text)
	if note != "" {
		res.Answer += "\n\n" + note
	}
	res.Steps, res.ToolCalls, res.Duration, res.Outcome = 1, calls, time.Since(start), agent.RunAnswered
	if ans.Intent == triage.Unknown {
		res.Outcome = triage.NotUnderstood
	}
	emit(ctx, agent.Event{Kind: agent.EventFinal, Text: res.Answer, Run: &res.Summary})
	if err := ctx.Err(); err != nil {
		return res, context.Cause(ctx)
	}
	return res, nil
}

// triageOf builds the no-model answerer over the app's invoker.
func triageOf(a *App, now func() time.Time) *triage.Triage {
	return triage.New(triage.Options{Invoker: a.Invoker(), Now: now, Namespace: a.cfg.Kubernetes.Namespace,
		Logger: a.logger.With("component", "triage")})
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run_" + hex.EncodeToString(b[:])
}

// worldAfter waits d of the world's time (now): the channel fires when
// the world's clock has moved d past the call, or after d of real time,
// whichever comes first (a world never runs slower than real time, and a
// stopped one must not keep the wait alive).
func worldAfter(now func() time.Time) func(time.Duration) <-chan time.Time {
	return func(d time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		target := now().Add(d)
		go func() {
			limit := time.NewTimer(d)
			defer limit.Stop()
			tick := time.NewTicker(min(d, 200*time.Millisecond))
			defer tick.Stop()
			for {
				select {
				case t := <-limit.C:
					ch <- t
					return
				case t := <-tick.C:
					if !now().Before(target) {
						ch <- t
						return
					}
				}
			}
		}()
		return ch
	}
}
