package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// JaegerVersion is the Jaeger `make deps` builds, from the module pinned
// in internal/testserver/jaegerbin/go.mod.
const JaegerVersion = "v1.76.0"

// JaegerBin is where `make deps` puts the jaeger binary.
func JaegerBin() string {
	if b := os.Getenv("WATCHKEEPER_JAEGER_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "watchkeeper", "bin", "jaeger")
}

// Jaeger is a running Jaeger v2 with in-memory storage: an OTLP/HTTP
// receiver feeding it and the query service's HTTP API reading it.
type Jaeger struct {
	// OTLPURL is the OTLP/HTTP receiver's base URL; spans are POSTed to
	// OTLPURL + "/v1/traces".
	OTLPURL string
	// QueryURL is the query service's base URL (/api/services,
	// /api/traces/{id}, …), what Watchkeeper's Jaeger backend is given.
	QueryURL string
	// LogFile holds Jaeger's output; its tail is logged when the test fails.
	LogFile string
	// Config is the configuration file Jaeger was started with.
	Config string
}

// jaegerConfig is Jaeger v2's configuration (an OpenTelemetry Collector's)
// for tests: OTLP over HTTP in, the batch processor, memory storage, the
// query API. Every listener is on a port of the test's; nothing else
// listens (the collector's own metrics would take :8888, the query
// service's self-tracing would export to :4317, both shared by every test
// on the machine).
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: %s
    grpc:
      endpoint: %s
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    # Spans are searchable this long after they are received.
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// StartJaeger starts Jaeger on 127.0.0.1 for the test alone (its memory
// storage starts empty) and stops it when the test ends.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	began := time.Now()
	j := startJaeger(t)
	t.Logf("testserver: started Jaeger %s in %s", JaegerVersion, time.Since(began).Round(time.Millisecond))
	// Registered after the process's own cleanup, so it runs before the
	// process is stopped and the log file removed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Jaeger's log (%s), its end:\n%s", j.LogFile, tail(readFile(j.LogFile), 4000))
		}
	})
	return j
}

// startJaeger starts Jaeger, retrying on fresh ports when one was taken
// between choosing it and Jaeger binding it (packages test in parallel).
func startJaeger(t tb) *Jaeger {
	t.Helper()
	bin := need(t, "jaeger", JaegerBin())
	dir := t.TempDir()
	client := &http.Client{Timeout: 2 * time.Second}
	for attempt := 1; ; attempt++ {
		query, grpc, otlp := freeAddr(t), freeAddr(t), freeAddr(t)
		j := &Jaeger{OTLPURL: "http://" + otlp, QueryURL: "http://" + query,
			LogFile: filepath.Join(dir, fmt.Sprintf("jaeger-%d.log", attempt)),
			Config:  filepath.Join(dir, fmt.Sprintf("jaeger-%d.yaml", attempt))}
		if err := os.WriteFile(j.Config, []byte(fmt.Sprintf(jaegerConfig, query, grpc, otlp)), 0o600); err != nil {
			t.Fatal(err)
		}
		log, err := os.Create(j.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { log.Close() })
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "--config="+j.Config)
		cmd.Stdout = io.MultiWriter(logs, log)
		cmd.Stderr = cmd.Stdout
		proc := launch(t, cmd, logs)
		// The collector starts its extensions (storage, query) before
		// the pipelines, so the query API answers a moment before the
		// OTLP receiver listens: wait for both, or a test's first export
		// could be refused.
		err = proc.readyWhen(func() error {
			if err := httpOK(client, j.QueryURL+"/api/services"); err != nil {
				return err
			}
			return otlpListening(client, j.OTLPURL)
		}, Scale(30*time.Second))
		if err == nil {
			return j
		}
		if attempt == 3 || !proc.portTaken() {
			t.Fatalf("Jaeger (%s, config %s) did not become ready: %v\nits log's end:\n%s",
				bin, j.Config, firstLine(err), tail(logs.String(), 4000))
		}
	}
}

// otlpListening is nil when the OTLP/HTTP receiver answers; a GET on
// /v1/traces is refused with 405, which proves it listens.
func otlpListening(client *http.Client, base string) error {
	resp, err := client.Get(base + "/v1/traces")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Export sends spans to Jaeger's OTLP/HTTP receiver as protobuf, as an
// OpenTelemetry SDK does, and fails the test unless Jaeger accepts them.
// They are searchable shortly after (the batch processor's timeout):
// wait with WaitForSpans.
func (j *Jaeger) Export(t testing.TB, req *coltracepb.ExportTraceServiceRequest) {
	t.Helper()
	body, err := proto.Marshal(req)
	if err != nil {
		t.Fatalf("encode OTLP request: %v", err)
	}
	if err := j.post(context.Background(), body); err != nil {
		t.Fatal(err)
	}
}

func (j *Jaeger) post(ctx context.Context, body []byte) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, j.OTLPURL+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return fmt.Errorf("export to Jaeger: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("export to Jaeger: %s: %s", resp.Status, msg)
	}
	return nil
}

// WaitForSpans waits until Jaeger's query API returns the trace with the
// given ID (hex) with at least spans spans, and returns its JSON (the
// query API's {"data": [trace]} answer).
func (j *Jaeger) WaitForSpans(t testing.TB, traceID string, spans int) []byte {
	t.Helper()
	within := 10 * time.Second
	start := time.Now()
	got, status := 0, "not asked yet"
	for {
		body, n, err := j.trace(traceID)
		if err == nil && n >= spans {
			return body
		}
		got = max(got, n)
		if err != nil {
			status = err.Error()
		}
		if limit := Scale(within); time.Since(start) > limit {
			t.Fatalf("trace %s did not reach %d spans in Jaeger within %s (%s with the machine's load): %d seen, last answer: %s",
				traceID, spans, within, limit.Round(time.Second), got, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trace asks the query API for a trace and counts its spans.
func (j *Jaeger) trace(traceID string) (body []byte, spans int, err error) {
	resp, err := http.Get(j.QueryURL + "/api/traces/" + traceID)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK { // 404 until it is stored
		return nil, 0, fmt.Errorf("%s: %s", resp.Status, tail(string(body), 200))
	}
	var answer struct {
		Data []struct {
			Spans []json.RawMessage `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, 0, fmt.Errorf("decode the query API's answer: %w", err)
	}
	if len(answer.Data) != 1 {
		return nil, 0, fmt.Errorf("%d traces in the answer, want 1", len(answer.Data))
	}
	return body, len(answer.Data[0].Spans), nil
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// firstLine is an error's first line: readyWhen's error repeats the
// whole output, of which the caller shows the end.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
