package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/cli"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestSandboxList(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "sandbox", "list")
	if r.code != 0 || !strings.Contains(r.out, "slow-db") || !strings.Contains(r.out, "network_latency  SERVICE TARGET") {
		t.Errorf("%+v", r)
	}
}

// TestSandboxExportGenerated: a case of the generalisation suite from
// the command line, which analyze rca reads.
func TestSandboxExportGenerated(t *testing.T) {
	home := isolate(t)
	out := filepath.Join(home, "case")
	r := run(t, home, "", nil, "sandbox", "export", "--generate", "--fault", "memory_leak", "--seed", "4", "--out", out)
	if r.code != 0 || !strings.Contains(r.out, "(memory_leak)") || !strings.Contains(r.out, "services") {
		t.Fatalf("%+v", r)
	}
	again := filepath.Join(home, "again")
	if r2 := run(t, home, "", nil, "sandbox", "export", "--generate", "--fault", "memory_leak", "--seed", "4", "--out", again); r2.code != 0 ||
		strings.ReplaceAll(r2.out, again, out) != r.out {
		t.Errorf("the same seed should make the same case:\n%s\n%s", r.out, r2.out)
	}
	a, _ := os.ReadFile(filepath.Join(out, "metrics.csv"))
	b, _ := os.ReadFile(filepath.Join(again, "metrics.csv"))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("metrics.csv differs between two runs of one seed (%d, %d bytes)", len(a), len(b))
	}
	if r := run(t, home, "", nil, "analyze", "rca", "--case", out); r.code != 0 || !strings.Contains(r.out, `"ranking"`) {
		t.Errorf("analyze rca: %+v", r)
	}
}

func TestSandboxExport(t *testing.T) {
	home := isolate(t)
	out := filepath.Join(home, "case")
	r := run(t, home, "", nil, "sandbox", "export", "--scenario", "healthy", "--fault", "cpu_saturation", "--service", "payments",
		"--param", "factor=5", "--seed", "3", "--out", out)
	if r.code != 0 || !strings.Contains(r.out, "root cause payments (cpu_saturation)") {
		t.Fatalf("%+v", r)
	}
	var c struct {
		RootCause struct{ Service, Fault string } `json:"root_cause"`
	}
	b, err := os.ReadFile(filepath.Join(out, "case.json"))
	if err != nil || json.Unmarshal(b, &c) != nil || c.RootCause.Service != "payments" || c.RootCause.Fault != "cpu" {
		t.Errorf("case.json = %s, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(out, "spans.jsonl")); err != nil || fi.Size() == 0 {
		t.Errorf("spans.jsonl: %v", err)
	}
	noSpans := filepath.Join(home, "no-spans")
	if r := run(t, home, "", nil, "sandbox", "export", "--scenario", "healthy", "--fault", "cpu_saturation", "--service", "payments",
		"--param", "factor=5", "--seed", "3", "--out", noSpans, "--no-spans"); r.code != 0 {
		t.Fatalf("--no-spans: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(noSpans, "spans.jsonl")); !os.IsNotExist(err) {
		t.Errorf("--no-spans wrote spans.jsonl (%v)", err)
	}
	if a, b := must(os.ReadFile(filepath.Join(out, "metrics.csv"))), must(os.ReadFile(filepath.Join(noSpans, "metrics.csv"))); len(a) == 0 || string(a) != string(b) {
		t.Error("--no-spans changed metrics.csv")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "export", "--scenario", "healthy", "--out", out}, "has no fault to export"},
		{[]string{"sandbox", "export", "--scenario", "nope", "--out", out}, `unknown scenario "nope"`},
		{[]string{"sandbox", "export", "--fault", "slow_db", "--out", out}, "--fault and --service go together"},
		{[]string{"sandbox", "export", "--fault", "slow_db", "--service", "cart", "--out", out}, "slow_db applies to a database"},
		{[]string{"sandbox", "export"}, "--out DIR is required"},
		{[]string{"sandbox", "export", "--generate", "--out", out}, "--generate takes --fault KIND and --seed N"},
		{[]string{"sandbox", "export", "--generate", "--fault", "slow_db", "--service", "cart", "--out", out}, "--generate takes --fault KIND"},
		{[]string{"sandbox", "export", "--generate", "--fault", "meteor", "--out", out}, "meteor"},
	} {
		if r := run(t, home, "", nil, tt.args...); r.code != 2 || !strings.Contains(r.err, tt.want) {
			t.Errorf("%v: exit %d, %s; want %q", tt.args, r.code, r.err, tt.want)
		}
	}
}

// TestSandboxServeAndInject runs `sandbox serve` and injects a fault into it
// with `sandbox inject`, both through the command line.
func TestSandboxServeAndInject(t *testing.T) {
	home := isolate(t)
	addr := freeAddr(t)
	// --otlp-endpoint sends the traces to a collector.
	var exported atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			exported.Add(1)
		}
	}))
	defer collector.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"sandbox", "serve", "--scenario", "healthy", "--listen", addr, "--otlp-endpoint", collector.URL},
			cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut, Environ: []string{"HOME=" + home, "WATCHKEEPER_SANDBOX_HISTORY=1h"}})
	}()
	base := "http://" + addr
	if _, err := waitHTTP(base+"/-/ready", 30*time.Second); err != nil {
		t.Fatalf("sandbox never served: %v\n%s", err, errOut.String())
	}
	r := run(t, home, "", nil, "sandbox", "inject", "dependency_down", "redis", "--addr", base)
	if r.code != 0 || !strings.Contains(r.out, "injected dependency_down on redis at ") {
		t.Errorf("inject: %+v", r)
	}
	// host:port, as serve and demo take with --listen, works too.
	r = run(t, home, "", nil, "sandbox", "inject", "slow_db", "postgres", "--addr", addr, "--duration", "10m")
	if r.code != 0 || !strings.Contains(r.out, "injected slow_db on postgres at ") || strings.Contains(r.out, "0001-01-01") {
		t.Errorf("inject --addr host:port: %+v", r)
	}
	r = run(t, home, "", nil, "sandbox", "inject", "network_latency", "checkout", "redis", "--addr", base)
	if r.code != 2 || !strings.Contains(r.err, "checkout does not call redis") {
		t.Errorf("bad inject: %+v", r)
	}
	r = run(t, home, "", nil, "sandbox", "inject", "memory_leak", "cart", "--addr", "http://"+freeAddr(t))
	if r.code != 1 || !strings.Contains(r.err, "no sandbox answers at") {
		t.Errorf("no sandbox: %+v", r)
	}
	resp, err := http.Get(base + "/sandbox/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"fault":"dependency_down"`) || !strings.Contains(string(body), `"duration":"10m0s"`) {
		t.Errorf("status = %s", body)
	}
	// One naming style, and no 0001-01-01T00:00:00Z for what never happened.
	for _, bad := range []string{`"ID"`, `"Start"`, `"FixedAt"`, `"FixedBy"`, `"End"`, "0001-01-01"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("status has %s: %s", bad, body)
		}
	}
	// Jaeger's query API answers with the shop's services.
	resp, err = http.Get(base + "/api/services")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"frontend"`) || !strings.Contains(string(body), `"errors":null`) {
		t.Errorf("GET /api/services = %d %s", resp.StatusCode, body)
	}
	// The page at / lists what the sandbox serves and its faults.
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "slow_db on postgres") {
		t.Errorf("GET / = %d %s", resp.StatusCode, body)
	}
	for deadline := time.Now().Add(10 * time.Second); exported.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("--otlp-endpoint: the collector received no traces")
			break
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out.String(), `sandbox scenario "healthy" (seed 1) serving at `+base) || !strings.Contains(out.String(), "Jaeger: "+base+"/api/traces") {
		t.Errorf("stdout = %s", out.String())
	}
}

func TestDemoWithoutATerminal(t *testing.T) {
	home := isolate(t)
	in := "/sandbox status\n/sandbox inject bad_deploy checkout\n/sandbox nonsense\n/tools\n" +
		`/run prom_query_range {"query": "sum by (service) (rate(http_requests_total[5m]))", "start": "30m ago"}` + "\n" +
		`/run logs_search {"service": "checkout", "start": "30m ago"}` + "\n/quit\n"
	r := run(t, home, in, []string{"WATCHKEEPER_SANDBOX_LISTEN=" + freeAddr(t), "WATCHKEEPER_SANDBOX_HISTORY=1h"}, "demo")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{"fault bad_deploy on checkout: scheduled for", "Injected bad_deploy on checkout at",
		"prom_query_range", "logs_search", // listed by /tools
		"Range query sum by (service) (rate(http_requests_total[5m]))", `service="checkout"`,
		"lines from checkout, last 30m"} { // the people's rendering: a short header, no markers
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "untrusted-data") {
		t.Errorf("a person was shown the model's markers:\n%s", r.out)
	}
	// No block about models before anyone asked anything: questions are
	// answered without one (the note comes after the first answer).
	if !strings.Contains(r.err, `unknown /sandbox command "nonsense"`) || strings.Contains(r.err, "No language model is configured") {
		t.Errorf("stderr = %s", r.err)
	}
	// The range query's chart is saved beside the store.
	i := strings.Index(r.err, "Chart saved: ")
	if i < 0 {
		t.Fatalf("no chart saved:\n%s", r.err)
	}
	path := strings.TrimSpace(strings.SplitN(r.err[i+len("Chart saved: "):], " — ", 2)[0])
	png, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("chart %s: %v", path, err)
	}
}

// TestSandboxInjectRefusesWhatIsNotASandbox: addresses that cannot be a
// sandbox, and servers that are not one, give a clear error and a
// non-zero exit; never a panic, never "injected  at 0001-01-01".
func TestSandboxInjectRefusesWhatIsNotASandbox(t *testing.T) {
	home := isolate(t)
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "<html>created</html>")
	}))
	defer garbage.Close()
	tests := []struct {
		name, addr string
		code       int
		want       string
	}{
		{"no port", "127.0.0.1", 2, `--addr: "127.0.0.1" is neither host:port nor a URL; give host:port (127.0.0.1:9095, as for --listen) or a URL`},
		{"not http", "ftp://127.0.0.1:19195", 2, "the sandbox speaks http or https, not ftp"},
		{"bad port", "127.0.0.1:99999", 2, `port "99999" is not a number from 1 to 65535`},
		{"no host", "http://", 2, "has no host"},
		{"something else answers", strings.TrimPrefix(notFound.URL, "http://"), 1, "answered 404 Not Found, not as a sandbox does"},
		{"an answer that is not a fault", garbage.URL, 1, "accepted the fault but its answer is not one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, home, "", nil, "sandbox", "inject", "slow_db", "postgres", "--addr", tt.addr)
			if r.code != tt.code || !strings.Contains(r.err, tt.want) || strings.Contains(r.out, "injected") {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", r.code, r.out, r.err, tt.code, tt.want)
			}
		})
	}
	r := run(t, home, "", nil, "sandbox", "serve", "--webhook", "127.0.0.1:8080/hook", "--listen", freeAddr(t))
	if r.code != 2 || !strings.Contains(r.err, `--webhook: webhook URL "127.0.0.1:8080/hook" is not an http(s) URL`) {
		t.Errorf("serve --webhook without a scheme: %+v", r)
	}
}

// TestDemoStopsAndCleansUpWhenTerminated: SIGTERM (the context ending)
// stops a demo whose chat waits for input, and its TSDB folder goes with
// it.
func TestDemoStopsAndCleansUpWhenTerminated(t *testing.T) {
	home := isolate(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	addr := freeAddr(t)
	in, w := io.Pipe() // the person never types: the chat blocks reading
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errOut syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"demo"}, cli.IO{In: in, Out: &out, Err: &errOut, Environ: []string{"HOME=" + home,
			"USER=tester", "XDG_STATE_HOME=" + filepath.Join(home, "state"), "WATCHKEEPER_SANDBOX_HISTORY=1h", "WATCHKEEPER_SANDBOX_LISTEN=" + addr}})
	}()
	if _, err := waitHTTP("http://"+addr+"/-/ready", 60*time.Second); err != nil {
		t.Fatalf("the demo's sandbox never served: %v\n%s", err, errOut.String())
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "watchkeeper-sandbox-tsdb-*")); len(dirs) != 1 {
		t.Fatalf("TSDB folders while running: %v", dirs)
	}
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop while its chat waited for input")
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmp, "watchkeeper-sandbox-tsdb-*")); len(dirs) != 0 {
		t.Errorf("the demo left %v behind", dirs)
	}
}

// waitHTTP polls u until it answers, for at most within.
func waitHTTP(u string, within time.Duration) (*http.Response, error) {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(u)
		if err == nil {
			return resp, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
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

// must returns v, ignoring err: a missing file reads as empty.
func must(v []byte, _ error) []byte { return v }
