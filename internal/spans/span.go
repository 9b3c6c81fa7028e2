// Package spans is Watchkeeper's model of distributed traces: the span
// record every trace source is read into (the sandbox, Jaeger, Tempo, a
// spans.jsonl file), the JSON Lines format cases and `analyze sample`
// read, assembly of spans into trace trees that survives hostile input,
// and what a trace says about where time went (self time, edges, the
// critical path), the adaptive tail sampler that decides which traces are
// worth keeping (sample.go), and the zstd-compressed store of the kept
// ones that the sandbox's Jaeger API and `analyze sample` read
// (store.go).
//
// Spans are untrusted input: a trace may hold cycles in its parent links,
// orphans whose parent never arrived, children that start before their
// parent (clock skew between hosts), tens of thousands of spans, or no
// service name. Every function here gives a bounded, clear result for
// them and never panics.
package spans

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kinds of span, as OpenTelemetry's SpanKind names them (lower case).
const (
	KindServer   = "server"
	KindClient   = "client"
	KindInternal = "internal"
	KindProducer = "producer"
	KindConsumer = "consumer"
)

// UnknownService names the service of a span that has none, as the
// OpenTelemetry SDKs do.
const UnknownService = "unknown_service"

// Span is one operation of one service within a trace. The JSON form is
// one line of a spans.jsonl file (see docs/traces.md).
type Span struct {
	// TraceID is 32 lower-case hex digits; SpanID and ParentID 16. A root
	// span has no ParentID.
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_span_id,omitempty"`
	// Service is the emitting service (resource attribute service.name).
	Service string `json:"service"`
	// Name is the operation ("GET /checkout", "POST payments /charge").
	Name string `json:"name"`
	// Kind is server, client, internal, producer or consumer.
	Kind  string    `json:"kind,omitempty"`
	Start time.Time `json:"start"`
	// Duration is in microseconds in JSON (duration_us), as Jaeger keeps
	// it.
	Duration time.Duration `json:"-"`
	// Error is the span's status ERROR; Status its message.
	Error  bool   `json:"error,omitempty"`
	Status string `json:"status_message,omitempty"`
	// Attrs are the span's attributes in OpenTelemetry semantic
	// conventions (http.request.method, http.route,
	// http.response.status_code, server.address, db.system.name, …).
	Attrs map[string]string `json:"attributes,omitempty"`
	// Events are timed annotations; an exception is an event named
	// "exception" with exception.type and exception.message.
	Events []Event `json:"events,omitempty"`
	// Fault is a label only a simulation can give: a fault acting at this
	// span changed its duration or status. Real data never has it; `analyze
	// sample` uses it to measure what a sampler keeps of what mattered.
	Fault bool `json:"fault,omitempty"`
}

// Event is a timed annotation of a span.
type Event struct {
	Time  time.Time         `json:"time"`
	Name  string            `json:"name"`
	Attrs map[string]string `json:"attributes,omitempty"`
}

// End is when the span ended.
func (s Span) End() time.Time { return s.Start.Add(s.Duration) }

// ServiceName is the span's service, or UnknownService when it has none.
func (s Span) ServiceName() string {
	if s.Service == "" {
		return UnknownService
	}
	return s.Service
}

// spanJSON is Span on the wire: the duration in whole microseconds.
type spanJSON struct {
	Span
	DurationUS int64 `json:"duration_us"`
}

// MarshalJSON writes the span as one spans.jsonl record.
func (s Span) MarshalJSON() ([]byte, error) {
	type plain Span // without the methods, so this does not recurse
	return json.Marshal(struct {
		plain
		DurationUS int64 `json:"duration_us"`
	}{plain(s), s.Duration.Microseconds()})
}

// UnmarshalJSON reads one spans.jsonl record.
func (s *Span) UnmarshalJSON(b []byte) error {
	type plain Span
	var v struct {
		plain
		DurationUS int64 `json:"duration_us"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Span(v.plain)
	s.Duration = time.Duration(v.DurationUS) * time.Microsecond
	if s.Duration < 0 {
		s.Duration = 0
	}
	return nil
}

// MaxLine is the longest spans.jsonl line read; a longer one is an error
// naming its line, not a reason to hold unbounded memory.
const MaxLine = 1 << 20

// ReadJSONL calls fn for every span in r, one JSON object per line; blank
// lines are skipped. A malformed line or a span without trace or span ID
// stops the read with an error naming the line; fn's error stops it too.
func ReadJSONL(r io.Reader, fn func(Span) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var s Span
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("line %d: not a span: %w", line, err)
		}
		if s.TraceID == "" || s.SpanID == "" {
			return fmt.Errorf("line %d: a span needs trace_id and span_id", line)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, MaxLine)
		}
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// WriteJSONL writes spans one per line.
func WriteJSONL(w io.Writer, spans []Span) error {
	enc := json.NewEncoder(w)
	for _, s := range spans {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Trace is the spans sharing one trace ID.
type Trace struct {
	ID    string
	Spans []Span
}

// Group collects spans into traces, in the order each trace was first
// seen.
func Group(spans []Span) []Trace {
	index := map[string]int{}
	var out []Trace
	for _, s := range spans {
		i, ok := index[s.TraceID]
		if !ok {
			i = len(out)
			index[s.TraceID] = i
			out = append(out, Trace{ID: s.TraceID})
		}
		out[i].Spans = append(out[i].Spans, s)
	}
	return out
}

// HasError reports whether any span of t failed.
func (t Trace) HasError() bool {
	for _, s := range t.Spans {
		if s.Error {
			return true
		}
	}
	return false
}

// Touched reports whether a fault acted on any span of t (simulated data
// only).
func (t Trace) Touched() bool {
	for _, s := range t.Spans {
		if s.Fault {
			return true
		}
	}
	return false
}
