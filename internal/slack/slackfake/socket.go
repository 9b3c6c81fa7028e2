package slackfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socketHub is Slack's side of Socket Mode: it hands out connection URLs,
// greets each connection with hello, pings it, delivers envelopes to the
// connections in turn and records when each is acknowledged.
type socketHub struct {
	ping     time.Duration
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conns   []*socketConn
	next    int
	seq     int
	sent    map[string]time.Time
	acks    map[string]time.Duration
	payload map[string]json.RawMessage
	ackCh   chan string
	connCh  chan struct{}
	opened  int
	closed  bool
}

type socketConn struct {
	ws *websocket.Conn
	wm sync.Mutex
}

func (c *socketConn) write(v any) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func newSocketHub(ping time.Duration) *socketHub {
	// slack-go sends an Origin of its own; Slack does not check it.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	return &socketHub{ping: ping, upgrader: up, sent: map[string]time.Time{}, acks: map[string]time.Duration{},
		payload: map[string]json.RawMessage{}, ackCh: make(chan string, 4096), connCh: make(chan struct{}, 64)}
}

func (f *Fake) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	if _, e := params(r, AppToken); e != "" {
		writeErr(w, e)
		return
	}
	f.socket.mu.Lock()
	f.socket.opened++
	n := f.socket.opened
	f.socket.mu.Unlock()
	ws := "ws" + strings.TrimPrefix(strings.TrimSuffix(f.URL, "/"), "http") + fmt.Sprintf("/socket?ticket=%d", n)
	writeJSON(w, map[string]any{"ok": true, "url": ws})
}

func (h *socketHub) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{ws: ws}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.Close()
		return
	}
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	_ = c.write(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info": map[string]any{"host": "fake", "approximate_connection_time": 3600}})
	select {
	case h.connCh <- struct{}{}:
	default:
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(h.ping)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.wm.Lock()
				err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				c.wm.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	defer func() {
		close(done)
		h.drop(c)
	}()
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := ws.ReadJSON(&ack); err != nil {
			return
		}
		h.mu.Lock()
		if t, ok := h.sent[ack.EnvelopeID]; ok {
			if _, dup := h.acks[ack.EnvelopeID]; !dup {
				h.acks[ack.EnvelopeID] = time.Since(t)
				h.payload[ack.EnvelopeID] = ack.Payload
				select {
				case h.ackCh <- ack.EnvelopeID:
				default:
				}
			}
		}
		h.mu.Unlock()
	}
}

func (h *socketHub) drop(c *socketConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.conns {
		if x == c {
			h.conns = append(h.conns[:i], h.conns[i+1:]...)
			break
		}
	}
	c.ws.Close()
}

func (h *socketHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, c := range h.conns {
		c.ws.Close()
	}
	h.conns = nil
}

// WaitConnected waits until at least one Socket Mode connection is open.
func (f *Fake) WaitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f.socket.mu.Lock()
		n := len(f.socket.conns)
		f.socket.mu.Unlock()
		if n > 0 {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("no Socket Mode connection within " + timeout.String())
}

// Connections returns how many Socket Mode connections were opened so far.
func (f *Fake) Connections() int {
	f.socket.mu.Lock()
	defer f.socket.mu.Unlock()
	return f.socket.opened
}

// Disconnect asks every connection to reconnect, as Slack does when it
// refreshes connections, and then closes them.
func (f *Fake) Disconnect() {
	f.socket.mu.Lock()
	conns := f.socket.conns
	f.socket.conns = nil
	f.socket.mu.Unlock()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": "refresh_requested"})
		c.ws.Close()
	}
}

// send delivers an envelope of type typ over one open connection.
func (f *Fake) send(typ string, payload any) (string, error) {
	if err := f.WaitConnected(5 * time.Second); err != nil {
		return "", err
	}
	h := f.socket
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("env-%d", h.seq)
	c := h.conns[h.next%len(h.conns)]
	h.next++
	h.sent[id] = time.Now()
	h.mu.Unlock()
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	env := map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(raw),
		"accepts_response_payload": typ != "events_api", "retry_attempt": 0, "retry_reason": ""}
	return id, c.write(env)
}

// Frame is an envelope encoded ahead of time, so a burst measures the bot
// rather than the fake's JSON encoding.
type Frame struct {
	ID   string
	data []byte
}

// PrepareEvent encodes an Events API envelope for SendFrames.
func (f *Fake) PrepareEvent(event map[string]any) (Frame, error) {
	h := f.socket
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("env-%d", h.seq)
	h.mu.Unlock()
	env := map[string]any{"envelope_id": id, "type": "events_api", "payload": EventCallback(event),
		"accepts_response_payload": false, "retry_attempt": 0, "retry_reason": ""}
	b, err := json.Marshal(env)
	return Frame{ID: id, data: b}, err
}

// SendFrames writes prepared envelopes back to back, spread over the open
// connections in turn as Slack does, timing each from just before its
// write.
func (f *Fake) SendFrames(frames []Frame) error {
	if err := f.WaitConnected(5 * time.Second); err != nil {
		return err
	}
	h := f.socket
	h.mu.Lock()
	conns := append([]*socketConn(nil), h.conns...)
	h.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Go(func() {
			c.wm.Lock()
			defer c.wm.Unlock()
			for j := i; j < len(frames); j += len(conns) {
				h.mu.Lock()
				h.sent[frames[j].ID] = time.Now()
				h.mu.Unlock()
				if err := c.ws.WriteMessage(websocket.TextMessage, frames[j].data); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// OpenConnections returns how many Socket Mode connections are open now.
func (f *Fake) OpenConnections() int {
	f.socket.mu.Lock()
	defer f.socket.mu.Unlock()
	return len(f.socket.conns)
}

// SendEvent delivers an Events API event (the inner event object).
func (f *Fake) SendEvent(event map[string]any) (string, error) {
	return f.send("events_api", EventCallback(event))
}

// SendEventCallback delivers an already wrapped callback again, as Slack
// does when it retries (same event_id).
func (f *Fake) SendEventCallback(cb map[string]any) (string, error) { return f.send("events_api", cb) }

// SendCommand delivers a slash command.
func (f *Fake) SendCommand(cmd map[string]string) (string, error) {
	return f.send("slash_commands", cmd)
}

// SendRaw writes data as one message on an open connection, as hostile or
// broken input; id, when not empty, is the envelope ID whose
// acknowledgement WaitAck can wait for.
func (f *Fake) SendRaw(id string, data []byte) error {
	if err := f.WaitConnected(5 * time.Second); err != nil {
		return err
	}
	h := f.socket
	h.mu.Lock()
	c := h.conns[h.next%len(h.conns)]
	h.next++
	if id != "" {
		h.sent[id] = time.Now()
	}
	h.mu.Unlock()
	c.wm.Lock()
	defer c.wm.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// SendEnvelope delivers an envelope of any type, known to Slack or not.
func (f *Fake) SendEnvelope(typ string, payload any) (string, error) { return f.send(typ, payload) }

// SendInteraction delivers an interaction payload (a button click).
func (f *Fake) SendInteraction(p map[string]any) (string, error) { return f.send("interactive", p) }

// WaitAck waits for an envelope's acknowledgement and returns how long
// after sending it arrived.
func (f *Fake) WaitAck(id string, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		f.socket.mu.Lock()
		d, ok := f.socket.acks[id]
		f.socket.mu.Unlock()
		if ok {
			return d, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("envelope %s not acknowledged within %s", id, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// AckPayload returns the payload sent with an envelope's acknowledgement.
func (f *Fake) AckPayload(id string) json.RawMessage {
	f.socket.mu.Lock()
	defer f.socket.mu.Unlock()
	return f.socket.payload[id]
}

// AckLatencies returns every acknowledgement latency so far.
func (f *Fake) AckLatencies() []time.Duration {
	f.socket.mu.Lock()
	defer f.socket.mu.Unlock()
	out := make([]time.Duration, 0, len(f.socket.acks))
	for _, d := range f.socket.acks {
		out = append(out, d)
	}
	return out
}

var eventSeq struct {
	sync.Mutex
	n int
}

// EventCallback wraps an inner event as the Events API delivers it.
func EventCallback(event map[string]any) map[string]any {
	eventSeq.Lock()
	eventSeq.n++
	n := eventSeq.n
	eventSeq.Unlock()
	return map[string]any{"token": "verification-token-unused", "team_id": TeamID, "api_app_id": AppID,
		"type": "event_callback", "event_id": fmt.Sprintf("Ev%08d", n), "event_time": time.Now().Unix(), "event": event}
}

// Mention is an app_mention event.
func Mention(ch, user, ts, threadTS, text string) map[string]any {
	e := map[string]any{"type": "app_mention", "channel": ch, "user": user, "ts": ts, "text": "<@" + BotUserID + "> " + text,
		"event_ts": ts}
	if threadTS != "" {
		e["thread_ts"] = threadTS
	}
	return e
}

// ChannelMessage is a message event; channelType is "channel" or "im".
func ChannelMessage(ch, channelType, user, ts, threadTS, text string) map[string]any {
	e := map[string]any{"type": "message", "channel": ch, "channel_type": channelType, "user": user, "ts": ts, "text": text,
		"event_ts": ts}
	if threadTS != "" {
		e["thread_ts"] = threadTS
	}
	return e
}

// Command is a slash command payload.
func (f *Fake) Command(ch, user, text string) map[string]string {
	return map[string]string{"command": "/watchkeeper", "text": text, "channel_id": ch, "user_id": user, "user_name": user,
		"team_id": TeamID, "api_app_id": AppID, "response_url": f.NewResponseURL(), "trigger_id": f.NewTrigger()}
}

// Click is a block_actions payload for a button in a bot message.
func (f *Fake) Click(ch, user, messageTS, actionID, value string) map[string]any {
	return map[string]any{"type": "block_actions", "team": map[string]any{"id": TeamID},
		"user": map[string]any{"id": user, "username": user, "name": user}, "api_app_id": AppID,
		"channel":   map[string]any{"id": ch},
		"container": map[string]any{"type": "message", "message_ts": messageTS, "channel_id": ch},
		"message":   map[string]any{"ts": messageTS, "type": "message"}, "trigger_id": f.NewTrigger(),
		"response_url": f.NewResponseURL(),
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "block_id": "b", "value": value,
			"action_ts": fmt.Sprint(time.Now().Unix())}}}
}

// Sign returns the X-Slack-Signature for body sent at ts (Unix seconds).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%d:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}
