package mcp

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/internal/ratelimit"
)

// HTTPOptions are the rules of the streamable HTTP endpoint, the same as
// the Alertmanager webhook's: a bearer token, a token bucket per client
// address, a bound on request bodies.
type HTTPOptions struct {
	// Token is the bearer token every request must carry; required.
	Token string
	// PerSecond and Burst bound requests per client address (defaults
	// 20/s and 100); beyond them the answer is 429 with Retry-After.
	PerSecond float64
	Burst     int
	// MaxBodyBytes bounds a request (default 1 MiB): larger is 413.
	MaxBodyBytes int64
	// SessionTimeout closes sessions idle this long (default 30m), so
	// clients that vanish do not hold memory.
	SessionTimeout time.Duration
	// WriteWait is how long one write to a client may take (default
	// 30s): a client that stops reading has its request ended then,
	// instead of holding a goroutine and its buffers.
	WriteWait time.Duration
	Logger    *slog.Logger
}

// Path is where the endpoint is served.
const Path = "/mcp"

// HTTPHandler serves srv over streamable HTTP at Path. It refuses to be
// built without a token: the tools reach the team's systems.
func HTTPHandler(srv *sdk.Server, o HTTPOptions) (http.Handler, error) {
	if o.Token == "" {
		return nil, errors.New("mcp serve over HTTP needs a bearer token: set mcp.serve.bearer_token_file (or WATCHKEEPER_MCP_SERVE_BEARER_TOKEN)")
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 20
	}
	if o.Burst <= 0 {
		o.Burst = 100
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 30 * time.Minute
	}
	if o.WriteWait <= 0 {
		o.WriteWait = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{
		MaxRequestBodyBytes: o.MaxBodyBytes,
		SessionTimeout:      o.SessionTimeout,
		Logger:              o.Logger,
	})
	limits := ratelimit.New(o.PerSecond, o.Burst)
	want := []byte("Bearer " + o.Token)
	mux := http.NewServeMux()
	mux.Handle(Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := ratelimit.ClientAddr(r)
		if wait, ok := limits.Allow(addr, time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "too many requests from "+addr+"; retry later", http.StatusTooManyRequests)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="watchkeeper"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <mcp.serve.bearer_token>", http.StatusUnauthorized)
			return
		}
		if r.ContentLength > o.MaxBodyBytes {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		h.ServeHTTP(slowClientGuard{ResponseWriter: w, rc: http.NewResponseController(w), wait: o.WriteWait}, r)
	}))
	return mux, nil
}

// slowClientGuard sets a write deadline before every write, so idle
// streams live on and stalled readers do not.
type slowClientGuard struct {
	http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
}

func (g slowClientGuard) Write(p []byte) (int, error) {
	_ = g.rc.SetWriteDeadline(time.Now().Add(g.wait))
	return g.ResponseWriter.Write(p)
}

// Flush keeps server-sent events flowing through the guard.
func (g slowClientGuard) Flush() {
	_ = g.rc.SetWriteDeadline(time.Now().Add(g.wait))
	_ = g.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (g slowClientGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
