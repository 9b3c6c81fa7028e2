package traces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools"
)

// GetConfig configures the trace_get tool.
type GetConfig struct {
	Backend Backend
	// MaxTokens bounds the answer (default 2,000).
	MaxTokens int
}

// Get is the trace_get tool. It is safe for concurrent use.
type Get struct{ cfg GetConfig }

// NewGet returns the tool for cfg; it fails without a backend.
func NewGet(cfg GetConfig) (*Get, error) {
	if cfg.Backend == nil {
		return nil, errors.New("traces: no backend configured")
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 2000
	}
	return &Get{cfg: cfg}, nil
}

// Spec implements tools.Tool.
func (g *Get) Spec() tools.Spec {
	return tools.Spec{
		Name: "trace_get", Evidence: tools.EvidenceText,
		Description: "Read one distributed trace (" + g.cfg.Backend.Name() + ") as an indented tree of spans: service, operation, duration, " +
			"self time, errors with their exception, key attributes. Long traces are cut to the critical path (marked *) and the failing spans " +
			"first. Says what was repaired (orphan spans, cycles, clock skew). Get trace IDs from traces_search.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"trace_id":  tools.String("the trace ID (hex)"),
			"namespace": tools.String("Kubernetes namespace: only the trace's spans of services in it (attribute " + NamespaceAttr + ") are shown"),
		}, "trace_id"),
	}
}

// Run implements tools.Tool.
func (g *Get) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		TraceID   string `json:"trace_id"`
		Namespace string `json:"namespace"`
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	id := strings.ToLower(strings.TrimSpace(a.TraceID))
	if !isHex(id) || len(id) > 32 {
		return tools.Errorf("trace_id %q is not a trace ID: up to 32 hex digits", clean(a.TraceID, 80)), nil
	}
	t, err := g.cfg.Backend.Trace(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return tools.Errorf("trace %s not found in %s: it may be older than the store's retention, sampled away, or mistyped; find traces with traces_search", id, g.cfg.Backend.Name()), nil
	case err != nil:
		var qe *QueryError
		if errors.As(err, &qe) {
			return tools.Errorf("%s", qe.Error()), nil
		}
		if ctx.Err() != nil {
			return tools.Result{}, err
		}
		return tools.Result{}, fmt.Errorf("traces (%s): %w", g.cfg.Backend.Name(), err)
	}
	if len(t.Spans) == 0 {
		return tools.Errorf("trace %s has no spans in %s; find traces with traces_search", id, g.cfg.Backend.Name()), nil
	}
	if t.ID == "" {
		t.ID = id
	}
	ns := strings.TrimSpace(a.Namespace)
	hidden := 0
	if ns != "" {
		if t, hidden = inNamespace(t, ns); len(t.Spans) == 0 {
			// Nothing of the trace is this conversation's: no span, no
			// count, no name of what is there.
			return tools.Errorf("trace %s has no spans in namespace %s; find traces of that namespace's services with traces_search, "+
				"and if they have none either, check that their spans carry the %s attribute", id, clean(ns, 63), NamespaceAttr), nil
		}
	}
	tr := spans.Build(t)
	head := treeHeader(tr)
	if n := hiddenNote(ns, hidden, 0); n != "" {
		head += n + "\n"
	}
	// Room for the markers, the "not shown" note and the link.
	body, shown := renderTree(tr, g.cfg.MaxTokens*4-len(head)-len(g.cfg.Backend.Link(id))-250)
	link := g.cfg.Backend.Link(id)
	foot := ""
	if shown < len(tr.Spans) {
		foot = fmt.Sprintf("Not shown: %d of %d spans, to stay within the token budget (the critical path and failing spans were kept).\n", len(tr.Spans)-shown, len(tr.Spans))
	}
	if link != "" {
		foot += "Open: " + link + "\n"
	}
	text := head + tools.Untrusted("traces", body) + foot
	data := map[string]any{"trace_id": id, "spans": len(tr.Spans), "shown": shown, "link": link, "namespace": ns, "hidden_spans": hidden,
		"repairs": Repairs{Orphans: tr.Orphans, Cycles: tr.Cycles, Skewed: tr.Skewed, Dropped: tr.Dropped}}
	return tools.Result{Text: text, Display: head + body + foot, Data: data}, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// keyAttrs are the attributes worth a place on a span's line.
var keyAttrs = []string{"http.request.method", "http.route", "url.path", "http.response.status_code", "rpc.method", "server.address",
	"peer.service", "db.system.name", "db.system", "db.operation.name", "messaging.system", "error.type"}

// treeHeader says what the trace is and what was repaired.
func treeHeader(t *spans.Tree) string {
	n := len(t.Spans)
	var h strings.Builder
	fmt.Fprintf(&h, "Trace %s: %d spans, %s", t.ID, n, fmtDur(t.Duration()))
	svcs := map[string]bool{}
	errs := 0
	for _, s := range t.Spans {
		svcs[s.ServiceName()] = true
		if s.Error {
			errs++
		}
	}
	fmt.Fprintf(&h, ", %d services, %d failing spans.", len(svcs), errs)
	if r := (Repairs{Orphans: t.Orphans, Cycles: t.Cycles, Skewed: t.Skewed, Dropped: t.Dropped}); r != (Repairs{}) {
		fmt.Fprintf(&h, " Repaired: %s.", repairs(r))
	}
	h.WriteString(" Lines: service operation duration (self time); * on the critical path.\n")
	return h.String()
}

// renderTree writes t's spans as an indented tree within budget bytes.
// The critical path and the failing spans, with their ancestors, come
// first; the other spans fill what is left, shallowest first. It returns
// how many spans it showed.
func renderTree(t *spans.Tree, budget int) (body string, shown int) {
	n := len(t.Spans)

	parent := make([]int, n)
	depth := make([]int, n)
	for i := range parent {
		parent[i] = -1
	}
	var order []int // breadth first: parents before children
	order = append(order, t.Roots...)
	for k := 0; k < len(order); k++ {
		i := order[k]
		for _, c := range t.Children[i] {
			parent[c], depth[c] = i, depth[i]+1
			order = append(order, c)
		}
	}
	root := make([]bool, n)
	for _, r := range t.Roots {
		root[r] = true
	}
	critical := make([]bool, n)
	for _, st := range t.CriticalPath() {
		critical[st.Span] = true
	}
	lines := make([]string, n)
	line := func(i int) string {
		if lines[i] == "" {
			lines[i] = spanLine(t, i, depth[i], critical[i], root[i])
		}
		return lines[i]
	}
	keep := make([]bool, n)
	used := 0
	// take keeps i and its ancestors, if they fit.
	take := func(i int) bool {
		var chain []int
		for j := i; j >= 0 && !keep[j]; j = parent[j] {
			chain = append(chain, j)
		}
		cost := 0
		for _, j := range chain {
			cost += len(line(j))
		}
		if used+cost > budget {
			return false
		}
		for _, j := range chain {
			keep[j] = true
		}
		used += cost
		return true
	}
	// A step that does not fit makes every deeper one not fit: stop, so
	// that a deep chain costs linear time.
	for _, st := range t.CriticalPath() {
		if !take(st.Span) {
			break
		}
	}
	misses := 0
	for _, i := range order {
		if t.Spans[i].Error && !keep[i] && !take(i) {
			if misses++; misses == 20 {
				break
			}
		}
	}
	for _, i := range order {
		if !keep[i] && !take(i) {
			break
		}
	}
	// Depth first over what is kept, children by start.
	var b strings.Builder
	stack := make([]int, 0, len(t.Roots))
	for k := len(t.Roots) - 1; k >= 0; k-- {
		stack = append(stack, t.Roots[k])
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !keep[i] {
			continue
		}
		shown++
		b.WriteString(line(i))
		kids := t.Children[i]
		for k := len(kids) - 1; k >= 0; k-- {
			stack = append(stack, kids[k])
		}
	}
	return b.String(), shown
}

// spanLine is one span of the tree.
func spanLine(t *spans.Tree, i, depth int, critical, root bool) string {
	s := t.Spans[i]
	var b strings.Builder
	indent := min(depth, 20)
	b.WriteString(strings.Repeat("  ", indent))
	if depth > indent {
		fmt.Fprintf(&b, "[depth %d] ", depth)
	}
	if critical {
		b.WriteString("* ")
	}
	fmt.Fprintf(&b, "%s %s %s", clean(s.ServiceName(), 60), clean(s.Name, 100), fmtDur(s.Duration))
	if self := t.SelfTime(i); self != s.Duration {
		fmt.Fprintf(&b, " (self %s)", fmtDur(self))
	}
	if s.Kind != "" && s.Kind != spans.KindInternal {
		b.WriteString(" " + clean(s.Kind, 10))
	}
	if root && s.ParentID != "" {
		b.WriteString(" [orphan: parent " + clean(s.ParentID, 16) + " missing]")
	}
	var attrs []string
	for _, k := range keyAttrs {
		if v, ok := s.Attrs[k]; ok && v != "" {
			attrs = append(attrs, k+"="+clean(v, 80))
		}
	}
	if len(attrs) > 0 {
		b.WriteString(" " + strings.Join(attrs, " "))
	}
	if s.Error {
		b.WriteString(" ERROR")
		if m := exceptionOf(s); m != "" {
			fmt.Fprintf(&b, " %q", clean(m, 200))
		}
	}
	b.WriteByte('\n')
	return b.String()
}
