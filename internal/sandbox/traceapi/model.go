package traceapi

import (
	"slices"
	"strconv"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// The JSON model of Jaeger's UI (model/json in Jaeger): what its query
// service returns for a trace.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	Flags         uint32      `json:"flags"`
	OperationName string      `json:"operationName"`
	References    []reference `json:"references"`
	StartTime     int64       `json:"startTime"` // µs since the epoch
	Duration      int64       `json:"duration"`  // µs
	Tags          []keyValue  `json:"tags"`
	Logs          []spanLog   `json:"logs"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

type reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type keyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type spanLog struct {
	Timestamp int64      `json:"timestamp"`
	Fields    []keyValue `json:"fields"`
}

type jaegerProcess struct {
	ServiceName string     `json:"serviceName"`
	Tags        []keyValue `json:"tags"`
}

// intAttributes are the semantic-convention attributes that are integers
// in OpenTelemetry, and so int64 tags in Jaeger.
var intAttributes = map[string]bool{"http.response.status_code": true, "server.port": true}

// attrValue is an attribute as a typed Jaeger tag.
func attrValue(k, v string) keyValue {
	if intAttributes[k] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return keyValue{Key: k, Type: "int64", Value: n}
		}
	}
	return keyValue{Key: k, Type: "string", Value: v}
}

// toJaeger converts a trace as Jaeger's OTLP receiver does: attributes
// become tags (sorted by key), the kind a span.kind tag, a failed span
// gets error=true, otel.status_code=ERROR and otel.status_description,
// events become logs with an "event" field, and each service a process
// p1, p2, … in order of first appearance.
func toJaeger(t spans.Trace) jaegerTrace {
	out := jaegerTrace{TraceID: t.ID, Spans: make([]jaegerSpan, 0, len(t.Spans)), Processes: map[string]jaegerProcess{}}
	procs := map[string]string{}
	for _, s := range t.Spans {
		svc := s.ServiceName()
		pid, ok := procs[svc]
		if !ok {
			pid = "p" + strconv.Itoa(len(procs)+1)
			procs[svc] = pid
			out.Processes[pid] = jaegerProcess{ServiceName: svc, Tags: []keyValue{}}
		}
		js := jaegerSpan{TraceID: s.TraceID, SpanID: s.SpanID, Flags: 1, OperationName: s.Name, References: []reference{},
			StartTime: s.Start.UnixMicro(), Duration: s.Duration.Microseconds(), Tags: []keyValue{}, Logs: []spanLog{}, ProcessID: pid}
		if s.ParentID != "" {
			js.References = append(js.References, reference{RefType: "CHILD_OF", TraceID: s.TraceID, SpanID: s.ParentID})
		}
		for _, k := range sortedKeys(s.Attrs) {
			js.Tags = append(js.Tags, attrValue(k, s.Attrs[k]))
		}
		if s.Kind != "" {
			js.Tags = append(js.Tags, keyValue{Key: "span.kind", Type: "string", Value: s.Kind})
		}
		if s.Error {
			js.Tags = append(js.Tags, keyValue{Key: "error", Type: "bool", Value: true},
				keyValue{Key: "otel.status_code", Type: "string", Value: "ERROR"})
			if s.Status != "" {
				js.Tags = append(js.Tags, keyValue{Key: "otel.status_description", Type: "string", Value: s.Status})
			}
		}
		for _, e := range s.Events {
			l := spanLog{Timestamp: e.Time.UnixMicro(), Fields: []keyValue{{Key: "event", Type: "string", Value: e.Name}}}
			for _, k := range sortedKeys(e.Attrs) {
				l.Fields = append(l.Fields, attrValue(k, e.Attrs[k]))
			}
			js.Logs = append(js.Logs, l)
		}
		out.Spans = append(out.Spans, js)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
