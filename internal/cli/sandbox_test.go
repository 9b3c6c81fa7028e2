package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"sandbox", "serve", "--scenario", "healthy", "--listen", addr},
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
	if !strings.Contains(string(body), `"fault":"dependency_down"`) {
		t.Errorf("status = %s", body)
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
	if !strings.Contains(out.String(), `sandbox scenario "healthy" (seed 1) serving at `+base) {
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
		"Log search (loki) `{service=\"checkout\"}`", "<untrusted-data source=\"logs\">"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.err, `unknown /sandbox command "nonsense"`) || !strings.Contains(r.err, "No language model is configured") {
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
