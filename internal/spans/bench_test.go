package spans

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSampler measures Build+Decide per trace on generated traffic
// (about 18 spans a trace) and reports spans/s on one goroutine.
func BenchmarkSampler(b *testing.B) {
	s := NewSampler(SamplerOptions{})
	benchSpans(b, func(t Trace) { s.Decide(Build(t)) })
}

// BenchmarkWaiter is BenchmarkSampler through a Waiter with the default
// decision wait: what the store and analyze sample run.
func BenchmarkWaiter(b *testing.B) {
	w := NewWaiter(NewSampler(SamplerOptions{}), 0)
	benchSpans(b, func(t Trace) { w.Offer(t) })
}

// benchSpans offers generated traces to judge, first 4,096 to warm the
// baselines (and fill a decision wait), then as many as the benchmark
// runs, and reports spans/s.
func benchSpans(b *testing.B, judge func(Trace)) {
	traces := newGen(7).traces(4096)
	for _, t := range traces {
		judge(t)
	}
	spans := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		t := traces[i%len(traces)]
		judge(t)
		spans += len(t.Spans)
	}
	b.ReportMetric(float64(spans)/time.Since(start).Seconds(), "spans/s")
}

// BenchmarkBuild10k assembles one trace of 10,000 spans.
func BenchmarkBuild10k(b *testing.B) {
	t := wideDeepTrace(10_000)
	b.ReportAllocs()
	for b.Loop() {
		tr := Build(t)
		_ = tr.Path()
	}
}

// BenchmarkStoreAdd adds batches of 100 generated traces to a store with
// the default sampler.
func BenchmarkStoreAdd(b *testing.B) {
	g := newGen(9)
	batches := make([][]Trace, 64)
	spans := 0
	for i := range batches {
		batches[i] = g.traces(100)
	}
	st, err := NewStore(StoreOptions{Sampler: NewSampler(SamplerOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		bt := batches[i%len(batches)]
		st.Add(bt)
		for _, t := range bt {
			spans += len(t.Spans)
		}
	}
	b.ReportMetric(float64(spans)/time.Since(start).Seconds(), "spans/s")
}

// wideDeepTrace is n spans: a root, a chain of depth n/10 and the rest
// fanned out under the chain's spans.
func wideDeepTrace(n int) Trace {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t := Trace{ID: "big"}
	for i := range n {
		s := Span{TraceID: "big", SpanID: fmt.Sprintf("%016x", i+1), Service: fmt.Sprintf("svc%d", i%7), Name: fmt.Sprintf("op%d", i%13),
			Start: base.Add(time.Duration(i) * time.Microsecond), Duration: time.Duration(n-i) * time.Microsecond}
		switch {
		case i == 0:
		case i < n/10:
			s.ParentID = fmt.Sprintf("%016x", i) // the chain
		default:
			s.ParentID = fmt.Sprintf("%016x", 1+i%(n/10))
		}
		t.Spans = append(t.Spans, s)
	}
	return t
}
