package jaeger

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/traceapi"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// The sandbox's Jaeger-compatible API and this client agree: traces stored
// there come back whole through traces_search and trace_get.
func TestAgainstTheSandboxsJaegerAPI(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	store, err := spans.NewStore(spans.StoreOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var ts []spans.Trace
	for i := range 40 {
		id := fmt.Sprintf("%032x", 0xabc000+i)
		at := now.Add(-50*time.Minute + time.Duration(i)*time.Minute)
		call := spans.Span{TraceID: id, SpanID: "0000000000000002", ParentID: "0000000000000001", Service: "checkout", Name: "POST payments", Kind: spans.KindClient,
			Start: at.Add(time.Millisecond), Duration: 90 * time.Millisecond, Attrs: map[string]string{"peer.service": "payments"}}
		charge := spans.Span{TraceID: id, SpanID: "0000000000000003", ParentID: "0000000000000002", Service: "payments", Name: "POST /charge", Kind: spans.KindServer,
			Start: at.Add(60 * time.Millisecond), Duration: 20 * time.Millisecond}
		if i%5 == 0 {
			call.Error, charge.Error, charge.Status = true, true, "card declined"
			charge.Events = []spans.Event{{Time: charge.Start, Name: "exception", Attrs: map[string]string{"exception.message": "card declined"}}}
		}
		ts = append(ts, spans.Trace{ID: id, Spans: []spans.Span{
			{TraceID: id, SpanID: "0000000000000001", Service: "checkout", Name: "POST /checkout", Kind: spans.KindServer, Start: at, Duration: 100 * time.Millisecond, Error: call.Error},
			call, charge,
		}})
	}
	store.Add(ts)
	mux := http.NewServeMux()
	traceapi.NewAPI(store, func() time.Time { return now }).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b, err := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	search, _ := traces.NewSearch(traces.SearchConfig{Backend: b, Now: func() time.Time { return now }})
	res, err := search.Run(context.Background(), json.RawMessage(`{"service": "checkout"}`))
	if err != nil || res.Error != "" {
		t.Fatal(err, res.Error)
	}
	a := res.Data.(traces.Answer)
	if a.Traces != 40 || a.Spans != 120 || a.ErrorTraces != 8 {
		t.Errorf("read %d traces, %d spans, %d failing; want 40, 120, 8:\n%s", a.Traces, a.Spans, a.ErrorTraces, res.Text)
	}
	if !strings.Contains(res.Text, `payments POST /charge "card declined" ×8`) || !strings.Contains(res.Text, srv.URL+"/trace/") {
		t.Errorf("answer:\n%s", res.Text)
	}
	get, _ := traces.NewGet(traces.GetConfig{Backend: b})
	res, err = get.Run(context.Background(), json.RawMessage(`{"trace_id": "`+ts[0].ID+`"}`))
	if err != nil || res.Error != "" || !strings.Contains(res.Text, `payments POST /charge 20ms server ERROR "card declined"`) {
		t.Errorf("trace_get: %v %q\n%s", err, res.Error, res.Text)
	}
	res, _ = get.Run(context.Background(), json.RawMessage(`{"trace_id": "ffffffffffffffffffffffffffffffff"}`))
	if !strings.Contains(res.Error, "not found in jaeger") {
		t.Errorf("unknown trace: %q", res.Error)
	}
	svcs, err := b.Services(context.Background())
	if err != nil || strings.Join(svcs, ",") != "checkout,payments" {
		t.Errorf("services: %v %v", svcs, err)
	}
}
