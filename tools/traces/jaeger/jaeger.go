// Package jaeger is a trace backend for Jaeger's HTTP query API (the one
// its UI uses: /api/services, /api/traces, /api/traces/{id}), which the
// sandbox also serves. Jaeger's JSON is decoded into spans.Span: span
// references become parents, tags attributes (span.kind, error and
// otel.status_code give kind and status), the process's tags attributes
// too (where OpenTelemetry's resource attributes, k8s.namespace.name
// among them, arrive), logs events.
package jaeger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
	"github.com/watchkeeper/watchkeeper/tools/traces"
)

// Config configures the backend.
type Config struct {
	// URL is Jaeger's query service (http://jaeger-query:16686), with its
	// base path when it has one.
	URL        string
	HTTPClient *http.Client
	// UIURL is where trace links point (default URL: the query service
	// serves the UI); "none" turns links off.
	UIURL string
}

// Backend reads Jaeger. It is safe for concurrent use.
type Backend struct {
	api traces.HTTPAPI
	ui  string
}

// New returns a backend for cfg; it fails on a URL that is not http(s).
func New(cfg Config) (*Backend, error) {
	api, err := traces.NewHTTPAPI("jaeger", "Jaeger", cfg.URL, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	ui := strings.TrimRight(cfg.UIURL, "/")
	if ui == "" {
		// The query URL may carry credentials (user:pass@): links are
		// shown to the model and in Slack, so they never do.
		base := *api.Base
		base.User = nil
		ui = strings.TrimRight(base.String(), "/")
	}
	if ui == "none" {
		ui = ""
	}
	return &Backend{api: api, ui: ui}, nil
}

// Name implements traces.Backend.
func (b *Backend) Name() string { return "jaeger" }

// Link implements traces.Backend: the trace in Jaeger's UI.
func (b *Backend) Link(traceID string) string {
	if b.ui == "" || traceID == "" {
		return ""
	}
	return b.ui + "/trace/" + url.PathEscape(traceID)
}

// Services implements traces.Backend.
func (b *Backend) Services(ctx context.Context) ([]string, error) {
	body, err := b.get(ctx, "/api/services", nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		Data   []string   `json:"data"`
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, b.api.Garbage("service list", err)
	}
	if err := b.errorsOf(r.Errors); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Search implements traces.Backend with /api/traces. Jaeger requires a
// service; it matches the operation, tags and durations on one span.
func (b *Backend) Search(ctx context.Context, q spans.Query) ([]spans.Trace, error) {
	if q.Service == "" {
		return nil, &traces.QueryError{Backend: "jaeger", Message: "Jaeger searches one service at a time: give a service"}
	}
	v := url.Values{}
	v.Set("service", q.Service)
	if q.Operation != "" {
		v.Set("operation", q.Operation)
	}
	tags := map[string]string{}
	for k, val := range q.Tags {
		tags[k] = val
	}
	if len(tags) > 0 {
		raw, _ := json.Marshal(tags)
		v.Set("tags", string(raw))
	}
	if q.MinDuration > 0 {
		v.Set("minDuration", q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		v.Set("maxDuration", q.MaxDuration.String())
	}
	if !q.Start.IsZero() {
		v.Set("start", strconv.FormatInt(q.Start.UnixMicro(), 10))
	}
	if !q.End.IsZero() {
		v.Set("end", strconv.FormatInt(q.End.UnixMicro(), 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	body, err := b.get(ctx, "/api/traces", v)
	if err != nil {
		return nil, err
	}
	ts, err := b.decode(body)
	if err != nil {
		return nil, err
	}
	if q.ErrorsOnly {
		// Jaeger's error tag matches the one span; errors anywhere in the
		// trace count, so this is filtered here.
		kept := ts[:0]
		for _, t := range ts {
			if t.HasError() {
				kept = append(kept, t)
			}
		}
		ts = kept
	}
	return ts, nil
}

// Trace implements traces.Backend with /api/traces/{id}.
func (b *Backend) Trace(ctx context.Context, id string) (spans.Trace, error) {
	body, err := b.get(ctx, "/api/traces/"+url.PathEscape(id), nil)
	if traces.NotFound(err) {
		return spans.Trace{}, fmt.Errorf("jaeger: %s: %w", id, traces.ErrNotFound)
	}
	if err != nil {
		return spans.Trace{}, err
	}
	ts, err := b.decode(body)
	if err != nil {
		return spans.Trace{}, err
	}
	if len(ts) == 0 {
		return spans.Trace{}, fmt.Errorf("jaeger: %s: %w", id, traces.ErrNotFound)
	}
	return ts[0], nil
}

// get reads one API path. Jaeger answers errors as {"errors":[…]} with
// the status code; a 400's message becomes a QueryError in Jaeger's words.
func (b *Backend) get(ctx context.Context, path string, v url.Values) ([]byte, error) {
	body, err := b.api.Get(ctx, path, v)
	var se *traces.StatusError
	if errors.As(err, &se) {
		var r struct {
			Errors []apiError `json:"errors"`
		}
		if json.Unmarshal([]byte(se.Body), &r) == nil && len(r.Errors) > 0 {
			msg := r.Errors[0].Msg
			if se.Code == http.StatusBadRequest {
				return nil, &traces.QueryError{Backend: "jaeger", Message: msg}
			}
			if se.Code == http.StatusNotFound && strings.Contains(path, "/api/traces/") {
				return nil, se
			}
			return nil, fmt.Errorf("%w (Jaeger: %s)", se, msg)
		}
	}
	return body, err
}

type apiError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func (b *Backend) errorsOf(errs []apiError) error {
	if len(errs) == 0 {
		return nil
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Msg)
	}
	return &traces.QueryError{Backend: "jaeger", Message: strings.Join(msgs, "; ")}
}

// Jaeger's JSON model (model/json in Jaeger's repository, as served by
// the query service).
type (
	response struct {
		Data   []trace    `json:"data"`
		Errors []apiError `json:"errors"`
	}
	trace struct {
		TraceID   string             `json:"traceID"`
		Spans     []span             `json:"spans"`
		Processes map[string]process `json:"processes"`
	}
	process struct {
		ServiceName string     `json:"serviceName"`
		Tags        []keyValue `json:"tags"`
	}
	span struct {
		TraceID       string      `json:"traceID"`
		SpanID        string      `json:"spanID"`
		ParentSpanID  string      `json:"parentSpanID"` // old Jaeger versions
		OperationName string      `json:"operationName"`
		References    []reference `json:"references"`
		StartTime     int64       `json:"startTime"` // µs since the epoch
		Duration      int64       `json:"duration"`  // µs
		Tags          []keyValue  `json:"tags"`
		Logs          []logEntry  `json:"logs"`
		ProcessID     string      `json:"processID"`
		Process       *process    `json:"process"`
	}
	reference struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	keyValue struct {
		Key   string          `json:"key"`
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	logEntry struct {
		Timestamp int64      `json:"timestamp"`
		Fields    []keyValue `json:"fields"`
	}
)

func (b *Backend) decode(body []byte) ([]spans.Trace, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, b.api.Garbage("answer", err)
	}
	if err := b.errorsOf(r.Errors); err != nil && len(r.Data) == 0 {
		return nil, err
	}
	out := make([]spans.Trace, 0, len(r.Data))
	for _, t := range r.Data {
		out = append(out, convert(t))
	}
	return out, nil
}

// convert turns one Jaeger trace into spans.
func convert(t trace) spans.Trace {
	out := spans.Trace{ID: normID(t.TraceID), Spans: make([]spans.Span, 0, len(t.Spans))}
	for _, js := range t.Spans {
		s := spans.Span{TraceID: normID(js.TraceID), SpanID: normID(js.SpanID), Name: js.OperationName,
			Start: time.UnixMicro(js.StartTime).UTC(), Duration: time.Duration(max(js.Duration, 0)) * time.Microsecond}
		if s.TraceID == "" {
			s.TraceID = out.ID
		}
		p, ok := t.Processes[js.ProcessID]
		if js.Process != nil {
			p, ok = *js.Process, true
		}
		if ok {
			s.Service = p.ServiceName
			// Resource attributes, as Jaeger's search matches them: a
			// span's own tag of the same key wins, set below.
			for _, kv := range p.Tags {
				if kv.Key == "service.name" {
					continue
				}
				if s.Attrs == nil {
					s.Attrs = map[string]string{}
				}
				s.Attrs[kv.Key] = value(kv)
			}
		}
		s.ParentID = parentOf(js, s.TraceID)
		status := ""
		for _, kv := range js.Tags {
			v := value(kv)
			switch kv.Key {
			case "span.kind":
				s.Kind = strings.ToLower(v)
				continue
			case "error":
				s.Error = s.Error || v == "true"
				continue
			case "otel.status_code":
				s.Error = s.Error || strings.EqualFold(v, "ERROR")
				continue
			case "otel.status_description":
				status = v
				continue
			}
			if s.Attrs == nil {
				s.Attrs = map[string]string{}
			}
			s.Attrs[kv.Key] = v
		}
		if s.Error {
			s.Status = status
		}
		for _, l := range js.Logs {
			e := spans.Event{Time: time.UnixMicro(l.Timestamp).UTC(), Name: "log"}
			for _, kv := range l.Fields {
				v := value(kv)
				if kv.Key == "event" {
					e.Name = v
					continue
				}
				if e.Attrs == nil {
					e.Attrs = map[string]string{}
				}
				e.Attrs[kv.Key] = v
			}
			s.Events = append(s.Events, e)
		}
		out.Spans = append(out.Spans, s)
	}
	return out
}

// parentOf is the span's parent in its own trace: the CHILD_OF reference,
// else the first FOLLOWS_FROM (a message's producer).
func parentOf(js span, traceID string) string {
	var follows string
	for _, r := range js.References {
		if r.TraceID != "" && normID(r.TraceID) != traceID {
			continue // a link to another trace
		}
		switch r.RefType {
		case "CHILD_OF":
			return normID(r.SpanID)
		case "FOLLOWS_FROM":
			if follows == "" {
				follows = normID(r.SpanID)
			}
		}
	}
	if follows != "" {
		return follows
	}
	return normID(js.ParentSpanID)
}

// normID writes IDs as spans does, in lower-case hex; an all-zero ID (no
// parent) is empty.
func normID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "0" || strings.Trim(id, "0") == "" {
		return ""
	}
	return id
}

// value renders a tag of any Jaeger type as text.
func value(kv keyValue) string {
	var s string
	if json.Unmarshal(kv.Value, &s) == nil {
		if kv.Type == "binary" {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return fmt.Sprintf("%x", b)
			}
		}
		return s
	}
	var b bool
	if json.Unmarshal(kv.Value, &b) == nil {
		return strconv.FormatBool(b)
	}
	var n json.Number
	if json.Unmarshal(kv.Value, &n) == nil {
		return n.String()
	}
	return strings.TrimSpace(string(kv.Value))
}
