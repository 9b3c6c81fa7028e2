package telemetry

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether a dependency is ready. It must return quickly; it is
// given a context with a short deadline.
type Check func(ctx context.Context) error

// Server serves /metrics, /healthz and /readyz.
//
// /healthz answers 200 while the process is able to serve HTTP at all
// (liveness). /readyz runs every readiness check and answers 503 with the
// failures when any fails, and 503 while shutting down, so a load balancer
// stops sending work before the process exits.
type Server struct {
	metrics *Metrics
	logger  *slog.Logger
	opts    ServerOptions

	mu       sync.Mutex
	checks   map[string]Check
	optional map[string]bool
	draining bool
	srv      *http.Server
	ln       net.Listener
	extra    map[string]http.Handler
}

// ServerOptions harden the listener. The zero value requires no
// credentials on /metrics and uses the default timeouts.
type ServerOptions struct {
	// MetricsAuth, when it has credentials, is required on /metrics.
	// /healthz and /readyz stay open: the kubelet probes them.
	MetricsAuth Credentials
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s): a sender trickling a body cannot hold a connection (and the
	// memory reserved for it) for long. IdleTimeout bounds a kept-alive
	// connection between requests (default 2m); WriteTimeout bounds
	// writing the answer (default 1m).
	ReadTimeout, IdleTimeout, WriteTimeout time.Duration
}

// Credentials are a bearer token or basic-auth user and password.
type Credentials struct {
	BearerToken        string
	Username, Password string
}

func (c Credentials) enabled() bool { return c.BearerToken != "" || c.Username != "" }

// ok reports whether r carries the credentials, compared in constant time.
func (c Credentials) ok(r *http.Request) bool {
	switch {
	case c.BearerToken != "":
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+c.BearerToken)) == 1
	case c.Username != "":
		u, p, ok := r.BasicAuth()
		return ok && subtle.ConstantTimeCompare([]byte(u), []byte(c.Username)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(c.Password)) == 1
	}
	return true
}

// NewServer returns a server for metrics; add checks with AddCheck. The
// zero ServerOptions are the defaults.
func NewServer(m *Metrics, logger *slog.Logger, opts ServerOptions) *Server {
	s := &Server{metrics: m, logger: logger, checks: map[string]Check{}, opts: opts}
	if s.opts.ReadTimeout <= 0 {
		s.opts.ReadTimeout = 30 * time.Second
	}
	if s.opts.IdleTimeout <= 0 {
		s.opts.IdleTimeout = 2 * time.Minute
	}
	if s.opts.WriteTimeout <= 0 {
		s.opts.WriteTimeout = time.Minute
	}
	return s
}

// Mount serves h under pattern (e.g. "/slack/") beside the metrics.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extra == nil {
		s.extra = map[string]http.Handler{}
	}
	s.extra[pattern] = h
}

// AddCheck adds a readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// AddOptionalCheck adds a check /readyz reports without failing on it:
// a part the process runs on without (an MCP server that died).
func (s *Server) AddOptionalCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
	if s.optional == nil {
		s.optional = map[string]bool{}
	}
	s.optional[name] = true
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	})
	if auth := s.opts.MetricsAuth; auth.enabled() {
		inner := metrics
		metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !auth.ok(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="watchkeeper metrics"`)
				http.Error(w, "missing or wrong credentials: set the scrape's authorization as server.metrics says", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	s.mu.Lock()
	for pattern, h := range s.extra {
		mux.Handle(pattern, h)
	}
	s.mu.Unlock()
	return mux
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	optional := maps.Clone(s.optional)
	s.mu.Unlock()

	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
		// Optional checks are reported and do not make the process
		// unready.
		Optional bool `json:"optional,omitempty"`
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var (
		results []result
		wg      sync.WaitGroup
		mu      sync.Mutex
	)
	for name, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c(ctx)
			mu.Lock()
			defer mu.Unlock()
			res := result{Name: name, OK: err == nil, Optional: optional[name]}
			if err != nil {
				res.Error = err.Error()
			}
			results = append(results, res)
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	status := http.StatusOK
	for _, res := range results {
		if !res.OK && !res.Optional {
			status = http.StatusServiceUnavailable
		}
	}
	if draining {
		status = http.StatusServiceUnavailable
		results = append(results, result{Name: "shutdown", Error: "shutting down"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": results})
}

// Listen binds addr. Serve must follow.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; change server.listen", addr, err)
	}
	h := s.Handler()
	s.mu.Lock()
	s.ln = ln
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: s.opts.ReadTimeout,
		WriteTimeout: s.opts.WriteTimeout, IdleTimeout: s.opts.IdleTimeout, MaxHeaderBytes: 64 << 10}
	s.mu.Unlock()
	return nil
}

// Addr returns the bound address, once Listen has succeeded.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx ends, then marks itself not ready and shuts down
// gracefully within grace.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	if srv == nil {
		return errors.New("telemetry: Serve called before Listen")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("telemetry server: %w", err)
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("telemetry server shutdown: %w", err)
	}
	return nil
}
