package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

// HandleInteraction takes a button click after it was acknowledged.
func (b *Bot) HandleInteraction(ctx context.Context, cb slackapi.InteractionCallback) {
	if cb.Type != slackapi.InteractionTypeBlockActions {
		b.count("interaction", "ignored")
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		a := *a
		if !b.submit("click "+a.ActionID, func(ctx context.Context) { b.click(ctx, cb, a) }) {
			b.count("interaction", "busy")
			b.respond(ctx, cb.ResponseURL, "ephemeral", busyText, nil)
		}
	}
}

func (b *Bot) click(ctx context.Context, cb slackapi.InteractionCallback, a slackapi.BlockAction) {
	b.count("interaction", a.ActionID)
	switch a.ActionID {
	case ActionApprove, ActionReject:
		b.decide(ctx, cb, a.Value, a.ActionID == ActionApprove)
	case ActionDetails:
		b.details(ctx, cb, a.Value)
	case ActionShowWork:
		b.showWork(ctx, cb, a.Value)
	case ActionAck, ActionInvestigate, ActionPostmortem, ActionSilence:
		b.incidentClick(ctx, cb, a.ActionID, a.Value)
	default:
		b.respond(ctx, cb.ResponseURL, "ephemeral", "That button is not one Watchkeeper knows; the message may be from an older version.", nil)
	}
}

// refuse explains to the clicker why nothing happened.
func (b *Bot) refuse(ctx context.Context, cb slackapi.InteractionCallback, text string) {
	b.count("interaction", "refused")
	b.respond(ctx, cb.ResponseURL, "ephemeral", text, nil)
}

// decide approves or rejects a proposal after the policy allowed it, then
// executes an approval once and updates the proposal's message.
func (b *Bot) decide(ctx context.Context, cb slackapi.InteractionCallback, id string, approve bool) {
	if b.opts.Approvals == nil {
		b.refuse(ctx, cb, "Approvals are not available in this Watchkeeper.")
		return
	}
	p, err := b.opts.Approvals.Get(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			b.refuse(ctx, cb, fmt.Sprintf("Proposal `%s` does not exist (any more); nothing was changed.", Escape(truncate(id, 100))))
			return
		}
		b.refuse(ctx, cb, "Could not load the proposal: "+Escape(err.Error())+". Try again in a moment.")
		return
	}
	req := approval.Request{Actor: cb.User.ID, Channel: cb.Channel.ID, ChannelMember: true, Approve: approve, Proposal: p}
	if err := b.opts.Approvals.Check(ctx, b.opts.Policy, req); err != nil {
		b.refuse(ctx, cb, refusalText(err, approve))
		b.refreshProposal(ctx, cb, id)
		return
	}
	complete := true
	if approve {
		_, complete, err = b.opts.Approvals.Approve(ctx, b.opts.Policy, req)
	} else {
		_, err = b.opts.Approvals.Decide(ctx, id, cb.User.ID, false)
	}
	if err != nil {
		// Another click won the race: this one changes nothing.
		b.refuse(ctx, cb, refusalText(err, approve))
		b.refreshProposal(ctx, cb, id)
		return
	}
	b.refreshProposal(ctx, cb, id)
	if !complete {
		b.respond(ctx, cb.ResponseURL, "ephemeral", "Your approval is recorded. This change needs a second approver before it runs.", nil)
		return
	}
	verb := "rejected"
	if approve {
		verb = "approved"
	}
	note := fmt.Sprintf("[note] <@%s> %s proposal %s (%s).", cb.User.ID, verb, id, p.Summary)
	if approve {
		res, err := b.opts.Approvals.ExecuteChecked(ctx, b.opts.Policy, id, cb.User.ID)
		switch {
		case err != nil:
			note = fmt.Sprintf("[note] <@%s> approved proposal %s (%s) but it failed: %v", cb.User.ID, id, p.Summary, err)
		default:
			note = fmt.Sprintf("[note] <@%s> approved proposal %s (%s) and it was applied: %s", cb.User.ID, id, p.Summary,
				truncate(b.opts.Redactor.Redact(res.Text), 500))
		}
		b.refreshProposal(ctx, cb, id)
	}
	if b.opts.Asker != nil && p.ConversationID != "" {
		if err := b.opts.Asker.Remember(ctx, p.ConversationID, note); err != nil {
			b.logger.Warn("record a decision in the conversation", "err", err)
		}
	}
	b.recordOnIncident(ctx, p.ConversationID, "action", strings.TrimPrefix(note, "[note] "), cb.User.ID)
}

func refusalText(err error, approve bool) string {
	action := "reject"
	if approve {
		action = "approve"
	}
	reason := Escape(approval.Reason(err))
	switch {
	case errors.Is(err, approval.ErrNotAuthorized):
		return fmt.Sprintf("You cannot %s this: %s. Nothing was changed.", action, reason)
	case errors.Is(err, approval.ErrExpired):
		return fmt.Sprintf("Too late to %s: %s. Nothing was changed.", action, reason)
	case errors.Is(err, store.ErrConflict):
		return fmt.Sprintf("Nothing to %s: %s. Nothing more was changed.", action, reason)
	}
	return fmt.Sprintf("Could not %s: %s. Nothing was changed.", action, reason)
}

// refreshProposal re-renders a proposal's message from the store. Reading
// and queueing happen under the proposal's lock, so the last update
// queued always shows the latest state, whichever click finishes last.
func (b *Bot) refreshProposal(ctx context.Context, cb slackapi.InteractionCallback, id string) {
	mu, _ := b.proposalLocks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	p, err := b.opts.Approvals.Get(ctx, id)
	if err != nil {
		return
	}
	b.updateProposal(ctx, cb, p)
}

func (b *Bot) updateProposal(ctx context.Context, cb slackapi.InteractionCallback, p approval.Proposal) {
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	if ts == "" {
		return
	}
	blocks, text := ProposalBlocks(p, b.opts.Expiry)
	m := newMsg(cb.Channel.ID, "", text, blocks)
	m.TS = ts
	if err := b.out.Update(ctx, m); err != nil {
		b.logger.Error("queue a proposal update", "proposal", p.ID, "err", err)
	}
}

// details shows the full proposal to the clicker only.
func (b *Bot) details(ctx context.Context, cb slackapi.InteractionCallback, id string) {
	if b.opts.Approvals == nil {
		return
	}
	p, err := b.opts.Approvals.Get(ctx, id)
	if err != nil {
		b.refuse(ctx, cb, fmt.Sprintf("Proposal `%s` could not be loaded: %s.", Escape(truncate(id, 100)), Escape(err.Error())))
		return
	}
	var args any
	_ = json.Unmarshal(p.Args, &args)
	pretty, _ := json.MarshalIndent(args, "", "  ")
	text := fmt.Sprintf("*%s* — %s\nStatus: %s · tool `%s` · risk %s", p.ID, Escape(p.Summary), Escape(string(p.Status)), Escape(p.Tool), Escape(p.Risk))
	blocks := []slackapi.Block{section(text), section(CodeBlock(truncate(p.Details, 2800)))}
	if p.Reason != "" {
		blocks = append(blocks, section("*Reason given by the requester (not checked by Watchkeeper):*\n"+CodeBlock(truncate(p.Reason, 2700))))
	}
	blocks = append(blocks, section("*Arguments:*\n"+CodeBlock(truncate(string(pretty), 2700))))
	b.respond(ctx, cb.ResponseURL, "ephemeral", "Proposal "+p.ID, blocks)
}

// showWork opens a modal with every tool call and result of a run.
func (b *Bot) showWork(ctx context.Context, cb slackapi.InteractionCallback, runID string) {
	run, err := b.opts.Store.GetRun(ctx, runID)
	if err != nil {
		b.refuse(ctx, cb, "That run's record could not be found; it may have been pruned.")
		return
	}
	var t transcript
	if err := json.Unmarshal(run.Transcript, &t); err != nil {
		b.refuse(ctx, cb, "That run's record is unreadable: "+Escape(err.Error()))
		return
	}
	// A view is not a message: it does not pass the outbox, so it is
	// redacted here, the same way.
	blocks := workBlocks(t)
	raw, err := json.Marshal(blocks)
	if err == nil {
		raw, err = redactJSON(raw, b.opts.Redactor)
	}
	if err == nil {
		var redacted slackapi.Blocks
		if err = json.Unmarshal(raw, &redacted); err == nil {
			blocks = redacted.BlockSet
		}
	}
	if err != nil {
		b.refuse(ctx, cb, "That run's record could not be shown: "+Escape(err.Error()))
		return
	}
	view := slackapi.ModalViewRequest{Type: slackapi.VTModal, Title: plainText("Watchkeeper's work"),
		Close: plainText("Close"), Blocks: slackapi.Blocks{BlockSet: blocks}}
	if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, view); err != nil {
		if strings.Contains(err.Error(), "trigger") {
			b.refuse(ctx, cb, "Slack allows three seconds to open a view and that passed; click *Show my work* again.")
			return
		}
		b.refuse(ctx, cb, "Could not open the view: "+Escape(err.Error()))
	}
}
