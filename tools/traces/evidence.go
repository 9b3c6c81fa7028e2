package traces

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Sampler keeps what matters of a window of traces, for keeping with an
// incident: the trace store forgets (Jaeger's in-memory store on restart,
// any store at its retention), and the traces an incident's thread cites
// should not go with it. It reads the window and the hour before it,
// learns the operations' baselines from the hour before, and runs the
// window through the adaptive tail sampler with a decision wait: every
// error trace, every slow one, every trace through an operation
// misbehaving, every new or rare path, and a share of the rest.
type Sampler struct {
	Backend Backend
	// Limit is the traces read per window (default 1,000; at most
	// MaxLimit).
	Limit int
	// Options tune the sampler.
	Options spans.SamplerOptions
	// Redact masks secrets in what is kept (attribute values, status and
	// event messages); nil keeps them as read. Kept traces outlive the
	// incident's thread, and anyone who exports them reads them.
	Redact func(string) string
}

// Sampled is what Sampler.Sample kept of a window.
type Sampled struct {
	Service, Namespace string
	Start, End         time.Time
	// Traces are the kept traces, oldest first.
	Traces []spans.Trace
	// Read and Spans count the window's traces and spans read (after the
	// namespace limit); Errors the traces with an error.
	Read, Spans, Errors   int
	KeptSpans, ErrorsKept int
	KeptBy                map[spans.Reason]int
	// Partial: the store returned Limit traces, so the window holds more.
	Partial bool
}

// Summary is one line on what was kept.
func (s Sampled) Summary() string {
	var why []string
	for _, r := range []spans.Reason{spans.ReasonError, spans.ReasonSlow, spans.ReasonAnomalous, spans.ReasonLate, spans.ReasonNewPath, spans.ReasonRarePath, spans.ReasonBase} {
		if n := s.KeptBy[r]; n > 0 {
			why = append(why, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(r), "_", " ")))
		}
	}
	out := fmt.Sprintf("%d of %d traces of %s (%d of %d spans), every one of the %d with an error", len(s.Traces), s.Read, s.Service, s.KeptSpans, s.Spans, s.Errors)
	if s.ErrorsKept < s.Errors {
		out = fmt.Sprintf("%d of %d traces of %s (%d of %d spans), %d of the %d with an error", len(s.Traces), s.Read, s.Service, s.KeptSpans, s.Spans, s.ErrorsKept, s.Errors)
	}
	if len(why) > 0 {
		out += ": " + strings.Join(why, ", ")
	}
	if s.Partial {
		out += " (the store returned its limit of traces: a sample of the window)"
	}
	return out
}

// Sample reads service's traces from start to end (limited to namespace
// ns when set) and keeps what the sampler chooses.
func (e Sampler) Sample(ctx context.Context, service, ns string, start, end time.Time) (Sampled, error) {
	if e.Backend == nil {
		return Sampled{}, errors.New("traces: no backend configured")
	}
	if service == "" || !end.After(start) {
		return Sampled{}, fmt.Errorf("traces: keeping traces needs a service and a window (got %q, %s to %s)", service, start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	limit := e.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, MaxLimit)
	q := spans.Query{Service: service, Start: start, End: end, Limit: limit}
	bq := q
	bq.Start, bq.End = start.Add(-time.Hour), start
	var cur, prev []spans.Trace
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { var err error; cur, err = e.Backend.Search(gctx, q); return err })
	g.Go(func() error { var err error; prev, err = e.Backend.Search(gctx, bq); return err })
	if err := g.Wait(); err != nil {
		return Sampled{}, fmt.Errorf("read the traces of %s: %w", service, err)
	}
	out := Sampled{Service: service, Namespace: ns, Start: start, End: end, Partial: len(cur) >= limit, KeptBy: map[spans.Reason]int{}}
	cur, _, _ = limitNamespace(cur, ns)
	prev, _, _ = limitNamespace(prev, ns)
	byStart(cur)
	byStart(prev)

	sampler := spans.NewSampler(e.Options)
	// The hour before teaches the sampler what normal is; its verdicts
	// are not wanted.
	for _, t := range prev {
		sampler.Decide(spans.Build(t))
	}
	w := spans.NewWaiter(sampler, 0)
	keep := func(vs []spans.Verdict) {
		for _, v := range vs {
			failed := v.Trace.HasError()
			if failed {
				out.Errors++
			}
			if !v.Decision.Keep {
				continue
			}
			if failed {
				out.ErrorsKept++
			}
			out.KeptBy[v.Decision.Reason]++
			out.KeptSpans += len(v.Trace.Spans)
			out.Traces = append(out.Traces, e.redact(v.Trace))
		}
	}
	for _, t := range cur {
		out.Read++
		out.Spans += len(t.Spans)
		keep(w.Offer(t))
	}
	keep(w.Flush())
	byStart(out.Traces)
	return out, nil
}

// redact returns a copy of t with secrets masked in its free text.
func (e Sampler) redact(t spans.Trace) spans.Trace {
	if e.Redact == nil {
		return t
	}
	out := spans.Trace{ID: t.ID, Spans: make([]spans.Span, len(t.Spans))}
	for i, s := range t.Spans {
		s.Status = e.Redact(s.Status)
		s.Attrs = e.redactAttrs(s.Attrs)
		if len(s.Events) > 0 {
			evs := make([]spans.Event, len(s.Events))
			for j, ev := range s.Events {
				ev.Attrs = e.redactAttrs(ev.Attrs)
				evs[j] = ev
			}
			s.Events = evs
		}
		out.Spans[i] = s
	}
	return out
}

func (e Sampler) redactAttrs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = e.Redact(v)
	}
	return out
}

// byStart orders traces by their earliest span, then ID.
func byStart(ts []spans.Trace) {
	first := make(map[string]time.Time, len(ts))
	for _, t := range ts {
		var m time.Time
		for _, s := range t.Spans {
			if m.IsZero() || s.Start.Before(m) {
				m = s.Start
			}
		}
		first[t.ID] = m
	}
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := first[ts[i].ID], first[ts[j].ID]
		if !a.Equal(b) {
			return a.Before(b)
		}
		return ts[i].ID < ts[j].ID
	})
}
