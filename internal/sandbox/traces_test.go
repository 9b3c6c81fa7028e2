package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// jaeger fetches a Jaeger API path and decodes the envelope's data.
func jaeger(t *testing.T, e *env, path string, wantCode int, data any) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != wantCode {
		t.Fatalf("GET %s: %s %+v, want %d", path, resp.Status, env.Errors, wantCode)
	}
	if data != nil {
		if err := json.Unmarshal(env.Data, data); err != nil {
			t.Fatalf("GET %s: data %s: %v", path, env.Data, err)
		}
	}
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	Duration      int64  `json:"duration"`
	ProcessID     string `json:"processID"`
	References    []struct {
		SpanID string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

func (s jaegerSpan) tag(k string) any {
	for _, kv := range s.Tags {
		if kv.Key == k {
			return kv.Value
		}
	}
	return nil
}

func TestJaegerAPIServesTheShopsTraces(t *testing.T) {
	e := start(t, "healthy")
	var services []string
	jaeger(t, e, "/api/services", 200, &services)
	if len(services) != 10 {
		t.Fatalf("services %v, want the shop's 10", services)
	}
	if _, err := e.sb.Inject(sandbox.FaultSpec{Kind: sandbox.FaultNetworkLatency, Service: "checkout", Target: "payments",
		Params: map[string]float64{"delay_ms": 500}}); err != nil {
		t.Fatal(err)
	}
	e.advance(t, 3*time.Minute)

	// The slow calls are checkout's client spans to payments, while
	// payments itself answers as fast as ever.
	q := url.Values{"service": {"checkout"}, "operation": {"POST /charge"}, "minDuration": {"450ms"}, "lookback": {"3m"}, "limit": {"50"}}
	var traces []jaegerTrace
	jaeger(t, e, "/api/traces?"+q.Encode(), 200, &traces)
	if len(traces) == 0 {
		t.Fatal("no slow checkout → payments calls kept: the sampler should keep slow traces")
	}
	for _, tr := range traces {
		byID := map[string]jaegerSpan{}
		for _, s := range tr.Spans {
			byID[s.SpanID] = s
		}
		for _, s := range tr.Spans {
			svc := tr.Processes[s.ProcessID].ServiceName
			if svc != "payments" || s.tag("span.kind") != "server" {
				continue
			}
			parent := byID[s.References[0].SpanID]
			if parent.Duration < 450_000 || s.Duration > 300_000 || tr.Processes[parent.ProcessID].ServiceName != "checkout" {
				t.Fatalf("trace %s: checkout's call %dµs, payments' own span %dµs: the delay must sit in the client span", tr.TraceID, parent.Duration, s.Duration)
			}
		}
	}
	var one []jaegerTrace
	jaeger(t, e, "/api/traces/"+traces[0].TraceID, 200, &one)
	if len(one) != 1 || one[0].TraceID != traces[0].TraceID {
		t.Fatalf("trace by ID: %+v", one)
	}
	jaeger(t, e, "/api/traces/00000000000000000000000000000001", 404, nil)
	jaeger(t, e, "/api/traces?service=checkout&minDuration=soon", 400, nil)

	// The status counts what the store saw and kept.
	resp, err := http.Get(e.srv.URL + "/sandbox/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Traces sandbox.TraceStats `json:"traces"`
	}
	err = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st := status.Traces
	if st.SpansSeen == 0 || st.SpansKept == 0 || st.SpansKept*2 > st.SpansSeen || st.CompressedBytes == 0 || st.KeptBy["slow"] == 0 || st.Share != 0.1 {
		t.Fatalf("trace stats %+v", st)
	}
	// An hour of history was traced, not the scenario's whole history.
	perStep := float64(st.TracesSeen) / (60*4 + 12)
	if perStep < 50 || perStep > 250 {
		t.Fatalf("%d traces over an hour and 3 minutes: %.0f a step", st.TracesSeen, perStep)
	}

	page, _ := http.Get(e.srv.URL + "/")
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), "/api/traces") || !strings.Contains(string(b), "Jaeger") {
		t.Fatal("the index page does not list the Jaeger API")
	}
}

func TestSandboxExportsOTLP(t *testing.T) {
	var requests atomic.Int64
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || len(b) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		requests.Add(1)
	}))
	defer col.Close()
	e := start(t, "healthy", func(o *sandbox.Options) { o.OTLPEndpoint = col.URL; o.History = 20 * time.Minute })
	e.advance(t, time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.sb.TraceStats().OTLP
		if st == nil {
			t.Fatal("no OTLP stats with an endpoint")
		}
		if st.SpansSent > 0 && requests.Load() > 0 {
			if st.SpansFailed != 0 || st.Endpoint != col.URL+"/v1/traces" {
				t.Fatalf("OTLP stats %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing sent within 10s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := sandbox.New(t.Context(), sandbox.Options{Scenario: "healthy", End: end, History: time.Hour, OTLPEndpoint: "localhost:4318"}); err == nil ||
		!strings.Contains(err.Error(), "OTLP endpoint") {
		t.Fatalf("a bad endpoint: %v", err)
	}
}
