package incident

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/ratelimit"
)

// WebhookAuth is what a request must carry: a bearer token or basic-auth
// credentials (Alertmanager's http_config supports both). Empty: none.
type WebhookAuth struct {
	BearerToken        string
	Username, Password string
}

// Enabled reports whether any credentials are required.
func (a WebhookAuth) Enabled() bool { return a.BearerToken != "" || a.Username != "" }

// check returns who the request authenticated as ("" when no credentials
// are configured) and whether it may go on.
func (a WebhookAuth) check(r *http.Request) (string, bool) {
	switch {
	case a.BearerToken != "":
		got := r.Header.Get("Authorization")
		return "bearer token", subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+a.BearerToken)) == 1
	case a.Username != "":
		u, p, ok := r.BasicAuth()
		return "user " + a.Username, ok && subtle.ConstantTimeCompare([]byte(u), []byte(a.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) == 1
	}
	return "", true
}

// MaxWebhookBytes bounds a notification (Alertmanager truncates groups to
// max_alerts; a few thousand alerts fit easily).
const MaxWebhookBytes = 4 << 20

// Webhook configures the Alertmanager endpoint. The zero value requires
// no credentials and applies the default limits.
type Webhook struct {
	Auth WebhookAuth
	// PerSecond and Burst bound notifications per sender (client
	// address): a token bucket; defaults 20/s and 200. Beyond it the
	// answer is 503 with Retry-After, which Alertmanager retries.
	PerSecond float64
	Burst     int
	// InFlightBytes bounds the notification bodies being read, decoded
	// and handled at once (default 8 MiB), so that a flood of large junk
	// cannot exhaust memory. Small notifications (up to SmallBytes, 64
	// KiB — an ordinary alert group) have a budget of their own of the
	// same size, so large ones cannot starve them.
	InFlightBytes int64
	// Wait is how long a request waits for budget before it is answered
	// 503 with Retry-After (default 2s).
	Wait time.Duration
}

// SmallBytes is the largest notification that uses the small budget.
const SmallBytes = 64 << 10

func (w Webhook) withDefaults() Webhook {
	if w.PerSecond <= 0 {
		w.PerSecond = 20
	}
	if w.Burst <= 0 {
		w.Burst = 200
	}
	if w.InFlightBytes <= 0 {
		w.InFlightBytes = 8 << 20
	}
	if w.Wait <= 0 {
		w.Wait = 2 * time.Second
	}
	return w
}

// Handler receives Alertmanager notifications at POST
// /webhooks/alertmanager: authenticated, limited per sender, bounded in
// size and in memory, validated with clear 4xx messages, idempotent, and
// acknowledged with what happened. A store failure answers 500 so
// Alertmanager retries.
func (s *Service) Handler(o Webhook) http.Handler {
	o = o.withDefaults()
	limits := ratelimit.New(o.PerSecond, o.Burst)
	large, small := newByteBudget(o.InFlightBytes), newByteBudget(o.InFlightBytes)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/alertmanager", func(w http.ResponseWriter, r *http.Request) {
		who, ok := o.Auth.check(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="watchkeeper"`)
			http.Error(w, "missing or wrong credentials: configure the receiver's http_config (bearer token or basic auth) as incidents.webhook says", http.StatusUnauthorized)
			return
		}
		addr := ratelimit.ClientAddr(r)
		if wait, ok := limits.Allow(addr, time.Now()); !ok {
			// 503, not 429: Alertmanager's webhook notifier retries 5xx
			// answers and drops 4xx ones.
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, fmt.Sprintf("too many notifications from %s (incidents.rate_limit: %g/s, burst %d); Alertmanager retries later", addr, o.PerSecond, o.Burst), http.StatusServiceUnavailable)
			return
		}
		if r.ContentLength > MaxWebhookBytes {
			http.Error(w, "notification larger than 4 MiB; lower max_alerts in the Alertmanager receiver", http.StatusRequestEntityTooLarge)
			return
		}
		// The memory a body costs is reserved before it is read: its
		// declared length, or the most a body may be when it declares none.
		need, budget := int64(MaxWebhookBytes), large
		if r.ContentLength >= 0 {
			need = max(r.ContentLength, 1)
		}
		if need <= SmallBytes {
			budget = small
		}
		wctx, cancel := context.WithTimeout(r.Context(), o.Wait)
		got := budget.acquire(wctx, need)
		cancel()
		if !got {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "too many notifications are being read at once; Alertmanager retries later", http.StatusServiceUnavailable)
			return
		}
		// The budget is held until the notification is handled: the
		// decoded message (several times the body) lives until then.
		defer budget.release(need)
		m, status, err := decodeMessage(w, r)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		sender := "alertmanager at " + addr
		if who != "" {
			sender = "alertmanager (" + who + ") at " + addr
		}
		out, err := s.HandleFrom(r.Context(), sender, m)
		if err != nil {
			s.opts.Logger.Error("handle an Alertmanager notification", "group", m.GroupKey, "err", err)
			http.Error(w, "could not record the notification; Alertmanager will retry: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

// decodeMessage reads and validates a notification, streaming (no copy of
// the body is kept beside the decoded message).
func decodeMessage(w http.ResponseWriter, r *http.Request) (Message, int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	var m Message
	err := dec.Decode(&m)
	if err == nil {
		// One JSON value, nothing after it.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the notification")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return m, http.StatusRequestEntityTooLarge, errors.New("notification larger than 4 MiB; lower max_alerts in the Alertmanager receiver")
	case err != nil:
		return m, http.StatusBadRequest, fmt.Errorf("not an Alertmanager webhook notification (JSON): %w", err)
	}
	if err := m.Validate(); err != nil {
		return m, http.StatusBadRequest, fmt.Errorf("invalid notification: %w", err)
	}
	return m, 0, nil
}

// byteBudget is a count of bytes that may be in use at once. Unlike a FIFO
// semaphore, a small request is not queued behind a large one waiting.
type byteBudget struct {
	mu    sync.Mutex
	used  int64
	max   int64
	freed chan struct{} // closed and replaced on every release
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{max: n, freed: make(chan struct{})}
}

// acquire reserves n bytes, waiting until they are free or ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) bool {
	n = min(n, b.max)
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return true
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (b *byteBudget) release(n int64) {
	n = min(n, b.max)
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// inUse is how many bytes are reserved (tests and metrics).
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
