// Package slackfake is a faithful fake of the Slack platform for tests:
// the Web API methods Watchkeeper calls, Socket Mode over a real
// WebSocket, response URLs and file uploads, served over HTTP on
// 127.0.0.1 so the production client (slack-go) is tested over the wire.
//
// It is built on slack-go's slacktest server, whose handlers are replaced
// by binders where they do not enforce Slack's rules. What it enforces, as
// Slack does: tokens (invalid_auth, not_allowed_token_type), channel
// membership (not_in_channel), Block Kit limits (invalid_blocks), message
// length (msg_too_long), the per-channel posting rate (HTTP 429 with
// Retry-After and error ratelimited), methods' rate-limit tiers, response
// URLs used at most five times, trigger IDs valid for three seconds,
// upload lengths, and the streaming methods' rules (see stream.go).
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack/slacktest"
)

// Identities the fake answers with.
const (
	BotToken  = "xoxb-fake-bot-token"
	AppToken  = "xapp-fake-app-token"
	BotUserID = "UWATCHBOT"
	BotID     = "BWATCHBOT"
	TeamID    = "TFAKE"
	AppID     = "AFAKE"
)

// Options tune the fake. The zero value is Slack's behaviour.
type Options struct {
	// PostBurst is how many chat.postMessage calls a channel accepts at
	// once before the one-per-second rate applies (default 3).
	PostBurst int
	// PostEvery is the sustained posting interval per channel (default 1s).
	PostEvery time.Duration
	// PingInterval is how often Socket Mode connections are pinged
	// (default 2s; slack-go drops a connection not pinged for 30s).
	PingInterval time.Duration
	// Tiers rate-limit Web API methods by name, workspace-wide, as Slack's
	// tiers do: past a method's tier a call gets HTTP 429 with
	// Retry-After. A method not named keeps its default: the streaming
	// methods have Slack's tiers (DefaultTiers); others are not limited
	// this way, because tests shorten the bot's intervals far below what
	// Slack's tiers allow (chat.postMessage still has its per-channel rate).
	Tiers map[string]Tier
	// NoStreaming answers the streaming methods (chat.startStream,
	// chat.appendStream, chat.stopStream) with unknown_method, as Slack
	// does where they are not available.
	NoStreaming bool
	// StreamIdle ends a stream's streaming state when nothing was appended
	// to it for this long (0: never); Slack ends idle streams after a time
	// it does not document.
	StreamIdle time.Duration
}

// Message is a message as the fake stores it.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	User     string
	BotID    string
	Text     string
	Blocks   json.RawMessage
	// Metadata is the message's metadata as posted (event_type and
	// event_payload), or nil.
	Metadata json.RawMessage
	// Updates counts chat.update calls on the message.
	Updates int
	// Streaming is set from chat.startStream until chat.stopStream (or
	// until the stream idled past Options.StreamIdle); Streamed marks a
	// message that was streamed at all, and Recipient is the user and
	// team it was streamed to ("U…/T…", empty in a DM).
	Streaming, Streamed bool
	Recipient           string
	appended            time.Time
	Reactions           []string
	// Deleted is set by chat.delete.
	Deleted bool
}

// Ephemeral is a message only one user sees.
type Ephemeral struct {
	Channel, User, Text, ThreadTS string
	Blocks                        json.RawMessage
}

// File is an uploaded and shared file.
type File struct {
	ID, Name, Title, Channel, ThreadTS, InitialComment string
	Data                                               []byte
}

// View is an opened modal.
type View struct {
	TriggerID string
	View      json.RawMessage
}

// Status is an assistant thread status update.
type Status struct{ Channel, ThreadTS, Status string }

// ResponsePost is a message posted to a response_url.
type ResponsePost struct {
	URL  string
	Body map[string]any
}

type channel struct {
	id, name  string
	botMember bool
	members   map[string]bool
	bucket    float64
	last      time.Time
}

type upload struct {
	name   string
	length int
	data   []byte
	done   bool
}

// Fake is a running fake Slack. Close it when done.
type Fake struct {
	srv  *slacktest.Server
	opts Options
	URL  string // Web API base URL, ending in "/"

	mu         sync.Mutex
	clock      int64
	channels   map[string]*channel
	messages   map[string][]*Message
	ephemerals []Ephemeral
	uploads    map[string]*upload
	files      []File
	views      []View
	statuses   []Status
	prompts    []Status
	triggers   map[string]time.Time
	responses  map[string]int
	posts      []ResponsePost
	calls      map[string]int
	groups     map[string][]string
	failNext   map[string]string
	// loseNext: the next call of these methods is carried out, but its
	// answer is lost (the connection drops), as when a network or a
	// process fails after Slack accepted a message.
	loseNext map[string]bool
	// buckets hold each tiered method's tokens; limited counts the calls
	// refused with 429.
	buckets map[string]*bucket
	limited map[string]int
	edits   []Edit

	socket *socketHub
}

// New starts a fake Slack on 127.0.0.1.
func New(opts Options) *Fake {
	if opts.PostBurst <= 0 {
		opts.PostBurst = 3
	}
	if opts.PostEvery <= 0 {
		opts.PostEvery = time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	f := &Fake{opts: opts, clock: time.Now().Unix() * 1_000_000,
		channels: map[string]*channel{}, messages: map[string][]*Message{}, uploads: map[string]*upload{},
		triggers: map[string]time.Time{}, responses: map[string]int{}, calls: map[string]int{}, failNext: map[string]string{},
		loseNext: map[string]bool{}, buckets: map[string]*bucket{}, limited: map[string]int{}}
	tiers := DefaultTiers()
	for m, t := range opts.Tiers {
		tiers[m] = t
	}
	for m, t := range tiers {
		f.buckets[m] = &bucket{tier: t, tokens: float64(max(t.Burst, 1))}
	}
	f.socket = newSocketHub(opts.PingInterval)
	bind := func(c slacktest.Customize) {
		for path, h := range map[string]http.HandlerFunc{
			"/auth.test":                             f.authTest,
			"/chat.postMessage":                      f.bot(f.postMessage),
			"/chat.update":                           f.bot(f.update),
			"/chat.delete":                           f.bot(f.deleteMessage),
			"/chat.postEphemeral":                    f.bot(f.postEphemeral),
			"/chat.startStream":                      f.bot(f.streaming(f.startStream)),
			"/chat.appendStream":                     f.bot(f.streaming(f.appendStream)),
			"/chat.stopStream":                       f.bot(f.streaming(f.stopStream)),
			"/conversations.replies":                 f.bot(f.replies),
			"/conversations.history":                 f.bot(f.history),
			"/reactions.add":                         f.bot(f.reaction(true)),
			"/reactions.remove":                      f.bot(f.reaction(false)),
			"/files.getUploadURLExternal":            f.getUploadURL,
			"/upload/":                               f.upload,
			"/files.completeUploadExternal":          f.completeUpload,
			"/views.open":                            f.bot(f.viewsOpen),
			"/assistant.threads.setStatus":           f.bot(f.setStatus),
			"/assistant.threads.setSuggestedPrompts": f.bot(f.setPrompts),
			"/apps.connections.open":                 f.connectionsOpen,
			"/usergroups.users.list":                 f.bot(f.groupMembers),
			"/socket":                                f.socket.serve,
			"/response/":                             f.responseURL,
		} {
			c.Handle(path, f.count(h))
		}
	}
	f.srv = slacktest.NewTestServer(bind)
	f.srv.Start()
	f.URL = f.srv.GetAPIURL()
	return f
}

// Close stops the server and its connections.
func (f *Fake) Close() {
	f.socket.close()
	f.srv.Stop()
}

// AddChannel creates a channel; the bot is a member when botMember.
func (f *Fake) AddChannel(id, name string, botMember bool, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &channel{id: id, name: name, botMember: botMember, members: map[string]bool{}, bucket: float64(f.opts.PostBurst)}
	for _, m := range members {
		c.members[m] = true
	}
	f.channels[id] = c
}

// IsMember reports whether user is in channel (DMs: always).
func (f *Fake) IsMember(channelID, user string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[channelID]
	return c != nil && c.members[user]
}

// FailNext makes the next call of method fail with the Slack error code.
func (f *Fake) FailNext(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = code
}

// LoseNextAnswer makes the next call of method take effect in the fake
// while its caller gets no answer: the connection is closed instead.
func (f *Fake) LoseNextAnswer(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseNext[method] = true
}

// Calls returns how many times method was called.
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *Fake) count(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/")
		f.mu.Lock()
		f.calls[method]++
		code, fail := f.failNext[method]
		delete(f.failNext, method)
		lose := f.loseNext[method]
		delete(f.loseNext, method)
		wait, limited := f.overTier(method)
		f.mu.Unlock()
		if fail {
			writeErr(w, code)
			return
		}
		if limited {
			writeRateLimited(w, wait)
			return
		}
		if lose {
			h(httptest.NewRecorder(), r) // done, answer discarded
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection too
		}
		h(w, r)
	}
}

// bot serves a Web API method that takes the bot token, holding the
// fake's lock while it runs.
func (f *Fake) bot(h func(w http.ResponseWriter, v url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, e := params(r, BotToken)
		if e != "" {
			writeErr(w, e)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		h(w, v)
	}
}

// nextTS returns a unique, increasing Slack timestamp.
func (f *Fake) nextTS() string {
	f.clock++
	return fmt.Sprintf("%d.%06d", f.clock/1_000_000, f.clock%1_000_000)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code string) {
	writeJSON(w, map[string]any{"ok": false, "error": code})
}

// params reads a Web API call's arguments from a form or JSON body and
// checks its token type: bot methods need xoxb-, Socket Mode needs xapp-.
func params(r *http.Request, wantToken string) (url.Values, string) {
	v := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil && err != io.EOF {
			return nil, "invalid_json"
		}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			default:
				b, _ := json.Marshal(x)
				v.Set(k, string(b))
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return nil, "invalid_form_data"
	} else {
		v = r.Form
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = v.Get("token")
	}
	switch {
	case token == "":
		return nil, "not_authed"
	case token == wantToken:
		return v, ""
	case token == BotToken || token == AppToken:
		return nil, "not_allowed_token_type"
	default:
		return nil, "invalid_auth"
	}
}

func (f *Fake) authTest(w http.ResponseWriter, r *http.Request) {
	if _, e := params(r, BotToken); e != "" {
		writeErr(w, e)
		return
	}
	writeJSON(w, map[string]any{"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "watchkeeper",
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID})
}

// canPost checks membership; DMs (D…) and unknown-but-created channels
// follow Slack: a bot posts only where it is a member.
func (f *Fake) canPost(ch string) (*channel, string) {
	if strings.HasPrefix(ch, "D") {
		c := f.channels[ch]
		if c == nil {
			c = &channel{id: ch, botMember: true, members: map[string]bool{}, bucket: float64(f.opts.PostBurst)}
			f.channels[ch] = c
		}
		return c, ""
	}
	c := f.channels[ch]
	if c == nil {
		return nil, "channel_not_found"
	}
	if !c.botMember {
		return nil, "not_in_channel"
	}
	return c, ""
}

// allowPost spends a token of the channel's bucket, or returns how long
// until one is available.
func (f *Fake) allowPost(c *channel) (time.Duration, bool) {
	now := time.Now()
	if !c.last.IsZero() {
		c.bucket += float64(now.Sub(c.last)) / float64(f.opts.PostEvery)
		if max := float64(f.opts.PostBurst); c.bucket > max {
			c.bucket = max
		}
	}
	c.last = now
	if c.bucket >= 1 {
		c.bucket--
		return 0, true
	}
	return time.Duration((1 - c.bucket) * float64(f.opts.PostEvery)), false
}

func checkContent(v url.Values) string {
	text, blocks := v.Get("text"), v.Get("blocks")
	if text == "" && (blocks == "" || blocks == "[]") {
		return "no_text"
	}
	if utf8.RuneCountInString(text) > MaxMessageText {
		return "msg_too_long"
	}
	if why := validateBlocks(blocks, MaxMessageBlocks); why != "" {
		return "invalid_blocks"
	}
	return ""
}

// BlocksProblem explains why blocks would be refused, for test messages.
func BlocksProblem(blocks string) string { return validateBlocks(blocks, MaxMessageBlocks) }

func (f *Fake) postMessage(w http.ResponseWriter, v url.Values) {
	c, e := f.canPost(v.Get("channel"))
	if e != "" {
		writeErr(w, e)
		return
	}
	if wait, ok := f.allowPost(c); !ok {
		writeRateLimited(w, wait)
		return
	}
	if e := checkContent(v); e != "" {
		writeErr(w, e)
		return
	}
	meta, e := checkMetadata(v.Get("metadata"))
	if e != "" {
		writeErr(w, e)
		return
	}
	m := &Message{Channel: c.id, TS: f.nextTS(), ThreadTS: v.Get("thread_ts"), BotID: BotID, User: BotUserID,
		Text: v.Get("text"), Blocks: json.RawMessage(orNull(v.Get("blocks"))), Metadata: meta}
	f.messages[c.id] = append(f.messages[c.id], m)
	f.edit("chat.postMessage", m)
	writeJSON(w, map[string]any{"ok": true, "channel": c.id, "ts": m.TS,
		"message": map[string]any{"text": m.Text, "ts": m.TS, "bot_id": BotID, "thread_ts": m.ThreadTS}})
}

// checkMetadata validates chat.postMessage's metadata argument: a JSON
// object with a string event_type and an object event_payload.
func checkMetadata(raw string) (json.RawMessage, string) {
	if raw == "" {
		return nil, ""
	}
	var m struct {
		EventType    *string         `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.EventType == nil || *m.EventType == "" ||
		len(m.EventPayload) == 0 || m.EventPayload[0] != '{' {
		return nil, "invalid_metadata_format"
	}
	return json.RawMessage(raw), ""
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func (f *Fake) find(ch, ts string) *Message {
	for _, m := range f.messages[ch] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func (f *Fake) update(w http.ResponseWriter, v url.Values) {
	m := f.find(v.Get("channel"), v.Get("ts"))
	switch {
	case m == nil || m.Deleted:
		writeErr(w, "message_not_found")
		return
	case m.BotID != BotID:
		writeErr(w, "cant_update_message")
		return
	}
	if e := checkContent(v); e != "" {
		writeErr(w, e)
		return
	}
	m.Text, m.Blocks = v.Get("text"), json.RawMessage(orNull(v.Get("blocks")))
	m.Updates++
	f.edit("chat.update", m)
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text})
}

func (f *Fake) deleteMessage(w http.ResponseWriter, v url.Values) {
	m := f.find(v.Get("channel"), v.Get("ts"))
	if m == nil || m.Deleted {
		writeErr(w, "message_not_found")
		return
	}
	m.Deleted = true
	f.edit("chat.delete", m)
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

func (f *Fake) postEphemeral(w http.ResponseWriter, v url.Values) {
	c, e := f.canPost(v.Get("channel"))
	if e != "" {
		writeErr(w, e)
		return
	}
	if !c.members[v.Get("user")] && !strings.HasPrefix(c.id, "D") {
		writeErr(w, "user_not_in_channel")
		return
	}
	if e := checkContent(v); e != "" {
		writeErr(w, e)
		return
	}
	f.ephemerals = append(f.ephemerals, Ephemeral{Channel: c.id, User: v.Get("user"), Text: v.Get("text"),
		ThreadTS: v.Get("thread_ts"), Blocks: json.RawMessage(orNull(v.Get("blocks")))})
	writeJSON(w, map[string]any{"ok": true, "message_ts": f.nextTS()})
}

func (f *Fake) replies(w http.ResponseWriter, v url.Values) {
	ch, ts := v.Get("channel"), v.Get("ts")
	if f.find(ch, ts) == nil {
		writeErr(w, "thread_not_found")
		return
	}
	// Oldest first, the parent included.
	var thread []*Message
	for _, m := range f.messages[ch] {
		if m.TS == ts || m.ThreadTS == ts {
			thread = append(thread, m)
		}
	}
	f.page(w, v, thread, 1000, 1000)
}

// history serves conversations.history: the channel's top-level messages,
// newest first.
func (f *Fake) history(w http.ResponseWriter, v url.Values) {
	c := f.channels[v.Get("channel")]
	switch {
	case c == nil:
		writeErr(w, "channel_not_found")
		return
	case !c.botMember:
		writeErr(w, "not_in_channel")
		return
	}
	var top []*Message
	all := f.messages[c.id]
	for i := len(all) - 1; i >= 0; i-- {
		if m := all[i]; m.ThreadTS == "" || m.ThreadTS == m.TS {
			top = append(top, m)
		}
	}
	f.page(w, v, top, 100, 999)
}

// page answers a conversations.* read: messages within oldest/latest
// (exclusive unless inclusive), limit per page,
// cursor paging, and metadata only when include_all_metadata is set.
func (f *Fake) page(w http.ResponseWriter, v url.Values, msgs []*Message, defLimit, maxLimit int) {
	oldest, ok1 := tsMicros(v.Get("oldest"), 0)
	latest, ok2 := tsMicros(v.Get("latest"), 1<<62)
	if !ok1 || !ok2 {
		writeErr(w, "invalid_ts_oldest")
		return
	}
	inclusive := v.Get("inclusive") == "1" || v.Get("inclusive") == "true"
	limit := defLimit
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeErr(w, "invalid_limit")
			return
		}
		if n > 0 {
			limit = min(n, maxLimit)
		}
	}
	offset := 0
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "off:"))
		if err != nil || !strings.HasPrefix(c, "off:") || n < 0 {
			writeErr(w, "invalid_cursor")
			return
		}
		offset = n
	}
	withMeta := v.Get("include_all_metadata") == "1" || v.Get("include_all_metadata") == "true"
	var in []*Message
	for _, m := range msgs {
		t, _ := tsMicros(m.TS, 0)
		if m.Deleted || t < oldest || t > latest || !inclusive && (t == oldest || t == latest) {
			continue
		}
		in = append(in, m)
	}
	out := []map[string]any{}
	for i := offset; i < len(in) && len(out) < limit; i++ {
		m := in[i]
		msg := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": m.User}
		if m.ThreadTS != "" {
			msg["thread_ts"] = m.ThreadTS
		}
		if m.BotID != "" {
			msg["bot_id"] = m.BotID
		}
		if withMeta && m.Metadata != nil {
			msg["metadata"] = m.Metadata
		}
		out = append(out, msg)
	}
	resp := map[string]any{"ok": true, "messages": out, "has_more": offset+len(out) < len(in)}
	if offset+len(out) < len(in) {
		resp["response_metadata"] = map[string]any{"next_cursor": "off:" + strconv.Itoa(offset+len(out))}
	}
	writeJSON(w, resp)
}

// tsMicros parses a Slack timestamp ("1732500000.000100", or whole
// seconds) into microseconds; empty gives def.
func tsMicros(ts string, def int64) (int64, bool) {
	if ts == "" {
		return def, true
	}
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || len(frac) > 6 {
		return 0, false
	}
	var us int64
	if frac != "" {
		if us, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err != nil {
			return 0, false
		}
	}
	return s*1_000_000 + us, true
}

func (f *Fake) reaction(add bool) func(w http.ResponseWriter, v url.Values) {
	return func(w http.ResponseWriter, v url.Values) {
		m := f.find(v.Get("channel"), v.Get("timestamp"))
		if m == nil {
			writeErr(w, "message_not_found")
			return
		}
		name := v.Get("name")
		idx := -1
		for i, x := range m.Reactions {
			if x == name {
				idx = i
			}
		}
		switch {
		case add && idx >= 0:
			writeErr(w, "already_reacted")
			return
		case !add && idx < 0:
			writeErr(w, "no_reaction")
			return
		case add:
			m.Reactions = append(m.Reactions, name)
		default:
			m.Reactions = append(m.Reactions[:idx], m.Reactions[idx+1:]...)
		}
		writeJSON(w, map[string]any{"ok": true})
	}
}

func (f *Fake) getUploadURL(w http.ResponseWriter, r *http.Request) {
	v, e := params(r, BotToken)
	if e != "" {
		writeErr(w, e)
		return
	}
	n, err := strconv.Atoi(v.Get("length"))
	if err != nil || n <= 0 || v.Get("filename") == "" {
		writeErr(w, "invalid_arguments")
		return
	}
	f.mu.Lock()
	id := fmt.Sprintf("F%06d", len(f.uploads)+1)
	f.uploads[id] = &upload{name: v.Get("filename"), length: n}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "upload_url": strings.TrimSuffix(f.URL, "/") + "/upload/" + id, "file_id": id})
}

func (f *Fake) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	var data []byte
	if mr, err := r.MultipartReader(); err == nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FormName() == "file" {
				data, _ = io.ReadAll(io.LimitReader(p, 50<<20))
			}
		}
	} else if err == multipart.ErrMessageTooLarge {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	} else {
		data, _ = io.ReadAll(io.LimitReader(r.Body, 50<<20))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.uploads[id]
	if u == nil {
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	}
	if len(data) != u.length {
		// Slack rejects an upload whose size differs from the declared length.
		http.Error(w, fmt.Sprintf("declared %d bytes, received %d", u.length, len(data)), http.StatusBadRequest)
		return
	}
	u.data = data
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(data)))
}

func (f *Fake) completeUpload(w http.ResponseWriter, r *http.Request) {
	v, e := params(r, BotToken)
	if e != "" {
		writeErr(w, e)
		return
	}
	var files []struct{ ID, Title string }
	if err := json.Unmarshal([]byte(v.Get("files")), &files); err != nil || len(files) == 0 {
		writeErr(w, "invalid_arguments")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := v.Get("channel_id")
	if ch != "" {
		if _, e := f.canPost(ch); e != "" {
			writeErr(w, e)
			return
		}
	}
	var out []map[string]any
	for _, fl := range files {
		u := f.uploads[fl.ID]
		if u == nil || u.data == nil || u.done {
			writeErr(w, "file_not_found")
			return
		}
		u.done = true
		f.files = append(f.files, File{ID: fl.ID, Name: u.name, Title: fl.Title, Channel: ch, ThreadTS: v.Get("thread_ts"),
			InitialComment: v.Get("initial_comment"), Data: u.data})
		out = append(out, map[string]any{"id": fl.ID, "title": fl.Title})
	}
	writeJSON(w, map[string]any{"ok": true, "files": out})
}

func (f *Fake) viewsOpen(w http.ResponseWriter, v url.Values) {
	issued, ok := f.triggers[v.Get("trigger_id")]
	switch {
	case !ok:
		writeErr(w, "invalid_trigger_id")
		return
	case time.Since(issued) > 3*time.Second:
		writeErr(w, "expired_trigger_id")
		return
	}
	var view struct {
		Type   string          `json:"type"`
		Title  map[string]any  `json:"title"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(v.Get("view")), &view); err != nil || view.Type != "modal" {
		writeErr(w, "invalid_arguments")
		return
	}
	if why := validateText(view.Title, MaxModalTitle, false); why != "" {
		writeErr(w, "invalid_arguments")
		return
	}
	if why := validateBlocks(string(view.Blocks), MaxModalBlocks); why != "" {
		writeErr(w, "invalid_arguments")
		return
	}
	delete(f.triggers, v.Get("trigger_id"))
	f.views = append(f.views, View{TriggerID: v.Get("trigger_id"), View: json.RawMessage(v.Get("view"))})
	writeJSON(w, map[string]any{"ok": true, "view": map[string]any{"id": fmt.Sprintf("V%d", len(f.views))}})
}

func (f *Fake) setStatus(w http.ResponseWriter, v url.Values) {
	f.statuses = append(f.statuses, Status{Channel: v.Get("channel_id"), ThreadTS: v.Get("thread_ts"), Status: v.Get("status")})
	writeJSON(w, map[string]any{"ok": true})
}

func (f *Fake) setPrompts(w http.ResponseWriter, v url.Values) {
	f.prompts = append(f.prompts, Status{Channel: v.Get("channel_id"), ThreadTS: v.Get("thread_ts"), Status: v.Get("prompts")})
	writeJSON(w, map[string]any{"ok": true})
}

// NewResponseURL returns a response_url for a command or interaction;
// like Slack's, it accepts at most five messages.
func (f *Fake) NewResponseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := strconv.Itoa(len(f.responses) + 1)
	f.responses[id] = 0
	return strings.TrimSuffix(f.URL, "/") + "/response/" + id
}

func (f *Fake) responseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.responses[id]
	switch {
	case !ok:
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	case n >= 5:
		http.Error(w, "used_url", http.StatusNotFound)
		return
	}
	if b, ok := body["blocks"]; ok {
		raw, _ := json.Marshal(b)
		if why := validateBlocks(string(raw), MaxMessageBlocks); why != "" {
			http.Error(w, "invalid_blocks", http.StatusBadRequest)
			return
		}
	}
	f.responses[id] = n + 1
	f.posts = append(f.posts, ResponsePost{URL: r.URL.Path, Body: body})
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// NewTrigger issues a trigger_id valid for three seconds.
func (f *Fake) NewTrigger() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("trig.%d", len(f.triggers)+len(f.views)+1) + f.nextTS()
	f.triggers[id] = time.Now()
	return id
}

// UserMessage records a message a person posted and returns its ts.
func (f *Fake) UserMessage(ch, user, text, threadTS string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &Message{Channel: ch, TS: f.nextTS(), ThreadTS: threadTS, User: user, Text: text}
	f.messages[ch] = append(f.messages[ch], m)
	return m.TS
}

// Messages returns copies of a channel's messages, oldest first.
func (f *Fake) Messages(ch string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Message, 0, len(f.messages[ch]))
	for _, m := range f.messages[ch] {
		c := *m
		c.Reactions = append([]string(nil), m.Reactions...)
		out = append(out, c)
	}
	return out
}

// Message returns one message.
func (f *Fake) Message(ch, ts string) (Message, bool) {
	for _, m := range f.Messages(ch) {
		if m.TS == ts {
			return m, true
		}
	}
	return Message{}, false
}

// BotMessages returns the bot's messages in a channel (in a thread when
// threadTS is set), oldest first.
func (f *Fake) BotMessages(ch, threadTS string) []Message {
	var out []Message
	for _, m := range f.Messages(ch) {
		if m.BotID != "" && !m.Deleted && (threadTS == "" || m.ThreadTS == threadTS) {
			out = append(out, m)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages posted.
func (f *Fake) Ephemerals() []Ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ephemeral(nil), f.ephemerals...)
}

// Files returns the shared files.
func (f *Fake) Files() []File {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]File(nil), f.files...)
}

// Views returns the opened modals.
func (f *Fake) Views() []View {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]View(nil), f.views...)
}

// Statuses returns the assistant status updates.
func (f *Fake) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Status(nil), f.statuses...)
}

// SuggestedPrompts returns the suggested prompts set (JSON in Status).
func (f *Fake) SuggestedPrompts() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Status(nil), f.prompts...)
}

// ResponsePosts returns what was posted to response URLs.
func (f *Fake) ResponsePosts() []ResponsePost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ResponsePost(nil), f.posts...)
}

// AddGroup creates a user group (S…) with members.
func (f *Fake) AddGroup(id string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups == nil {
		f.groups = map[string][]string{}
	}
	f.groups[id] = members
}

func (f *Fake) groupMembers(w http.ResponseWriter, v url.Values) {
	m, ok := f.groups[v.Get("usergroup")]
	if !ok {
		writeErr(w, "no_such_subteam")
		return
	}
	writeJSON(w, map[string]any{"ok": true, "users": m})
}
