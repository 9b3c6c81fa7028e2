package rca

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Span-derived series. A case with spans (spans.jsonl, or traces fetched
// by rca_rank) gains, per service and per sampling interval, what only
// traces can tell apart:
//
//   - span_self_time_p50_seconds: the median self time of the service's
//     spans (their duration less what their children cover). A service
//     that waits for a slow callee keeps its self time; one that is slow
//     itself does not. Read as "self time", a resource of the service:
//     no callee explains it.
//   - <callee>/span_client_network_p50_seconds: the median of what the
//     service's calls to callee spent outside callee's own span (the
//     client span less the server span): the wire, queues, retries. It is
//     client latency, so the call graph shares it between the caller and
//     the callee as it does metrics' client latency (graph.go): a delay
//     on one edge stays with the caller that owns it; a delay at a
//     callee's pods, seen by all its callers, goes to the callee.
//   - span_own_errors_pct: the share of the service's spans whose failure
//     began in it (no failing child); a call nobody answered counts for
//     the callee it was meant for.
//
// The names follow the kind table's words (kinds.go), so the scoring is
// the one every metric gets: noise from the lead-in, floors by kind,
// sustained moves.
const (
	spanSelfMetric    = "span_self_time_p50_seconds"
	spanNetworkMetric = "span_client_network_p50_seconds"
	spanErrorsMetric  = "span_own_errors_pct"
)

// minSpansPerInterval is the fewest spans an interval's median or share
// is taken from; sparser intervals are left out rather than reported as
// noise.
const minSpansPerInterval = 3

// readSpans loads spans.jsonl from a case folder; a missing file is no
// spans.
func readSpans(dir string) ([]spans.Span, error) {
	f, err := os.Open(filepath.Join(dir, "spans.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeSpans(f)
}

// maxCaseSpans bounds what a case may bring: past it the ranking would
// hold more than a few hundred megabytes for one case.
const maxCaseSpans = 2_000_000

func decodeSpans(r io.Reader) ([]spans.Span, error) {
	var out []spans.Span
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), spans.MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(out) >= maxCaseSpans {
			return nil, fmt.Errorf("more than %d spans; sample the case's traces first (watchkeeper analyze sample)", maxCaseSpans)
		}
		// The ranking reads a few fields of each span: decoding into them
		// alone skips the attributes and events it does not use, which
		// is most of a line.
		var v struct {
			TraceID    string    `json:"trace_id"`
			SpanID     string    `json:"span_id"`
			ParentID   string    `json:"parent_span_id"`
			Service    string    `json:"service"`
			Name       string    `json:"name"`
			Kind       string    `json:"kind"`
			Start      time.Time `json:"start"`
			DurationUS int64     `json:"duration_us"`
			Error      bool      `json:"error"`
			Attrs      struct {
				PeerService   string `json:"peer.service"`
				ServerAddress string `json:"server.address"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("line %d: not a span: %w", line, err)
		}
		if v.TraceID == "" || v.SpanID == "" {
			return nil, fmt.Errorf("line %d: a span needs trace_id and span_id", line)
		}
		s := spans.Span{TraceID: v.TraceID, SpanID: v.SpanID, ParentID: v.ParentID, Service: v.Service, Name: v.Name,
			Kind: v.Kind, Start: v.Start, Duration: time.Duration(max(v.DurationUS, 0)) * time.Microsecond, Error: v.Error}
		if v.Attrs.PeerService != "" || v.Attrs.ServerAddress != "" {
			s.Attrs = map[string]string{}
			if v.Attrs.PeerService != "" {
				s.Attrs["peer.service"] = v.Attrs.PeerService
			}
			if v.Attrs.ServerAddress != "" {
				s.Attrs["server.address"] = v.Attrs.ServerAddress
			}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// attrsForRanking keeps the attributes that name a call's callee.
func attrsForRanking(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	var out map[string]string
	for _, k := range []string{"peer.service", "server.address"} {
		if v, ok := a[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// withSpans returns a copy of c whose metrics include the span-derived
// series and whose call graph includes the calls the traces show. c is
// not changed.
func (c *Case) withSpans() *Case {
	if len(c.Spans) == 0 {
		return c
	}
	cp := *c
	cp.Metrics = make(map[string]map[string][]Sample, len(c.Metrics))
	for s, m := range c.Metrics {
		cp.Metrics[s] = m
	}
	step := samplingStep(c)
	if len(c.Metrics) == 0 {
		step = time.Minute
	}
	t0 := spanGridStart(c)
	type key struct{ service, metric string }
	vals := map[key]map[int64][]float64{}
	allowed := func(service string) bool { return c.spanScope == nil || c.spanScope[service] }
	add := func(service, metric string, at time.Time, v float64) {
		if !allowed(service) {
			return
		}
		k := key{service, metric}
		bin := int64(math.Floor(at.Sub(t0).Seconds() / step.Seconds()))
		if vals[k] == nil {
			vals[k] = map[int64][]float64{}
		}
		vals[k][bin] = append(vals[k][bin], v)
	}
	edges := map[[2]string]bool{}
	for _, e := range c.Edges {
		edges[e] = true
	}
	for _, t := range spans.Group(c.Spans) {
		tr := spans.Build(t)
		for i, s := range tr.Spans {
			svc := s.ServiceName()
			if s.Kind != spans.KindClient && s.Kind != spans.KindProducer {
				add(svc, spanSelfMetric, s.Start, tr.SelfTime(i).Seconds())
			}
			failedChild := false
			for _, ch := range tr.Children[i] {
				failedChild = failedChild || tr.Spans[ch].Error
			}
			owner := svc
			if (s.Kind == spans.KindClient || s.Kind == spans.KindProducer) && len(tr.Children[i]) == 0 {
				// Nobody answered: the failure is the callee's (down,
				// unreachable), as its callers' logs would say.
				if callee := calleeOf(s); callee != "" && allowed(callee) {
					owner = callee
				}
			}
			if s.Kind != spans.KindClient && s.Kind != spans.KindProducer || owner != svc {
				own := 0.0
				if s.Error && !failedChild {
					own = 100
				}
				add(owner, spanErrorsMetric, s.Start, own)
			}
		}
		for _, e := range tr.Edges() {
			if e.Callee == spans.UnknownService || e.Callee == e.Caller || !allowed(e.Caller) || !allowed(e.Callee) {
				continue
			}
			edges[[2]string{e.Caller, e.Callee}] = true
			if e.Server > 0 {
				add(e.Caller, e.Callee+"/"+spanNetworkMetric, tr.Spans[e.Span].Start, e.Network.Seconds())
			}
		}
	}
	for k, bins := range vals {
		series := make([]Sample, 0, len(bins))
		for bin, v := range bins {
			if len(v) < minSpansPerInterval {
				continue
			}
			var x float64
			if k.metric == spanErrorsMetric {
				for _, e := range v {
					x += e
				}
				x /= float64(len(v))
			} else {
				x = medianInPlace(v)
			}
			series = append(series, Sample{T: t0.Add(time.Duration(bin) * step), V: x})
		}
		if len(series) < 2 {
			continue
		}
		sort.Slice(series, func(i, j int) bool { return series[i].T.Before(series[j].T) })
		m := cp.Metrics[k.service]
		cp.Metrics[k.service] = make(map[string][]Sample, len(m)+3)
		for name, s := range m {
			cp.Metrics[k.service][name] = s
		}
		cp.Metrics[k.service][k.metric] = series
	}
	cp.Edges = nil
	for e := range edges {
		cp.Edges = append(cp.Edges, e)
	}
	sort.Slice(cp.Edges, func(i, j int) bool {
		if cp.Edges[i][0] != cp.Edges[j][0] {
			return cp.Edges[i][0] < cp.Edges[j][0]
		}
		return cp.Edges[i][1] < cp.Edges[j][1]
	})
	return &cp
}

// calleeOf is the service a client span called, from its attributes.
func calleeOf(s spans.Span) string {
	if v := s.Attrs["peer.service"]; v != "" {
		return v
	}
	return s.Attrs["server.address"]
}

// spanGridStart aligns the span intervals with the metrics' samples (a
// sample is stamped at the start of its interval), or with the first span
// when the case has no metrics.
func spanGridStart(c *Case) time.Time {
	var first time.Time
	for _, m := range c.Metrics {
		for _, s := range m {
			if len(s) > 0 && (first.IsZero() || s[0].T.Before(first)) {
				first = s[0].T
			}
		}
	}
	if first.IsZero() {
		for _, s := range c.Spans {
			if first.IsZero() || s.Start.Before(first) {
				first = s.Start
			}
		}
	}
	return first
}
