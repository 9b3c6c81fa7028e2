package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxBody bounds a Slack request; real ones are a few kilobytes.
const maxBody = 1 << 20

// startWait bounds how long an HTTP request waits for Start.
const startWait = 2 * time.Second

// replayWindow is how old a signed request may be (Slack's advice).
const replayWindow = 5 * time.Minute

// Handler serves the HTTP Events API: /slack/events, /slack/commands and
// /slack/interactions. Each request's signature is verified with the
// signing secret and must be fresh; a request seen before is refused.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	// Events are deduplicated by event ID in the store after the ack, so
	// their replay memory can stay in this process (and off the disk);
	// commands and clicks carry no ID, so their signatures are claimed in
	// the store before they are answered.
	mux.HandleFunc("POST /slack/events", b.verified(b.serveEvents, false))
	mux.HandleFunc("POST /slack/commands", b.verified(b.serveCommand, true))
	mux.HandleFunc("POST /slack/interactions", b.verified(b.serveInteraction, true))
	return mux
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

// verified checks the signature, the timestamp and replays before next
// sees the body. The headers are checked before the body is read: an
// unsigned or stale request costs no more than its headers.
//
// shared says whether a replay must be refused by every replica (the
// signature is claimed in the store) or only by this process.
func (b *Bot) verified(next func(w http.ResponseWriter, r *http.Request, body []byte), shared bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sv, err := slackapi.NewSecretsVerifier(r.Header, b.opts.Config.SigningSecret.Reveal())
		switch {
		case errors.Is(err, slackapi.ErrExpiredTimestamp):
			b.count("http", "stale")
			httpError(w, http.StatusUnauthorized, "stale Slack request: signed more than 5 minutes from now (replays are refused; check the server clock)")
			return
		case errors.Is(err, slackapi.ErrMissingHeaders):
			b.count("http", "unsigned")
			httpError(w, http.StatusUnauthorized, "missing Slack signature headers (X-Slack-Signature, X-Slack-Request-Timestamp)")
			return
		case err != nil:
			b.count("http", "bad_signature")
			httpError(w, http.StatusUnauthorized, "invalid Slack signature; check slack.signing_secret")
			return
		}
		if r.ContentLength > maxBody {
			httpError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			httpError(w, http.StatusRequestEntityTooLarge, "request body too large or unreadable")
			return
		}
		if _, err := sv.Write(body); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if err := sv.Ensure(); err != nil {
			b.count("http", "bad_signature")
			httpError(w, http.StatusUnauthorized, "invalid Slack signature; check slack.signing_secret")
			return
		}
		// A retry from Slack is signed anew; the very same signature
		// again is a replay. The memory of this process answers most
		// replays at once; for commands and clicks the store's claim
		// answers the rest, so a signature used on one replica is refused
		// by every other one too.
		sig := r.Header.Get("X-Slack-Signature")
		if !b.replays.first(sig, time.Now()) {
			b.count("http", "replayed")
			httpError(w, http.StatusUnauthorized, "replayed request refused")
			return
		}
		if shared {
			first, err := b.opts.Store.Claim(r.Context(), "slack-signature:"+sig, replayWindow+time.Minute)
			if err != nil {
				b.logger.Error("record a Slack request's signature", "err", err)
				w.Header().Set("Retry-After", "1")
				httpError(w, http.StatusServiceUnavailable, "the store is unavailable; Slack retries")
				return
			}
			if !first {
				b.count("http", "replayed")
				httpError(w, http.StatusUnauthorized, "replayed request refused")
				return
			}
		}
		// Until Start knows who the bot is, its own messages cannot be
		// told apart; Slack allows 3 s for an answer, so wait a little of it.
		if !b.waitStarted(r.Context()) {
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "watchkeeper is still starting (checking the Slack bot token); Slack retries events")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, body)
	}
}

func (b *Bot) serveEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		b.count("http", "malformed")
		httpError(w, http.StatusBadRequest, "malformed Events API payload: "+err.Error())
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		var ch slackevents.ChallengeResponse
		if err := json.Unmarshal(body, &ch); err != nil {
			httpError(w, http.StatusBadRequest, "malformed url_verification")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, ch.Challenge)
	case slackevents.CallbackEvent:
		w.WriteHeader(http.StatusOK)
		b.dispatchEvent(context.WithoutCancel(r.Context()), ev)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("command") == "" {
		httpError(w, http.StatusBadRequest, "malformed slash command payload")
		return
	}
	cmd := slackapi.SlashCommand{Command: form.Get("command"), Text: form.Get("text"), ChannelID: form.Get("channel_id"),
		UserID: form.Get("user_id"), UserName: form.Get("user_name"), TeamID: form.Get("team_id"),
		ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"), APIAppID: form.Get("api_app_id")}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(b.HandleCommand(cmd))
}

func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		httpError(w, http.StatusBadRequest, "malformed interaction payload")
		return
	}
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		httpError(w, http.StatusBadRequest, "malformed interaction payload: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
	b.HandleInteraction(context.WithoutCancel(r.Context()), cb)
}

// Serve runs the bot's background work (outbox, workers) and, in socket
// mode, the Socket Mode connection, until ctx ends. In http mode mount
// Handler on the server.
func (b *Bot) Serve(ctx context.Context) error {
	// Socket Mode can end on its own (a refused app token): the workers
	// Start runs stop with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// Shut down while still checking the token: a stop, not a
			// refusal.
			return nil
		}
		return err
	}
	defer b.Wait()
	defer cancel() // before Wait
	if b.opts.Config.Mode == "http" {
		<-ctx.Done()
		return nil
	}
	return b.RunSocket(ctx)
}

// waitStarted waits up to startWait for Start; false if it has not
// finished by then or ctx ended.
func (b *Bot) waitStarted(ctx context.Context) bool {
	select {
	case <-b.started:
		return true // the usual case, without a timer
	default:
	}
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case <-b.started:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// replayCache remembers request signatures for the replay window.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
	// next is when to next drop expired entries.
	next time.Time
}

// maxReplayEntries bounds memory under a flood of distinct signatures:
// beyond it the older half of the window is forgotten early, and if that
// is not enough, everything.
const maxReplayEntries = 200_000

// first reports whether sig is new within the window, and remembers it.
func (c *replayCache) first(sig string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if now.After(c.next) || len(c.seen) >= maxReplayEntries {
		cutoff := now.Add(-replayWindow - time.Minute)
		if len(c.seen) >= maxReplayEntries {
			cutoff = now.Add(-(replayWindow + time.Minute) / 2)
		}
		for k, t := range c.seen {
			if t.Before(cutoff) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxReplayEntries {
			// Only a flood of validly signed requests gets here; forget
			// rather than refuse everyone (events stay deduplicated by
			// ID in the store).
			clear(c.seen)
		}
		c.next = now.Add(time.Minute)
	}
	if _, dup := c.seen[sig]; dup {
		return false
	}
	c.seen[sig] = now
	return true
}
