// Package traceapi is the sandbox's tracing backend: it turns every step
// of the world into the traces of its requests, keeps them in an embedded
// store behind an adaptive tail sampler, serves them through Jaeger's
// HTTP query API, and can send every trace to an OpenTelemetry collector
// over OTLP/HTTP.
//
// It imports world and internal/spans only; the sandbox wires it.
package traceapi

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Options configure a Recorder. The zero value is valid.
type Options struct {
	// Share is the head-sampling share of the simulated SDKs
	// (world.DefaultTraceShare when zero).
	Share float64
	// BaseRate is the tail sampler's share of unremarkable traces kept
	// (spans.DefaultBaseRate when zero).
	BaseRate float64
	// MaxAge is how long kept traces are held, in simulated time; at
	// least MinAge.
	MaxAge time.Duration
	// MaxBytes bounds the compressed traces held (64 MiB when zero).
	MaxBytes int64
	// Exporter, when set, is given every generated trace before
	// sampling: a collector samples for itself.
	Exporter Exporter
}

// MinAge is the shortest time a Recorder keeps traces.
const MinAge = time.Hour

// Exporter receives every generated trace. Export must not block: the
// simulation waits for it.
type Exporter interface {
	Export(traces []spans.Trace)
}

// Recorder generates the traces of each snapshot and keeps the sampled
// ones. Safe for concurrent use.
type Recorder struct {
	gen      *world.TraceGenerator
	store    *spans.Store
	exporter Exporter
	// now is the simulated time of the last snapshot recorded (Unix
	// nanoseconds). The store's clock reads it rather than the sandbox's,
	// which is locked while the world steps.
	now atomic.Int64
}

// New returns a Recorder for topo's snapshots.
func New(topo world.Topology, seed uint64, o Options) (*Recorder, error) {
	r := &Recorder{gen: world.NewTraceGenerator(topo, seed, world.TraceOptions{Share: o.Share}), exporter: o.Exporter}
	store, err := spans.NewStore(spans.StoreOptions{
		Sampler:  spans.NewSampler(spans.SamplerOptions{BaseRate: o.BaseRate}),
		MaxBytes: o.MaxBytes,
		MaxAge:   max(o.MaxAge, MinAge),
		Now:      r.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("traces: %w", err)
	}
	r.store = store
	return r, nil
}

// Now is the simulated time of the last snapshot recorded.
func (r *Recorder) Now() time.Time { return time.Unix(0, r.now.Load()).UTC() }

// Record generates the traces of s's step, gives them all to the
// exporter when export is true and offers them to the store, which keeps
// what its sampler chooses. Snapshots must come in order.
func (r *Recorder) Record(s *world.Snapshot, export bool) {
	if s == nil {
		return
	}
	r.now.Store(s.Time.UnixNano())
	traces := r.gen.Traces(s)
	if len(traces) == 0 {
		return
	}
	if export && r.exporter != nil {
		r.exporter.Export(traces)
	}
	r.store.Add(traces)
}

// Store returns the store of kept traces.
func (r *Recorder) Store() *spans.Store { return r.store }

// Stats is what /sandbox/v1/status shows of the traces.
type Stats struct {
	// Share is the head-sampling share of the simulated SDKs.
	Share float64 `json:"share"`
	// Seen and kept by the store's tail sampler.
	TracesSeen int64 `json:"traces_seen"`
	SpansSeen  int64 `json:"spans_seen"`
	TracesKept int64 `json:"traces_kept"`
	SpansKept  int64 `json:"spans_kept"`
	// RawBytes and CompressedBytes are of the traces held now.
	RawBytes        int64            `json:"raw_bytes"`
	CompressedBytes int64            `json:"compressed_bytes"`
	KeptBy          map[string]int64 `json:"kept_by"`
	// OTLP is the exporter's counts, when one is set.
	OTLP *ExportStats `json:"otlp,omitempty"`
}

// Stats returns the store's counts and, with an OTLPExporter, its own.
func (r *Recorder) Stats() Stats {
	st := r.store.Stats()
	out := Stats{Share: r.gen.Share(), TracesSeen: st.TracesSeen, SpansSeen: st.SpansSeen, TracesKept: st.TracesKept,
		SpansKept: st.SpansKept, RawBytes: st.RawBytes, CompressedBytes: st.CompressedBytes, KeptBy: map[string]int64{}}
	for k, v := range st.KeptBy {
		out.KeptBy[string(k)] = v
	}
	if e, ok := r.exporter.(*OTLPExporter); ok {
		es := e.Stats()
		out.OTLP = &es
	}
	return out
}
