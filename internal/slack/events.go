package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/tools"
)

// eventTTL is how long an event ID is remembered; Slack retries for
// about an hour at most.
const eventTTL = 2 * time.Hour

// dispatchEvent handles an Events API callback after it was acknowledged.
func (b *Bot) dispatchEvent(ctx context.Context, ev slackevents.EventsAPIEvent) {
	kind := ev.InnerEvent.Type
	if !b.submit("event "+kind, func(ctx context.Context) { b.handleEvent(ctx, ev) }) {
		b.count(kind, "busy")
		b.tellBusy(ctx, ev)
	}
}

// tellBusy answers a question the pool had no room for, so it is not
// silently lost.
func (b *Bot) tellBusy(ctx context.Context, ev slackevents.EventsAPIEvent) {
	var ch, ts, thread string
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		ch, ts, thread = e.Channel, e.TimeStamp, e.ThreadTimeStamp
	case *slackevents.MessageEvent:
		if e.ChannelType != "im" || e.BotID != "" {
			return
		}
		ch, ts, thread = e.Channel, e.TimeStamp, e.ThreadTimeStamp
	default:
		return
	}
	if thread == "" {
		thread = ts
	}
	if _, _, err := b.out.enqueue(ctx, kindPost, "", newMsg(ch, thread, busyText, nil), false); err != nil {
		b.logger.Error("could not tell a person the bot is busy", "err", err)
	}
}

func (b *Bot) handleEvent(ctx context.Context, ev slackevents.EventsAPIEvent) {
	kind := ev.InnerEvent.Type
	// Most traffic in a busy channel is not for the bot: drop it before
	// touching the store.
	if !b.relevant(ev) {
		b.count(kind, "ignored")
		return
	}
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
		first, err := b.opts.Store.Claim(ctx, "slack-event:"+cb.EventID, eventTTL)
		if err != nil {
			b.logger.Error("dedupe Slack event; handling it anyway", "event_id", cb.EventID, "err", err)
		} else if !first {
			b.count(kind, "duplicate")
			return
		}
	}
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		if e.BotID != "" && !b.opts.Config.AllowBots || e.User == b.botID {
			b.count(kind, "ignored")
			return
		}
		root := e.ThreadTimeStamp
		if root == "" {
			root = e.TimeStamp
		}
		b.count(kind, "handled")
		b.answer(ctx, request{channel: e.Channel, user: e.User, ts: e.TimeStamp, root: root, thread: root,
			text: b.stripMention(e.Text)})
	case *slackevents.MessageEvent:
		b.handleMessage(ctx, e)
	case *slackevents.AssistantThreadStartedEvent:
		b.count(kind, "handled")
		b.startAssistantThread(ctx, e.AssistantThread.ChannelID, e.AssistantThread.ThreadTimeStamp)
	default:
		b.count(kind, "ignored")
	}
}

// eventFacts are the few fields of an event that decide whether the bot
// may need it; decoding only these is much cheaper than the whole event.
type eventFacts struct {
	Type        string `json:"type"`
	SubType     string `json:"subtype"`
	User        string `json:"user"`
	BotID       string `json:"bot_id"`
	ChannelType string `json:"channel_type"`
	ThreadTS    string `json:"thread_ts"`
	Text        string `json:"text"`
}

// relevant is a cheap first look: could this event need the bot?
func (b *Bot) relevant(ev slackevents.EventsAPIEvent) bool {
	f := eventFacts{Type: ev.InnerEvent.Type}
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		f.User, f.BotID = e.User, e.BotID
	case *slackevents.MessageEvent:
		f.SubType, f.User, f.BotID, f.ChannelType, f.ThreadTS, f.Text = e.SubType, e.User, e.BotID, e.ChannelType, e.ThreadTimeStamp, e.Text
	}
	return b.relevantFacts(f)
}

func (b *Bot) relevantFacts(f eventFacts) bool {
	switch f.Type {
	case "app_mention":
		return f.User != b.botID && (f.BotID == "" || b.opts.Config.AllowBots)
	case "message":
		if f.User == b.botID || ((f.BotID != "" || f.SubType == "bot_message") && !b.opts.Config.AllowBots) {
			return false
		}
		// Mentions are answered as app_mention.
		return f.ChannelType == "im" || (f.ThreadTS != "" && !strings.Contains(f.Text, "<@"+b.botID+">"))
	case "assistant_thread_started":
		return true
	}
	return false
}

// handleMessage answers direct messages and replies in threads the bot
// takes part in. Mentions arrive as app_mention and are answered there.
func (b *Bot) handleMessage(ctx context.Context, e *slackevents.MessageEvent) {
	const kind = "message"
	fromBot := e.BotID != "" || e.SubType == "bot_message"
	switch {
	case e.User == b.botID || (fromBot && !b.opts.Config.AllowBots),
		e.SubType != "" && e.SubType != "bot_message" && e.SubType != "file_share" && e.SubType != "thread_broadcast",
		strings.TrimSpace(e.Text) == "":
		b.count(kind, "ignored")
		return
	}
	if e.ChannelType == "im" {
		root, thread := e.ThreadTimeStamp, e.ThreadTimeStamp
		if root == "" {
			// A direct message outside a thread continues the DM's one
			// conversation and is answered in the DM itself.
			root = "dm"
		}
		b.count(kind, "handled")
		b.answer(ctx, request{channel: e.Channel, user: e.User, ts: e.TimeStamp, root: root, thread: thread,
			text: b.stripMention(e.Text)})
		return
	}
	if e.ThreadTimeStamp == "" || strings.Contains(e.Text, "<@"+b.botID+">") {
		b.count(kind, "ignored")
		return
	}
	conv := ConversationID(e.Channel, e.ThreadTimeStamp)
	if hist, err := b.opts.Store.LoadConversation(ctx, conv); err != nil || hist == nil {
		// Not a thread the bot is in: people talking among themselves.
		b.count(kind, "ignored")
		return
	}
	b.count(kind, "handled")
	b.answer(ctx, request{channel: e.Channel, user: e.User, ts: e.TimeStamp, root: e.ThreadTimeStamp, thread: e.ThreadTimeStamp,
		text: e.Text})
}

// suggestedPrompts are offered when someone opens an assistant thread.
var suggestedPrompts = []slackapi.AssistantThreadsPrompt{
	{Title: "What is firing?", Message: "Which alerts are firing right now, and what do they have in common?"},
	{Title: "Anything abnormal?", Message: "Scan the golden signals for anything abnormal in the last hour."},
	{Title: "Why is it slow?", Message: "Why is checkout slow in the last 30 minutes?"},
}

func (b *Bot) startAssistantThread(ctx context.Context, ch, ts string) {
	b.mu.Lock()
	b.assistants[ch+":"+ts] = true
	b.mu.Unlock()
	err := b.api.SetAssistantThreadsSuggestedPromptsContext(ctx, slackapi.AssistantThreadsSetSuggestedPromptsParameters{
		ChannelID: ch, ThreadTS: ts, Title: "Ask about your systems", Prompts: suggestedPrompts})
	if err != nil {
		b.logger.Warn("set suggested prompts", "err", err)
	}
}

func (b *Bot) isAssistant(ch, ts string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.assistants[ch+":"+ts]
}

// request is a question to answer.
type request struct {
	channel, user string
	ts            string // the person's message (reactions go on it)
	root          string // the conversation's key within the channel
	thread        string // where replies go ("" = top level)
	text          string
	// auto marks work Watchkeeper started itself (an incident's
	// assessment): user is then who it is done for, and the prompt is not
	// recorded as their message.
	auto bool
}

// answer runs the agent on a question with live progress and posts the
// answer, charts and proposals.
func (b *Bot) answer(ctx context.Context, r request) {
	if b.opts.Asker == nil {
		b.post(ctx, r.channel, r.thread, noModelText, nil)
		return
	}
	if r.text == "" {
		b.post(ctx, r.channel, r.thread, "Ask me something about your systems, e.g. “why is checkout slow since 14:00?” — or try `/watchkeeper help`.", nil)
		return
	}
	b.react(ctx, r.channel, r.ts, "eyes")
	assistant := b.isAssistant(r.channel, r.root)
	p := &progress{bot: b, channel: r.channel, assistant: assistant, thread: r.root, replyTo: r.thread, user: r.user}
	if ts, err := b.out.Post(ctx, newMsg(r.channel, r.thread, "Working on it…", ProgressBlocks("Working on it…", nil, nil))); err == nil {
		p.ts = ts
	} else {
		b.logger.Warn("post the progress message", "channel", r.channel, "err", err)
	}
	p.mode = b.streamModeFor(r, p.ts)
	// finish ends the text's stream; this ends it when a panic skips that.
	defer p.closeText(context.WithoutCancel(ctx))
	p.setStatus(ctx, "is thinking…")
	runCtx := approval.WithRequester(ctx, r.user)
	conv := ConversationID(r.channel, r.root)
	if !r.auto {
		b.recordOnIncident(ctx, conv, "message", r.user+": "+truncate(r.text, 300), r.user)
	}
	res, err := b.opts.Asker.AskScoped(runCtx, ConversationID(r.channel, r.root), r.text, b.scopes.of(r.channel), p.observe)
	p.setStatus(ctx, "")
	if err == nil && res != nil {
		var used []string
		for _, e := range p.calls {
			used = append(used, e.Tool)
		}
		b.recordOnIncident(ctx, conv, "answer", truncate(res.Answer, 300)+" (tools: "+strings.Join(used, ", ")+"; run "+res.RunID+")", "watchkeeper")
	}
	b.finish(ctx, r, p, res, err)
}

// finish replaces the progress message with the answer (or the reason
// there is none) and adds charts, snippets and proposals.
func (b *Bot) finish(ctx context.Context, r request, p *progress, res *agent.Result, runErr error) {
	// The answer is delivered even when the bot is stopping; only the wait
	// for its delivery ends with the bot (stopping is the outbox's end).
	stopping := ctx.Done()
	ctx = context.WithoutCancel(ctx)
	streamed := p.closeText(ctx)
	p.mu.Lock()
	evidence, charts := append([]Evidence(nil), p.calls...), p.charts
	p.mu.Unlock()
	a := Answer{Evidence: evidence}
	if res != nil {
		a.RunID, a.Footer = res.RunID, res.Footer()
	}
	if runErr != nil {
		a.Text, a.Failed = b.opts.Redactor.Redact(runErr.Error()), true
	} else {
		a.Text = res.Answer
		if res.Model == triage.Model {
			a.Text += "\n\n_" + triage.Note + "_"
		}
	}
	blocks, fallback, overflow := AnswerBlocks(a)
	msg := newMsg(r.channel, r.thread, fallback, blocks)
	switch {
	case p.ts != "" && streamed != "":
		msg.TS = p.ts
		if err := b.replaceStreamed(ctx, stopping, msg); err != nil {
			// The streamed text stays: it is all the person has.
			b.logger.Error("deliver the answer", "err", err)
			streamed = ""
		}
	case p.ts != "":
		msg.TS = p.ts
		if err := b.out.Update(ctx, msg); err != nil {
			b.logger.Error("queue the answer", "err", err)
		}
	default:
		if b.post(ctx, r.channel, r.thread, fallback, blocks) == "" {
			streamed = ""
		}
	}
	if streamed != "" {
		b.dropStreamed(ctx, r.channel, streamed)
	}
	if overflow {
		b.upload(ctx, r.channel, r.thread, "answer.md", "Full answer", []byte(a.Text))
	}
	for i, c := range charts {
		if i == maxCharts {
			break
		}
		b.upload(ctx, r.channel, r.thread, c.Name, c.Title, c.Data)
	}
	if res != nil {
		for _, pr := range res.Proposals {
			b.postProposal(ctx, r.channel, r.thread, pr.ID)
		}
	}
	b.unreact(ctx, r.channel, r.ts, "eyes")
	if runErr != nil {
		b.react(ctx, r.channel, r.ts, "x")
	} else {
		b.react(ctx, r.channel, r.ts, "white_check_mark")
	}
}

// maxCharts bounds the images uploaded per answer.
const maxCharts = 4

// postProposal shows a stored proposal with its buttons.
func (b *Bot) postProposal(ctx context.Context, ch, thread, id string) {
	if b.opts.Approvals == nil {
		return
	}
	sp, err := b.opts.Approvals.Get(ctx, id)
	if err != nil {
		b.logger.Error("load a proposal to show", "proposal", id, "err", err)
		return
	}
	blocks, text := ProposalBlocks(sp, b.opts.Expiry)
	ts, err := b.out.Post(ctx, newMsg(ch, thread, text, blocks))
	if err != nil {
		b.logger.Error("post a proposal", "proposal", id, "err", err)
		return
	}
	if err := b.opts.Approvals.Location(ctx, id, "slack:"+ch+":"+ts+":"+thread); err != nil {
		b.logger.Warn("record where a proposal is shown", "proposal", id, "err", err)
	}
	if utf8.RuneCountInString(sp.Reason) > MaxReason {
		// The message shows the reason's beginning; the whole of it is here.
		where := thread
		if where == "" {
			where = ts
		}
		b.upload(ctx, ch, where, "reason-"+id+".txt", "Full reason given for "+id+" (not checked by Watchkeeper)", []byte(sp.Reason))
	}
}

// proposalKey keys the post of a proposal made elsewhere (over MCP):
// proposalKey + channel + ":" + proposal ID.
const proposalKey = "proposal:"

// ShowProposal posts a stored proposal made elsewhere — over MCP — to ch
// with its buttons, for an approver to decide under the channel's policy.
// The post is keyed: whichever replica delivers it (the serve process,
// when the caller is `mcp serve`, which delivers nothing) records where it
// is shown, so the buttons and the checks after approval find it. It waits
// a little for the delivery and returns nil when the post is queued.
func (b *Bot) ShowProposal(ctx context.Context, ch, id string) error {
	if b.opts.Approvals == nil {
		return errors.New("no approvals in this surface")
	}
	sp, err := b.opts.Approvals.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("load proposal %s: %w", id, err)
	}
	blocks, text := ProposalBlocks(sp, b.opts.Expiry)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = b.out.PostKeyed(pctx, proposalKey+ch+":"+id, newMsg(ch, "", text, blocks))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		b.logger.Info("the proposal's message is queued; serve delivers it", "proposal", id, "channel", ch)
		return nil
	}
	return err
}

// shown records where a proposal posted by ShowProposal is shown; rest is
// "channel:id".
func (b *Bot) shown(ctx context.Context, rest, ts string) {
	ch, id, ok := strings.Cut(rest, ":")
	if !ok || b.opts.Approvals == nil {
		return
	}
	if err := b.opts.Approvals.Location(ctx, id, "slack:"+ch+":"+ts+":"); err != nil {
		b.logger.Warn("record where a proposal is shown", "proposal", id, "err", err)
	}
}

// post sends a message through the outbox and waits for it.
func (b *Bot) post(ctx context.Context, ch, thread, text string, blocks []slackapi.Block) string {
	if blocks == nil {
		blocks = []slackapi.Block{section(Escape(text))}
	}
	ts, err := b.out.Post(ctx, newMsg(ch, thread, truncate(text, maxFallback), blocks))
	if err != nil {
		b.logger.Error("post to Slack", "channel", ch, "err", err)
	}
	return ts
}

// Notify posts text (plain, escaped) to a channel, e.g. an alert.
func (b *Bot) Notify(ctx context.Context, ch, text string) (string, error) {
	return b.out.Post(ctx, newMsg(ch, "", truncate(text, maxFallback), []slackapi.Block{section(Escape(text))}))
}

func (b *Bot) react(ctx context.Context, ch, ts, name string) {
	if ts == "" {
		return
	}
	if err := b.api.AddReactionContext(ctx, name, slackapi.NewRefToMessage(ch, ts)); err != nil {
		b.logger.Debug("add reaction", "reaction", name, "err", err)
	}
}

func (b *Bot) unreact(ctx context.Context, ch, ts, name string) {
	if ts == "" {
		return
	}
	if err := b.api.RemoveReactionContext(ctx, name, slackapi.NewRefToMessage(ch, ts)); err != nil {
		b.logger.Debug("remove reaction", "reaction", name, "err", err)
	}
}

// upload shares a file in a thread (files upload v2).
func (b *Bot) upload(ctx context.Context, ch, thread, name, title string, data []byte) {
	if len(data) == 0 {
		return
	}
	// Every file but an image (a chart) is text a person reads: it passes
	// the same redactor as messages, as do titles.
	if !isImage(name) {
		data = []byte(b.opts.Redactor.Redact(strings.ToValidUTF8(string(data), "\uFFFD")))
	}
	title = b.opts.Redactor.Redact(title)
	_, err := b.api.UploadFileContext(ctx, slackapi.UploadFileParameters{Channel: ch, ThreadTimestamp: thread,
		Filename: name, Title: truncate(title, 200), FileSize: len(data), Reader: bytes.NewReader(data)})
	if err != nil {
		b.logger.Warn("upload a file to Slack", "file", name, "channel", ch, "err", err)
		if b.opts.Metrics != nil {
			b.opts.Metrics.SlackDeliveryFailed("file", slackError(err))
		}
	}
}

func isImage(name string) bool {
	for _, ext := range []string{".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"} {
		if strings.HasSuffix(strings.ToLower(name), ext) {
			return true
		}
	}
	return false
}

// progress turns a run's events into updates of its progress message,
// the text the model writes as it comes (stream.go) and, in assistant
// threads, the status line.
type progress struct {
	bot       *Bot
	channel   string
	ts        string
	thread    string // the conversation's root (the assistant thread)
	replyTo   string // where replies go ("" = top level)
	user      string // who the answer is for
	assistant bool

	mu      sync.Mutex
	calls   []Evidence
	running map[string]string // call ID → tool
	args    map[string]json.RawMessage
	charts  []tools.Attachment
	last    time.Time // of the last update of the message

	// The text being written: the current step's, shown by mode; shown
	// is how much of it the message showed last.
	mode   streamMode
	step   int
	text   strings.Builder
	shown  int
	live   *liveStream
	timer  *time.Timer
	closed bool
}

func (p *progress) observe(ctx context.Context, e agent.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running == nil {
		p.running, p.args = map[string]string{}, map[string]json.RawMessage{}
	}
	switch e.Kind {
	case agent.EventModelText:
		p.addText(ctx, e)
		return
	case agent.EventToolStart:
		p.running[e.CallID] = e.Tool
		p.args[e.CallID] = e.Args
		go p.setStatus(ctx, statusFor(e.Tool))
	case agent.EventToolEnd:
		delete(p.running, e.CallID)
		ev := Evidence{Tool: e.Tool, Query: mainArg(p.args[e.CallID]), Duration: e.Duration, Outcome: e.Outcome}
		if e.Result != nil {
			ev.Link = linkOf(e.Result.Data)
			for _, a := range e.Result.Attachments {
				if strings.HasPrefix(a.MIMEType, "image/") {
					p.charts = append(p.charts, a)
				}
			}
		}
		p.calls = append(p.calls, ev)
	default:
		return
	}
	if p.ts == "" || time.Since(p.last) < p.bot.opts.ProgressEvery && e.Kind == agent.EventToolStart {
		return
	}
	p.update(ctx)
}

// update queues the progress message as it stands: the tool calls and,
// streaming by updates, the text being written. p.mu is held.
func (p *progress) update(ctx context.Context) {
	if p.ts == "" {
		return
	}
	p.last = time.Now()
	var running []string
	for _, t := range p.running {
		running = append(running, t)
	}
	status := fmt.Sprintf("Working on it… %d tool calls so far", len(p.calls))
	blocks := ProgressBlocks(status, p.calls, running)
	if p.mode == modeUpdates {
		blocks = append(blocks, previewBlocks(p.text.String())...)
		p.shown = p.text.Len()
	}
	msg := newMsg(p.channel, "", status, blocks)
	msg.TS = p.ts
	if err := p.bot.out.Update(ctx, msg); err != nil {
		p.bot.logger.Warn("queue a progress update", "err", err)
	}
}

// setStatus sets the assistant thread's status line ("" clears it).
func (p *progress) setStatus(ctx context.Context, status string) {
	if !p.assistant {
		return
	}
	err := p.bot.api.SetAssistantThreadsStatusContext(ctx, slackapi.AssistantThreadsSetStatusParameters{
		ChannelID: p.channel, ThreadTS: p.thread, Status: status})
	if err != nil {
		p.bot.logger.Debug("set assistant status", "err", err)
	}
}

// statusFor is the status line while a tool runs.
func statusFor(tool string) string {
	switch {
	case strings.HasPrefix(tool, "prom_"):
		return "is querying Prometheus…"
	case strings.HasPrefix(tool, "logs_"):
		return "is searching logs…"
	case strings.HasPrefix(tool, "anomaly_"), strings.HasPrefix(tool, "forecast_"):
		return "is looking for anomalies…"
	case strings.HasPrefix(tool, "rca_"):
		return "is ranking root causes…"
	case strings.HasPrefix(tool, "kube_"):
		return "is reading Kubernetes…"
	}
	return "is running " + tool + "…"
}

// mainArg is the argument that identifies a call: its query, or else the
// arguments in brief.
func mainArg(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	for _, k := range []string{"query", "expr", "regex", "onset"} {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func linkOf(data any) string {
	if m, ok := data.(map[string]any); ok {
		if s, ok := m["link"].(string); ok {
			return s
		}
	}
	return ""
}

const noModelText = "No language model is configured, so I cannot answer questions yet. An administrator can add one " +
	"(see `watchkeeper config check`). Meanwhile the slash commands work without one: `/watchkeeper help`."

// Settled takes the buttons off a proposal the approval service settled
// without a person (it expired, or a crash left it half-way): its message
// says what happened. It implements approval.Notifier.
func (b *Bot) Settled(ctx context.Context, p approval.Proposal) {
	loc := strings.Split(p.Location, ":")
	if len(loc) < 3 || loc[0] != "slack" {
		return
	}
	blocks, text := ProposalBlocks(p, b.opts.Expiry)
	m := newMsg(loc[1], "", text, blocks)
	m.TS = loc[2]
	if err := b.out.Update(ctx, m); err != nil {
		b.logger.Error("queue the update of an expired proposal", "proposal", p.ID, "err", err)
	}
}

// Verified reports in a proposal's thread what checking the applied change
// found, with the follow-up proposals: the way back when it made things
// worse, the plan's next step when it did not help. It implements
// approval.Notifier for proposals shown in Slack.
func (b *Bot) Verified(ctx context.Context, vf approval.Verified) {
	p, v, followUps, err := vf.Proposal, vf.Result, vf.FollowUps, vf.Err
	loc := strings.Split(p.Location, ":")
	if len(loc) < 3 || loc[0] != "slack" {
		return
	}
	ch, ts := loc[1], loc[2]
	thread := ts
	if len(loc) > 3 && loc[3] != "" {
		thread = loc[3]
	}
	text := fmt.Sprintf("🔎 Checked `%s` (%s): %s", p.ID, Escape(p.Summary), Escape(v.Text))
	switch {
	case err != nil:
		text = fmt.Sprintf("🔎 Could not check `%s` (%s): %s", p.ID, Escape(p.Summary), Escape(b.opts.Redactor.Redact(err.Error())))
	case v.Worse:
		text = "⚠️ " + text
	}
	b.post(ctx, ch, thread, text, nil)
	b.recordOnIncident(ctx, p.ConversationID, "verification", v.Text, "watchkeeper")
	for _, f := range followUps {
		b.postProposal(ctx, ch, thread, f.ID)
	}
	if b.opts.Asker != nil && p.ConversationID != "" {
		_ = b.opts.Asker.Remember(ctx, p.ConversationID, "[note] "+text)
	}
}
