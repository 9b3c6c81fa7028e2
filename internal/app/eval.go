package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/tools"
	clocktool "github.com/watchkeeper/watchkeeper/tools/clock"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

// ReferenceTools returns every tool Watchkeeper can offer — Prometheus,
// anomalies, root causes, logs, Kubernetes reads and actions, silences,
// runbooks — built against placeholder backends that are never contacted.
// The evaluation harness offers exactly these specs to the model (what it
// sees in production with everything configured) and answers the calls
// from recordings.
func ReferenceTools(logger *slog.Logger) ([]tools.Tool, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := config.Default()
	cfg.Prometheus.URL = "http://prometheus.invalid:9090"
	cfg.Alertmanager.URL = "http://alertmanager.invalid:9093"
	cfg.Logs.Backend, cfg.Logs.URL = "loki", "http://loki.invalid:3100"
	// The fake clientset is never asked anything: only the specs are used.
	kube := fake.NewSimpleClientset() //nolint:staticcheck // no server-side apply needed for specs
	obs, _, _, err := observabilityTools(cfg, kube, nil, nil, nil, logger)
	if err != nil {
		return nil, err
	}
	return append([]tools.Tool{clocktool.Tool{}, runbook.UpdateTool{}}, obs...), nil
}

// FrozenSandbox is a sandbox stopped at one instant, serving its APIs on
// 127.0.0.1, with the tools wired to it as the demo wires them. The
// evaluation harness captures recordings from it.
type FrozenSandbox struct {
	Tools []tools.Tool
	srv   *http.Server
	sb    *sandbox.Sandbox
}

// StartFrozenSandbox generates the sandbox scenario's history up to now
// and keeps time still there, so the same scenario, seed and now give the
// same tool outputs.
func StartFrozenSandbox(ctx context.Context, scenario string, seed uint64, now time.Time, logger *slog.Logger) (*FrozenSandbox, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clock := func() time.Time { return now }
	sb, err := sandbox.New(ctx, sandbox.Options{Scenario: scenario, Seed: seed, End: now, Clock: clock, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", scenario, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sb.Close()
		return nil, err
	}
	f := &FrozenSandbox{sb: sb, srv: &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = f.srv.Serve(ln) }()
	cfg := DemoConfig(config.Default(), &SandboxServer{URL: "http://" + ln.Addr().String(), Sandbox: sb})
	obs, _, _, err := observabilityTools(cfg, sb.Kubernetes(), sb.Dynamic(), nil, clock, logger)
	if err != nil {
		f.Close()
		return nil, err
	}
	f.Tools = append([]tools.Tool{clocktool.Tool{Now: clock}}, obs...)
	return f, nil
}

// Close stops the server and the sandbox.
func (f *FrozenSandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(f.srv.Shutdown(ctx), f.sb.Close())
}
