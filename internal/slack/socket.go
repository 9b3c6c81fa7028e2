package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Socket Mode limits and timings.
const (
	// socketPingTimeout: Slack pings every few seconds; a connection
	// silent for longer is dead, and is replaced.
	socketPingTimeout = 30 * time.Second
	// socketReadLimit bounds one message (an event is a few KiB).
	socketReadLimit = 8 << 20
	// socketBacklog is how many acknowledged envelopes may wait for
	// decoding before reading pauses.
	socketBacklog    = 1024
	socketWriteWait  = 5 * time.Second
	socketMaxBackoff = 30 * time.Second
)

// RunSocket serves Socket Mode until ctx ends, over Connections parallel
// connections (Slack spreads envelopes across an app's connections, up to
// ten), each reconnecting as needed. Every envelope is acknowledged as soon
// as its envelope ID is read, before its payload is decoded: a burst is
// acknowledged at the speed of reading, not of decoding (slack-go's
// socketmode client decodes first; see docs/benchmarks.md).
func (b *Bot) RunSocket(ctx context.Context) error {
	n := min(max(b.opts.Config.Connections, 1), 10)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One decoder behind all connections: on a small machine more would
	// only take CPU from the readers that acknowledge.
	queue := make(chan received, socketBacklog)
	var decoder sync.WaitGroup
	decoder.Go(func() {
		for r := range queue {
			b.handleEnvelope(ctx, r.w, r.data)
		}
	})
	defer decoder.Wait()
	defer close(queue)
	errc := make(chan error, n)
	for range n {
		go func() {
			err := b.runConnection(ctx, queue)
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// socketEnvelope is one Socket Mode message from Slack.
type socketEnvelope struct {
	Type       string          `json:"type"`
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
	Reason     string          `json:"reason"` // of a disconnect
}

// received is an envelope read (and, but for slash commands, already
// acknowledged) on the connection w writes to.
type received struct {
	w    *socketWriter
	data []byte
}

// refusedToken is a Socket Mode failure that retrying cannot mend.
type refusedToken struct{ err error }

func (r refusedToken) Error() string { return r.err.Error() }
func (r refusedToken) Unwrap() error { return r.err }

// errRefresh: Slack asked for a new connection (disconnect message).
var errRefresh = errors.New("slack asked to reconnect")

// runConnection keeps one connection open until ctx ends, reconnecting
// with backoff; it returns an error only when Slack refuses the app token.
func (b *Bot) runConnection(ctx context.Context, queue chan<- received) error {
	backoff := 500 * time.Millisecond
	for {
		greeted, err := b.serveConnection(ctx, queue)
		if ctx.Err() != nil {
			return nil
		}
		var refused refusedToken
		if errors.As(err, &refused) {
			return fmt.Errorf("slack socket mode: %w; check slack.app_token (xapp-…, connections:write) and that Socket Mode is enabled for the app", err)
		}
		if greeted {
			backoff = 500 * time.Millisecond
		}
		if errors.Is(err, errRefresh) {
			continue // Slack's own refresh: reconnect at once
		}
		b.logger.Warn("Slack connection lost; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, socketMaxBackoff)
	}
}

// serveConnection opens one connection and reads it until it ends;
// greeted reports whether Slack said hello on it.
func (b *Bot) serveConnection(ctx context.Context, queue chan<- received) (greeted bool, err error) {
	_, url, err := b.api.StartSocketModeContext(ctx)
	if err != nil {
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && tokenRefused(se.Err) {
			return false, refusedToken{err}
		}
		return false, fmt.Errorf("apps.connections.open: %w", err)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := dialer.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("open the Socket Mode connection: %w", err)
	}
	defer conn.Close()
	// Closing the connection is what unblocks its read when ctx ends.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	conn.SetReadLimit(socketReadLimit)
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(socketPingTimeout)) }
	alive()
	w := &socketWriter{conn: conn}
	conn.SetPingHandler(func(data string) error {
		alive()
		return w.pong(data)
	})

	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return greeted, fmt.Errorf("read the Socket Mode connection: %w", err)
		}
		alive()
		typ, id, ok := envelopeHead(data)
		if !ok {
			b.logger.Warn("unreadable Socket Mode message", "bytes", len(data))
			continue
		}
		switch typ {
		case "hello":
			greeted = true
			b.logger.Info("connected to Slack (socket mode)")
			continue
		case "disconnect":
			var env socketEnvelope
			_ = json.Unmarshal(data, &env)
			b.logger.Info("Slack asked for a new connection", "reason", env.Reason)
			return greeted, errRefresh
		case "slash_commands":
			// Acknowledged with the command's answer, once decoded.
		default:
			w.ack(ctx, b.logger, id, nil)
		}
		select {
		case queue <- received{w, data}:
		case <-ctx.Done():
			return greeted, ctx.Err()
		}
	}
}

// envelopeHead reads the top-level "type" and "envelope_id" of a Socket
// Mode message without decoding its payload — acknowledging needs only the
// ID, and the payload is decoded later, off the read path. ok is false
// when data is not a complete JSON object; it does not validate the rest
// (the later decoding does).
func envelopeHead(data []byte) (typ, id string, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", "", false
	}
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			end := stringEnd(data, i)
			if end < 0 {
				return "", "", false
			}
			if depth == 1 {
				// A key at the top level: the value follows its colon.
				if j := skipSpace(data, end); j < len(data) && data[j] == ':' {
					key := string(data[i+1 : end-1])
					if strings.IndexByte(key, '\\') >= 0 && json.Unmarshal(data[i:end], &key) != nil {
						return "", "", false
					}
					v := skipSpace(data, j+1)
					if v < len(data) && data[v] == '"' && (key == "type" || key == "envelope_id") {
						vend := stringEnd(data, v)
						if vend < 0 {
							return "", "", false
						}
						var val string
						if json.Unmarshal(data[v:vend], &val) != nil {
							return "", "", false
						}
						if key == "type" {
							typ = val
						} else {
							id = val
						}
						end = vend
					}
				}
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return typ, id, true
			}
		}
		i++
	}
	return "", "", false
}

// stringEnd returns the index just past the JSON string starting at
// data[i] (a quote), or -1 if it does not end.
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// handleEnvelope decodes an acknowledged envelope and hands it over.
func (b *Bot) handleEnvelope(ctx context.Context, w *socketWriter, data []byte) {
	var env socketEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		b.logger.Warn("unreadable Socket Mode envelope", "err", err, "bytes", len(data))
		if typ, id, _ := envelopeHead(data); typ == "slash_commands" {
			w.ack(ctx, b.logger, id, nil)
		}
		return
	}
	switch env.Type {
	case "events_api":
		// Most of a busy workspace's traffic is not for the bot: a look
		// at a few fields drops it before the full (costly) decoding.
		var head struct {
			Event eventFacts `json:"event"`
		}
		if json.Unmarshal(env.Payload, &head) == nil && head.Event.Type != "" && !b.relevantFacts(head.Event) {
			b.count(head.Event.Type, "ignored")
			return
		}
		ev, err := slackevents.ParseEvent(env.Payload, slackevents.OptionNoVerifyToken())
		if err != nil {
			b.logger.Warn("unreadable Events API payload", "envelope", env.EnvelopeID, "err", err)
			return
		}
		b.dispatchEvent(ctx, ev)
	case "interactive":
		var cb slackapi.InteractionCallback
		if err := json.Unmarshal(env.Payload, &cb); err != nil {
			b.logger.Warn("unreadable interaction payload", "envelope", env.EnvelopeID, "err", err)
			return
		}
		b.HandleInteraction(ctx, cb)
	case "slash_commands":
		var cmd slackapi.SlashCommand
		if err := json.Unmarshal(env.Payload, &cmd); err != nil {
			b.logger.Warn("unreadable slash command payload", "envelope", env.EnvelopeID, "err", err)
			w.ack(ctx, b.logger, env.EnvelopeID, nil)
			return
		}
		w.ack(ctx, b.logger, env.EnvelopeID, b.HandleCommand(cmd))
	default:
		b.logger.Warn("unknown Socket Mode envelope type; acknowledged and ignored", "type", env.Type)
	}
}

// socketWriter serialises writes to one connection (gorilla/websocket
// allows one writer at a time).
type socketWriter struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (w *socketWriter) ack(ctx context.Context, logger *slog.Logger, envelopeID string, payload any) {
	if envelopeID == "" {
		return
	}
	msg := struct {
		EnvelopeID string `json:"envelope_id"`
		Payload    any    `json:"payload,omitempty"`
	}{envelopeID, payload}
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(socketWriteWait))
	if err := w.conn.WriteJSON(msg); err != nil && ctx.Err() == nil {
		logger.Warn("acknowledge a Socket Mode envelope", "envelope", envelopeID, "err", err)
	}
}

func (w *socketWriter) pong(data string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(socketWriteWait))
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}

// tokenRefused reports whether a Slack error code means the token itself
// will not do.
func tokenRefused(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "not_allowed_token_type", "account_inactive", "token_revoked", "token_expired", "missing_scope":
		return true
	}
	return false
}
