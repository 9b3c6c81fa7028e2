package telemetry_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/telemetry"
	"github.com/watchkeeper/watchkeeper/tools"
)

type okTool struct{}

func (okTool) Spec() tools.Spec {
	return tools.Spec{Name: "probe", Description: "Probe.", Parameters: tools.Object(map[string]*tools.Schema{"n": tools.Integer("n", 0, 9)})}
}

func (okTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Text("fine"), nil
}

func runOnce(t *testing.T, opts agent.Options, obs agent.Observer) {
	t.Helper()
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "probe"}, {Name: "missing"}}, Usage: agent.Usage{InputTokens: 100, OutputTokens: 10}},
		scripted.Turn{Text: "done", Usage: agent.Usage{InputTokens: 150, OutputTokens: 5}},
	)
	reg, _ := tools.NewRegistry(okTool{})
	opts.Config.ModelName = "m1"
	opts.Config.Prices = agent.Prices{"m1": {InputPerMTok: 1000, OutputPerMTok: 1000}}
	if _, err := agent.New(model, reg, opts).Run(context.Background(), agent.Task{Input: "q", Source: "chat"}, obs); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsFromEvents(t *testing.T) {
	m := telemetry.NewMetrics("v1.2.3", "abc", "probe")
	runOnce(t, agent.Options{ObserveTool: m.ObserveTool}, m.Observe)
	m.Error("store")

	expect := map[string]float64{
		`watchkeeper_agent_runs_total{outcome="answered",source="chat"}`:                              1,
		`watchkeeper_agent_steps_total`:                                                               2,
		`watchkeeper_tool_calls_total{outcome="ok",tool="probe"}`:                                     1,
		`watchkeeper_tool_calls_total{outcome="refused",tool="unknown"}`:                              1,
		`watchkeeper_llm_tokens_total{direction="input",model="m1"}`:                                  250,
		`watchkeeper_llm_tokens_total{direction="output",model="m1"}`:                                 15,
		`watchkeeper_llm_cost_usd_total{model="m1"}`:                                                  0.265,
		`watchkeeper_errors_total{component="store"}`:                                                 1,
		`watchkeeper_build_info{goversion="` + goVersion(t, m) + `",revision="abc",version="v1.2.3"}`: 1,
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case mt.Counter != nil:
				got[key] = mt.Counter.GetValue()
			case mt.Gauge != nil:
				got[key] = mt.Gauge.GetValue()
			case mt.Histogram != nil:
				got[key+"_count"] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	for k, want := range expect {
		if v, ok := got[k]; !ok || v < want-1e-9 || v > want+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if got[`watchkeeper_llm_request_duration_seconds{model="m1"}_count`] != 2 {
		t.Errorf("model latency histogram count = %v", got[`watchkeeper_llm_request_duration_seconds{model="m1"}_count`])
	}
	if n := testutil.CollectAndCount(m.Registry, "go_goroutines"); n != 1 {
		t.Errorf("go collector missing")
	}
}

func goVersion(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	families, _ := m.Registry.Gather()
	for _, f := range families {
		if f.GetName() == "watchkeeper_build_info" {
			for _, l := range f.GetMetric()[0].GetLabel() {
				if l.GetName() == "goversion" {
					return l.GetValue()
				}
			}
		}
	}
	t.Fatal("no build_info")
	return ""
}

func TestHealthAndReadiness(t *testing.T) {
	m := telemetry.NewMetrics("dev", "")
	s := telemetry.NewServer(m, slog.New(slog.DiscardHandler), telemetry.ServerOptions{})
	var storeErr error
	var mu sync.Mutex
	s.AddCheck("store", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return storeErr
	})
	// An optional part that is down (an MCP server) is reported and does
	// not make the process unready.
	s.AddOptionalCheck("mcp:grafana", func(context.Context) error { return errors.New("connection refused") })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, 2*time.Second) }()
	base := "http://" + s.Addr()

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) ||
		!strings.Contains(body, `{"name":"mcp:grafana","ok":false,"error":"connection refused","optional":true}`) {
		t.Errorf("/readyz = %d %q", code, body)
	}
	mu.Lock()
	storeErr = errors.New("database is locked")
	mu.Unlock()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"error":"database is locked"`) {
		t.Errorf("/readyz with a failing check = %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "watchkeeper_build_info") {
		t.Errorf("/metrics = %d, build_info present: %v", code, strings.Contains(body, "watchkeeper_build_info"))
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope = %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestListenConflict(t *testing.T) {
	s1 := telemetry.NewServer(telemetry.NewMetrics("dev", ""), slog.New(slog.DiscardHandler), telemetry.ServerOptions{})
	if err := s1.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s2 := telemetry.NewServer(telemetry.NewMetrics("dev", ""), slog.New(slog.DiscardHandler), telemetry.ServerOptions{})
	err := s2.Listen(s1.Addr())
	if err == nil || !strings.Contains(err.Error(), "change server.listen") {
		t.Fatalf("err = %v", err)
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver decoding protobuf requests.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string]spanInfo // by name
}

type spanInfo struct {
	id, parent string
	attrs      map[string]string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", 400)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = gz
	}
	b, _ := io.ReadAll(body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range sp.GetAttributes() {
					attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
				}
				o.spans[sp.GetName()+"/"+attrs["gen_ai.tool.name"]] = spanInfo{
					id: string(sp.GetSpanId()), parent: string(sp.GetParentSpanId()), attrs: attrs}
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestTracesExportedOverOTLP(t *testing.T) {
	recv := &otlpReceiver{spans: map[string]spanInfo{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{Endpoint: srv.URL, SampleRatio: 1, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	runOnce(t, agent.Options{Tracer: tr.Tracer()}, nil)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	run, ok := recv.spans["agent.run/"]
	if !ok {
		t.Fatalf("no agent.run span; got %v", keys(recv.spans))
	}
	gen, ok := recv.spans["llm.generate/"]
	if !ok || gen.parent != run.id {
		t.Errorf("llm.generate missing or not a child of agent.run")
	}
	tool, ok := recv.spans["tool.call/probe"]
	if !ok || tool.parent != run.id {
		t.Errorf("tool.call missing or not a child of agent.run")
	}
	if run.attrs["watchkeeper.outcome"] != "answered" {
		t.Errorf("run attributes = %v", run.attrs)
	}
}

func TestTracingOffByDefault(t *testing.T) {
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Error("a disabled tracer produced a real span")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func keys(m map[string]spanInfo) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
