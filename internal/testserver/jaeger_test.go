package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// jaegerTrace is the query API's answer for one trace (the parts checked).
type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			StartTime int64 `json:"startTime"` // µs
			Duration  int64 `json:"duration"`  // µs
			Tags      []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
			Logs []struct {
				Fields []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"fields"`
			} `json:"logs"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// TestJaegerRoundTrip feeds a real Jaeger a three-span trace over
// OTLP/HTTP, as the sandbox's exporter does, and reads it back through the
// query API the Jaeger backend uses: the configuration works end to end
// and the API answers in the shape the backend parses.
func TestJaegerRoundTrip(t *testing.T) {
	j := StartJaeger(t)

	traceID, root, call, charge := randomID(t, 16), randomID(t, 8), randomID(t, 8), randomID(t, 8)
	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	span := func(id, parent []byte, name string, kind tracepb.Span_SpanKind, from, to time.Duration) *tracepb.Span {
		return &tracepb.Span{TraceId: traceID, SpanId: id, ParentSpanId: parent, Name: name, Kind: kind,
			StartTimeUnixNano: uint64(at.Add(from).UnixNano()), EndTimeUnixNano: uint64(at.Add(to).UnixNano())}
	}
	failed := span(charge, call, "charge", tracepb.Span_SPAN_KIND_SERVER, 20*time.Millisecond, 70*time.Millisecond)
	failed.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "card declined"}
	failed.Events = []*tracepb.Span_Event{{Name: "exception", TimeUnixNano: uint64(at.Add(60 * time.Millisecond).UnixNano()),
		Attributes: []*commonpb.KeyValue{str("exception.message", "card declined")}}}
	j.Export(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		resourceSpans("checkout",
			span(root, nil, "POST /checkout", tracepb.Span_SPAN_KIND_SERVER, 0, 100*time.Millisecond),
			span(call, root, "POST payments/charge", tracepb.Span_SPAN_KIND_CLIENT, 10*time.Millisecond, 80*time.Millisecond)),
		resourceSpans("payments", failed),
	}})

	var got jaegerTrace
	if err := json.Unmarshal(j.WaitForSpans(t, hex.EncodeToString(traceID), 3), &got); err != nil {
		t.Fatal(err)
	}
	if got.Data[0].TraceID != hex.EncodeToString(traceID) {
		t.Errorf("traceID %q, want %x", got.Data[0].TraceID, traceID)
	}
	bySpan := map[string]int{}
	for i, s := range got.Data[0].Spans {
		bySpan[s.SpanID] = i
	}
	for _, want := range []struct {
		id, parent     []byte
		service, op    string
		start, took    time.Duration
		kind           string
		errorTag       bool
		exceptionEvent bool
	}{
		{id: root, service: "checkout", op: "POST /checkout", took: 100 * time.Millisecond, kind: "server"},
		{id: call, parent: root, service: "checkout", op: "POST payments/charge", start: 10 * time.Millisecond, took: 70 * time.Millisecond, kind: "client"},
		{id: charge, parent: call, service: "payments", op: "charge", start: 20 * time.Millisecond, took: 50 * time.Millisecond, kind: "server", errorTag: true, exceptionEvent: true},
	} {
		t.Run(want.op, func(t *testing.T) {
			i, ok := bySpan[hex.EncodeToString(want.id)]
			if !ok {
				t.Fatalf("span %x missing from %+v", want.id, got)
			}
			s := got.Data[0].Spans[i]
			if s.OperationName != want.op {
				t.Errorf("operation %q, want %q", s.OperationName, want.op)
			}
			if svc := got.Data[0].Processes[s.ProcessID].ServiceName; svc != want.service {
				t.Errorf("service %q, want %q", svc, want.service)
			}
			var parents []string
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" {
					parents = append(parents, r.SpanID)
				}
			}
			if want.parent == nil && len(parents) != 0 {
				t.Errorf("a root span with parents %v", parents)
			}
			if want.parent != nil && !slices.Equal(parents, []string{hex.EncodeToString(want.parent)}) {
				t.Errorf("parents %v, want [%x]", parents, want.parent)
			}
			if s.StartTime != at.Add(want.start).UnixMicro() || s.Duration != want.took.Microseconds() {
				t.Errorf("start %d µs, duration %d µs; want %d, %d", s.StartTime, s.Duration, at.Add(want.start).UnixMicro(), want.took.Microseconds())
			}
			tags := map[string]any{}
			for _, tag := range s.Tags {
				tags[tag.Key] = tag.Value
			}
			if tags["span.kind"] != want.kind {
				t.Errorf("span.kind %v, want %s", tags["span.kind"], want.kind)
			}
			if errTag := tags["error"] == true; errTag != want.errorTag {
				t.Errorf("error tag %v (tags %v), want %v", tags["error"], tags, want.errorTag)
			}
			exception := false
			for _, l := range s.Logs {
				for _, f := range l.Fields {
					exception = exception || (f.Key == "event" && f.Value == "exception")
				}
			}
			if exception != want.exceptionEvent {
				t.Errorf("exception event %v (logs %+v), want %v", exception, s.Logs, want.exceptionEvent)
			}
		})
	}

	var services struct {
		Data []string `json:"data"`
	}
	getJSON(t, j.QueryURL+"/api/services", &services)
	slices.Sort(services.Data)
	// Only the fed services: Jaeger does not trace itself into its storage.
	if !slices.Equal(services.Data, []string{"checkout", "payments"}) {
		t.Errorf("services %v, want [checkout payments]", services.Data)
	}
	var operations struct {
		Data []string `json:"data"`
	}
	getJSON(t, j.QueryURL+"/api/services/payments/operations", &operations)
	if !slices.Equal(operations.Data, []string{"charge"}) {
		t.Errorf("payments' operations %v, want [charge]", operations.Data)
	}

	// What Jaeger refuses is an error, not a silent success.
	if err := j.post(context.Background(), []byte("not protobuf")); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("garbage exported: error %v, want a 400", err)
	}
}

func resourceSpans(service string, spans ...*tracepb.Span) *tracepb.ResourceSpans {
	return &tracepb.ResourceSpans{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", service)}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func randomID(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0] |= 0x80 // Jaeger writes a trace ID whose high half is 0 in 16 digits
	return b
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
