package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

	mu       sync.Mutex
	checks   map[string]Check
	draining bool
	srv      *http.Server
	ln       net.Listener
	extra    map[string]http.Handler
}

// NewServer returns a server for metrics; add checks with AddCheck.
func NewServer(m *Metrics, logger *slog.Logger) *Server {
	return &Server{metrics: m, logger: logger, checks: map[string]Check{}}
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

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	}))
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
	s.mu.Unlock()

	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
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
			res := result{Name: name, OK: err == nil}
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
		if !res.OK {
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
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
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
