package traces

import (
	"fmt"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// NamespaceAttr is the OpenTelemetry resource attribute naming the
// Kubernetes namespace a span's process runs in (set by the SDK's
// resource detectors or the collector's k8sattributes processor). The
// backends put resource attributes into spans.Span.Attrs, so it is read
// there.
const NamespaceAttr = "k8s.namespace.name"

// inNamespace returns t with only the spans of namespace ns, and how many
// spans it hid. A conversation limited to some namespaces must not see
// another namespace's spans, even within a trace it may read: a trace
// crosses namespaces whenever a service calls another team's. A span whose
// parent was hidden becomes a root, so that no ID of a hidden span is
// shown (as an orphan's missing parent) and the tree does not pretend the
// parent was lost. A span without the attribute is hidden: its namespace
// is unknown, and the limit fails closed.
func inNamespace(t spans.Trace, ns string) (spans.Trace, int) {
	hidden := map[string]bool{}
	kept := 0
	for _, s := range t.Spans {
		if s.Attrs[NamespaceAttr] == ns {
			kept++
		} else if s.SpanID != "" {
			hidden[s.SpanID] = true
		}
	}
	out := spans.Trace{ID: t.ID, Spans: make([]spans.Span, 0, kept)}
	for _, s := range t.Spans {
		if s.Attrs[NamespaceAttr] != ns {
			continue
		}
		if s.ParentID != "" && hidden[s.ParentID] {
			s.ParentID = ""
		}
		out.Spans = append(out.Spans, s)
	}
	return out, len(t.Spans) - kept
}

// hiddenNote says what a namespace limit left out, in numbers only: the
// names of what was hidden are not this conversation's to read.
func hiddenNote(ns string, spansHidden, tracesHidden int) string {
	if spansHidden == 0 {
		return ""
	}
	s := fmt.Sprintf("Limited to namespace %s: %d spans of other namespaces hidden", clean(ns, 63), spansHidden)
	if tracesHidden > 0 {
		s += fmt.Sprintf(", and %d traces with none in %s left out", tracesHidden, clean(ns, 63))
	}
	return s + ". A call into a hidden span shows its whole time on the caller's client span; a span called from a hidden one shows as a root."
}

// limitNamespace keeps, of ts, the spans of namespace ns (everything when
// ns is ""), dropping the traces left empty; it returns how many spans and
// traces it hid.
func limitNamespace(ts []spans.Trace, ns string) (kept []spans.Trace, spansHidden, tracesHidden int) {
	if ns == "" {
		return ts, 0, 0
	}
	kept = make([]spans.Trace, 0, len(ts))
	for _, t := range ts {
		in, hidden := inNamespace(t, ns)
		spansHidden += hidden
		if len(in.Spans) == 0 {
			tracesHidden++
			continue
		}
		kept = append(kept, in)
	}
	return kept, spansHidden, tracesHidden
}
