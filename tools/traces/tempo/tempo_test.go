package tempo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
	"github.com/watchkeeper/watchkeeper/tools/traces/tempo/tempofake"
)

var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// shopTrace is a three-span trace: checkout calls payments, which fails
// every third time.
func shopTrace(i int) spans.Trace {
	id := fmt.Sprintf("%032x", i+1)
	if i == 0 {
		id = "00ab" + strings.Repeat("1", 28) // leading zeros, which Tempo's search drops
	}
	at := t0.Add(-time.Hour + time.Duration(i)*time.Minute)
	t := spans.Trace{ID: id, Spans: []spans.Span{
		{TraceID: id, SpanID: "0000000000000001", Service: "checkout", Name: "POST /checkout", Kind: spans.KindServer, Start: at, Duration: 300 * time.Millisecond,
			Attrs: map[string]string{"http.route": "/checkout", "http.response.status_code": "200"}},
		{TraceID: id, SpanID: "0000000000000002", ParentID: "0000000000000001", Service: "checkout", Name: "POST payments", Kind: spans.KindClient,
			Start: at.Add(10 * time.Millisecond), Duration: 250 * time.Millisecond, Attrs: map[string]string{"peer.service": "payments"}},
		{TraceID: id, SpanID: "0000000000000003", ParentID: "0000000000000002", Service: "payments", Name: "POST /charge", Kind: spans.KindServer,
			Start: at.Add(200 * time.Millisecond), Duration: 50 * time.Millisecond},
	}}
	if i%3 == 0 {
		s := &t.Spans[2]
		s.Error, s.Status = true, "card declined"
		s.Events = []spans.Event{{Time: s.Start.Add(time.Millisecond), Name: "exception", Attrs: map[string]string{"exception.message": "card declined", "exception.type": "CardError"}}}
	}
	return t
}

func start(t *testing.T, f *tempofake.Fake, cfg Config, timeout time.Duration) *Backend {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	hc, err := endpoint.Config{Name: "tempo", Timeout: timeout, MaxRetries: -1}.Client()
	if err != nil {
		t.Fatal(err)
	}
	cfg.URL, cfg.HTTPClient = srv.URL, hc
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func filled(n int) *tempofake.Fake {
	f := tempofake.New()
	for i := range n {
		f.Add("", shopTrace(i))
	}
	return f
}

func TestSearchAndFetchOverTheWire(t *testing.T) {
	f := filled(30)
	b := start(t, f, Config{Concurrency: 3}, 5*time.Second)
	ctx := context.Background()
	q := spans.Query{Service: "checkout", Start: t0.Add(-time.Hour), End: t0, Limit: 100}
	ts, err := b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 30 {
		t.Fatalf("%d traces, want 30", len(ts))
	}
	if f.Hits("/api/traces/") != 30 {
		t.Errorf("fetched %d traces", f.Hits("/api/traces/"))
	}
	// What went over the wire comes back as it was.
	got := map[string]spans.Trace{}
	for _, tr := range ts {
		got[tr.ID] = tr
	}
	for i := range 30 {
		want := shopTrace(i)
		g := got[want.ID]
		sort.Slice(g.Spans, func(a, b int) bool { return g.Spans[a].SpanID < g.Spans[b].SpanID })
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("trace %d:\n got %+v\nwant %+v", i, g, want)
		}
	}
	// Errors only, an operation, a duration: the tags and filters reach Tempo.
	ts, err = b.Search(ctx, spans.Query{Service: "checkout", ErrorsOnly: true, Start: t0.Add(-time.Hour), End: t0, Limit: 100})
	if err != nil || len(ts) != 10 {
		t.Errorf("errors anywhere in the trace: %d traces, %v", len(ts), err)
	}
	ts, err = b.Search(ctx, spans.Query{Service: "payments", Operation: "POST /charge", Start: t0.Add(-time.Hour), End: t0, Limit: 100, Tags: map[string]string{"status": "error"}})
	if err != nil || len(ts) != 10 {
		t.Errorf("errors only: %d traces, %v", len(ts), err)
	}
	ts, err = b.Search(ctx, spans.Query{Service: "checkout", MinDuration: time.Second, Start: t0.Add(-time.Hour), End: t0})
	if err != nil || len(ts) != 0 {
		t.Errorf("min 1s: %d traces, %v", len(ts), err)
	}
	// Tempo's default limit is 20 when none is sent.
	ts, err = b.Search(ctx, spans.Query{Service: "checkout"})
	if err != nil || len(ts) != tempofake.DefaultLimit {
		t.Errorf("no limit: %d traces, %v", len(ts), err)
	}
	svcs, err := b.Services(ctx)
	if err != nil || strings.Join(svcs, ",") != "checkout,payments" {
		t.Errorf("services %v %v", svcs, err)
	}
	if _, err := b.Trace(ctx, "ffffffffffffffffffffffffffffffff"); !errors.Is(err, traces.ErrNotFound) {
		t.Errorf("unknown trace: %v", err)
	}
}

func TestTags(t *testing.T) {
	got := Tags(spans.Query{Service: "check out", Operation: `say "hi"`, ErrorsOnly: true, Tags: map[string]string{"http.route": "/x", "a": "1"}})
	want := `service.name="check out" name="say \"hi\"" a="1" http.route="/x"`
	if got != want {
		t.Errorf("tags = %s, want %s", got, want)
	}
}

func TestTenancy(t *testing.T) {
	f := tempofake.New()
	f.MultiTenant = true
	f.Add("team-a", shopTrace(1))
	ctx := context.Background()
	_, err := start(t, f, Config{}, 5*time.Second).Search(ctx, spans.Query{Service: "checkout"})
	if err == nil || !strings.Contains(err.Error(), "multi-tenant: set traces.tenant") {
		t.Errorf("no tenant: %v", err)
	}
	ts, err := start(t, f, Config{Tenant: "team-a"}, 5*time.Second).Search(ctx, spans.Query{Service: "checkout"})
	if err != nil || len(ts) != 1 {
		t.Errorf("tenant team-a: %d traces, %v", len(ts), err)
	}
	ts, err = start(t, f, Config{Tenant: "team-b"}, 5*time.Second).Search(ctx, spans.Query{Service: "checkout"})
	if err != nil || len(ts) != 0 {
		t.Errorf("tenant team-b sees %d traces, %v", len(ts), err)
	}
}

// Tempo's rules, enforced by the fake, refuse what a careless client
// sends; the refusal reaches the caller in Tempo's words.
func TestTempoRefusesBadParameters(t *testing.T) {
	f := filled(3)
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, tt := range []struct{ query, want string }{
		{"start=1795525200", "invalid start and end parameter"},
		{"start=1795525200000&end=1795528800000", "must be in seconds"},
		{"start=1795528800&end=1795525200", "start must be before end"},
		{"start=x&end=1", "invalid start"},
		{"limit=0", "invalid limit: must be a positive number"},
		{"minDuration=fast", "invalid minDuration"},
		{"minDuration=2s&maxDuration=1s", "maxDuration must be greater than minDuration"},
		{"tags=" + "service.name%3D%22unterminated", "invalid tags"},
	} {
		resp, err := http.Get(srv.URL + "/api/search?" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		body.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.String(), tt.want) {
			t.Errorf("%s: %d %q, want 400 %q", tt.query, resp.StatusCode, body.String(), tt.want)
		}
	}
	b := start(t, f, Config{}, 5*time.Second)
	_, err := b.Search(context.Background(), spans.Query{Service: "checkout", MinDuration: 2 * time.Second, MaxDuration: time.Second})
	var qe *traces.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "maxDuration must be greater than minDuration") {
		t.Errorf("refusal: %v", err)
	}
}

func TestSlowAndDownTempo(t *testing.T) {
	f := filled(3)
	f.SetDelay(2 * time.Second)
	b := start(t, f, Config{}, 200*time.Millisecond)
	began := time.Now()
	_, err := b.Search(context.Background(), spans.Query{Service: "checkout"})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Errorf("slow: %v", err)
	}
	if time.Since(began) > time.Second {
		t.Errorf("a slow Tempo held the search %v", time.Since(began))
	}
	f.SetDelay(0)
	f.SetDown(true)
	_, err = b.Search(context.Background(), spans.Query{Service: "checkout"})
	if err == nil || !strings.Contains(err.Error(), "failed (HTTP 503: no healthy queriers)") {
		t.Errorf("down: %v", err)
	}
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"traces": 7}`)) }))
	defer garbage.Close()
	g, _ := New(Config{URL: garbage.URL})
	if _, err := g.Search(context.Background(), spans.Query{Service: "x"}); err == nil || !strings.Contains(err.Error(), "is not Tempo's JSON") {
		t.Errorf("garbage: %v", err)
	}
}

func TestDecodeIDsAndVersions(t *testing.T) {
	for _, tt := range []struct{ name, body, trace, span, parent string }{
		{"base64 v1", `{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"APBnqgupArc=","parentSpanId":"AAAAAAAAAAA=","name":"x","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":"5"}]}]}]}`,
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ""},
		{"hex v2", `{"trace":{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"1122334455667788","name":"x","kind":2,"startTimeUnixNano":1,"endTimeUnixNano":5,"status":{"code":2}}]}]}]}}`,
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "1122334455667788"},
		{"old instrumentationLibrarySpans", `{"batches":[{"resource":{},"instrumentationLibrarySpans":[{"spans":[{"traceId":"ab","spanId":"01","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"5"}]}]}]}`,
			"000000000000000000000000000000ab", "0000000000000001", ""},
	} {
		tr, err := Decode([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		s := tr.Spans[0]
		if tr.ID != tt.trace || s.SpanID != tt.span || s.ParentID != tt.parent || s.Duration != 4 {
			t.Errorf("%s: trace %s span %s parent %s duration %v", tt.name, tr.ID, s.SpanID, s.ParentID, s.Duration)
		}
	}
	if tr, _ := Decode([]byte(`{"trace":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"01","name":"x","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"5","status":{"code":2,"message":"m"}}]}]}]}}`)); len(tr.Spans) != 1 || !tr.Spans[0].Error || tr.Spans[0].Kind != spans.KindServer || tr.Spans[0].ServiceName() != spans.UnknownService {
		t.Errorf("numeric enums, no service: %+v", tr)
	}
	for _, bad := range []string{`{"batches":[{"scopeSpans":[{"spans":[{"traceId":"not an id!","spanId":"01","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`,
		`{"batches":[{"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"01","startTimeUnixNano":"soon","endTimeUnixNano":"2"}]}]}]}`,
		`{"batches": 3}`, `not json`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) accepted it", bad)
		}
	}
}

func TestGrafanaLink(t *testing.T) {
	b, _ := New(Config{URL: "http://tempo:3200"})
	if b.Link("ab") != "" {
		t.Error("a link without Grafana")
	}
	b, _ = New(Config{URL: "http://tempo:3200", LinkURL: "https://grafana.example.com/", Datasource: "tempo-uid"})
	l := b.Link("4bf92f3577b34da6a3ce929d0e0e4736")
	if !strings.HasPrefix(l, "https://grafana.example.com/explore?schemaVersion=1&orgId=1&panes=") || !strings.Contains(l, "4bf92f3577b34da6a3ce929d0e0e4736") || !strings.Contains(l, "tempo-uid") {
		t.Errorf("link = %s", l)
	}
}

// traces_search over Tempo: the summary, and Grafana links to the cited
// traces, within the budget.
func TestSearchToolOverTempo(t *testing.T) {
	f := filled(30)
	b := start(t, f, Config{LinkURL: "https://grafana.example.com", Datasource: "tempo-uid"}, 5*time.Second)
	s, err := traces.NewSearch(traces.SearchConfig{Backend: b, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), []byte(`{"service": "checkout", "errors": true}`))
	if err != nil || res.Error != "" {
		t.Fatal(err, res.Error)
	}
	a := res.Data.(traces.Answer)
	if a.Traces != 10 || a.ErrorTraces != 10 {
		t.Errorf("%d traces, %d failing:\n%s", a.Traces, a.ErrorTraces, res.Text)
	}
	for _, want := range []string{`payments POST /charge "card declined" ×10`, "Open:\n  ", "https://grafana.example.com/explore?"} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("lacks %q:\n%s", want, res.Text)
		}
	}
	if len(a.Links) == 0 || len(res.Text) > 6000 {
		t.Errorf("%d links, %d bytes", len(a.Links), len(res.Text))
	}
}

// A search stops fetching once MaxSpans spans arrived.
func TestSearchStopsAtMaxSpans(t *testing.T) {
	f := filled(30)
	b := start(t, f, Config{Concurrency: 1, MaxSpans: 10}, 5*time.Second)
	ts, err := b.Search(context.Background(), spans.Query{Service: "checkout", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 || f.Hits("/api/traces/") != 4 {
		t.Errorf("kept %d traces after %d fetches, want 4 (12 spans, past 10)", len(ts), f.Hits("/api/traces/"))
	}
}

// Resource attributes become attributes of the resource's spans, a span's
// own attribute of the same key winning; service.name stays the service.
func TestResourceAttributesBecomeSpanAttributes(t *testing.T) {
	tr, err := Decode([]byte(`{"batches":[
{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"k8s.namespace.name","value":{"stringValue":"shop"}},
  {"key":"deployment.environment","value":{"stringValue":"prod"}},{"key":"k8s.pod.restarts","value":{"intValue":"3"}}]},
 "scopeSpans":[{"spans":[{"traceId":"ab","spanId":"01","name":"a","startTimeUnixNano":"1","endTimeUnixNano":"5",
  "attributes":[{"key":"deployment.environment","value":{"stringValue":"canary"}}]},
  {"traceId":"ab","spanId":"02","name":"b","startTimeUnixNano":"1","endTimeUnixNano":"5"}]}]},
{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ledger"}},{"key":"k8s.namespace.name","value":{"stringValue":"workshop"}}]},
 "scopeSpans":[{"spans":[{"traceId":"ab","spanId":"03","name":"c","startTimeUnixNano":"1","endTimeUnixNano":"5"}]}]},
{"resource":{},"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"04","name":"d","startTimeUnixNano":"1","endTimeUnixNano":"5"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]spans.Span{}
	for _, s := range tr.Spans {
		by[s.Name] = s
	}
	for _, c := range []struct{ what, got, want string }{
		{"namespace from the resource", by["a"].Attrs[traces.NamespaceAttr], "shop"},
		{"on every span of the resource", by["b"].Attrs[traces.NamespaceAttr], "shop"},
		{"the span's own attribute wins", by["a"].Attrs["deployment.environment"], "canary"},
		{"the resource's where the span has none", by["b"].Attrs["deployment.environment"], "prod"},
		{"a typed resource attribute", by["b"].Attrs["k8s.pod.restarts"], "3"},
		{"service.name is the service", by["a"].Service + "/" + by["a"].Attrs["service.name"], "checkout/"},
		{"another resource's namespace", by["c"].Attrs[traces.NamespaceAttr], "workshop"},
		{"no resource, no namespace", by["d"].Attrs[traces.NamespaceAttr], ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	// One span's attributes are its own: the resource's map is not shared.
	by["a"].Attrs["x"] = "y"
	if by["b"].Attrs["x"] != "" {
		t.Error("spans of one resource share an attribute map")
	}
}

// The fake follows Tempo's documented tag rules: a tag matches a span or
// resource attribute, its value as a case-insensitive substring, so
// namespace "shop" finds "workshop" too and the caller must check; the
// namespace travels on the OTLP resource and comes back on the spans.
func TestFakeMatchesTagsAsTempoDocuments(t *testing.T) {
	f := tempofake.New()
	mk := func(id, svc, ns string) spans.Trace {
		return spans.Trace{ID: id, Spans: []spans.Span{{TraceID: id, SpanID: "0000000000000001", Service: svc, Name: "GET /Items", Kind: spans.KindServer,
			Start: t0.Add(-time.Minute), Duration: time.Millisecond, Attrs: map[string]string{traces.NamespaceAttr: ns, "http.route": "/Items"}}}}
	}
	shop, workshop, other := mk(strings.Repeat("a", 32), "cart", "shop"), mk(strings.Repeat("b", 32), "cart", "workshop"), mk(strings.Repeat("c", 32), "cart", "bank")
	f.Add("", shop, workshop, other)
	b := start(t, f, Config{}, 5*time.Second)
	for _, tt := range []struct {
		tags map[string]string
		want []string
	}{
		{map[string]string{traces.NamespaceAttr: "shop"}, []string{shop.ID, workshop.ID}},
		{map[string]string{traces.NamespaceAttr: "WORKSHOP"}, []string{workshop.ID}},
		{map[string]string{traces.NamespaceAttr: "bank", "http.route": "/items"}, []string{other.ID}},
		{map[string]string{"resource." + traces.NamespaceAttr: "shop"}, nil}, // TraceQL's scope is not a tag name
		{map[string]string{traces.NamespaceAttr: "tea"}, nil},
	} {
		ts, err := b.Search(context.Background(), spans.Query{Service: "cart", Tags: tt.tags, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tr := range ts {
			got = append(got, tr.ID)
			if tr.Spans[0].Attrs[traces.NamespaceAttr] == "" {
				t.Errorf("%s: the namespace did not come back on the span", tr.ID)
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("tags %v: %v, want %v", tt.tags, got, tt.want)
		}
	}
	// On the wire the namespace is the resource's, not the span's.
	otlp, _ := json.Marshal(tempofake.OTLP(shop))
	if want := `"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},{"key":"k8s.namespace.name","value":{"stringValue":"shop"}}]}`; !strings.Contains(string(otlp), want) ||
		strings.Count(string(otlp), "k8s.namespace.name") != 1 {
		t.Errorf("OTLP: %s", otlp)
	}
}
