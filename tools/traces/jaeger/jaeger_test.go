package jaeger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// fakeJaeger answers as Jaeger's query service does, recording requests.
func fakeJaeger(t *testing.T, reqs *[]*http.Request) *httptest.Server {
	t.Helper()
	fixture, err := os.ReadFile("testdata/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqs != nil {
			*reqs = append(*reqs, r)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/services":
			w.Write([]byte(`{"data":["checkout","payments"],"total":2,"limit":0,"offset":0,"errors":null}`))
		case r.URL.Path == "/api/traces":
			if r.URL.Query().Get("service") == "" {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}`))
				return
			}
			if r.URL.Query().Get("service") == "unknown" {
				w.Write([]byte(`{"data":[],"total":0,"limit":0,"offset":0,"errors":null}`))
				return
			}
			w.Write(fixture)
		case r.URL.Path == "/api/traces/"+traceID:
			w.Write(fixture)
		case strings.HasPrefix(r.URL.Path, "/api/traces/"):
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, timeout time.Duration) *http.Client {
	hc, err := endpoint.Config{Name: "jaeger", Timeout: timeout, MaxRetries: -1}.Client()
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func TestSearchSendsJaegersParameters(t *testing.T) {
	var reqs []*http.Request
	srv := fakeJaeger(t, &reqs)
	b, err := New(Config{URL: srv.URL + "/", HTTPClient: client(t, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)
	q := spans.Query{Service: "checkout", Operation: "POST /checkout", Tags: map[string]string{"http.response.status_code": "502"},
		MinDuration: 500 * time.Millisecond, MaxDuration: 2 * time.Second, Start: start, End: start.Add(time.Hour), Limit: 300, ErrorsOnly: true}
	ts, err := b.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || len(ts[0].Spans) != 4 {
		t.Fatalf("traces = %+v", ts)
	}
	got := reqs[0].URL.Query()
	for k, want := range map[string]string{"service": "checkout", "operation": "POST /checkout", "tags": `{"http.response.status_code":"502"}`,
		"minDuration": "500ms", "maxDuration": "2s", "start": "1795525200000000", "end": "1795528800000000", "limit": "300"} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
	if reqs[0].URL.Path != "/api/traces" {
		t.Errorf("path %q", reqs[0].URL.Path)
	}
	// Errors only: a trace without an error is dropped on the client.
	ts, err = b.Search(context.Background(), spans.Query{Service: "unknown", ErrorsOnly: true})
	if err != nil || len(ts) != 0 {
		t.Errorf("no traces: %v %v", ts, err)
	}
	svcs, err := b.Services(context.Background())
	if err != nil || strings.Join(svcs, ",") != "checkout,payments" {
		t.Errorf("services = %v, %v", svcs, err)
	}
	if _, err := b.Search(context.Background(), spans.Query{}); !isQueryError(err, "give a service") {
		t.Errorf("no service: %v", err)
	}
}

func isQueryError(err error, want string) bool {
	var qe *traces.QueryError
	return errors.As(err, &qe) && strings.Contains(qe.Message, want)
}

func TestDecodeJaegerJSON(t *testing.T) {
	srv := fakeJaeger(t, nil)
	b, _ := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	tr, err := b.Trace(context.Background(), traceID)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]spans.Span{}
	for _, s := range tr.Spans {
		by[s.Name] = s
	}
	root, call, charge, receipt := by["POST /checkout"], by["POST payments /charge"], by["POST /charge"], by["send receipt"]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"trace ID", tr.ID, traceID},
		{"root service", root.Service, "checkout"},
		{"root kind", root.Kind, spans.KindServer},
		{"root start", root.Start, time.UnixMicro(1795528800000000).UTC()},
		{"root duration", root.Duration, 480 * time.Millisecond},
		{"root error from otel.status_code", root.Error, true},
		{"int64 tag", root.Attrs["http.response.status_code"], "502"},
		{"root parent", root.ParentID, ""},
		{"call parent (CHILD_OF)", call.ParentID, "00f067aa0ba902b7"},
		{"call kind", call.Kind, spans.KindClient},
		{"call error from the error tag", call.Error, true},
		{"float64 tag", call.Attrs["sampler.param"], "0.25"},
		{"bool tag", call.Attrs["retry"], "false"},
		{"charge service", charge.Service, "payments"},
		{"charge status", charge.Status, "card processor unavailable"},
		{"binary tag as hex", charge.Attrs["request.digest"], "deadbeef"},
		{"exception event", len(charge.Events) == 1 && charge.Events[0].Name == "exception" && charge.Events[0].Attrs["exception.message"] == "card processor unavailable", true},
		{"follows-from parent in the same trace", receipt.ParentID, "00f067aa0ba902b7"},
		{"no service name", receipt.ServiceName(), spans.UnknownService},
		{"consumer kind", receipt.Kind, spans.KindConsumer},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	tree := spans.Build(tr)
	if e := tree.Edges(); len(e) != 1 || e[0].Caller != "checkout" || e[0].Callee != "payments" || e[0].Network != 415*time.Millisecond {
		t.Errorf("edges = %+v", e)
	}
	if l := b.Link(traceID); l != srv.URL+"/trace/"+traceID {
		t.Errorf("link = %q", l)
	}
	if b2, _ := New(Config{URL: srv.URL, UIURL: "none"}); b2.Link(traceID) != "" {
		t.Error("links off, yet a link")
	}
	if b3, _ := New(Config{URL: srv.URL, UIURL: "https://jaeger.example.com/"}); b3.Link("ab") != "https://jaeger.example.com/trace/ab" {
		t.Errorf("ui link = %q", b3.Link("ab"))
	}
	// Credentials in the query URL never reach a link (the model and
	// Slack see links).
	if b4, _ := New(Config{URL: "http://svc:s3cret@jaeger.example.com:16686/"}); b4.Link("ab") != "http://jaeger.example.com:16686/trace/ab" {
		t.Errorf("link with the URL's credentials: %q", b4.Link("ab"))
	}
}

func TestFailuresPeopleCanActOn(t *testing.T) {
	srv := fakeJaeger(t, nil)
	ctx := context.Background()
	b, _ := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	if _, err := b.Trace(ctx, "ffffffffffffffffffffffffffffffff"); !errors.Is(err, traces.ErrNotFound) {
		t.Errorf("unknown trace: %v", err)
	}
	// A 400 from Jaeger, in its own words.
	bad, _ := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	_, err := bad.get(ctx, "/api/traces", nil)
	if !isQueryError(err, "parameter 'service' is required") {
		t.Errorf("Jaeger's 400: %v", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); slow.Close() })
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>Grafana</html>"))
	}))
	t.Cleanup(garbage.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"data":null,"errors":[{"code":500,"msg":"storage unavailable"}]}`))
	}))
	t.Cleanup(broken.Close)
	for _, tt := range []struct {
		name, url string
		want      []string
	}{
		{"refused", closedURL, []string{"Jaeger at " + closedURL + " cannot be reached", "is it running, and is traces.url right?"}},
		{"hangs", slow.URL, []string{"Jaeger at " + slow.URL + " did not answer within 300ms", "raise traces.timeout"}},
		{"garbage", garbage.URL, []string{"is not Jaeger's JSON", "not its UI or collector port"}},
		{"500", broken.URL, []string{"failed (HTTP 500", "storage unavailable"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := New(Config{URL: tt.url, HTTPClient: client(t, 300*time.Millisecond)})
			start := time.Now()
			_, err := b.Search(ctx, spans.Query{Service: "checkout"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
	// The caller's deadline bounds a hanging Jaeger too.
	b, _ = New(Config{URL: slow.URL, HTTPClient: client(t, time.Minute)})
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Trace(cctx, traceID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := New(Config{URL: "jaeger:16686"}); err == nil || !strings.Contains(err.Error(), "traces.url") {
		t.Errorf("bad URL: %v", err)
	}
}

// A 10,000-span trace decodes and renders within trace_get's budget; a
// body cut short is an error, not a partial trace.
func TestHugeAndTruncatedTraces(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"data":[{"traceID":"` + traceID + `","processes":{"p1":{"serviceName":"batch"}},"spans":[`)
	for i := 1; i <= 10_000; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		refs := "[]"
		if i > 1 {
			refs = fmt.Sprintf(`[{"refType":"CHILD_OF","traceID":"%s","spanID":"%016x"}]`, traceID, 1)
		}
		fmt.Fprintf(&b, `{"traceID":"%s","spanID":"%016x","operationName":"step %d","references":%s,"startTime":%d,"duration":1000,"tags":[],"logs":[],"processID":"p1"}`,
			traceID, i, i, refs, 1795528800000000+int64(i))
	}
	b.WriteString(`]}],"errors":null}`)
	body := b.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/cut/") {
			w.Write([]byte(body[:len(body)/2]))
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	be, _ := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	get, _ := traces.NewGet(traces.GetConfig{Backend: be})
	res, err := get.Run(context.Background(), []byte(`{"trace_id": "`+traceID+`"}`))
	if err != nil || res.Error != "" {
		t.Fatal(err, res.Error)
	}
	if !strings.Contains(res.Text, "10000 spans") || !strings.Contains(res.Text, "Not shown: ") || len(res.Text) > 8000 {
		t.Errorf("%d bytes:\n%.500s", len(res.Text), res.Text)
	}
	cut, _ := New(Config{URL: srv.URL + "/cut", HTTPClient: client(t, 5*time.Second)})
	if _, err := cut.Trace(context.Background(), traceID); err == nil || !strings.Contains(err.Error(), "is not Jaeger's JSON") {
		t.Errorf("a body cut short: %v", err)
	}
}

// An answer over the response cap says how to ask for less.
func TestResponseCap(t *testing.T) {
	srv := fakeJaeger(t, nil)
	hc, _ := endpoint.Config{Name: "jaeger", MaxResponseBytes: 512, MaxRetries: -1}.Client()
	b, _ := New(Config{URL: srv.URL, HTTPClient: hc})
	_, err := b.Search(context.Background(), spans.Query{Service: "checkout"})
	if !errors.Is(err, endpoint.ErrResponseTooLarge) || !strings.Contains(err.Error(), "ask for fewer traces") {
		t.Errorf("err = %v", err)
	}
}

// Resource attributes arrive in Jaeger as the process's tags: they become
// attributes of every span of the process, k8s.namespace.name among them,
// while a span's own tag of the same key wins.
func TestProcessTagsBecomeAttributes(t *testing.T) {
	body := `{"data":[{"traceID":"` + traceID + `","spans":[
{"traceID":"` + traceID + `","spanID":"0000000000000001","operationName":"a","startTime":1,"duration":2,"tags":[{"key":"deployment.environment","type":"string","value":"canary"}],"processID":"p1"},
{"traceID":"` + traceID + `","spanID":"0000000000000002","operationName":"b","startTime":1,"duration":2,"tags":[],"processID":"p2"},
{"traceID":"` + traceID + `","spanID":"0000000000000003","operationName":"c","startTime":1,"duration":2,"tags":[]}],
"processes":{"p1":{"serviceName":"checkout","tags":[{"key":"k8s.namespace.name","type":"string","value":"shop"},{"key":"deployment.environment","type":"string","value":"prod"},{"key":"service.name","type":"string","value":"ignored"},{"key":"k8s.pod.uid","type":"int64","value":42}]},
"p2":{"serviceName":"ledger","tags":[{"key":"k8s.namespace.name","type":"string","value":"workshop"}]}}}],"errors":null}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	b, _ := New(Config{URL: srv.URL, HTTPClient: client(t, 5*time.Second)})
	tr, err := b.Trace(context.Background(), traceID)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]spans.Span{}
	for _, s := range tr.Spans {
		by[s.Name] = s
	}
	for _, c := range []struct{ what, got, want string }{
		{"namespace from the process", by["a"].Attrs[traces.NamespaceAttr], "shop"},
		{"the span's own tag wins", by["a"].Attrs["deployment.environment"], "canary"},
		{"a typed process tag", by["a"].Attrs["k8s.pod.uid"], "42"},
		{"service.name is the service, not an attribute", by["a"].Attrs["service.name"], ""},
		{"service", by["a"].Service, "checkout"},
		{"another process's namespace", by["b"].Attrs[traces.NamespaceAttr], "workshop"},
		{"a span without a process has none", by["c"].Attrs[traces.NamespaceAttr], ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
}
