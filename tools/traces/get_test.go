package traces

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
)

func newGet(t *testing.T, b Backend, maxTokens int) *Get {
	t.Helper()
	g, err := NewGet(GetConfig{Backend: b, MaxTokens: maxTokens})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTraceGetGolden(t *testing.T) {
	b := incident()
	g := newGet(t, b, 0)
	res := run(t, g, `{"trace_id": "00000000000000020000000000000001"}`)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	golden(t, "get.golden", res.Text)
	for _, want := range []string{
		"Trace 00000000000000020000000000000001: 10 spans",
		"* checkout POST payments",
		`payments INSERT charges 3`, `ERROR "deadlock detected"`,
		"Open: http://jaeger.test/trace/00000000000000020000000000000001",
	} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("lacks %q:\n%s", want, res.Text)
		}
	}
}

func TestTraceGetErrors(t *testing.T) {
	g := newGet(t, incident(), 0)
	for _, tt := range []struct{ args, want string }{
		{`{"trace_id": "ffffffffffffffffffffffffffffffff"}`, "not found in memory: it may be older than the store's retention"},
		{`{"trace_id": "not-a-trace"}`, `"not-a-trace" is not a trace ID`},
		{`{"trace_id": "` + strings.Repeat("a", 40) + `"}`, "is not a trace ID"},
		{`{}`, "trace_id"},
	} {
		res := run(t, g, tt.args)
		if !strings.Contains(res.Error, tt.want) {
			t.Errorf("%s: error %q, want %q", tt.args, res.Error, tt.want)
		}
	}
}

// A 10,000-span trace fits the budget with its critical path and its
// failing spans kept, and says how much was left out.
func TestTraceGetHugeTrace(t *testing.T) {
	id := "0000000000000000000000000000beef"
	start := t0.Add(-10 * time.Minute)
	tr := spans.Trace{ID: id}
	tr.Spans = append(tr.Spans, spans.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", 1), Service: "batch", Name: "run", Kind: spans.KindServer, Start: start, Duration: 20 * time.Second})
	for i := 2; i <= 10_000; i++ {
		s := spans.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", i), ParentID: fmt.Sprintf("%016x", 1), Service: "batch", Name: "step",
			Kind: spans.KindInternal, Start: start.Add(time.Duration(i) * time.Millisecond), Duration: time.Millisecond}
		if i == 7777 {
			s.Error, s.Status, s.Name = true, "disk full", "write"
		}
		if i == 10_000 {
			s.Name, s.Duration = "finish", 10*time.Second
		}
		tr.Spans = append(tr.Spans, s)
	}
	g := newGet(t, &memBackend{traces: []spans.Trace{tr}}, 2000)
	res := run(t, g, `{"trace_id": "`+id+`"}`)
	if tools.EstimateTokens(res.Text) > 2000 {
		t.Errorf("%d tokens, want ≤ 2,000", tools.EstimateTokens(res.Text))
	}
	for _, want := range []string{"10000 spans", `batch write 1ms ERROR "disk full"`, "* batch finish 10s", "Not shown: "} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("lacks %q:\n%s", want, res.Text)
		}
	}
}

// A chain 10,000 spans deep renders without recursion trouble, indented
// up to a bound.
func TestTraceGetDeepChainAndRepairs(t *testing.T) {
	id := "0000000000000000000000000000dee9"
	start := t0.Add(-10 * time.Minute)
	tr := spans.Trace{ID: id}
	for i := 1; i <= 10_000; i++ {
		s := spans.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", i), Service: "", Name: "hop", Start: start.Add(time.Duration(i) * time.Microsecond), Duration: time.Second}
		if i > 1 {
			s.ParentID = fmt.Sprintf("%016x", i-1)
		}
		tr.Spans = append(tr.Spans, s)
	}
	tr.Spans = append(tr.Spans, spans.Span{TraceID: id, SpanID: "00000000000fffff", ParentID: "0000000000abcdef", Service: "lost", Name: "orphan", Start: start, Duration: time.Millisecond})
	g := newGet(t, &memBackend{traces: []spans.Trace{tr}}, 1000)
	res := run(t, g, `{"trace_id": "`+id+`"}`)
	for _, want := range []string{"[depth ", "unknown_service hop", "1 orphan spans", "clock skew", "Not shown: "} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("lacks %q:\n%.3000s", want, res.Text)
		}
	}
	if tools.EstimateTokens(res.Text) > 1000 {
		t.Errorf("%d tokens, want ≤ 1,000", tools.EstimateTokens(res.Text))
	}
}

func TestTraceGetBackendDown(t *testing.T) {
	g := newGet(t, &failingBackend{}, 0)
	_, err := g.Run(context.Background(), json.RawMessage(`{"trace_id": "abc"}`))
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("err = %v", err)
	}
}

type failingBackend struct{ memBackend }

func (failingBackend) Trace(context.Context, string) (spans.Trace, error) {
	return spans.Trace{}, fmt.Errorf("Jaeger at http://jaeger:16686 did not answer within 10s: timeout")
}

// Spans that do not say their namespace are hidden from a search limited
// to one: the limit fails closed, and the answer says what to set.
func TestNamespaceLimitFailsClosed(t *testing.T) {
	b := incident() // spans without k8s.namespace.name
	res := run(t, newGet(t, b, 0), `{"trace_id": "00000000000000020000000000000001", "namespace": "shop"}`)
	if !strings.Contains(res.Error, "has no spans in namespace shop") || res.Text != "" {
		t.Errorf("trace_get: %q %q", res.Error, res.Text)
	}
	res = run(t, newSearch(t, b, SearchConfig{}), `{"service": "checkout", "namespace": "shop"}`)
	if a := res.Data.(Answer); a.Traces != 0 || !strings.Contains(res.Text, "no traces in namespace shop") || !strings.Contains(res.Text, "k8sattributes") {
		t.Errorf("traces_search: %d traces:\n%s", a.Traces, res.Text)
	}
	// A real orphan keeps its missing parent; a span whose parent was
	// hidden becomes a root.
	tr := spans.Trace{ID: "ab", Spans: []spans.Span{
		{SpanID: "1", Service: "a", Attrs: map[string]string{NamespaceAttr: "bank"}},
		{SpanID: "2", ParentID: "1", Service: "b", Attrs: map[string]string{NamespaceAttr: "shop"}},
		{SpanID: "3", ParentID: "9", Service: "c", Attrs: map[string]string{NamespaceAttr: "shop"}},
		{SpanID: "4", ParentID: "2", Service: "d"},
	}}
	got, hidden := inNamespace(tr, "shop")
	if hidden != 2 || len(got.Spans) != 2 || got.Spans[0].ParentID != "" || got.Spans[1].ParentID != "9" {
		t.Errorf("inNamespace: %d hidden, %+v", hidden, got.Spans)
	}
}
