package slack

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/watchkeeper/watchkeeper/agent"
)

// An answer's text is shown while the model writes it (slack.stream).
// Where the workspace has them, Slack's streaming methods for AI apps
// (chat.startStream, chat.appendStream, chat.stopStream) write it into a
// reply of its own; elsewhere, and as soon as Slack refuses them, the
// progress message shows it through throttled updates. Either way the
// finished answer, rendered as always, takes its place: the progress
// message becomes the answer, and a streamed reply is deleted once the
// answer is in Slack.
const (
	streamAuto    = "auto"
	streamUpdates = "updates"
	streamOff     = "off"
)

const (
	// maxStreamCall is the most markdown_text Slack takes in one streaming
	// call; raw text is cut at half of it, as escaping lengthens it.
	maxStreamCall = 12_000
	// maxStreamText bounds what is streamed into one reply; the answer,
	// which replaces it, carries the rest.
	maxStreamText = 30_000
	// maxPreviewSections bound the text a progress message shows: its end.
	maxPreviewSections = 4
	// finalWait bounds how long a streamed reply waits for the answer to
	// reach Slack before it is deleted anyway.
	finalWait = 30 * time.Second
	// stopWait bounds ending a stream.
	stopWait = 10 * time.Second
)

// streamMode is how one answer shows its text while it is written.
type streamMode int

const (
	modeOff     streamMode = iota // the finished answer only
	modeUpdates                   // chat.update of the progress message
	modeMethods                   // Slack's streaming methods
)

// streamGate remembers what this workspace allows for streaming and
// shares Slack's rate limits for it among the answers in progress. It is
// safe for concurrent use.
type streamGate struct {
	mode   string
	logger *slog.Logger
	// starts admit new streams within chat.startStream's Tier 2 (20+ a
	// minute; chat.stopStream, also Tier 2, follows each start once);
	// appends share chat.appendStream's Tier 4 (100+); updates keep the
	// text's edits within part of chat.update's Tier 3 (50+), leaving the
	// rest to tool progress and answers. Past them an answer coalesces
	// more text per call, or streams by updates instead.
	starts, appends, updates *rate.Limiter

	mu    sync.Mutex
	off   string            // why this workspace does not stream; kept until restart
	offIn map[string]string // channel → why streaming does not work there
}

func newStreamGate(mode string, logger *slog.Logger) *streamGate {
	if mode == "" {
		mode = streamAuto
	}
	return &streamGate{mode: mode, logger: logger, offIn: map[string]string{},
		starts:  rate.NewLimiter(rate.Every(4*time.Second), 5),
		appends: rate.NewLimiter(rate.Every(750*time.Millisecond), 10),
		updates: rate.NewLimiter(rate.Every(2*time.Second), 5)}
}

// methods reports whether an answer in ch may use the streaming methods.
func (g *streamGate) methods(ch string) bool {
	if g.mode != streamAuto {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.off == "" && g.offIn[ch] == ""
}

// Scopes of a refusal: how widely what Slack refused holds.
const (
	refusedAnswer    = "answer"
	refusedChannel   = "channel"
	refusedWorkspace = "workspace"
)

// refusalScope classifies Slack's answer to a streaming call. Refusals
// of the app or its token hold for every answer until restart; a channel
// type that cannot stream, for that channel. Anything else — a stream
// that left the streaming state (Slack ends idle ones, and tool calls can
// take minutes), a message gone, a rate limit or network failure — is
// this answer's alone, which then continues by updates.
func refusalScope(err error) string {
	var se slackapi.SlackErrorResponse
	if !errors.As(err, &se) {
		return refusedAnswer
	}
	switch se.Err {
	case "unknown_method", "method_deprecated", "not_authed", "invalid_auth", "account_inactive", "token_revoked",
		"token_expired", "not_allowed_token_type", "missing_scope", "no_permission", "access_denied",
		"feature_not_enabled", "team_access_not_granted", "ekm_access_denied":
		return refusedWorkspace
	case "method_not_supported_for_channel_type", "channel_type_not_supported":
		return refusedChannel
	}
	return refusedAnswer
}

// refused records why Slack refused a streaming call in ch and returns
// the scope it holds for.
func (g *streamGate) refused(ch string, err error) string {
	scope := refusalScope(err)
	code := slackError(err)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case scope == refusedWorkspace && g.off == "":
		g.off = code
		g.logger.Warn("Slack refused its streaming methods; answers show their text by updating their message until restart",
			"err", code, "fix", "enable Agents & AI Apps in the Slack app's settings (with chat:write), or set slack.stream: updates")
	case scope == refusedChannel && g.offIn[ch] == "":
		g.offIn[ch] = code
		g.logger.Info("Slack cannot stream in this channel; answers there show their text by updating their message", "channel", ch, "err", code)
	}
	return scope
}

// streamModeFor decides how r's answer shows its text. The streaming
// methods write to a person in a thread (channels need the recipient and
// their team), so work Watchkeeper started itself and top-level DM
// answers use updates.
func (b *Bot) streamModeFor(r request, progressTS string) streamMode {
	switch {
	case b.stream.mode == streamOff:
		return modeOff
	case r.thread != "" && !r.auto && b.teamID != "" && isUserID(r.user) && b.stream.methods(r.channel):
		return modeMethods
	case progressTS == "":
		return modeOff // nothing to update
	}
	return modeUpdates
}

func isUserID(s string) bool {
	return len(s) > 1 && (s[0] == 'U' || s[0] == 'W')
}

// addText shows streamed text (an agent.EventModelText). A new step of
// the run starts over in the progress message, and is set off by a blank
// line in a streamed reply, which cannot take text back. p.mu is held.
func (p *progress) addText(ctx context.Context, e agent.Event) {
	if p.mode == modeOff || p.closed || e.Text == "" {
		return
	}
	newStep := e.Step != p.step
	if newStep {
		p.step = e.Step
		p.text.Reset()
		p.shown = 0
	}
	p.text.WriteString(e.Text)
	if p.mode == modeMethods && p.live == nil {
		if p.bot.stream.starts.Allow() {
			p.live = p.bot.startLive(ctx, p)
		} else {
			p.mode = modeUpdates
		}
	}
	if p.mode == modeMethods {
		p.live.add(e.Text, newStep)
		return
	}
	p.scheduleText(ctx)
}

// scheduleText shows the text by an update once the message's interval
// has passed: text arriving meanwhile goes in the same update. p.mu is
// held.
func (p *progress) scheduleText(ctx context.Context) {
	if p.ts == "" || p.timer != nil || p.closed {
		return
	}
	wait := time.Until(p.last.Add(p.bot.opts.StreamEvery))
	p.timer = time.AfterFunc(max(wait, 0), func() { p.flushText(ctx) })
}

func (p *progress) flushText(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if p.closed || p.mode != modeUpdates || p.text.Len() == p.shown {
		return
	}
	if wait := time.Until(p.last.Add(p.bot.opts.StreamEvery)); wait > 0 {
		// A progress update went out meanwhile.
		p.timer = time.AfterFunc(wait, func() { p.flushText(ctx) })
		return
	}
	if !p.bot.stream.updates.Allow() {
		p.timer = time.AfterFunc(p.bot.opts.StreamEvery, func() { p.flushText(ctx) })
		return
	}
	p.update(ctx)
}

// streamRefused continues the answer by updates after Slack refused to
// stream it.
func (p *progress) streamRefused(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = modeUpdates
	p.scheduleText(ctx)
}

// closeText stops showing text as it comes, before the answer replaces
// it: no update or streaming call for the text follows. It returns the
// streamed reply, to be deleted once the answer is in place ("" if none,
// or when called again).
func (p *progress) closeText(ctx context.Context) string {
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	live := p.live
	p.live = nil
	p.mu.Unlock()
	if live == nil {
		return ""
	}
	return live.close(ctx)
}

// previewBlocks show the end of the text being written, rendered as the
// answer will be (escaped, so nothing the model writes can mention people
// or hide a link's destination), within Slack's limits.
func previewBlocks(text string) []slackapi.Block {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	pieces := split(Mrkdwn(text), maxSectionText)
	if len(pieces) > maxPreviewSections {
		pieces = pieces[len(pieces)-maxPreviewSections:]
		pieces[0] = "…" + pieces[0]
	}
	var blocks []slackapi.Block
	for _, piece := range pieces {
		blocks = append(blocks, section(piece))
	}
	return blocks
}

// streamMarkdown makes text safe to stream, as the answer is made safe:
// nothing the model writes may mention (<!channel>) or link under a
// label that hides where the link goes.
func streamMarkdown(s string) string {
	s = mdLink.ReplaceAllString(Escape(s), "$1 ($2)")
	if utf8.RuneCountInString(s) > maxStreamCall {
		s = truncate(s, maxStreamCall)
	}
	return s
}

// liveStream writes an answer's text into a reply of its own with
// chat.startStream and chat.appendStream, and ends it with chat.stopStream.
// The agent's observer hands it text without waiting; one goroutine makes
// the calls, at most one per Options.StreamEvery and within the
// workspace's share, coalescing what arrived meanwhile. A 429 is waited
// out and the text sent again with what came since.
//
// These calls go around the outbox. They are increments of one message
// that only mean something while the run lasts; the outbox's durability
// (a stored row per call, redelivery after a restart) would replay stale
// fragments into a reply that the answer has since replaced. Losing one
// costs a moment of preview, while the answer itself still goes through
// the outbox. The Redactor still sees every byte: send redacts.
type liveStream struct {
	bot                   *Bot
	channel, thread, user string
	// refused continues the answer by updates.
	refused func(ctx context.Context)

	cancel context.CancelFunc
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}

	// The worker's own: read by close after done.
	ts        string // the streamed reply, once started
	streaming bool

	mu      sync.Mutex
	pending string
	sent    int // runes taken for sending
}

// startLive starts p's stream worker; it makes no call until text comes.
func (b *Bot) startLive(ctx context.Context, p *progress) *liveStream {
	// The run's context ends with the run, before close ends the stream.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &liveStream{bot: b, channel: p.channel, thread: p.replyTo, user: p.user, refused: p.streamRefused,
		cancel: cancel, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run(wctx)
	return l
}

// add queues text; a new step of the run is set off by a blank line.
func (l *liveStream) add(text string, newStep bool) {
	l.mu.Lock()
	if newStep && (l.sent > 0 || l.pending != "") {
		l.pending += "\n\n"
	}
	l.pending += text
	l.mu.Unlock()
	l.poke()
}

func (l *liveStream) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *liveStream) run(ctx context.Context) {
	defer close(l.done)
	every := l.bot.opts.StreamEvery
	var last time.Time
	for {
		select {
		case <-l.stop:
			return
		case <-l.wake:
		}
		// What arrives within the interval goes in one call.
		if !l.sleep(time.Until(last.Add(every))) {
			return
		}
		if l.ts != "" {
			r := l.bot.stream.appends.Reserve()
			if !l.sleep(r.Delay()) {
				r.Cancel()
				return
			}
		}
		text := l.take()
		if text == "" {
			continue
		}
		err := l.send(ctx, text)
		last = time.Now()
		var rl *slackapi.RateLimitedError
		switch {
		case err == nil:
		case errors.As(err, &rl) && l.ts != "":
			// Nothing is lost: the text goes again with what came since.
			l.putBack(text)
			if !l.sleep(max(rl.RetryAfter, time.Second)) {
				return
			}
		default:
			l.refuse(ctx, err)
			return
		}
		l.mu.Lock()
		more := l.pending != ""
		l.mu.Unlock()
		if more {
			l.poke()
		}
	}
}

// sleep waits d, or until the stream is closed (false).
func (l *liveStream) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-l.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.stop:
		return false
	case <-t.C:
		return true
	}
}

// take returns the next text to send: whole lines where it can, within a
// call's limit and the reply's.
func (l *liveStream) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := []rune(l.pending)
	n := min(len(r), maxStreamCall/2, maxStreamText-l.sent)
	if n <= 0 {
		l.pending = "" // the answer carries the rest
		return ""
	}
	if n < len(r) {
		if nl := strings.LastIndexByte(string(r[:n]), '\n'); nl > 0 {
			n = utf8.RuneCountInString(string(r[:n])[:nl+1])
		}
	}
	l.pending = string(r[n:])
	l.sent += n
	return string(r[:n])
}

func (l *liveStream) putBack(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = text + l.pending
	l.sent -= utf8.RuneCountInString(text)
}

// send streams text: the first call starts the reply, in the thread, to
// the person who asked.
func (l *liveStream) send(ctx context.Context, text string) error {
	md := streamMarkdown(l.bot.opts.Redactor.Redact(text))
	if l.ts != "" {
		_, _, err := l.bot.api.AppendStreamContext(ctx, l.channel, l.ts, slackapi.MsgOptionMarkdownText(md))
		return err
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionTS(l.thread), slackapi.MsgOptionMarkdownText(md)}
	if l.user != "" {
		opts = append(opts, slackapi.MsgOptionRecipientTeamID(l.bot.teamID), slackapi.MsgOptionRecipientUserID(l.user))
	}
	_, ts, err := l.bot.api.StartStreamContext(ctx, l.channel, opts...)
	if err == nil {
		l.ts, l.streaming = ts, true
	}
	return err
}

// refuse gives up streaming this answer: Slack refused a call. What Slack
// refused is remembered as widely as it holds; the reply, which can no
// longer stream, is deleted, as the progress message shows the text now.
func (l *liveStream) refuse(ctx context.Context, err error) {
	scope := l.bot.stream.refused(l.channel, err)
	l.bot.logger.Info("an answer stopped streaming; it shows its text by updating its message instead",
		"channel", l.channel, "scope", scope, "err", err)
	if l.bot.opts.Metrics != nil {
		l.bot.opts.Metrics.SlackDeliveryFailed("stream", slackError(err))
	}
	if l.ts != "" {
		if _, _, err := l.bot.api.DeleteMessageContext(ctx, l.channel, l.ts); err != nil {
			l.bot.logger.Warn("delete a reply that could no longer stream", "channel", l.channel, "ts", l.ts, "err", err)
		}
		l.ts, l.streaming = "", false
	}
	l.refused(ctx)
}

// close ends the stream before the answer replaces it: the text still
// pending goes with chat.stopStream. It returns the streamed reply, to be
// deleted once the answer is in place ("" if there is none).
func (l *liveStream) close(ctx context.Context) string {
	close(l.stop)
	select {
	case <-l.done:
	case <-time.After(stopWait):
		l.cancel() // a call hanging past it is abandoned
		<-l.done
	}
	defer l.cancel()
	if l.ts == "" || !l.streaming {
		return l.ts
	}
	ctx, cancel := context.WithTimeout(ctx, stopWait)
	defer cancel()
	var opts []slackapi.MsgOption
	if rest := l.take(); rest != "" {
		opts = append(opts, slackapi.MsgOptionMarkdownText(streamMarkdown(l.bot.opts.Redactor.Redact(rest))))
	}
	for attempt := 0; ; attempt++ {
		_, _, err := l.bot.api.StopStreamContext(ctx, l.channel, l.ts, opts...)
		var rl *slackapi.RateLimitedError
		if errors.As(err, &rl) && attempt == 0 {
			t := time.NewTimer(max(rl.RetryAfter, time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
				continue
			}
		}
		if err != nil {
			// The reply is deleted once the answer is in place anyway.
			l.bot.logger.Debug("end a stream", "channel", l.channel, "ts", l.ts, "err", err)
		}
		break
	}
	l.streaming = false
	return l.ts
}

// replaceStreamed queues the answer in place of the progress message and
// waits until Slack has it, so that the streamed reply it replaces is not
// deleted before: it returns an error only when the answer was refused.
// Waiting gives up after finalWait, or when stopping is closed (the bot
// shutting down: its outbox delivers no more here), the answer still
// queued in the store for whoever delivers next.
func (b *Bot) replaceStreamed(ctx context.Context, stopping <-chan struct{}, m outMsg) error {
	// The outbox's Update, keyed alike so that it supersedes pending
	// progress, but waited for.
	id, ch, err := b.out.enqueue(ctx, kindUpdate, "update:"+m.Channel+":"+m.TS, m, true)
	if err != nil {
		return err
	}
	t := time.NewTimer(finalWait)
	defer t.Stop()
	select {
	case d := <-ch:
		return d.err
	case <-t.C:
		b.logger.Warn("the answer is still queued; deleting its streamed text anyway", "channel", m.Channel)
	case <-stopping:
		b.logger.Info("stopping with the answer queued; deleting its streamed text", "channel", m.Channel)
	}
	b.out.mu.Lock()
	delete(b.out.waiters, id)
	b.out.mu.Unlock()
	return nil
}

// dropStreamed deletes a streamed reply the answer has replaced.
func (b *Bot) dropStreamed(ctx context.Context, ch, ts string) {
	if _, _, err := b.api.DeleteMessageContext(ctx, ch, ts); err != nil {
		b.logger.Warn("delete an answer's streamed text", "channel", ch, "ts", ts, "err", err)
	}
}
