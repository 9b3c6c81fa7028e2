// Package testserver starts real servers for integration tests: Prometheus
// (the Debian package) with backfilled history and VictoriaLogs (built from
// its Go module by `make deps`). Each runs on 127.0.0.1 in a temporary
// directory and is stopped by PID when the test ends.
//
// A Kubernetes control plane and PostgreSQL can instead be shared by a
// package's tests (SharedKubernetes, SharedPostgres: booted on first use,
// stopped by Main from the package's TestMain), each test in a namespace or
// a database of its own.
//
// When a binary is missing the test is skipped with a loud line — except
// under CI, where `make test` installs everything and a missing binary is
// a failure. Under -short (make test-short) server-backed tests skip.
package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Need finds a local binary a test runs (promtool), as the servers' are
// found: a failure under CI, a loud skip otherwise.
func Need(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	return need(t, name, candidates...)
}

// need finds a binary or skips (fails under CI). Under -short every test
// that starts a server is skipped (git, a local command, is not a server).
func need(t tb, name string, candidates ...string) string {
	t.Helper()
	if testing.Short() && name != "git" {
		t.Skipf("-short: not starting %s (make test runs it)", name)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; `make deps` installs it", name)
	}
	t.Skipf("!!! SKIPPED: %s is not installed, so this test did not run; `make deps` installs it (under CI=true this is a failure)", name)
	return ""
}

// FreeAddr returns a free 127.0.0.1 address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return freeAddr(t)
}

func freeAddr(t tb) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a started server.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process exited
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t tb, bin string, args ...string) *process {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	return launch(t, cmd, logs)
}

// launch starts a prepared command whose output goes to logs.
func launch(t tb, cmd *exec.Cmd, logs *syncBuffer) *process {
	t.Helper()
	if _, shared := t.(*bootT); shared {
		// A shared server outlives the tests that use it: if the test
		// binary ends before Main stops it (a test panicked, -timeout),
		// the kernel stops it.
		dieWithTheTests(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &process{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop kills the process and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ready polls url until it answers 200, for at most within, or the
// process exits.
func (p *process) ready(client *http.Client, url string, within time.Duration) error {
	return p.readyWhen(func() error { return httpOK(client, url) }, within)
}

// httpOK is nil when url answers 200.
func httpOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// readyWhen polls check until it succeeds, for at most within, or the
// process exits.
func (p *process) readyWhen(check func() error, within time.Duration) error {
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return nil
		}
		if p.exited() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become ready (%v); its output:\n%s", filepath.Base(p.cmd.Path), err, p.logs.String())
}

// waitReady is ready or the end of the test.
func (p *process) waitReady(t testing.TB, client *http.Client, url string, within time.Duration) {
	t.Helper()
	if err := p.ready(client, url, within); err != nil {
		t.Fatal(err)
	}
}

// portTaken reports whether the process died because its port was taken
// between FreeAddr and its bind (packages test in parallel).
func (p *process) portTaken() bool {
	return p.exited() && strings.Contains(strings.ToLower(p.logs.String()), "address already in use")
}

// startRetrying runs launch on a fresh free address until the server is
// ready, at most three times when its port was taken meanwhile.
func startRetrying(t testing.TB, launchAt func(addr string) (proc *process, client *http.Client, readyURL string)) string {
	t.Helper()
	return startRetryingWhen(t, func(addr string) (*process, func() error) {
		proc, client, url := launchAt(addr)
		return proc, func() error { return httpOK(client, url) }
	})
}

// startRetryingWhen is startRetrying for servers that are not ready over
// HTTP: ready is polled until it succeeds.
func startRetryingWhen(t tb, launchAt func(addr string) (proc *process, ready func() error)) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		proc, ready := launchAt(addr)
		err := proc.readyWhen(ready, 30*time.Second)
		if err == nil {
			return addr
		}
		if attempt == 3 || !proc.portTaken() {
			t.Fatal(err)
		}
	}
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL string
	// Username and Password are set when basic auth is on; CAFile when
	// TLS is.
	Username, Password, CAFile string
	// Client trusts the CA and sends the credentials.
	Client *http.Client
}

// PrometheusOptions configure a test Prometheus.
type PrometheusOptions struct {
	// OpenMetrics is backfilled with promtool before start.
	OpenMetrics string
	// Rules is a rule file's content.
	Rules string
	// ScrapeDown adds a scrape target nobody listens on, to have a target
	// that is down (and up == 0 for it).
	ScrapeDown bool
	// Secure serves TLS with a generated certificate and requires basic
	// auth, through Prometheus's own --web.config.file.
	Secure bool
	// SelfScrape scrapes Prometheus's own /metrics (job "prometheus"), so
	// metadata and live series exist.
	SelfScrape bool
	// Alertmanager is the base URL of an Alertmanager to send alerts to.
	Alertmanager string
	// DownAddr, with ScrapeDown, is the address of the down target (free
	// when empty); a test can start listening there to bring it up.
	DownAddr string
}

// StartPrometheus starts Prometheus on 127.0.0.1.
func StartPrometheus(t testing.TB, o PrometheusOptions) *Prometheus {
	t.Helper()
	prom := need(t, "prometheus", "/usr/bin/prometheus")
	promtool := need(t, "promtool", "/usr/bin/promtool")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if o.OpenMetrics != "" {
		file := filepath.Join(dir, "history.om")
		if err := os.WriteFile(file, []byte(o.OpenMetrics), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", file, data).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool backfill: %v\n%s", err, out)
		}
	}
	var p *Prometheus
	startRetrying(t, func(addr string) (*process, *http.Client, string) {
		var cfg strings.Builder
		cfg.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
		if o.Rules != "" {
			if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(o.Rules), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.WriteString("rule_files: [rules.yml]\n")
		}
		if o.Alertmanager != "" {
			fmt.Fprintf(&cfg, "alerting:\n  alertmanagers:\n    - static_configs: [{targets: [%q]}]\n", strings.TrimPrefix(o.Alertmanager, "http://"))
		}
		cfg.WriteString("scrape_configs:\n")
		if o.ScrapeDown {
			down := o.DownAddr
			if down == "" {
				down = FreeAddr(t)
			}
			fmt.Fprintf(&cfg, "  - job_name: payments-exporter\n    static_configs: [{targets: [%q], labels: {namespace: shop, service: payments}}]\n", down)
		}
		p = &Prometheus{URL: "http://" + addr, Client: &http.Client{Timeout: 5 * time.Second}}
		var sec tlsFiles
		if o.Secure {
			sec = generateTLS(t, dir)
			p.URL = "https://" + addr
			p.Username, p.Password, p.CAFile = "watchkeeper", "correct-horse-battery", sec.caFile
		}
		if o.SelfScrape {
			fmt.Fprintf(&cfg, "  - job_name: prometheus\n    static_configs: [{targets: [%q]}]\n", addr)
			if o.Secure {
				fmt.Fprintf(&cfg, "    scheme: https\n    tls_config: {ca_file: %q}\n    basic_auth: {username: %q, password: %q}\n", sec.caFile, p.Username, p.Password)
			}
		}
		args := []string{"--config.file=" + filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path=" + data,
			"--web.listen-address=" + addr, "--storage.tsdb.retention.time=30d", "--log.level=warn",
			// Alerts' generatorURL points here, as a deployed Prometheus's
			// points at its external URL (the default is the hostname).
			"--web.external-url=" + p.URL}
		if o.Secure {
			web := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", sec.certFile, sec.keyFile, p.Username, bcryptHash(t, p.Password))
			if err := os.WriteFile(filepath.Join(dir, "web.yml"), []byte(web), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--web.config.file="+filepath.Join(dir, "web.yml"))
			p.Client = sec.client(p.Username, p.Password)
		}
		if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return start(t, prom, args...), p.Client, p.URL + "/-/ready"
	})
	return p
}

// VictoriaLogs is a running VictoriaLogs.
type VictoriaLogs struct {
	URL string
}

// VictoriaLogsBin is where `make deps` installs victoria-logs.
func VictoriaLogsBin() string {
	if b := os.Getenv("WATCHKEEPER_VICTORIALOGS_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "watchkeeper", "bin", "victoria-logs")
}

// StartVictoriaLogs starts VictoriaLogs on 127.0.0.1.
func StartVictoriaLogs(t testing.TB) *VictoriaLogs {
	t.Helper()
	bin := need(t, "victoria-logs", VictoriaLogsBin())
	addr := startRetrying(t, func(addr string) (*process, *http.Client, string) {
		proc := start(t, bin, "-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-retentionPeriod=100y", "-loggerLevel=ERROR")
		return proc, http.DefaultClient, "http://" + addr + "/health"
	})
	return &VictoriaLogs{URL: "http://" + addr}
}

// Ingest writes JSON lines (one object per line, with _time and _msg) and
// flushes them so they are searchable at once. streamFields name the
// fields that make a stream.
func (v *VictoriaLogs) Ingest(t testing.TB, jsonLines string, streamFields ...string) {
	t.Helper()
	u := v.URL + "/insert/jsonline?_stream_fields=" + strings.Join(streamFields, ",") + "&_time_field=_time&_msg_field=_msg"
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(jsonLines))
	// Without this content type VictoriaLogs answers 200 and stores
	// nothing.
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("ingest: %s", resp.Status)
	}
	resp, err = http.Get(v.URL + "/internal/force_flush")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	URL string
}

// StartAlertmanager starts Alertmanager (the Debian package) on 127.0.0.1
// with one webhook receiver at url, authenticated with bearer, grouping
// by alertname and waiting one second so tests are quick.
func StartAlertmanager(t testing.TB, url, bearer string) *Alertmanager {
	t.Helper()
	bin := need(t, "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: watchkeeper
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: watchkeeper
    webhook_configs:
      - url: %q
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials: %q}
`, url, bearer)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startRetrying(t, func(addr string) (*process, *http.Client, string) {
		proc := start(t, bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
		return proc, http.DefaultClient, "http://" + addr + "/-/ready"
	})
	return &Alertmanager{URL: "http://" + addr}
}
