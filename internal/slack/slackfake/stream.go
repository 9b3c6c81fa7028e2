package slackfake

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxStreamText is the most markdown_text one call of a streaming method
// takes (msg_too_long above it).
const MaxStreamText = 12000

// Tier is a Web API method's rate limit, for the whole workspace: Burst
// calls at once, then one per Every.
type Tier struct {
	Every time.Duration
	Burst int
}

// DefaultTiers are Slack's published tiers for the methods the fake
// limits by default: chat.startStream and chat.stopStream are Tier 2
// (20+ a minute), chat.appendStream Tier 4 (100+ a minute).
func DefaultTiers() map[string]Tier {
	tier2 := Tier{Every: 3 * time.Second, Burst: 20}
	return map[string]Tier{
		"chat.startStream":  tier2,
		"chat.stopStream":   tier2,
		"chat.appendStream": {Every: 600 * time.Millisecond, Burst: 100},
	}
}

type bucket struct {
	tier   Tier
	tokens float64
	last   time.Time
}

// overTier spends a token of method's tier, or returns how long until one
// is available. The caller holds f.mu.
func (f *Fake) overTier(method string) (time.Duration, bool) {
	b := f.buckets[method]
	if b == nil || b.tier.Every <= 0 {
		return 0, false
	}
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.tokens+float64(now.Sub(b.last))/float64(b.tier.Every), float64(max(b.tier.Burst, 1)))
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	f.limited[method]++
	return time.Duration((1 - b.tokens) * float64(b.tier.Every)), true
}

// writeRateLimited answers as Slack does past a rate limit: HTTP 429, the
// seconds to wait in Retry-After (whole, at least one) and ratelimited.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
}

// RateLimited returns how many calls of method were refused with 429.
func (f *Fake) RateLimited(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited[method]
}

// Edit is one change of a message, as people in Slack saw it after the
// call: its text (for a stream, everything streamed so far) and blocks.
type Edit struct {
	// Method is chat.postMessage, chat.update, chat.delete or one of the
	// streaming methods.
	Method      string
	Channel, TS string
	Text        string
	Blocks      json.RawMessage
	At          time.Time
}

// edit records m's state after method. The caller holds f.mu.
func (f *Fake) edit(method string, m *Message) {
	f.edits = append(f.edits, Edit{Method: method, Channel: m.Channel, TS: m.TS, Text: m.Text, Blocks: m.Blocks, At: time.Now()})
}

// Edits returns the changes of message ts in ch (of every message in ch
// when ts is ""), oldest first.
func (f *Fake) Edits(ch, ts string) []Edit {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Edit
	for _, e := range f.edits {
		if e.Channel == ch && (ts == "" || e.TS == ts) {
			out = append(out, e)
		}
	}
	return out
}

// streaming serves a streaming method, or answers unknown_method where
// the workspace has none.
func (f *Fake) streaming(h func(w http.ResponseWriter, v url.Values)) func(w http.ResponseWriter, v url.Values) {
	return func(w http.ResponseWriter, v url.Values) {
		if f.opts.NoStreaming {
			writeErr(w, "unknown_method")
			return
		}
		h(w, v)
	}
}

// streamText checks a streaming call's markdown_text.
func streamText(v url.Values) (string, string) {
	text := v.Get("markdown_text")
	if utf8.RuneCountInString(text) > MaxStreamText {
		return "", "msg_too_long"
	}
	return text, ""
}

// startStream serves chat.startStream: a reply in a thread, to a person
// (recipient_team_id and recipient_user_id outside DMs), that stays in
// the streaming state until chat.stopStream.
func (f *Fake) startStream(w http.ResponseWriter, v url.Values) {
	c, e := f.canPost(v.Get("channel"))
	if e != "" {
		writeErr(w, e)
		return
	}
	thread := v.Get("thread_ts")
	team, user := v.Get("recipient_team_id"), v.Get("recipient_user_id")
	switch {
	case thread == "":
		// Streams answer someone: they are thread replies.
		writeErr(w, "invalid_arguments")
		return
	case f.find(c.id, thread) == nil:
		writeErr(w, "thread_not_found")
		return
	case !strings.HasPrefix(c.id, "D") && team == "":
		writeErr(w, "missing_recipient_team_id")
		return
	case !strings.HasPrefix(c.id, "D") && user == "":
		writeErr(w, "missing_recipient_user_id")
		return
	case team != "" && team != TeamID:
		writeErr(w, "invalid_arguments")
		return
	}
	text, e := streamText(v)
	if e != "" {
		writeErr(w, e)
		return
	}
	m := &Message{Channel: c.id, TS: f.nextTS(), ThreadTS: thread, BotID: BotID, User: BotUserID, Text: text,
		Blocks: json.RawMessage("null"), Streaming: true, Streamed: true, appended: time.Now()}
	if user != "" {
		m.Recipient = user + "/" + team
	}
	f.messages[c.id] = append(f.messages[c.id], m)
	f.edit("chat.startStream", m)
	writeJSON(w, map[string]any{"ok": true, "channel": c.id, "ts": m.TS})
}

// streamed finds the stream a call names, ending its streaming state if
// it idled too long.
func (f *Fake) streamed(v url.Values) (*Message, string) {
	if v.Get("channel") == "" || v.Get("ts") == "" {
		return nil, "invalid_arguments"
	}
	m := f.find(v.Get("channel"), v.Get("ts"))
	if m == nil || m.Deleted {
		return nil, "message_not_found"
	}
	if m.Streaming && f.opts.StreamIdle > 0 && time.Since(m.appended) > f.opts.StreamIdle {
		m.Streaming = false
	}
	if !m.Streaming {
		return nil, "message_not_in_streaming_state"
	}
	return m, ""
}

func (f *Fake) appendStream(w http.ResponseWriter, v url.Values) {
	m, e := f.streamed(v)
	if e != "" {
		writeErr(w, e)
		return
	}
	text, e := streamText(v)
	switch {
	case e != "":
		writeErr(w, e)
		return
	case text == "":
		writeErr(w, "no_text")
		return
	}
	m.Text += text
	m.appended = time.Now()
	f.edit("chat.appendStream", m)
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

// stopStream ends a stream with what is left of its text and blocks
// rendered below it.
func (f *Fake) stopStream(w http.ResponseWriter, v url.Values) {
	m, e := f.streamed(v)
	if e != "" {
		writeErr(w, e)
		return
	}
	text, e := streamText(v)
	if e != "" {
		writeErr(w, e)
		return
	}
	if blocks := v.Get("blocks"); blocks != "" {
		if validateBlocks(blocks, MaxMessageBlocks) != "" {
			writeErr(w, "invalid_blocks")
			return
		}
		m.Blocks = json.RawMessage(blocks)
	}
	m.Text += text
	m.Streaming = false
	f.edit("chat.stopStream", m)
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}
