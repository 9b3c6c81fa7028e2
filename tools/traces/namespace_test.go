package traces_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/traces"
	"github.com/watchkeeper/watchkeeper/tools/traces/jaeger"
	"github.com/watchkeeper/watchkeeper/tools/traces/tempo"
	"github.com/watchkeeper/watchkeeper/tools/traces/tempo/tempofake"
)

// Two teams share a trace store: shop (frontend, checkout, receipts) and
// workshop (ledger, vault, payments). Namespace "shop" is a substring of
// "workshop", which Tempo's tag search matches loosely. Some traces stay
// in one namespace; the mixed ones cross both ways: shop's checkout calls
// workshop's payments, which calls shop's receipts.
var nsNow = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

const (
	shopNS     = "shop"
	workshopNS = "workshop"
)

// nsTrace is one trace of the fixture: kind is "shop", "workshop" or
// "mixed"; i numbers it.
func nsTrace(kind string, i int, at time.Time) spans.Trace {
	prefix := map[string]string{"shop": "5b0b", "workshop": "4040", "mixed": "3143"}[kind]
	id := fmt.Sprintf("%s%028x", prefix, i+1)
	t := spans.Trace{ID: id}
	next := 0
	add := func(parent, ns, svc, name, kind string, off, d time.Duration, attrs map[string]string) string {
		next++
		a := map[string]string{traces.NamespaceAttr: ns}
		for k, v := range attrs {
			a[k] = v
		}
		sp := spans.Span{TraceID: id, SpanID: fmt.Sprintf("%s%012x", prefix, next), ParentID: parent, Service: svc, Name: name, Kind: kind,
			Start: at.Add(off), Duration: d, Attrs: a}
		t.Spans = append(t.Spans, sp)
		return sp.SpanID
	}
	ms := time.Millisecond
	switch kind {
	case "shop":
		root := add("", shopNS, "frontend", "GET /checkout", spans.KindServer, 0, 120*ms, map[string]string{"http.route": "/checkout"})
		call := add(root, shopNS, "frontend", "POST checkout", spans.KindClient, 2*ms, 110*ms, map[string]string{"peer.service": "checkout"})
		add(call, shopNS, "checkout", "POST /checkout", spans.KindServer, 4*ms, 100*ms, map[string]string{"http.route": "/checkout"})
	case "workshop":
		root := add("", workshopNS, "ledger", "POST /entries", spans.KindServer, 0, 300*ms, map[string]string{"http.route": "/entries"})
		call := add(root, workshopNS, "ledger", "SELECT vault", spans.KindClient, 5*ms, 280*ms, map[string]string{"peer.service": "vault"})
		add(call, workshopNS, "vault", "SELECT secrets", spans.KindServer, 10*ms, 260*ms, map[string]string{"db.statement": "SELECT pan FROM cards-of-workshop"})
	case "mixed":
		root := add("", shopNS, "checkout", "POST /checkout", spans.KindServer, 0, 200*ms, map[string]string{"http.route": "/checkout"})
		call := add(root, shopNS, "checkout", "POST charge", spans.KindClient, 5*ms, 180*ms, nil)
		charge := add(call, workshopNS, "payments", "POST /charge", spans.KindServer, 10*ms, 170*ms, map[string]string{"card.last4": "4242", "http.route": "/charge"})
		receipt := add(charge, workshopNS, "payments", "POST receipt", spans.KindClient, 20*ms, 40*ms, nil)
		add(receipt, shopNS, "receipts", "POST /receipt", spans.KindServer, 25*ms, 30*ms, map[string]string{"http.route": "/receipt"})
		if i%2 == 0 {
			for k := range t.Spans {
				if s := &t.Spans[k]; s.Service == "payments" && s.Name == "POST /charge" {
					s.Error, s.Status = true, "card declined by workshop-bank"
					s.Events = []spans.Event{{Time: s.Start, Name: "exception", Attrs: map[string]string{"exception.message": "card declined by workshop-bank"}}}
				}
			}
		}
	}
	return t
}

// nsFixture is ten traces of each kind in the hour before nsNow, and
// five of each in the hour before that.
func nsFixture() []spans.Trace {
	var out []spans.Trace
	for _, kind := range []string{"shop", "workshop", "mixed"} {
		for i := range 15 {
			at := nsNow.Add(-50*time.Minute + time.Duration(i)*4*time.Minute)
			if i >= 10 {
				at = nsNow.Add(-110*time.Minute + time.Duration(i-10)*4*time.Minute)
			}
			out = append(out, nsTrace(kind, i, at))
		}
	}
	return out
}

// fakeJaeger is Jaeger's query service over ts, as Jaeger stores spans
// that came over OTLP: resource attributes (k8s.namespace.name) are the
// process's tags, the rest the span's. A search matches a trace when one
// span of the service (and operation) has every tag among its span or
// process tags, exactly, and starts within the window; it returns the
// whole trace, every namespace's spans included.
func fakeJaeger(ts []spans.Trace) *httptest.Server {
	type kv struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	}
	type process struct {
		ServiceName string `json:"serviceName"`
		Tags        []kv   `json:"tags"`
	}
	isResource := func(k string) bool { return strings.HasPrefix(k, "k8s.") }
	toJaeger := func(t spans.Trace) map[string]any {
		procs := map[string]process{}
		pids := map[string]string{}
		var out []any
		for _, s := range t.Spans {
			key := s.Service + "/" + s.Attrs[traces.NamespaceAttr]
			pid, ok := pids[key]
			if !ok {
				pid = fmt.Sprintf("p%d", len(pids)+1)
				pids[key] = pid
				p := process{ServiceName: s.Service, Tags: []kv{}}
				for k, v := range s.Attrs {
					if isResource(k) {
						p.Tags = append(p.Tags, kv{k, "string", v})
					}
				}
				procs[pid] = p
			}
			tags := []kv{{"span.kind", "string", s.Kind}}
			for k, v := range s.Attrs {
				if !isResource(k) {
					tags = append(tags, kv{k, "string", v})
				}
			}
			if s.Error {
				tags = append(tags, kv{"error", "bool", true}, kv{"otel.status_description", "string", s.Status})
			}
			logs := []any{}
			for _, e := range s.Events {
				fields := []kv{{"event", "string", e.Name}}
				for k, v := range e.Attrs {
					fields = append(fields, kv{k, "string", v})
				}
				logs = append(logs, map[string]any{"timestamp": e.Time.UnixMicro(), "fields": fields})
			}
			refs := []any{}
			if s.ParentID != "" {
				refs = append(refs, map[string]string{"refType": "CHILD_OF", "traceID": s.TraceID, "spanID": s.ParentID})
			}
			out = append(out, map[string]any{"traceID": s.TraceID, "spanID": s.SpanID, "operationName": s.Name, "references": refs,
				"startTime": s.Start.UnixMicro(), "duration": s.Duration.Microseconds(), "tags": tags, "logs": logs, "processID": pid})
		}
		return map[string]any{"traceID": t.ID, "spans": out, "processes": procs}
	}
	matches := func(t spans.Trace, v map[string][]string) bool {
		var tags map[string]string
		if raw := v["tags"]; len(raw) > 0 {
			if json.Unmarshal([]byte(raw[0]), &tags) != nil {
				return false
			}
		}
		start, _ := strconv.ParseInt(first(v["start"]), 10, 64)
		end, _ := strconv.ParseInt(first(v["end"]), 10, 64)
		for _, s := range t.Spans {
			if s.Service != first(v["service"]) || (first(v["operation"]) != "" && s.Name != first(v["operation"])) {
				continue
			}
			if us := s.Start.UnixMicro(); (start > 0 && us < start) || (end > 0 && us > end) {
				continue
			}
			ok := true
			for k, want := range tags {
				if s.Attrs[k] != want { // span and process tags alike
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	write := func(w http.ResponseWriter, code int, data any, errs any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"data": data, "total": 0, "limit": 0, "offset": 0, "errors": errs})
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path == "/api/services":
			set := map[string]bool{}
			for _, t := range ts {
				for _, s := range t.Spans {
					set[s.Service] = true
				}
			}
			var names []string
			for s := range set {
				names = append(names, s)
			}
			sort.Strings(names)
			write(w, http.StatusOK, names, nil)
		case r.URL.Path == "/api/traces":
			if q.Get("service") == "" {
				write(w, http.StatusBadRequest, nil, []any{map[string]any{"code": 400, "msg": "parameter 'service' is required"}})
				return
			}
			limit, _ := strconv.Atoi(q.Get("limit"))
			out := []any{}
			for _, t := range ts {
				if matches(t, q) && (limit <= 0 || len(out) < limit) {
					out = append(out, toJaeger(t))
				}
			}
			write(w, http.StatusOK, out, nil)
		case strings.HasPrefix(r.URL.Path, "/api/traces/"):
			id := strings.TrimPrefix(r.URL.Path, "/api/traces/")
			for _, t := range ts {
				if t.ID == id {
					write(w, http.StatusOK, []any{toJaeger(t)}, nil)
					return
				}
			}
			write(w, http.StatusNotFound, nil, []any{map[string]any{"code": 404, "msg": "trace not found"}})
		default:
			http.NotFound(w, r)
		}
	}))
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// secrets are what each namespace's traces say that the other may not
// read: service and operation names, attribute values, exception
// messages, and the IDs of its traces and spans.
func secrets(ts []spans.Trace, ns string) []string {
	var out []string
	if ns == shopNS {
		out = []string{"frontend", "checkout", "receipts", "GET /checkout", "POST charge", "/receipt"}
	} else {
		out = []string{"workshop", "ledger", "vault", "payments", "POST /charge", "POST receipt", "/entries", "4242", "card declined", "SELECT", "cards-of"}
	}
	for _, t := range ts {
		only := true
		for _, s := range t.Spans {
			if s.Attrs[traces.NamespaceAttr] != ns {
				only = false
				continue
			}
			out = append(out, s.SpanID)
		}
		if only {
			out = append(out, t.ID)
		}
	}
	return out
}

// A conversation limited to a namespace reads, through traces_search and
// trace_get, only the spans of that namespace — the store's search is a
// pre-filter (Tempo's matches "shop" inside "workshop"), and a trace that
// crosses namespaces is cut to this one's spans. Without a limit nothing
// changes.
func TestTracesStayInTheConversationsNamespace(t *testing.T) {
	ts := nsFixture()
	hc, err := endpoint.Config{Name: "traces", Timeout: 5 * time.Second, MaxRetries: -1}.Client()
	if err != nil {
		t.Fatal(err)
	}
	backends := []struct {
		name string
		new  func(t *testing.T) traces.Backend
	}{
		{"jaeger", func(t *testing.T) traces.Backend {
			srv := fakeJaeger(ts)
			t.Cleanup(srv.Close)
			b, err := jaeger.New(jaeger.Config{URL: srv.URL, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"tempo", func(t *testing.T) traces.Backend {
			f := tempofake.New()
			f.Add("", ts...)
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			b, err := tempo.New(tempo.Config{URL: srv.URL, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	mixed, shopOnly, workshopOnly := nsTrace("mixed", 0, nsNow).ID, nsTrace("shop", 0, nsNow).ID, nsTrace("workshop", 0, nsNow).ID
	one := func(ns ...string) agent.Scope { return agent.Scope{Namespaces: ns} }
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			search, err := traces.NewSearch(traces.SearchConfig{Backend: b, Now: func() time.Time { return nsNow }})
			if err != nil {
				t.Fatal(err)
			}
			get, err := traces.NewGet(traces.GetConfig{Backend: b})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := tools.NewRegistry(search, get)
			if err != nil {
				t.Fatal(err)
			}
			iv := tools.Invoker{Tools: reg}
			for _, tt := range []struct {
				name  string
				scope *agent.Scope // nil: an unscoped conversation
				tool  string
				args  string
				// outcome is the invocation's; want are in the text or
				// the reason; traces and hidden are Answer's counts
				// (hidden -1: any).
				outcome        string
				want           []string
				traces, hidden int
				// asked are names the caller gave, which may come back.
				asked []string
			}{
				{name: "search: the scope's namespace filled in", scope: &[]agent.Scope{one(shopNS)}[0], tool: "traces_search", args: `{"service": "checkout"}`,
					outcome: tools.OutcomeOK, traces: 20, hidden: 20,
					want: []string{"service checkout, namespace shop", "Limited to namespace shop: 20 spans of other namespaces hidden", "checkout POST charge"}},
				{name: "search: another team's service is not there", scope: &[]agent.Scope{one(shopNS)}[0], tool: "traces_search", args: `{"service": "payments"}`,
					// Tempo's search returns the crossing traces ("shop" is
					// in "workshop"): their workshop spans are hidden.
					outcome: tools.OutcomeOK, traces: 0, hidden: -1, want: []string{"no traces in namespace shop", "k8s.namespace.name"}, asked: []string{"payments"}},
				{name: "search: the other team's view", scope: &[]agent.Scope{one(workshopNS)}[0], tool: "traces_search", args: `{"service": "payments"}`,
					outcome: tools.OutcomeOK, traces: 10, hidden: 30,
					want: []string{"Limited to namespace workshop: 30 spans of other namespaces hidden", `payments POST /charge "card declined by workshop-bank" ×5`}},
				{name: "search: the other team cannot read shop's checkout", scope: &[]agent.Scope{one(workshopNS)}[0], tool: "traces_search", args: `{"service": "checkout"}`,
					outcome: tools.OutcomeOK, traces: 0, want: []string{"no traces in namespace workshop"}, asked: []string{"checkout"}},
				{name: "search: naming another namespace is refused", scope: &[]agent.Scope{one(shopNS)}[0], tool: "traces_search", args: `{"service": "checkout", "namespace": "workshop"}`,
					outcome: tools.OutcomeRefused, want: []string{`namespace "workshop" is outside this conversation's scope`}, asked: []string{"checkout", "workshop"}},
				{name: "search: a tag cannot widen the namespace", scope: &[]agent.Scope{one(shopNS)}[0], tool: "traces_search", args: `{"service": "checkout", "tags": {"k8s.namespace.name": "workshop"}}`,
					outcome: tools.OutcomeToolError, want: []string{`contradicts namespace "shop"`}, asked: []string{"checkout", "workshop"}},
				{name: "search: several namespaces, none named", scope: &[]agent.Scope{one(shopNS, workshopNS)}[0], tool: "traces_search", args: `{"service": "checkout"}`,
					outcome: tools.OutcomeRefused, want: []string{"needs a namespace"}, asked: []string{"checkout", "workshop"}},
				{name: "search: no service lists no other team's services", scope: &[]agent.Scope{one(shopNS)}[0], tool: "traces_search", args: `{}`,
					outcome: tools.OutcomeToolError, want: []string{"give a service: one of namespace shop"}},
				{name: "get: a crossing trace cut to shop's spans", scope: &[]agent.Scope{one(shopNS)}[0], tool: "trace_get", args: `{"trace_id": "` + mixed + `"}`,
					outcome: tools.OutcomeOK, want: []string{"3 spans", "* checkout POST charge", "receipts POST /receipt", "Limited to namespace shop: 2 spans of other namespaces hidden"},
					asked: []string{mixed}},
				{name: "get: the other team's trace is an error, not its spans", scope: &[]agent.Scope{one(shopNS)}[0], tool: "trace_get", args: `{"trace_id": "` + workshopOnly + `"}`,
					outcome: tools.OutcomeToolError, want: []string{"trace " + workshopOnly + " has no spans in namespace shop"}, asked: []string{workshopOnly}},
				{name: "get: shop's trace from workshop", scope: &[]agent.Scope{one(workshopNS)}[0], tool: "trace_get", args: `{"trace_id": "` + shopOnly + `"}`,
					outcome: tools.OutcomeToolError, want: []string{"has no spans in namespace workshop"}, asked: []string{shopOnly}},
				{name: "get: a crossing trace cut to workshop's spans", scope: &[]agent.Scope{one(workshopNS)}[0], tool: "trace_get", args: `{"trace_id": "` + mixed + `"}`,
					outcome: tools.OutcomeOK, want: []string{"2 spans", `payments POST /charge`, "payments POST receipt", "3 spans of other namespaces hidden"}, asked: []string{mixed}},
				{name: "get, unscoped: the whole trace", tool: "trace_get", args: `{"trace_id": "` + mixed + `"}`,
					outcome: tools.OutcomeOK, want: []string{"5 spans", "checkout POST charge", "payments POST /charge", "receipts POST /receipt"}},
				{name: "search, unscoped: every namespace's spans", tool: "traces_search", args: `{"service": "checkout"}`,
					outcome: tools.OutcomeOK, traces: 20, want: []string{"checkout → payments", `payments POST /charge "card declined by workshop-bank"`}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					in := tools.Invocation{Tool: tt.tool, Args: json.RawMessage(tt.args), Source: "test"}
					if tt.scope != nil {
						in.Policy = *tt.scope
					}
					inv := iv.Invoke(context.Background(), in)
					var seen strings.Builder
					seen.WriteString(inv.Reason + "\n")
					if inv.Result != nil {
						data, _ := json.Marshal(inv.Result.Data)
						seen.WriteString(inv.Result.Text + "\n" + inv.Result.Display + "\n" + inv.Result.Error + "\n" + string(data))
					}
					got := seen.String()
					if inv.Outcome != tt.outcome {
						t.Fatalf("outcome %s, want %s:\n%s", inv.Outcome, tt.outcome, got)
					}
					for _, w := range tt.want {
						if !strings.Contains(got, w) {
							t.Errorf("lacks %q:\n%s", w, got)
						}
					}
					if a, ok := dataOf(inv); ok && (a.Traces != tt.traces || (tt.hidden >= 0 && a.HiddenSpans != tt.hidden)) {
						t.Errorf("%d traces, %d spans hidden; want %d, %d", a.Traces, a.HiddenSpans, tt.traces, tt.hidden)
					}
					if tt.scope == nil {
						return
					}
					for _, ns := range []string{shopNS, workshopNS} {
						if slices.Contains(tt.scope.Namespaces, ns) {
							continue
						}
						for _, secret := range secrets(ts, ns) {
							if !slices.Contains(tt.asked, secret) && strings.Contains(got, secret) {
								t.Errorf("namespace %s's %q leaked:\n%s", ns, secret, got)
							}
						}
					}
				})
			}
		})
	}
}

func dataOf(inv tools.Invoked) (traces.Answer, bool) {
	if inv.Result == nil {
		return traces.Answer{}, false
	}
	a, ok := inv.Result.Data.(traces.Answer)
	return a, ok
}
