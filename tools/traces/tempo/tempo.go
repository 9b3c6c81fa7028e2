// Package tempo is a trace backend for Grafana Tempo's HTTP API, written
// from its documentation (Tempo is AGPL-licensed; none of its code is
// imported): /api/search with logfmt tags, /api/traces/{id} in OTLP JSON,
// /api/search/tag/service.name/values. Tempo's search answers with trace
// summaries, so Search fetches each trace by ID, a few at a time.
//
// Tempo matches a tag against span and resource (process) attributes
// alike, its value as a case-insensitive substring: a search is a
// pre-filter, and callers check the spans they get (traces_search does).
// Resource attributes other than service.name become attributes of every
// span of the resource, so k8s.namespace.name is visible on the spans.
package tempo

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// Config configures the backend.
type Config struct {
	// URL is Tempo's HTTP API (http://tempo:3200), or a gateway's.
	URL        string
	HTTPClient *http.Client
	// Tenant is sent as X-Scope-OrgID for multi-tenant Tempo.
	Tenant string
	// LinkURL is a Grafana base URL and Datasource its Tempo data source
	// UID; when both are set, traces link to Grafana Explore.
	LinkURL, Datasource string
	// Concurrency is how many traces are fetched at once (default 8).
	Concurrency int
	// MaxSpans stops a search's fetching once this many spans arrived
	// (default 200,000), so memory stays bounded whatever the limit; the
	// caller sees fewer traces than it asked for.
	MaxSpans int
}

// Backend reads Tempo. It is safe for concurrent use.
type Backend struct {
	api traces.HTTPAPI
	cfg Config
}

// New returns a backend for cfg; it fails on a URL that is not http(s).
func New(cfg Config) (*Backend, error) {
	api, err := traces.NewHTTPAPI("tempo", "Tempo", cfg.URL, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	if cfg.Tenant != "" {
		api.Headers = map[string]string{"X-Scope-OrgID": cfg.Tenant}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.MaxSpans <= 0 {
		cfg.MaxSpans = 200_000
	}
	return &Backend{api: api, cfg: cfg}, nil
}

// Name implements traces.Backend.
func (b *Backend) Name() string { return "tempo" }

// Link implements traces.Backend: the trace in Grafana Explore, when a
// Grafana is configured.
func (b *Backend) Link(traceID string) string {
	if b.cfg.LinkURL == "" || b.cfg.Datasource == "" || traceID == "" {
		return ""
	}
	ds := map[string]string{"type": "tempo", "uid": b.cfg.Datasource}
	pane := map[string]any{"a": map[string]any{
		"datasource": b.cfg.Datasource,
		"queries":    []any{map[string]any{"refId": "A", "queryType": "traceql", "query": traceID, "datasource": ds}},
		"range":      map[string]string{"from": "now-24h", "to": "now"},
	}}
	raw, _ := json.Marshal(pane)
	return strings.TrimRight(b.cfg.LinkURL, "/") + "/explore?schemaVersion=1&orgId=1&panes=" + url.QueryEscape(string(raw))
}

// Services implements traces.Backend.
func (b *Backend) Services(ctx context.Context) ([]string, error) {
	body, err := b.api.Get(ctx, "/api/search/tag/service.name/values", nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		TagValues json.RawMessage `json:"tagValues"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, b.api.Garbage("tag values", err)
	}
	// v1 answers strings; v2 answers {type, value} objects.
	var names []string
	if json.Unmarshal(r.TagValues, &names) == nil {
		return names, nil
	}
	var typed []struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(r.TagValues, &typed); err != nil {
		return nil, b.api.Garbage("tag values", err)
	}
	for _, v := range typed {
		names = append(names, v.Value)
	}
	return names, nil
}

// Tags is q's filter in Tempo's logfmt tag syntax: service.name, name
// (the span name) and q.Tags. Keys are unscoped, as the tags parameter
// documents them ("span-level or process-level attributes"):
// k8s.namespace.name matches the resource attribute; a scoped name such
// as resource.k8s.namespace.name is TraceQL's syntax, not the tags'.
func Tags(q spans.Query) string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+strconv.Quote(v)) }
	if q.Service != "" {
		add("service.name", q.Service)
	}
	if q.Operation != "" {
		add("name", q.Operation)
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, q.Tags[k])
	}
	// ErrorsOnly is not pushed down: Tempo's status=error would have to
	// hold on the span that matches service.name, while an error anywhere
	// in the trace counts (spans.Query). Search filters after fetching.
	return strings.Join(parts, " ")
}

// summary is one trace of a search answer.
type summary struct {
	TraceID           string `json:"traceID"`
	RootServiceName   string `json:"rootServiceName"`
	RootTraceName     string `json:"rootTraceName"`
	StartTimeUnixNano string `json:"startTimeUnixNano"`
	DurationMs        int64  `json:"durationMs"`
}

// Search implements traces.Backend: /api/search, then each trace by ID.
func (b *Backend) Search(ctx context.Context, q spans.Query) ([]spans.Trace, error) {
	v := url.Values{}
	if tags := Tags(q); tags != "" {
		v.Set("tags", tags)
	}
	if q.MinDuration > 0 {
		v.Set("minDuration", q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		v.Set("maxDuration", q.MaxDuration.String())
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if !q.Start.IsZero() && !q.End.IsZero() {
		// Tempo takes whole seconds; widen rather than lose an edge.
		v.Set("start", strconv.FormatInt(q.Start.Unix(), 10))
		end := q.End.Unix()
		if q.End.Nanosecond() > 0 || end <= q.Start.Unix() {
			end++
		}
		v.Set("end", strconv.FormatInt(end, 10))
	}
	body, err := b.api.Get(ctx, "/api/search", v)
	if err != nil {
		return nil, err
	}
	var r struct {
		Traces []summary `json:"traces"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, b.api.Garbage("search answer", err)
	}
	ids := make([]string, 0, len(r.Traces))
	seen := map[string]bool{}
	for _, s := range r.Traces {
		id, err := normID(s.TraceID, 16)
		if err != nil || id == "" || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if q.Limit > 0 && len(ids) > q.Limit {
		ids = ids[:q.Limit]
	}
	out := make([]spans.Trace, len(ids))
	var read atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.cfg.Concurrency)
	for i, id := range ids {
		if read.Load() > int64(b.cfg.MaxSpans) {
			break // enough to answer; the rest would only cost memory
		}
		g.Go(func() error {
			if read.Load() > int64(b.cfg.MaxSpans) {
				return nil
			}
			t, err := b.Trace(gctx, id)
			if errors.Is(err, traces.ErrNotFound) {
				return nil // gone between the search and the fetch
			}
			read.Add(int64(len(t.Spans)))
			out[i] = t
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, t := range out {
		if len(t.Spans) > 0 && (!q.ErrorsOnly || t.HasError()) {
			kept = append(kept, t)
		}
	}
	return kept, nil
}

// Trace implements traces.Backend with /api/traces/{id}.
func (b *Backend) Trace(ctx context.Context, id string) (spans.Trace, error) {
	body, err := b.api.Get(ctx, "/api/traces/"+url.PathEscape(id), nil)
	if traces.NotFound(err) {
		return spans.Trace{}, fmt.Errorf("tempo: %s: %w", id, traces.ErrNotFound)
	}
	if err != nil {
		return spans.Trace{}, err
	}
	t, err := Decode(body)
	if err != nil {
		return spans.Trace{}, b.api.Garbage("trace", err)
	}
	if t.ID == "" {
		t.ID = id
	}
	if len(t.Spans) == 0 {
		return spans.Trace{}, fmt.Errorf("tempo: %s: %w", id, traces.ErrNotFound)
	}
	return t, nil
}

// OTLP JSON, as Tempo's /api/traces/{id} answers (v1: batches; v2:
// trace.resourceSpans; old versions: instrumentationLibrarySpans).
type (
	otlpTrace struct {
		Batches       []resourceSpans `json:"batches"`
		ResourceSpans []resourceSpans `json:"resourceSpans"`
		Trace         *struct {
			ResourceSpans []resourceSpans `json:"resourceSpans"`
		} `json:"trace"`
	}
	resourceSpans struct {
		Resource struct {
			Attributes []keyValue `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
		ILS        []scopeSpans `json:"instrumentationLibrarySpans"`
	}
	scopeSpans struct {
		Spans []otlpSpan `json:"spans"`
	}
	otlpSpan struct {
		TraceID           string          `json:"traceId"`
		SpanID            string          `json:"spanId"`
		ParentSpanID      string          `json:"parentSpanId"`
		Name              string          `json:"name"`
		Kind              json.RawMessage `json:"kind"`
		StartTimeUnixNano json.RawMessage `json:"startTimeUnixNano"`
		EndTimeUnixNano   json.RawMessage `json:"endTimeUnixNano"`
		Attributes        []keyValue      `json:"attributes"`
		Status            struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"status"`
		Events []struct {
			TimeUnixNano json.RawMessage `json:"timeUnixNano"`
			Name         string          `json:"name"`
			Attributes   []keyValue      `json:"attributes"`
		} `json:"events"`
	}
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	anyValue struct {
		StringValue *string         `json:"stringValue"`
		BoolValue   *bool           `json:"boolValue"`
		IntValue    json.RawMessage `json:"intValue"`
		DoubleValue *float64        `json:"doubleValue"`
		BytesValue  *string         `json:"bytesValue"`
		ArrayValue  *struct {
			Values []anyValue `json:"values"`
		} `json:"arrayValue"`
	}
)

// Decode reads one trace in OTLP JSON. Trace and span IDs may be base64
// (OTLP's protobuf JSON mapping, which Tempo uses) or hex.
func Decode(body []byte) (spans.Trace, error) {
	var ot otlpTrace
	if err := json.Unmarshal(body, &ot); err != nil {
		return spans.Trace{}, err
	}
	rss := append(ot.Batches, ot.ResourceSpans...)
	if ot.Trace != nil {
		rss = append(rss, ot.Trace.ResourceSpans...)
	}
	var t spans.Trace
	for _, rs := range rss {
		service := ""
		var resource map[string]string
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				service = kv.Value.String()
				continue
			}
			if resource == nil {
				resource = map[string]string{}
			}
			resource[kv.Key] = kv.Value.String()
		}
		for _, ss := range append(rs.ScopeSpans, rs.ILS...) {
			for _, os := range ss.Spans {
				s, err := convert(os, service, resource)
				if err != nil {
					return spans.Trace{}, err
				}
				if t.ID == "" {
					t.ID = s.TraceID
				}
				t.Spans = append(t.Spans, s)
			}
		}
	}
	return t, nil
}

// convert reads one span of the service whose other resource attributes
// (k8s.namespace.name, host.name, …) are resource: they become attributes
// of the span, as Tempo's search matches them, unless the span has an
// attribute of the same key.
func convert(os otlpSpan, service string, resource map[string]string) (spans.Span, error) {
	var err error
	s := spans.Span{Service: service, Name: os.Name}
	if s.TraceID, err = normID(os.TraceID, 16); err != nil {
		return s, fmt.Errorf("span %q: traceId: %w", os.Name, err)
	}
	if s.SpanID, err = normID(os.SpanID, 8); err != nil {
		return s, fmt.Errorf("span %q: spanId: %w", os.Name, err)
	}
	if s.ParentID, err = normID(os.ParentSpanID, 8); err != nil {
		return s, fmt.Errorf("span %q: parentSpanId: %w", os.Name, err)
	}
	start, err := nanos(os.StartTimeUnixNano)
	if err != nil {
		return s, fmt.Errorf("span %q: startTimeUnixNano: %w", os.Name, err)
	}
	end, err := nanos(os.EndTimeUnixNano)
	if err != nil {
		return s, fmt.Errorf("span %q: endTimeUnixNano: %w", os.Name, err)
	}
	s.Start = time.Unix(0, start).UTC()
	s.Duration = time.Duration(max(end-start, 0))
	s.Kind = kind(os.Kind)
	if code := enum(os.Status.Code); code == "STATUS_CODE_ERROR" || code == "2" {
		s.Error, s.Status = true, os.Status.Message
	}
	if len(resource) > 0 {
		s.Attrs = make(map[string]string, len(resource)+len(os.Attributes))
		for k, v := range resource {
			s.Attrs[k] = v
		}
	}
	for _, kv := range os.Attributes {
		if s.Attrs == nil {
			s.Attrs = map[string]string{}
		}
		s.Attrs[kv.Key] = kv.Value.String()
	}
	for _, e := range os.Events {
		ns, _ := nanos(e.TimeUnixNano)
		ev := spans.Event{Time: time.Unix(0, ns).UTC(), Name: e.Name}
		for _, kv := range e.Attributes {
			if ev.Attrs == nil {
				ev.Attrs = map[string]string{}
			}
			ev.Attrs[kv.Key] = kv.Value.String()
		}
		s.Events = append(s.Events, ev)
	}
	return s, nil
}

// normID reads an ID of n bytes written in hex or base64 as lower-case
// hex; empty and all-zero IDs are "".
func normID(id string, n int) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", nil
	}
	var raw []byte
	if isHex(id) && len(id) <= 2*n {
		// Tempo's search writes hex without leading zeros.
		raw, _ = hex.DecodeString(strings.Repeat("0", 2*n-len(id)) + id)
	} else if b, err := base64.StdEncoding.DecodeString(id); err == nil && len(b) <= n {
		raw = b
	} else if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "=")); err == nil && len(b) <= n {
		raw = b
	} else {
		return "", fmt.Errorf("%q is neither hex nor base64 of %d bytes", id, n)
	}
	if len(raw) < n { // Tempo drops leading zero bytes of hex IDs
		raw = append(make([]byte, n-len(raw)), raw...)
	}
	out := hex.EncodeToString(raw)
	if strings.Trim(out, "0") == "" {
		return "", nil
	}
	return out, nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}

// nanos reads a Unix nanosecond time written as a string or a number.
func nanos(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("missing")
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	return strconv.ParseInt(s, 10, 64)
}

// enum reads an OTLP enum written as its name or its number.
func enum(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// kind maps SPAN_KIND_SERVER (or 2) to spans.KindServer.
func kind(raw json.RawMessage) string {
	switch enum(raw) {
	case "SPAN_KIND_SERVER", "2":
		return spans.KindServer
	case "SPAN_KIND_CLIENT", "3":
		return spans.KindClient
	case "SPAN_KIND_PRODUCER", "4":
		return spans.KindProducer
	case "SPAN_KIND_CONSUMER", "5":
		return spans.KindConsumer
	case "SPAN_KIND_INTERNAL", "1":
		return spans.KindInternal
	}
	return ""
}

// String renders an attribute value as text.
func (v anyValue) String() string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return strconv.FormatBool(*v.BoolValue)
	case len(v.IntValue) > 0:
		return enum(v.IntValue)
	case v.DoubleValue != nil:
		return strconv.FormatFloat(*v.DoubleValue, 'g', -1, 64)
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		var parts []string
		for _, x := range v.ArrayValue.Values {
			parts = append(parts, x.String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return ""
}
