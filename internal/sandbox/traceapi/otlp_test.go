package traceapi

import (
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// collector is an OTLP/HTTP receiver that decodes what it is sent. Its
// reply decides the status of each request (200 when nil).
type collector struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	calls    atomic.Int64
	reply    func(n int64, w http.ResponseWriter, r *http.Request) bool // true: handled
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.calls.Add(1)
	if c.reply != nil && c.reply(n, w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(b, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, req)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// received returns every span sent, keyed by hex span ID, with its
// resource's service.name.
func (c *collector) received() map[string]receivedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]receivedSpan{}
	for _, req := range c.requests {
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					svc = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out[hex.EncodeToString(s.SpanId)] = receivedSpan{service: svc, span: s}
				}
			}
		}
	}
	return out
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

// someTraces are the traces of one minute of the faulty shop.
func someTraces(t *testing.T) []spans.Trace {
	t.Helper()
	snaps := shopSnapshots(t, time.Minute)
	gen := world.NewTraceGenerator(world.DefaultTopology(), 11, world.TraceOptions{Share: 0.2})
	var out []spans.Trace
	for _, s := range snaps {
		out = append(out, gen.Traces(s)...)
	}
	return out
}

func countSpans(ts []spans.Trace) int {
	n := 0
	for _, t := range ts {
		n += len(t.Spans)
	}
	return n
}

func TestOTLPExportSendsEverySpan(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	e, err := NewOTLPExporter(OTLPOptions{Endpoint: srv.URL + "/", BatchSpans: 500})
	if err != nil {
		t.Fatal(err)
	}
	traces := someTraces(t)
	total := countSpans(traces)
	e.Export(traces)
	waitFor(t, func() bool { return e.Stats().SpansSent == int64(total) })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.SpansSent != int64(total) || st.SpansDropped != 0 || st.SpansFailed != 0 {
		t.Fatalf("stats %+v for %d spans", st, total)
	}
	for _, req := range col.requests {
		n := 0
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
		if n > 500 {
			t.Fatalf("a request of %d spans, want at most 500", n)
		}
	}
	got := col.received()
	if len(got) != total {
		t.Fatalf("collector got %d spans, want %d", len(got), total)
	}
	kinds := map[string]tracepb.Span_SpanKind{spans.KindServer: tracepb.Span_SPAN_KIND_SERVER, spans.KindClient: tracepb.Span_SPAN_KIND_CLIENT}
	var errors, events int
	for _, tr := range traces {
		for _, s := range tr.Spans {
			r, ok := got[s.SpanID]
			if !ok {
				t.Fatalf("span %s not received", s.SpanID)
			}
			p := r.span
			if hex.EncodeToString(p.TraceId) != s.TraceID || hex.EncodeToString(p.ParentSpanId) != s.ParentID && !(s.ParentID == "" && len(p.ParentSpanId) == 0) {
				t.Fatalf("span %s: trace %x parent %x, want %s %s", s.SpanID, p.TraceId, p.ParentSpanId, s.TraceID, s.ParentID)
			}
			if r.service != s.Service || p.Name != s.Name || p.Kind != kinds[s.Kind] {
				t.Fatalf("span %s: %s %q %v, want %s %q %s", s.SpanID, r.service, p.Name, p.Kind, s.Service, s.Name, s.Kind)
			}
			if p.StartTimeUnixNano != uint64(s.Start.UnixNano()) || p.EndTimeUnixNano != uint64(s.End().UnixNano()) {
				t.Fatalf("span %s: times %d–%d", s.SpanID, p.StartTimeUnixNano, p.EndTimeUnixNano)
			}
			if s.Error {
				errors++
				if p.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || p.Status.GetMessage() != s.Status {
					t.Fatalf("failed span %s: status %v", s.SpanID, p.Status)
				}
			} else if p.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
				t.Fatalf("span %s: status %v", s.SpanID, p.Status)
			}
			attrs := map[string]any{}
			for _, kv := range p.Attributes {
				if iv, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
					attrs[kv.Key] = iv.IntValue
				} else {
					attrs[kv.Key] = kv.Value.GetStringValue()
				}
			}
			if len(attrs) != len(s.Attrs) {
				t.Fatalf("span %s: %d attributes, want %d", s.SpanID, len(attrs), len(s.Attrs))
			}
			if code, ok := s.Attrs["http.response.status_code"]; ok {
				if v, isInt := attrs["http.response.status_code"].(int64); !isInt || code != strconv.FormatInt(v, 10) {
					t.Fatalf("span %s: status code attribute %v, want the integer %s", s.SpanID, attrs["http.response.status_code"], code)
				}
			}
			for k, v := range s.Attrs {
				if k == "http.response.status_code" || k == "server.port" {
					continue
				}
				if attrs[k] != v {
					t.Fatalf("span %s: %s = %v, want %q", s.SpanID, k, attrs[k], v)
				}
			}
			if len(p.Events) != len(s.Events) {
				t.Fatalf("span %s: %d events, want %d", s.SpanID, len(p.Events), len(s.Events))
			}
			for i, ev := range s.Events {
				events++
				pe := p.Events[i]
				if pe.Name != ev.Name || pe.TimeUnixNano != uint64(ev.Time.UnixNano()) || len(pe.Attributes) != len(ev.Attrs) {
					t.Fatalf("span %s event %d: %v", s.SpanID, i, pe)
				}
				for _, kv := range pe.Attributes {
					if ev.Attrs[kv.Key] != kv.Value.GetStringValue() {
						t.Fatalf("span %s event %d: %s = %q", s.SpanID, i, kv.Key, kv.Value.GetStringValue())
					}
				}
			}
		}
	}
	if errors == 0 || events == 0 {
		t.Fatalf("%d failed spans, %d events: the fixture should have both", errors, events)
	}
}

func TestOTLPExportRetriesOn503(t *testing.T) {
	col := &collector{}
	col.reply = func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "collector is busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	srv := httptest.NewServer(col)
	defer srv.Close()
	e, err := NewOTLPExporter(OTLPOptions{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	traces := someTraces(t)[:20]
	start := time.Now()
	e.Export(traces)
	waitFor(t, func() bool { return e.Stats().SpansSent > 0 })
	_ = e.Close()
	st := e.Stats()
	if st.SpansSent != int64(countSpans(traces)) || st.Retries != 2 || st.SpansFailed != 0 || col.calls.Load() != 3 {
		t.Fatalf("stats %+v after %d calls", st, col.calls.Load())
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Retry-After 0 took %v", time.Since(start))
	}
}

func TestOTLPExportGivesUpOnBadRequests(t *testing.T) {
	col := &collector{reply: func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "unsupported", http.StatusBadRequest)
		return true
	}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	e, err := NewOTLPExporter(OTLPOptions{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	traces := someTraces(t)[:5]
	e.Export(traces)
	waitFor(t, func() bool { return e.Stats().SpansFailed > 0 })
	_ = e.Close()
	if st := e.Stats(); st.SpansFailed != int64(countSpans(traces)) || st.Retries != 0 || !strings.Contains(st.LastError, "400") {
		t.Fatalf("stats %+v", st)
	}
}

func TestOTLPExportNeverBlocksOnAHungCollector(t *testing.T) {
	release := make(chan struct{})
	col := &collector{reply: func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	defer close(release)
	var logs lockedBuffer
	e, err := NewOTLPExporter(OTLPOptions{Endpoint: srv.URL, QueueSpans: 1000, Timeout: 200 * time.Millisecond, Retries: 1,
		MaxRetryWait: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	traces := someTraces(t)
	start := time.Now()
	for range 5 {
		e.Export(traces)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Export blocked for %v", d)
	}
	waitFor(t, func() bool { return e.Stats().SpansFailed > 0 })
	start = time.Now()
	_ = e.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	st := e.Stats()
	if st.SpansDropped == 0 || st.SpansSent != 0 || !strings.Contains(st.LastError, "longer than 200ms") {
		t.Fatalf("stats %+v: want drops, failures and the timeout named", st)
	}
	if got := st.SpansDropped + st.SpansFailed; got != int64(5*countSpans(traces)) {
		t.Fatalf("%d spans dropped or failed, want all %d", got, 5*countSpans(traces))
	}
	if n := strings.Count(logs.String(), "OTLP export is losing spans"); n != 1 {
		t.Fatalf("%d warnings within a minute, want 1:\n%s", n, logs.String())
	}
}

// lockedBuffer is a log sink safe for the exporter's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestOTLPEndpointMustBeAURL(t *testing.T) {
	for _, ep := range []string{"", "localhost:4318", "ftp://x", "http://"} {
		if _, err := NewOTLPExporter(OTLPOptions{Endpoint: ep}); err == nil || !strings.Contains(err.Error(), "http://") {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
