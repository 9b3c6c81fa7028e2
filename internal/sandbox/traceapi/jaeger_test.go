package traceapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// t0 is a Tuesday 14:00 UTC, near the daily peak.
var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// shopSnapshots runs the shop for d from t0 with payments failing a share
// of requests and checkout's calls to payments delayed, and returns every
// snapshot.
func shopSnapshots(t testing.TB, d time.Duration) []*world.Snapshot {
	t.Helper()
	w, err := world.New(world.DefaultTopology(), 11, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []world.FaultSpec{
		{Kind: world.FaultBadDeploy, Service: "payments", Params: map[string]float64{"error_rate": 0.3}},
		{Kind: world.FaultNetworkLatency, Service: "checkout", Target: "payments", Params: map[string]float64{"delay_ms": 300}},
	} {
		if _, err := w.Inject(f, t0); err != nil {
			t.Fatal(err)
		}
	}
	var out []*world.Snapshot
	w.Advance(t0.Add(d), func(s *world.Snapshot) { out = append(out, s) })
	return out
}

var (
	fixtureOnce sync.Once
	fixture     *Recorder
	fixtureErr  error
)

// jaegerServer serves a recorder that kept every trace of five minutes
// of the shop. The recorder is shared: tests only read it.
func jaegerServer(t *testing.T) (*Recorder, *httptest.Server) {
	t.Helper()
	fixtureOnce.Do(func() {
		fixture, fixtureErr = New(world.DefaultTopology(), 11, Options{BaseRate: 1})
		if fixtureErr == nil {
			for _, s := range shopSnapshots(t, 5*time.Minute) {
				fixture.Record(s, false)
			}
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	r := fixture
	mux := http.NewServeMux()
	NewAPI(r.Store(), r.Now).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return r, srv
}

// response is the envelope with the data left raw.
type response struct {
	Data   json.RawMessage `json:"data"`
	Total  int             `json:"total"`
	Limit  int             `json:"limit"`
	Offset int             `json:"offset"`
	Errors []queryError    `json:"errors"`
}

func get(t *testing.T, srv *httptest.Server, path string, wantCode int) response {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantCode {
		t.Fatalf("GET %s: %s, want %d", path, resp.Status, wantCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"data", "total", "limit", "offset", "errors"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("GET %s: no %q in the envelope", path, k)
		}
	}
	if len(raw) != 5 {
		t.Fatalf("GET %s: envelope has %d keys, want Jaeger's 5", path, len(raw))
	}
	var r response
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &r)
	if wantCode == http.StatusOK && (string(raw["errors"]) != "null" || r.Limit != 0 || r.Offset != 0) {
		t.Fatalf("GET %s: errors %s limit %d offset %d", path, raw["errors"], r.Limit, r.Offset)
	}
	if wantCode != http.StatusOK && (string(raw["data"]) != "null" || len(r.Errors) != 1 || r.Errors[0].Code != wantCode || r.Total != 0) {
		t.Fatalf("GET %s: error envelope %s", path, b)
	}
	return r
}

func TestServicesAndOperations(t *testing.T) {
	_, srv := jaegerServer(t)
	var services []string
	r := get(t, srv, "/api/services", 200)
	_ = json.Unmarshal(r.Data, &services)
	want := []string{"cart", "catalog", "checkout", "email", "frontend", "payments", "postgres", "recommendations", "redis", "shipping"}
	if slices.Sort(services); !slices.Equal(services, want) || r.Total != len(want) {
		t.Fatalf("services %v (total %d), want %v", services, r.Total, want)
	}

	var names []string
	r = get(t, srv, "/api/services/checkout/operations", 200)
	_ = json.Unmarshal(r.Data, &names)
	if !slices.Contains(names, "POST /checkout") || !slices.Contains(names, "POST /charge") || r.Total != len(names) {
		t.Fatalf("checkout's operations %v", names)
	}
	r = get(t, srv, "/api/services/nosuch/operations", 200)
	if string(r.Data) != "[]" {
		t.Fatalf("operations of an unknown service: %s, want []", r.Data)
	}

	for _, tc := range []struct {
		kind string
		want []operation
	}{
		{"server", []operation{{"POST /checkout", "server"}}},
		// A route makes the same calls every time: checkout asks each
		// callee for one operation.
		{"", []operation{{"GET /cart/get", "client"}, {"GET /product", "client"}, {"POST /charge", "client"}, {"POST /checkout", "server"},
			{"POST /send", "client"}, {"POST /ship", "client"}}},
	} {
		var ops []operation
		r = get(t, srv, "/api/operations?service=checkout&spanKind="+tc.kind, 200)
		_ = json.Unmarshal(r.Data, &ops)
		if !slices.Equal(ops, tc.want) {
			t.Errorf("spanKind %q: %v, want %v", tc.kind, ops, tc.want)
		}
	}
	if r := get(t, srv, "/api/operations", 400); r.Errors[0].Msg != "parameter 'service' is required" {
		t.Errorf("no service: %q", r.Errors[0].Msg)
	}
}

func traces(t *testing.T, r response) []jaegerTrace {
	t.Helper()
	var out []jaegerTrace
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatal(err)
	}
	if r.Total != len(out) {
		t.Fatalf("total %d for %d traces", r.Total, len(out))
	}
	return out
}

// spansOf returns a trace's spans of service.
func spansOf(tr jaegerTrace, service string) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if tr.Processes[s.ProcessID].ServiceName == service {
			out = append(out, s)
		}
	}
	return out
}

func tag(s jaegerSpan, key string) (any, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func TestSearch(t *testing.T) {
	rec, srv := jaegerServer(t)
	end := rec.Now()
	q := func(v url.Values) string { return "/api/traces?" + v.Encode() }
	for _, tc := range []struct {
		name  string
		query url.Values
		check func(jaegerTrace) bool
		max   int
	}{
		{"service", url.Values{"service": {"payments"}}, func(tr jaegerTrace) bool { return len(spansOf(tr, "payments")) > 0 }, 100},
		{"operation and limit", url.Values{"service": {"checkout"}, "operation": {"POST /charge"}, "limit": {"7"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "checkout"), func(s jaegerSpan) bool { return s.OperationName == "POST /charge" })
		}, 7},
		{"minDuration", url.Values{"service": {"checkout"}, "operation": {"POST /charge"}, "minDuration": {"250ms"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "checkout"), func(s jaegerSpan) bool { return s.Duration >= 250_000 })
		}, 100},
		{"maxDuration", url.Values{"service": {"payments"}, "maxDuration": {"0.2s"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "payments"), func(s jaegerSpan) bool { return s.Duration <= 200_000 })
		}, 100},
		{"tags JSON", url.Values{"service": {"payments"}, "tags": {`{"error":"true"}`}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "payments"), func(s jaegerSpan) bool { v, _ := tag(s, "error"); return v == true })
		}, 100},
		{"tags logfmt", url.Values{"service": {"frontend"}, "tags": {`http.response.status_code=500 http.request.method="GET"`}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "frontend"), func(s jaegerSpan) bool { v, _ := tag(s, "http.response.status_code"); return v == 500.0 })
		}, 100},
		{"tag key:value", url.Values{"service": {"postgres"}, "tag": {"db.system.name:postgresql"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "postgres"), func(s jaegerSpan) bool { v, _ := tag(s, "db.system.name"); return v == "postgresql" })
		}, 100},
		{"tag matching nothing", url.Values{"service": {"postgres"}, "tag": {"db.system.name:mysql"}}, nil, 0},
		{"window", url.Values{"service": {"frontend"}, "start": {strconv.FormatInt(end.Add(-time.Minute).UnixMicro(), 10)},
			"end": {strconv.FormatInt(end.Add(-30*time.Second).UnixMicro(), 10)}, "limit": {"1500"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "frontend"), func(s jaegerSpan) bool {
				return s.StartTime >= end.Add(-time.Minute).UnixMicro() && s.StartTime <= end.Add(-30*time.Second).UnixMicro()
			})
		}, 1500},
		{"lookback", url.Values{"service": {"frontend"}, "lookback": {"1m"}, "limit": {"1500"}}, func(tr jaegerTrace) bool {
			return slices.ContainsFunc(spansOf(tr, "frontend"), func(s jaegerSpan) bool { return s.StartTime >= end.Add(-time.Minute).UnixMicro() })
		}, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := traces(t, get(t, srv, q(tc.query), 200))
			if tc.max == 0 {
				if len(got) != 0 {
					t.Fatalf("%d traces, want none", len(got))
				}
				return
			}
			if len(got) == 0 || len(got) > tc.max {
				t.Fatalf("%d traces, want 1–%d", len(got), tc.max)
			}
			for i, tr := range got {
				if !tc.check(tr) {
					t.Fatalf("trace %s does not match", tr.TraceID)
				}
				if i > 0 && got[i-1].Spans[0].StartTime < tr.Spans[0].StartTime {
					t.Fatalf("traces not newest first")
				}
			}
		})
	}
	// The window and the lookback found a minute's or half a minute's
	// traffic, not everything.
	all := traces(t, get(t, srv, q(url.Values{"service": {"frontend"}, "limit": {"1500"}}), 200))
	minute := traces(t, get(t, srv, q(url.Values{"service": {"frontend"}, "lookback": {"1m"}, "limit": {"1500"}}), 200))
	if len(minute) == 0 || len(minute) >= len(all) {
		t.Fatalf("lookback 1m found %d of %d traces", len(minute), len(all))
	}
	if got := traces(t, get(t, srv, q(url.Values{"service": {"nosuch"}}), 200)); len(got) != 0 {
		t.Fatalf("unknown service: %d traces", len(got))
	}
}

func TestGetTrace(t *testing.T) {
	rec, srv := jaegerServer(t)
	// A trace through payments that failed there.
	found := rec.Store().Find(spans.Query{Service: "payments", Tags: map[string]string{"error": "true"}, Limit: 1})
	if len(found) != 1 {
		t.Fatal("no failed payments trace")
	}
	want := found[0]
	got := traces(t, get(t, srv, "/api/traces/"+strings.ToUpper(want.ID), 200))
	if len(got) != 1 || got[0].TraceID != want.ID || len(got[0].Spans) != len(want.Spans) {
		t.Fatalf("got %d traces, want trace %s with %d spans", len(got), want.ID, len(want.Spans))
	}
	tr := got[0]
	ids := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = s
	}
	var sawError, sawException bool
	for i, s := range tr.Spans {
		w := want.Spans[i]
		if s.SpanID != w.SpanID || s.OperationName != w.Name || s.StartTime != w.Start.UnixMicro() || s.Duration != w.Duration.Microseconds() || s.Flags != 1 {
			t.Fatalf("span %d: %+v, want %+v", i, s, w)
		}
		if tr.Processes[s.ProcessID].ServiceName != w.Service {
			t.Fatalf("span %d: process %s is %q, want %q", i, s.ProcessID, tr.Processes[s.ProcessID].ServiceName, w.Service)
		}
		if kind, _ := tag(s, "span.kind"); kind != w.Kind {
			t.Fatalf("span %d: span.kind %v, want %s", i, kind, w.Kind)
		}
		if w.ParentID == "" {
			if len(s.References) != 0 {
				t.Fatalf("root span with references %v", s.References)
			}
		} else if len(s.References) != 1 || s.References[0] != (reference{"CHILD_OF", want.ID, w.ParentID}) || ids[w.ParentID].SpanID == "" {
			t.Fatalf("span %d: references %v, want CHILD_OF %s", i, s.References, w.ParentID)
		}
		if w.Error {
			sawError = true
			e, _ := tag(s, "error")
			code, _ := tag(s, "otel.status_code")
			desc, hasDesc := tag(s, "otel.status_description")
			if e != true || code != "ERROR" || hasDesc != (w.Status != "") || (hasDesc && desc != w.Status) {
				t.Fatalf("failed span %d: error %v otel.status_code %v description %v", i, e, code, desc)
			}
		} else if _, ok := tag(s, "error"); ok {
			t.Fatalf("span %d has an error tag but did not fail", i)
		}
		for j, l := range s.Logs {
			if l.Fields[0] != (keyValue{"event", "string", w.Events[j].Name}) || l.Timestamp != w.Events[j].Time.UnixMicro() {
				t.Fatalf("span %d log %d: %+v", i, j, l)
			}
			if w.Events[j].Name == "exception" {
				sawException = true
			}
		}
	}
	if !sawError || !sawException {
		t.Fatalf("trace %s: error %v, exception %v", want.ID, sawError, sawException)
	}
	// The same through ?traceID=.
	if got := traces(t, get(t, srv, "/api/traces?traceID="+want.ID+"&traceID=1", 200)); len(got) != 1 || got[0].TraceID != want.ID {
		t.Fatalf("?traceID=: %d traces", len(got))
	}

	if r := get(t, srv, "/api/traces/0123456789abcdef0123456789abcdef", 404); r.Errors[0].Msg != "trace not found" {
		t.Errorf("unknown trace: %q", r.Errors[0].Msg)
	}
	for _, id := range []string{"xyz", strings.Repeat("a", 33)} {
		if r := get(t, srv, "/api/traces/"+id, 400); !strings.Contains(r.Errors[0].Msg, "malformed trace ID") {
			t.Errorf("trace ID %q: %q", id, r.Errors[0].Msg)
		}
	}
}

func TestBadSearches(t *testing.T) {
	_, srv := jaegerServer(t)
	for _, tc := range []struct {
		query, want string
	}{
		{"", "parameter 'service' is required"},
		{"operation=GET+%2F", "parameter 'service' is required"},
		{"service=frontend&minDuration=fast", "cannot parse minDuration \"fast\""},
		{"service=frontend&maxDuration=-1s", "cannot parse maxDuration"},
		{"service=frontend&minDuration=2s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"},
		{"service=frontend&limit=many", "malformed 'limit' parameter"},
		{"service=frontend&limit=-3", "malformed 'limit' parameter"},
		{"service=frontend&tags=%7Bbad", "malformed 'tags' parameter, cannot unmarshal JSON"},
		{"service=frontend&tags=%7B%22error%22%3Atrue%7D", "malformed 'tags' parameter, cannot unmarshal JSON"},
		{"service=frontend&tags=just+words", "malformed 'tags' parameter"},
		{"service=frontend&tag=novalue", "malformed 'tag' parameter, expecting key:value"},
		{"service=frontend&start=yesterday", "cannot parse 'start'"},
		{"service=frontend&end=1.5", "cannot parse 'end'"},
		{"service=frontend&start=2000000&end=1000000", "'start' (1970-01-01T00:00:02Z) is after 'end'"},
		{"service=frontend&lookback=forever", "cannot parse 'lookback'"},
		{"traceID=nothex", "malformed trace ID"},
	} {
		r := get(t, srv, "/api/traces?"+tc.query, 400)
		if !strings.Contains(r.Errors[0].Msg, tc.want) {
			t.Errorf("%s: %q, want %q", tc.query, r.Errors[0].Msg, tc.want)
		}
	}
}

func TestParseLogfmt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{`error=true`, map[string]string{"error": "true"}, false},
		{` a=1   b="two words" c= `, map[string]string{"a": "1", "b": "two words", "c": ""}, false},
		{`msg="say \"hi\""`, map[string]string{"msg": `say "hi"`}, false},
		{`a="open`, nil, true},
		{`=x`, nil, true},
		{`novalue`, nil, true},
	} {
		got, err := parseLogfmt(tc.in)
		if (err != nil) != tc.err || (!tc.err && fmt.Sprint(got) != fmt.Sprint(tc.want)) {
			t.Errorf("%q: %v %v, want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
