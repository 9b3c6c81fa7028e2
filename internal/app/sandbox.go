package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// SandboxServer is a running sandbox and the HTTP server for its APIs.
type SandboxServer struct {
	Sandbox *sandbox.Sandbox
	// URL is the base URL of its Prometheus (/api/v1), Loki (/loki/api/v1),
	// Jaeger (/api/traces) and admin (/sandbox/v1) APIs.
	URL string
	srv *http.Server
	ln  net.Listener
}

// SandboxOptions override the configuration from the command line.
type SandboxOptions struct {
	Scenario string
	Seed     uint64
	Speed    float64
	Listen   string
	Webhooks []string
	// OTLPEndpoint, when set, is an OpenTelemetry collector's OTLP/HTTP
	// base URL that receives every generated trace.
	OTLPEndpoint string
	// OnAlert is called with every alert notification.
	OnAlert func(sandbox.WebhookMessage)
	// End is the simulated time the history ends and live time starts
	// at; zero: now. A game day pins it, so that a run's traffic (which
	// follows the time of day) does not depend on when it is played.
	End time.Time
}

// StartSandbox builds the configured sandbox, generates its history,
// serves its APIs and lets time run until ctx ends or Close.
func StartSandbox(ctx context.Context, cfg config.Sandbox, o SandboxOptions, logger *slog.Logger) (*SandboxServer, error) {
	if o.Scenario == "" {
		o.Scenario = cfg.Scenario
	}
	if o.Seed == 0 {
		o.Seed = cfg.Seed
	}
	if o.Speed == 0 {
		o.Speed = cfg.Speed
	}
	if o.Listen == "" {
		o.Listen = cfg.Listen
	}
	if len(o.Webhooks) == 0 {
		o.Webhooks = cfg.WebhookURLs
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen on %s: %w; choose another address with --listen or sandbox.listen", o.Listen, err)
	}
	url := "http://" + ln.Addr().String()
	sb, err := sandbox.New(ctx, sandbox.Options{
		Scenario: o.Scenario, Seed: o.Seed, Speed: o.Speed, History: cfg.History.D(),
		Notify: sandbox.NotifyConfig{URLs: o.Webhooks}, OnAlert: o.OnAlert,
		ExternalURL: url, Logger: logger.With("component", "sandbox"), OTLPEndpoint: o.OTLPEndpoint, End: o.End,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &SandboxServer{Sandbox: sb, URL: url, ln: ln,
		srv: &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("sandbox server stopped", "err", err)
		}
	}()
	sb.Start(ctx)
	return s, nil
}

// DemoConfig points the metrics and log tools at the sandbox's Prometheus
// and Loki APIs. The sandbox has no web UI, so results carry no links.
// Its Jaeger API is not wired yet: rca_rank's trace reads (two queries a
// service, each decompressing the store's batches) slowed the demo's
// first investigation past what its walk-through allows (docs/traces.md).
func DemoConfig(cfg config.Config, sb *SandboxServer) config.Config {
	cfg.Prometheus = config.Prometheus{URL: sb.URL, Link: config.Link{Kind: "none"}}
	cfg.Logs = config.Logs{Backend: "loki", URL: sb.URL, MaxLines: cfg.Logs.MaxLines,
		Labels: config.LogLabels{Service: "service", Namespace: "namespace", Pod: "pod"}}
	// The shop lives in its own namespace; questions that name none mean it.
	cfg.Kubernetes.Namespace = sandbox.Namespace
	// In the gitops world the shop's repository and its forge are the
	// sandbox's: changes to the shop become pull requests there.
	if sb.Sandbox == nil {
		return cfg
	}
	if g := sb.Sandbox.GitOps(); g != nil {
		cfg.GitOps.Repositories = append([]config.GitOpsRepository{{URL: g.RepoURL, Token: config.Secret(g.Token),
			Forge: g.ForgeKind, APIURL: g.ForgeAPIURL}}, cfg.GitOps.Repositories...)
		cfg.GitOps.ArgoCDNamespace = g.AppNamespace
	}
	return cfg
}

// Close stops the server and the sandbox.
func (s *SandboxServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(s.srv.Shutdown(ctx), s.Sandbox.Close())
}
