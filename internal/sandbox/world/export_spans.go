package world

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// MaxCaseSpans bounds the spans of an exported case. A case's traces are
// drawn at DefaultTraceShare unless that would exceed it at the system's
// peak traffic; the share is then lowered for the whole case, so a long
// window or a large generated system gives fewer traces, not a bigger
// file (about 10 MB at most). Measured on the generated RCA suite, half
// of it (25,000) thins the quiet calls' per-minute medians enough to
// cost accuracy (Avg@5 0.965 → 0.949).
const MaxCaseSpans = 50_000

// caseTraces collects the spans of a case window. A nil *caseTraces
// collects nothing.
type caseTraces struct {
	gen        *TraceGenerator
	start, end time.Time
	spans      []spans.Span
}

// newCaseTraces returns the collector of spans in [start, end).
func newCaseTraces(topo Topology, seed uint64, start, end time.Time) *caseTraces {
	share := CaseTraceShare(topo, end.Sub(start))
	return &caseTraces{gen: NewTraceGenerator(topo, seed, TraceOptions{Share: share}), start: start, end: end}
}

// CaseTraceShare is the head-sampling share of a case over window on topo:
// DefaultTraceShare, lowered so that the peak traffic would give at most
// MaxCaseSpans spans.
func CaseTraceShare(topo Topology, window time.Duration) float64 {
	expected := topo.PeakRPS * window.Seconds() * SpansPerRequest(topo)
	if expected <= 0 {
		return DefaultTraceShare
	}
	return math.Min(DefaultTraceShare, MaxCaseSpans/expected)
}

// SpansPerRequest is the mean number of spans of one request to topo's
// entry service: a server span per visit and a client span per call.
func SpansPerRequest(topo Topology) float64 {
	order, err := topoOrder(topo)
	if err != nil {
		return 1
	}
	index := map[string]int{}
	for i, s := range topo.Services {
		index[s.Name] = i
	}
	per := make([]float64, len(topo.Services))
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		per[i] = 1
		for _, e := range topo.Edges {
			if e.From == topo.Services[i].Name {
				per[i] += e.Ratio * (1 + per[index[e.To]])
			}
		}
	}
	return per[index[topo.Entry]]
}

// add keeps the traces of a step within the window: the step's 15 s,
// which end at s.Time, must lie in [start, end).
func (c *caseTraces) add(s *Snapshot) {
	if c == nil || s.Time.Add(-Step).Before(c.start) || s.Time.After(c.end) {
		return
	}
	for _, t := range c.gen.Traces(s) {
		c.spans = append(c.spans, t.Spans...)
	}
}

// write writes the spans as spans.jsonl, one trace after another.
func (c *caseTraces) write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	// A case carries the attributes analyses read — who was called, the
	// namespace, how a call failed — not every semantic-convention
	// attribute the Jaeger API and OTLP export carry: that would treble
	// the file for nothing a case is used for.
	for i := range c.spans {
		c.spans[i].Attrs = caseAttrs(c.spans[i].Attrs)
	}
	err = spans.WriteJSONL(bw, c.spans)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// caseAttrKeys are the attributes an exported case keeps.
var caseAttrKeys = []string{"peer.service", "server.address", "k8s.namespace.name", "http.response.status_code", "error.type"}

func caseAttrs(a map[string]string) map[string]string {
	var out map[string]string
	for _, k := range caseAttrKeys {
		if v, ok := a[k]; ok {
			if out == nil {
				out = make(map[string]string, 3)
			}
			out[k] = v
		}
	}
	return out
}
