package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Incident button action IDs.
const (
	ActionAck         = "incident_ack"
	ActionInvestigate = "incident_investigate"
	ActionPostmortem  = "incident_postmortem"
	ActionSilence     = "incident_silence"
)

// Incidents is what incident buttons need.
type Incidents interface {
	Get(ctx context.Context, id string) (incident.Incident, error)
	Record(ctx context.Context, id, kind, text, actor string) (incident.Incident, error)
	// Acknowledge records the first acknowledgement only, and says whose
	// it is.
	Acknowledge(ctx context.Context, id, user string) (incident.Incident, string, error)
	ByThread(ctx context.Context, channel, ts string) (incident.Incident, bool)
	LinkThread(ctx context.Context, id, threadTS string) (bool, error)
	List(ctx context.Context, st incident.Status, limit int) ([]incident.Incident, error)
}

// maxIncidentAlerts are listed in the parent message; the rest counted.
const maxIncidentAlerts = 10

// IncidentBlocks renders an incident's parent message. Everything in it
// but the status comes from the notification, so it is escaped, and an
// alert's generatorURL becomes a "graph" link only when trusted says it
// points at a Prometheus of ours (nil: never) — a label cannot hide where
// someone else's link goes.
func IncidentBlocks(in incident.Incident, now time.Time, trusted func(string) bool) ([]slackapi.Block, string) {
	status, icon := "FIRING", "🔥"
	if in.Status == incident.Resolved {
		status, icon = "RESOLVED", "✅"
	}
	sev := in.Severity
	if sev == "" {
		sev = "no severity"
	}
	head := fmt.Sprintf("%s *%s* · %s · %s", icon, status, Escape(sev), Escape(in.Title))
	blocks := []slackapi.Block{section(head)}
	meta := []string{fmt.Sprintf("%d of %d alerts firing", in.Firing(), len(in.Data.Alerts)),
		"started " + in.StartedAt.UTC().Format("15:04 UTC") + " (" + since(now, in.StartedAt) + " ago)"}
	if in.Status == incident.Resolved {
		meta = append(meta, "resolved "+in.ResolvedAt.UTC().Format("15:04 UTC"))
	}
	if in.Data.AckedBy != "" {
		meta = append(meta, "acknowledged by <@"+in.Data.AckedBy+">")
	}
	meta = append(meta, "`"+in.ID+"`")
	blocks = append(blocks, contextBlock(strings.Join(meta, " · ")))
	var lines []string
	alerts := in.SortedAlerts()
	for i, a := range alerts {
		if i == maxIncidentAlerts {
			lines = append(lines, fmt.Sprintf("…and %d more", len(alerts)-i))
			break
		}
		dot := "🔴"
		if a.Status != "firing" {
			dot = "🟢"
		}
		line := fmt.Sprintf("%s %s since %s", dot, Escape(oneLine(alertName(a))), a.StartsAt.UTC().Format("15:04"))
		if s := a.Annotations["summary"]; s != "" {
			line += " — " + Escape(truncate(s, 200))
		}
		if a.GeneratorURL != "" && trusted != nil && trusted(a.GeneratorURL) {
			line += " <" + Escape(a.GeneratorURL) + "|graph>"
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		blocks = append(blocks, section(strings.Join(lines, "\n")))
	}
	if in.Status == incident.Open {
		var btns []slackapi.BlockElement
		if in.Data.AckedBy == "" {
			ack := slackapi.NewButtonBlockElement(ActionAck, in.ID, plainText("Acknowledge"))
			ack.Style = slackapi.StylePrimary
			btns = append(btns, ack)
		}
		btns = append(btns, slackapi.NewButtonBlockElement(ActionInvestigate, in.ID, plainText("Investigate")),
			slackapi.NewButtonBlockElement(ActionSilence, in.ID, plainText("Silence")))
		blocks = append(blocks, slackapi.NewActionBlock("incident:"+in.ID, btns...))
	} else {
		pm := slackapi.NewButtonBlockElement(ActionPostmortem, in.ID, plainText("Draft postmortem"))
		blocks = append(blocks, slackapi.NewActionBlock("incident:"+in.ID, pm))
	}
	return blocks, fmt.Sprintf("%s %s · %s · %s", icon, status, sev, truncate(in.Title, 200))
}

func alertName(a incident.AlertState) string {
	var parts []string
	for _, k := range []string{"namespace", "service", "pod", "instance"} {
		if v := a.Labels[k]; v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return a.Labels["alertname"] + "{" + strings.Join(parts, ", ") + "}"
}

func since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// PostIncident implements incident.Surface.
func (b *Bot) PostIncident(ctx context.Context, ch string, in incident.Incident) (string, error) {
	blocks, text := IncidentBlocks(in, time.Now(), b.opts.TrustedLinks)
	wait := b.opts.IncidentPostWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// Keyed: whichever replica delivers it links the thread to the
	// incident, even after this call stopped waiting or this replica
	// stopped altogether.
	ts, err := b.out.PostKeyed(pctx, incidentKey+in.ID, newMsg(ch, "", text, blocks))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		b.logger.Info("the incident's message is queued; it is linked when delivered", "incident", in.ID, "channel", ch)
		return "", nil
	}
	return ts, err
}

// thread returns the incident with its thread, waiting for the parent
// message to be delivered and linked if it is not yet (a slow Slack, or a
// replica taking over delivery); false when it is not linked within
// the wait.
func (b *Bot) thread(ctx context.Context, in incident.Incident) (incident.Incident, bool) {
	if in.ThreadTS != "" || b.opts.Incidents == nil {
		return in, in.ThreadTS != ""
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return in, false
		case <-time.After(250 * time.Millisecond):
		}
		if cur, err := b.opts.Incidents.Get(ctx, in.ID); err == nil && cur.ThreadTS != "" {
			return cur, true
		}
	}
	return in, false
}

// incidentKey prefixes the outbox key of an incident's parent message.
const incidentKey = "incident:"

// UpdateIncident implements incident.Surface.
func (b *Bot) UpdateIncident(ctx context.Context, in incident.Incident) error {
	blocks, text := IncidentBlocks(in, time.Now(), b.opts.TrustedLinks)
	m := newMsg(in.Channel, "", text, blocks)
	m.TS = in.ThreadTS
	return b.out.Update(ctx, m)
}

// ReportFindings implements incident.Reporter: the investigation as one
// threaded message with each step's tool call as evidence.
func (b *Bot) ReportFindings(ctx context.Context, in incident.Incident, findings []incident.Finding) error {
	in, ok := b.thread(ctx, in)
	if !ok {
		return fmt.Errorf("incident %s has no Slack thread to report in (its message was not delivered)", in.ID)
	}
	var md strings.Builder
	// The title is the alert's (whoever sent it): in code, where it can
	// form neither a link nor formatting.
	fmt.Fprintf(&md, "**Automatic investigation** of `%s`\n\n", strings.ReplaceAll(oneLine(in.Title), "`", "'"))
	var ev []Evidence
	for _, f := range findings {
		text := f.Display
		if text == "" {
			text = tools.StripMarkers(f.Text) // a failure: the reason
		}
		fmt.Fprintf(&md, "**%s** (`%s`)\n```\n%s\n```\n", f.Title, f.Tool, defuseFences(strings.TrimSpace(truncate(text, 1800))))
		outcome := "ok"
		if f.Failed {
			outcome = "error"
		}
		ev = append(ev, Evidence{Tool: f.Tool, Query: mainArg(f.Args), Duration: f.Duration, Outcome: outcome, Link: linkOf(f.Data)})
	}
	if len(findings) == 0 {
		md.WriteString("No investigation tools are configured (prometheus.url, logs.backend, kubernetes).")
	}
	blocks, fallback, overflow := AnswerBlocks(Answer{Text: md.String(), Evidence: ev})
	if _, err := b.out.Post(ctx, newMsg(in.Channel, in.ThreadTS, fallback, blocks)); err != nil {
		return err
	}
	if overflow {
		b.upload(ctx, in.Channel, in.ThreadTS, "investigation.md", "Automatic investigation", []byte(md.String()))
	}
	// What the investigation proposed, each with its buttons, below it.
	for _, f := range findings {
		if f.Proposal != nil {
			b.postProposal(ctx, in.Channel, in.ThreadTS, f.Proposal.ID)
		}
	}
	return nil
}

// Assess implements incident.Reporter: with a model, the agent writes an
// assessment in the thread (and the thread is its conversation).
func (b *Bot) Assess(ctx context.Context, in incident.Incident, prompt string) error {
	if b.opts.Asker == nil || b.opts.NoModel {
		return nil
	}
	in, ok := b.thread(ctx, in)
	if !ok {
		return fmt.Errorf("incident %s has no Slack thread to assess in", in.ID)
	}
	// What the assessment proposes is requested by whoever started it —
	// the person who clicked Investigate, else the notification's sender —
	// never by Watchkeeper itself: that person may not approve it alone.
	requester := approval.Requester(ctx)
	if requester == "" {
		requester = in.Data.OpenedBy
	}
	if requester == "" {
		requester = "alertmanager"
	}
	b.answer(incident.WithTriage(ctx), request{channel: in.Channel, user: requester, root: in.ThreadTS, thread: in.ThreadTS, text: prompt, auto: true})
	return nil
}

// incidentClick handles Acknowledge and Investigate.
func (b *Bot) incidentClick(ctx context.Context, cb slackapi.InteractionCallback, action, id string) {
	if b.opts.Incidents == nil {
		b.refuse(ctx, cb, "Incidents are not handled by this Watchkeeper.")
		return
	}
	in, err := b.opts.Incidents.Get(ctx, id)
	if err != nil {
		b.refuse(ctx, cb, fmt.Sprintf("Incident `%s` could not be found.", Escape(truncate(id, 100))))
		return
	}
	switch action {
	case ActionAck:
		acked, by, err := b.opts.Incidents.Acknowledge(ctx, id, cb.User.ID)
		if err != nil {
			b.refuse(ctx, cb, "Could not record the acknowledgement: "+Escape(err.Error()))
			return
		}
		if by != cb.User.ID {
			b.refuse(ctx, cb, "Already acknowledged by <@"+by+">.")
			return
		}
		// The message loses its Acknowledge button and says who.
		if err := b.UpdateIncident(ctx, acked); err != nil {
			b.logger.Error("update the acknowledged incident's message", "incident", id, "err", err)
		}
		b.post(ctx, in.Channel, in.ThreadTS, "👋 <@"+cb.User.ID+"> acknowledged this incident.", []slackapi.Block{section("👋 <@" + cb.User.ID + "> acknowledged this incident.")})
	case ActionPostmortem:
		_, _ = b.opts.Incidents.Record(ctx, id, "postmortem", "postmortem drafted at the request of "+cb.User.ID, cb.User.ID)
		b.DraftPostmortem(approval.WithRequester(ctx, cb.User.ID), in)
	case ActionSilence:
		b.proposeSilence(ctx, cb, in)
	case ActionInvestigate:
		if b.opts.Investigator == nil {
			b.refuse(ctx, cb, "No investigation is configured.")
			return
		}
		_, _ = b.opts.Incidents.Record(ctx, id, "investigate", "investigation requested by "+cb.User.ID, cb.User.ID)
		b.opts.Investigator.Investigate(approval.WithRequester(ctx, cb.User.ID), in, b)
	}
}

// DraftPostmortem posts the incident's postmortem in its thread — written
// by the model from the recorded facts when one is configured, else the
// deterministic draft of the same facts — as a Markdown file, and
// proposes committing it to the runbooks repository and what the
// runbook should learn. Drafting writes nothing anywhere: the commits are
// proposals, requested by whoever asked for the draft (approval's
// requester in ctx: the clicker, or the notification's sender), for an
// approver to decide.
func (b *Bot) DraftPostmortem(ctx context.Context, in incident.Incident) {
	if in.ThreadTS == "" {
		return
	}
	draft, source := incident.Postmortem(in), "from the recorded facts; no language model is configured"
	if b.opts.Asker != nil && !b.opts.NoModel {
		res, err := b.opts.Asker.AskScoped(ctx, ConversationID(in.Channel, in.ThreadTS), incident.PostmortemPrompt(in), b.scopes.of(in.Channel), nil)
		if err == nil && strings.TrimSpace(res.Answer) != "" {
			draft, source = res.Answer, "written by "+res.Model+" from the recorded facts"
		} else if err != nil {
			source = "from the recorded facts; the model failed: " + err.Error()
		}
	}
	draft = b.opts.Redactor.Redact(draft)
	b.post(ctx, in.Channel, in.ThreadTS, "📝 Postmortem draft for "+in.Title+" ("+source+") — attached.", nil)
	b.upload(ctx, in.Channel, in.ThreadTS, "postmortem-"+in.ID+".md", "Postmortem: "+in.Title, []byte(draft))
	requester := approval.Requester(ctx)
	if requester == "" {
		requester = "alertmanager"
	}
	ctx = approval.WithRequester(ctx, requester)
	b.proposeTool(ctx, in, "postmortem_commit", map[string]any{"incident": in.ID, "title": in.Title,
		"date": in.StartedAt.UTC().Format("2006-01-02"), "content": draft})
	b.proposeRunbookUpdate(ctx, in)
}

// proposeTool runs a proposing tool for an incident and shows its
// proposal in the thread, requested by approval's requester in ctx. A
// tool that is not configured is skipped.
func (b *Bot) proposeTool(ctx context.Context, in incident.Incident, name string, args map[string]any) {
	if _, ok := b.opts.Tools.Get(name); !ok || b.opts.Approvals == nil {
		return
	}
	raw, _ := json.Marshal(args)
	inv := b.invoke(ctx, in.Channel, name, raw)
	if err := invokeErr(inv); err != nil {
		b.logger.Warn("prepare a proposal for an incident", "incident", in.ID, "tool", name, "outcome", inv.Outcome, "err", err)
		b.post(ctx, in.Channel, in.ThreadTS, fmt.Sprintf("Could not prepare %s: %s", name, err), nil)
		return
	}
	p, err := b.opts.Approvals.Propose(ctx, ConversationID(in.Channel, in.ThreadTS), *inv.Result.Proposal)
	if err != nil {
		b.logger.Error("store a proposal", "incident", in.ID, "tool", name, "err", err)
		return
	}
	_, _ = b.opts.Incidents.Record(ctx, in.ID, "proposal", name+" proposed: "+p.Summary, approval.Requester(ctx))
	b.postProposal(ctx, in.Channel, in.ThreadTS, p.ID)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// proposeRunbookUpdate proposes adding what the incident taught to the
// alert's runbook (or a new runbook for it), for an approver to commit.
func (b *Bot) proposeRunbookUpdate(ctx context.Context, in incident.Incident) {
	alert := in.Data.CommonLabels["alertname"]
	path := ""
	if _, ok := b.opts.Tools.Get("runbook_find"); ok {
		raw, _ := json.Marshal(map[string]string{"alert": alert})
		if inv := b.invoke(ctx, in.Channel, "runbook_find", raw); inv.Outcome == tools.OutcomeOK {
			if p, ok := inv.Result.Data.(string); ok && strings.Contains(inv.Result.Text, "covers alert") {
				path = p
			}
		}
	}
	learned := incident.Learned(in)
	args := map[string]any{"branch": "watchkeeper/" + in.ID, "reason": "learned from incident " + in.ID}
	if path != "" {
		args["path"], args["append"] = path, learned
	} else {
		slug := strings.Trim(strings.ToLower(regexpNonAlnum.ReplaceAllString(alert, "-")), "-")
		args["path"] = slug + ".md"
		args["content"] = fmt.Sprintf("---\ntitle: %s\nalerts: [%s]\nservices: []\nowners: []\n---\n# %s\n\n%s\n", alert, alert, alert, learned)
	}
	b.proposeTool(ctx, in, "runbook_update", args)
}

var regexpNonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

// recordOnIncident adds a note to the incident whose thread conversation
// is conv ("slack:CHANNEL:THREAD"), if any.
func (b *Bot) recordOnIncident(ctx context.Context, conv, kind, text, actor string) {
	if b.opts.Incidents == nil {
		return
	}
	channel, ts, ok := ThreadOf(conv)
	if !ok {
		return
	}
	if in, ok := b.opts.Incidents.ByThread(ctx, channel, ts); ok {
		if _, err := b.opts.Incidents.Record(ctx, in.ID, kind, text, actor); err != nil {
			b.logger.Warn("record on the incident timeline", "incident", in.ID, "err", err)
		}
	}
}

// proposeSilence proposes a 2-hour silence of the incident's alert, in its
// thread, for an approver to decide.
func (b *Bot) proposeSilence(ctx context.Context, cb slackapi.InteractionCallback, in incident.Incident) {
	t, ok := b.opts.Tools.Get("alertmanager_silence")
	if !ok || b.opts.Approvals == nil {
		b.refuse(ctx, cb, "Silences need alertmanager.url in the configuration.")
		return
	}
	matchers := map[string]string{}
	for _, k := range []string{"alertname", "namespace", "service", "job"} {
		if v := in.Data.CommonLabels[k]; v != "" {
			matchers[k] = v
		}
	}
	raw, _ := json.Marshal(map[string]any{"matchers": matchers, "duration": "2h",
		"comment": "silenced from incident " + in.ID + " by " + cb.User.ID, "reason": "requested from the incident's Silence button"})
	inv := b.invoke(ctx, in.Channel, t.Spec().Name, raw)
	if err := invokeErr(inv); err != nil {
		b.refuse(ctx, cb, "Could not prepare the silence: "+Escape(err.Error()))
		return
	}
	p, err := b.opts.Approvals.Propose(approval.WithRequester(ctx, cb.User.ID), ConversationID(in.Channel, in.ThreadTS), *inv.Result.Proposal)
	if err != nil {
		b.refuse(ctx, cb, "Could not store the proposal: "+Escape(err.Error()))
		return
	}
	_, _ = b.opts.Incidents.Record(ctx, in.ID, "proposal", "silence proposed by "+cb.User.ID+": "+p.Summary, cb.User.ID)
	b.postProposal(ctx, in.Channel, in.ThreadTS, p.ID)
}
