package slack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

// Outbox message kinds.
const (
	kindPost      = "post"
	kindUpdate    = "update"
	kindEphemeral = "ephemeral"
	kindResponse  = "response"
)

// outMsg is one message to deliver, as stored in the outbox.
type outMsg struct {
	Channel  string          `json:"channel"`
	TS       string          `json:"ts,omitempty"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	User     string          `json:"user,omitempty"`
	Text     string          `json:"text"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	// ResponseURL and ResponseType are for kindResponse.
	ResponseURL     string `json:"response_url,omitempty"`
	ResponseType    string `json:"response_type,omitempty"`
	ReplaceOriginal bool   `json:"replace_original,omitempty"`
	// Nonce marks a post in Slack (message metadata), so that a post
	// whose outcome is unknown can be found instead of sent twice.
	Nonce string `json:"nonce,omitempty"`
}

// Posting a message whose previous attempt may have reached Slack first
// looks for it: the metadata event type and the results that mean so.
const (
	metaEventType = "watchkeeper_outbox"
	inFlight      = "in flight"
	unknownPrefix = "outcome unknown: "
	// findPages bounds the history read when looking for such a post.
	findPages = 5
)

func newMsg(channel, threadTS, text string, blocks []slackapi.Block) outMsg {
	m := outMsg{Channel: channel, ThreadTS: threadTS, Text: text}
	if len(blocks) > 0 {
		m.Blocks, _ = json.Marshal(blocks)
	}
	return m
}

// OutboxStore is the persistence the outbox needs.
type OutboxStore interface {
	EnqueueOutbox(ctx context.Context, m store.OutboxMessage) (int64, error)
	PendingOutbox(ctx context.Context, limit int) ([]store.OutboxMessage, error)
	UpdateOutbox(ctx context.Context, id int64, status string, attempts int, nextAt time.Time, result string) error
	GetOutbox(ctx context.Context, id int64) (store.OutboxMessage, error)
}

// Leadership runs duties one replica does at a time (internal/leader).
type Leadership interface {
	// While runs duty while this replica leads, cancelling its context
	// when leadership is lost; it returns when ctx ends.
	While(ctx context.Context, duty func(ctx context.Context))
}

// Outbox delivers messages to Slack in order per channel, at most one
// post or update per channel per Interval (Slack's posting rate), honours
// 429 Retry-After, retries transient failures with backoff, and keeps
// every accepted message in the store until it is delivered, so a restart
// loses nothing.
type Outbox struct {
	store    OutboxStore
	redactor Redactor
	api      *slackapi.Client
	http     *http.Client
	logger   *slog.Logger
	interval time.Duration
	// MaxAttempts bounds retries of transient failures (rate limits do
	// not count).
	maxAttempts int
	onFailure   func(kind, reason string)
	// onPosted is told the key, ts and queueing time of every keyed post
	// delivered.
	onPosted func(ctx context.Context, key, ts string, queued time.Time)

	// shared is true when several replicas queue into one store and the
	// leader delivers: the leader polls for messages others queued, and
	// every replica polls the store for the outcome of its own.
	shared bool

	mu      sync.Mutex
	waiters map[int64]chan delivery
	wake    chan struct{}
	nextOK  map[string]time.Time
}

type delivery struct {
	ts  string
	err error
}

// NewOutbox returns an outbox; call Run to deliver. Every message it
// accepts passes through r first (nil: none): whatever a surface built,
// from whatever text, nothing reaches Slack unredacted.
func NewOutbox(s OutboxStore, api *slackapi.Client, hc *http.Client, r Redactor, interval time.Duration, logger *slog.Logger) *Outbox {
	if r == nil {
		r = identity{}
	}
	if interval <= 0 {
		interval = time.Second
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Outbox{store: s, redactor: r, api: api, http: hc, logger: logger, interval: interval, maxAttempts: 8,
		waiters: map[int64]chan delivery{}, wake: make(chan struct{}, 1), nextOK: map[string]time.Time{}}
}

func (o *Outbox) enqueue(ctx context.Context, kind, key string, m outMsg, wait bool) (int64, chan delivery, error) {
	m.Text = o.redactor.Redact(m.Text)
	if len(m.Blocks) > 0 {
		blocks, err := redactJSON(m.Blocks, o.redactor)
		if err != nil {
			return 0, nil, fmt.Errorf("redact a Slack message: %w", err)
		}
		m.Blocks = blocks
	}
	if kind == kindPost {
		m.Nonce = rand.Text()
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return 0, nil, err
	}
	// The message is accepted once stored: use a context that a
	// cancelled request cannot abort half-way.
	id, err := o.store.EnqueueOutbox(context.WithoutCancel(ctx), store.OutboxMessage{Channel: m.Channel, Kind: kind, Key: key, Payload: payload})
	if err != nil {
		return 0, nil, fmt.Errorf("queue a Slack message: %w", err)
	}
	var ch chan delivery
	if wait {
		ch = make(chan delivery, 1)
		o.mu.Lock()
		o.waiters[id] = ch
		o.mu.Unlock()
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return id, ch, nil
}

// structural are the Block Kit keys whose values are identifiers, not
// text: redacting them could only break the message.
var structural = map[string]bool{"type": true, "action_id": true, "block_id": true, "value": true, "style": true, "emoji": true}

// redactJSON redacts every string of a Block Kit payload but identifiers.
func redactJSON(raw json.RawMessage, r Redactor) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && structural[k] {
					v[k] = s
					continue
				}
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case string:
			return r.Redact(v)
		}
		return v
	}
	return json.Marshal(walk(v))
}

// Post queues a message and waits until it is delivered, returning its ts.
func (o *Outbox) Post(ctx context.Context, m outMsg) (string, error) {
	return o.PostKeyed(ctx, "", m)
}

// PostKeyed is Post for a message whose delivery matters beyond the
// caller: whichever replica delivers it tells onPosted the key and ts,
// even if the caller is gone by then. The key must be unique.
func (o *Outbox) PostKeyed(ctx context.Context, key string, m outMsg) (string, error) {
	id, ch, err := o.enqueue(ctx, kindPost, key, m, true)
	if err != nil {
		return "", err
	}
	select {
	case d := <-ch:
		return d.ts, d.err
	case <-ctx.Done():
		o.mu.Lock()
		delete(o.waiters, id)
		o.mu.Unlock()
		return "", fmt.Errorf("message queued but not yet delivered: %w", ctx.Err())
	}
}

// Update queues a new version of message m.TS; versions not yet sent are
// replaced by the newest.
func (o *Outbox) Update(ctx context.Context, m outMsg) error {
	_, _, err := o.enqueue(ctx, kindUpdate, "update:"+m.Channel+":"+m.TS, m, false)
	return err
}

// Ephemeral queues a message only m.User sees.
func (o *Outbox) Ephemeral(ctx context.Context, m outMsg) error {
	_, _, err := o.enqueue(ctx, kindEphemeral, "", m, false)
	return err
}

// Respond queues a reply to a response_url.
func (o *Outbox) Respond(ctx context.Context, m outMsg) error {
	_, _, err := o.enqueue(ctx, kindResponse, "", m, false)
	return err
}

// Run delivers until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	for {
		wait := o.deliverDue(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue sends every message that is due and returns how long to
// sleep before the next one is.
func (o *Outbox) deliverDue(ctx context.Context) time.Duration {
	pending, err := o.store.PendingOutbox(ctx, 500)
	if err != nil {
		if ctx.Err() == nil {
			o.logger.Error("read the Slack outbox; retrying", "err", err)
		}
		return time.Second
	}
	wait := time.Minute
	blocked := map[string]bool{}
	// Of several pending updates of one message only the newest is sent.
	newest := map[string]int64{}
	for _, m := range pending {
		if m.Key != "" {
			newest[m.Key] = m.ID
		}
	}
	for _, m := range pending {
		if m.Key != "" && newest[m.Key] != m.ID {
			if err := o.store.UpdateOutbox(ctx, m.ID, store.OutboxSent, m.Attempts, time.Now(), "superseded"); err != nil {
				o.logger.Error("skip a superseded Slack update", "id", m.ID, "err", err)
			}
			continue
		}
		if ctx.Err() != nil {
			return wait
		}
		// Messages of a channel go in order: one waiting blocks the rest.
		if blocked[m.Channel] {
			continue
		}
		now := time.Now()
		due := m.NextAt
		limited := m.Kind == kindPost || m.Kind == kindUpdate
		if next := o.nextOK[m.Channel]; limited && next.After(due) {
			due = next
		}
		if due.After(now) {
			blocked[m.Channel] = true
			wait = min(wait, due.Sub(now))
			continue
		}
		ts, err := o.deliver(ctx, m)
		if limited {
			o.nextOK[m.Channel] = time.Now().Add(o.interval)
		}
		if retryIn, retry := o.retry(m, err); retry {
			blocked[m.Channel] = true
			wait = min(wait, retryIn)
			result := err.Error()
			if m.Kind == kindPost && outcomeUnknown(err) {
				result = unknownPrefix + result
			}
			if err := o.store.UpdateOutbox(ctx, m.ID, store.OutboxPending, m.Attempts+1, time.Now().Add(retryIn), result); err != nil {
				o.logger.Error("record a Slack delivery retry", "id", m.ID, "err", err)
			}
			continue
		}
		status, result := store.OutboxSent, ts
		if err != nil {
			status, result = store.OutboxFailed, err.Error()
			o.logger.Error("Slack message not delivered", "kind", m.Kind, "channel", m.Channel, "attempts", m.Attempts+1, "err", err)
			if o.onFailure != nil {
				o.onFailure(m.Kind, slackError(err))
			}
		}
		if err := o.store.UpdateOutbox(context.WithoutCancel(ctx), m.ID, status, m.Attempts+1, time.Now(), result); err != nil {
			o.logger.Error("record a Slack delivery", "id", m.ID, "err", err)
		}
		if err == nil && m.Kind == kindPost && m.Key != "" && o.onPosted != nil {
			o.onPosted(context.WithoutCancel(ctx), m.Key, ts, m.CreatedAt)
		}
		o.mu.Lock()
		if ch, ok := o.waiters[m.ID]; ok {
			ch <- delivery{ts: ts, err: err}
			delete(o.waiters, m.ID)
		}
		o.mu.Unlock()
	}
	if o.shared {
		// Other replicas queue without waking this one.
		wait = min(wait, sharedPoll)
	}
	return max(wait, 5*time.Millisecond)
}

// sharedPoll is how often, with several replicas, the leader looks for
// messages the others queued, and the others for the outcome of theirs.
const sharedPoll = 200 * time.Millisecond

// watch resolves this replica's waiters from the store, for messages the
// leader — another replica, or this one — delivered. It runs on every
// replica until ctx ends.
func (o *Outbox) watch(ctx context.Context) {
	t := time.NewTicker(sharedPoll / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.mu.Lock()
		ids := make([]int64, 0, len(o.waiters))
		for id := range o.waiters {
			ids = append(ids, id)
		}
		o.mu.Unlock()
		for _, id := range ids {
			m, err := o.store.GetOutbox(ctx, id)
			if err != nil || m.Status == store.OutboxPending {
				continue
			}
			d := delivery{ts: m.Result}
			if m.Status == store.OutboxFailed {
				d = delivery{err: fmt.Errorf("slack: %s", m.Result)}
			}
			o.mu.Lock()
			if ch, ok := o.waiters[id]; ok {
				ch <- d
				delete(o.waiters, id)
			}
			o.mu.Unlock()
		}
	}
}

// retry decides whether a failed delivery is tried again, and when.
func (o *Outbox) retry(m store.OutboxMessage, err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second), true
	}
	if m.Attempts+1 >= o.maxAttempts || !transient(err) {
		return 0, false
	}
	backoff := time.Second << min(m.Attempts, 6)
	return min(backoff, time.Minute), true
}

// transient reports whether err may go away by itself: network failures
// and 5xx answers, but not Slack refusing the message.
func transient(err error) bool {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err == "internal_error" || se.Err == "service_unavailable" || se.Err == "fatal_error" || se.Err == "request_timeout"
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500
	}
	var ne net.Error
	var re *responseError
	if errors.As(err, &re) {
		return re.code >= 500 || re.code == http.StatusTooManyRequests
	}
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, net.ErrClosed) || isConnErr(err)
}

func isConnErr(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// slackError is the Slack error code of err, for metrics.
func slackError(err error) string {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return "transport"
}

// deliver sends m. A post that may already be in Slack — its previous
// attempt's answer was lost, or the process sending it died — is looked
// for first, by its nonce, and not posted again if found.
func (o *Outbox) deliver(ctx context.Context, m store.OutboxMessage) (string, error) {
	if m.Kind != kindPost {
		return o.send(ctx, m)
	}
	var msg outMsg
	if err := json.Unmarshal(m.Payload, &msg); err != nil {
		return "", fmt.Errorf("corrupt outbox payload: %w", err)
	}
	if msg.Nonce != "" && (m.Result == inFlight || strings.HasPrefix(m.Result, unknownPrefix)) {
		ts, err := o.findPosted(ctx, m, msg)
		switch {
		case ts != "":
			o.logger.Info("Slack message was already posted; not posting it again", "id", m.ID, "channel", m.Channel, "ts", ts)
			return ts, nil
		case err != nil && transient(err):
			return "", fmt.Errorf("look for a message that may have been posted: %w", err)
		case err != nil:
			// Without history access (a missing scope, a DM opened by user
			// ID) duplicates are possible, losses are not: post.
			o.logger.Warn("cannot check whether a Slack message was already posted; posting it", "id", m.ID, "channel", m.Channel, "err", err)
		}
	}
	// Marked before sending: if this process dies before recording the
	// outcome, whoever delivers next looks for the message first.
	if err := o.store.UpdateOutbox(context.WithoutCancel(ctx), m.ID, store.OutboxPending, m.Attempts, m.NextAt, inFlight); err != nil {
		return "", fmt.Errorf("mark a Slack message in flight: %w", err)
	}
	return o.send(ctx, m)
}

// findPosted looks in the channel (or the thread) for the post carrying
// msg's nonce, from a little before it was queued; "" if it is not there.
func (o *Outbox) findPosted(ctx context.Context, m store.OutboxMessage, msg outMsg) (string, error) {
	// Slack's clock and ours may differ; a minute's margin is cheap.
	since := m.CreatedAt.Add(-time.Minute)
	oldest := fmt.Sprintf("%d.%06d", since.Unix(), since.Nanosecond()/1000)
	cursor := ""
	for range findPages {
		var msgs []slackapi.Message
		var more bool
		var err error
		if msg.ThreadTS != "" {
			msgs, more, cursor, err = o.api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
				ChannelID: msg.Channel, Timestamp: msg.ThreadTS, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true})
		} else {
			var h *slackapi.GetConversationHistoryResponse
			h, err = o.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
				ChannelID: msg.Channel, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true})
			if h != nil {
				msgs, more, cursor = h.Messages, h.HasMore, h.ResponseMetaData.NextCursor
			}
		}
		if err != nil {
			return "", err
		}
		for _, sm := range msgs {
			if sm.Metadata.EventType == metaEventType && sm.Metadata.EventPayload["nonce"] == msg.Nonce {
				return sm.Timestamp, nil
			}
		}
		if !more || cursor == "" {
			return "", nil
		}
	}
	return "", nil
}

// outcomeUnknown reports whether a failed post may have reached Slack
// anyway: the request went out but no answer came back.
func outcomeUnknown(err error) bool {
	var se slackapi.SlackErrorResponse
	var sc slackapi.StatusCodeError
	var rl *slackapi.RateLimitedError
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false // never connected
	}
	return !errors.As(err, &se) && !errors.As(err, &sc) && !errors.As(err, &rl)
}

func (o *Outbox) send(ctx context.Context, m store.OutboxMessage) (string, error) {
	var msg outMsg
	if err := json.Unmarshal(m.Payload, &msg); err != nil {
		return "", fmt.Errorf("corrupt outbox payload: %w", err)
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(msg.Text, false)}
	if len(msg.Blocks) > 0 {
		var bs slackapi.Blocks
		if err := json.Unmarshal(msg.Blocks, &bs); err != nil {
			return "", fmt.Errorf("corrupt outbox blocks: %w", err)
		}
		opts = append(opts, slackapi.MsgOptionBlocks(bs.BlockSet...))
	}
	if msg.ThreadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(msg.ThreadTS))
	}
	if m.Kind == kindPost && msg.Nonce != "" {
		opts = append(opts, slackapi.MsgOptionMetadata(slackapi.SlackMetadata{
			EventType: metaEventType, EventPayload: map[string]any{"nonce": msg.Nonce}}))
	}
	switch m.Kind {
	case kindPost:
		_, ts, err := o.api.PostMessageContext(ctx, msg.Channel, opts...)
		return ts, err
	case kindUpdate:
		_, ts, _, err := o.api.UpdateMessageContext(ctx, msg.Channel, msg.TS, opts...)
		return ts, err
	case kindEphemeral:
		ts, err := o.api.PostEphemeralContext(ctx, msg.Channel, msg.User, opts...)
		return ts, err
	case kindResponse:
		return "", o.respond(ctx, msg)
	}
	return "", fmt.Errorf("unknown outbox kind %q", m.Kind)
}

type responseError struct {
	code int
	body string
}

func (e *responseError) Error() string {
	return fmt.Sprintf("response_url answered %d: %s", e.code, e.body)
}

// respond posts to a command's or interaction's response_url.
func (o *Outbox) respond(ctx context.Context, msg outMsg) error {
	body := map[string]any{"text": msg.Text, "response_type": msg.ResponseType}
	if len(msg.Blocks) > 0 {
		body["blocks"] = msg.Blocks
	}
	if msg.ReplaceOriginal {
		body["replace_original"] = true
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, msg.ResponseURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(http.MaxBytesReader(nil, resp.Body, 512))
		return &responseError{code: resp.StatusCode, body: buf.String()}
	}
	return nil
}
