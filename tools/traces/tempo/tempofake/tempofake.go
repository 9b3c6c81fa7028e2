// Package tempofake is a fake Grafana Tempo for tests: a real HTTP handler
// that answers /api/search, /api/traces/{id} and
// /api/search/tag/service.name/values from spans it holds, following
// Tempo's documented API rules — start and end in Unix seconds and given
// together, limit 20 by default, durations in Go syntax, logfmt tags
// matched against span and resource attributes alike, each value as a
// case-insensitive substring ("shop" finds namespace "workshop" too),
// 400 with a plain-text message for a bad parameter, 404 for an unknown
// trace, X-Scope-OrgID required when multi-tenancy is on. Trace IDs are
// written as Tempo writes them: hex without leading zeros in search
// results, base64 in OTLP JSON. It is written from Tempo's documentation;
// no Tempo code is used.
//
// spans.Span has one attribute map; the fake sends the attributes of
// OpenTelemetry's resource namespaces (k8s.*, host.*, service.*, …) on the
// resource of an OTLP batch, as an SDK or the collector's k8sattributes
// processor does, and the rest on the span.
package tempofake

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// DefaultLimit is Tempo's default search limit.
const DefaultLimit = 20

// Fake is the fake Tempo. Set its fields before serving; Add, SetDown and
// SetDelay are safe while serving.
type Fake struct {
	// MultiTenant requires X-Scope-OrgID; traces are kept per tenant.
	MultiTenant bool

	mu     sync.Mutex
	traces map[string]map[string]spans.Trace // tenant → ID → trace
	delay  time.Duration
	down   bool
	hits   map[string]int
}

// New returns an empty fake.
func New() *Fake {
	return &Fake{traces: map[string]map[string]spans.Trace{}, hits: map[string]int{}}
}

// Add stores traces for tenant ("" without multi-tenancy).
func (f *Fake) Add(tenant string, ts ...spans.Trace) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.traces[tenant] == nil {
		f.traces[tenant] = map[string]spans.Trace{}
	}
	for _, t := range ts {
		f.traces[tenant][strings.ToLower(t.ID)] = t
	}
}

// SetDelay makes every answer wait d (or until the request is cancelled).
func (f *Fake) SetDelay(d time.Duration) { f.mu.Lock(); f.delay = d; f.mu.Unlock() }

// SetDown makes every answer 503, as a Tempo whose queriers are gone.
func (f *Fake) SetDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

// Hits is how many requests a path prefix ("/api/search", "/api/traces/")
// received.
func (f *Fake) Hits(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[prefix]
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay, down := f.delay, f.down
	for _, p := range []string{"/api/search/tag/", "/api/search", "/api/traces/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			f.hits[p]++
			break
		}
	}
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "no healthy queriers", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	if f.MultiTenant && tenant == "" {
		http.Error(w, "no org id", http.StatusUnauthorized)
		return
	}
	if !f.MultiTenant {
		tenant = ""
	}
	switch {
	case r.URL.Path == "/api/search/tag/service.name/values":
		f.services(w, tenant)
	case r.URL.Path == "/api/search":
		f.search(w, r, tenant)
	case strings.HasPrefix(r.URL.Path, "/api/traces/"):
		f.trace(w, strings.TrimPrefix(r.URL.Path, "/api/traces/"), tenant)
	default:
		http.NotFound(w, r)
	}
}

func (f *Fake) services(w http.ResponseWriter, tenant string) {
	f.mu.Lock()
	set := map[string]bool{}
	for _, t := range f.traces[tenant] {
		for _, s := range t.Spans {
			if s.Service != "" {
				set[s.Service] = true
			}
		}
	}
	f.mu.Unlock()
	names := make([]string, 0, len(set))
	for s := range set {
		names = append(names, s)
	}
	sort.Strings(names)
	writeJSON(w, map[string]any{"tagValues": names})
}

// request is a parsed search request.
type request struct {
	tags       map[string]string
	min, max   time.Duration
	limit      int
	start, end int64 // seconds; 0: none
}

func parse(r *http.Request) (request, string) {
	q := r.URL.Query()
	req := request{limit: DefaultLimit}
	var err error
	if v := q.Get("tags"); v != "" {
		if req.tags, err = logfmt(v); err != nil {
			return req, "invalid tags: " + err.Error()
		}
	}
	if v := q.Get("minDuration"); v != "" {
		if req.min, err = time.ParseDuration(v); err != nil {
			return req, "invalid minDuration: " + err.Error()
		}
	}
	if v := q.Get("maxDuration"); v != "" {
		if req.max, err = time.ParseDuration(v); err != nil {
			return req, "invalid maxDuration: " + err.Error()
		}
		if req.min != 0 && req.max <= req.min {
			return req, "invalid maxDuration: maxDuration must be greater than minDuration"
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, "invalid limit: " + err.Error()
		}
		if n <= 0 {
			return req, "invalid limit: must be a positive number"
		}
		req.limit = n
	}
	s, e := q.Get("start"), q.Get("end")
	if (s == "") != (e == "") {
		return req, "invalid start and end parameter: both or neither must be given"
	}
	if s != "" {
		if req.start, err = strconv.ParseInt(s, 10, 64); err != nil {
			return req, "invalid start: " + err.Error()
		}
		if req.end, err = strconv.ParseInt(e, 10, 64); err != nil {
			return req, "invalid end: " + err.Error()
		}
		// Seconds, not milli- or nanoseconds: a caller sending those asks
		// for the far future.
		if req.start > 1e11 || req.end > 1e11 {
			return req, fmt.Sprintf("http parameter start and end must be in seconds since the epoch. received start=%d end=%d", req.start, req.end)
		}
		if req.end <= req.start {
			return req, fmt.Sprintf("http parameter start must be before end. received start=%d end=%d", req.start, req.end)
		}
	}
	return req, ""
}

// logfmt parses key=value pairs separated by spaces; values may be quoted.
func logfmt(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("logfmt syntax error: expected key=value at %q", s)
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \"") {
			return nil, fmt.Errorf("logfmt syntax error: invalid key %q", key)
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && (s[end] != '"' || s[end-1] == '\\') {
				end++
			}
			if end >= len(s) {
				return nil, fmt.Errorf("logfmt syntax error: unterminated quoted value")
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("logfmt syntax error: %v", err)
			}
			val, s = v, s[end+1:]
		} else {
			sp := strings.IndexByte(s, ' ')
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		out[key] = val
	}
	return out, nil
}

func (f *Fake) search(w http.ResponseWriter, r *http.Request, tenant string) {
	req, bad := parse(r)
	if bad != "" {
		http.Error(w, bad, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	var hits []spans.Trace
	for _, t := range f.traces[tenant] {
		if req.matches(t) {
			hits = append(hits, t)
		}
	}
	f.mu.Unlock()
	type summary struct {
		TraceID           string `json:"traceID"`
		RootServiceName   string `json:"rootServiceName"`
		RootTraceName     string `json:"rootTraceName"`
		StartTimeUnixNano string `json:"startTimeUnixNano"`
		DurationMs        int64  `json:"durationMs"`
	}
	sums := make([]summary, 0, len(hits))
	for _, t := range hits {
		root, start, end := extent(t)
		sums = append(sums, summary{TraceID: strings.TrimLeft(strings.ToLower(t.ID), "0"), RootServiceName: root.Service, RootTraceName: root.Name,
			StartTimeUnixNano: strconv.FormatInt(start.UnixNano(), 10), DurationMs: end.Sub(start).Milliseconds()})
	}
	sort.Slice(sums, func(i, j int) bool {
		if sums[i].StartTimeUnixNano != sums[j].StartTimeUnixNano {
			a, _ := strconv.ParseInt(sums[i].StartTimeUnixNano, 10, 64)
			b, _ := strconv.ParseInt(sums[j].StartTimeUnixNano, 10, 64)
			return a > b
		}
		return sums[i].TraceID < sums[j].TraceID
	})
	if len(sums) > req.limit {
		sums = sums[:req.limit]
	}
	writeJSON(w, map[string]any{"traces": sums, "metrics": map[string]any{"inspectedTraces": len(hits), "inspectedBytes": "0", "completedJobs": 1, "totalJobs": 1}})
}

// extent is a trace's root (the earliest span without a parent) and time
// range.
func extent(t spans.Trace) (root spans.Span, start, end time.Time) {
	for i, s := range t.Spans {
		if i == 0 || s.Start.Before(start) {
			start = s.Start
		}
		if i == 0 || s.End().After(end) {
			end = s.End()
		}
		if s.ParentID == "" && (root.SpanID == "" || s.Start.Before(root.Start)) {
			root = s
		}
	}
	return root, start, end
}

// matches: the trace overlaps the window, its duration is within bounds,
// and one span has every tag (service.name on the span's service, name
// its operation, status=error its status, others its span or resource
// attributes). Values other than status match as case-insensitive
// substrings, as Tempo documents for the tags parameter.
func (req request) matches(t spans.Trace) bool {
	_, start, end := extent(t)
	if req.start != 0 && (end.Before(time.Unix(req.start, 0)) || !start.Before(time.Unix(req.end, 0))) {
		return false
	}
	d := end.Sub(start)
	if req.min > 0 && d < req.min || req.max > 0 && d > req.max {
		return false
	}
	if len(req.tags) == 0 {
		return true
	}
	for _, s := range t.Spans {
		ok := true
		for k, v := range req.tags {
			switch k {
			case "service.name":
				ok = contains(s.Service, v)
			case "name":
				ok = contains(s.Name, v)
			case "status":
				ok = (v == "error") == s.Error
			default:
				a, has := s.Attrs[k]
				ok = has && contains(a, v)
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// contains is Tempo's tag match: a case-insensitive substring.
func contains(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (f *Fake) trace(w http.ResponseWriter, id, tenant string) {
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(strings.Repeat("0", len(id)%2) + id); err != nil || id == "" || len(id) > 32 {
		http.Error(w, fmt.Sprintf("invalid trace id: %q", id), http.StatusBadRequest)
		return
	}
	id = strings.Repeat("0", 32-len(id)) + id
	f.mu.Lock()
	t, ok := f.traces[tenant][id]
	f.mu.Unlock()
	if !ok {
		http.Error(w, "trace not found", http.StatusNotFound)
		return
	}
	writeJSON(w, OTLP(t))
}

// resourcePrefixes are OpenTelemetry's resource semantic-convention
// namespaces: attributes of the process, not of one operation.
var resourcePrefixes = []string{"k8s.", "host.", "container.", "cloud.", "deployment.", "service.", "process.", "telemetry.", "os."}

// isResource reports whether the fake sends attribute k on the resource
// rather than on the span.
func isResource(k string) bool {
	for _, p := range resourcePrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// OTLP writes t as Tempo's /api/traces/{id} answers: {"batches": […]},
// one batch per service and set of resource attributes, IDs in base64,
// enums by name, times as strings.
func OTLP(t spans.Trace) map[string]any {
	type batch struct {
		res   []any
		spans []any
	}
	var order []string
	by := map[string]*batch{}
	for _, s := range t.Spans {
		var res []any
		key := s.Service
		if s.Service != "" {
			res = append(res, attr("service.name", s.Service))
		}
		for _, k := range sortedKeys(s.Attrs) {
			if isResource(k) && k != "service.name" { // that one is s.Service
				res = append(res, attr(k, s.Attrs[k]))
				key += "\x00" + k + "=" + s.Attrs[k]
			}
		}
		b, ok := by[key]
		if !ok {
			b = &batch{res: res}
			by[key] = b
			order = append(order, key)
		}
		b.spans = append(b.spans, otlpSpan(s))
	}
	batches := make([]any, 0, len(order))
	for _, key := range order {
		b := by[key]
		batches = append(batches, map[string]any{
			"resource":   map[string]any{"attributes": b.res},
			"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "watchkeeper-fake"}, "spans": b.spans}},
		})
	}
	return map[string]any{"batches": batches}
}

func otlpSpan(s spans.Span) map[string]any {
	m := map[string]any{
		"traceId": b64(s.TraceID), "spanId": b64(s.SpanID), "name": s.Name,
		"kind":              "SPAN_KIND_" + strings.ToUpper(nonEmpty(s.Kind, "internal")),
		"startTimeUnixNano": strconv.FormatInt(s.Start.UnixNano(), 10),
		"endTimeUnixNano":   strconv.FormatInt(s.End().UnixNano(), 10),
		"status":            map[string]any{},
	}
	if s.ParentID != "" {
		m["parentSpanId"] = b64(s.ParentID)
	}
	if s.Error {
		m["status"] = map[string]any{"code": "STATUS_CODE_ERROR", "message": s.Status}
	}
	var attrs []any
	for _, k := range sortedKeys(s.Attrs) {
		if !isResource(k) || k == "service.name" {
			attrs = append(attrs, attr(k, s.Attrs[k]))
		}
	}
	if attrs != nil {
		m["attributes"] = attrs
	}
	var events []any
	for _, e := range s.Events {
		var ea []any
		for _, k := range sortedKeys(e.Attrs) {
			ea = append(ea, attr(k, e.Attrs[k]))
		}
		events = append(events, map[string]any{"timeUnixNano": strconv.FormatInt(e.Time.UnixNano(), 10), "name": e.Name, "attributes": ea})
	}
	if events != nil {
		m["events"] = events
	}
	return m
}

// attr writes a value typed as OTLP would: integers as intValue (a
// string, as protobuf JSON writes int64), booleans, else strings.
func attr(k, v string) map[string]any {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return map[string]any{"key": k, "value": map[string]any{"intValue": v}}
	}
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return map[string]any{"key": k, "value": map[string]any{"boolValue": b}}
	}
	return map[string]any{"key": k, "value": map[string]any{"stringValue": v}}
}

func b64(hexID string) string {
	b, err := hex.DecodeString(hexID)
	if err != nil {
		return hexID // not hex: passed on as is, for the client to refuse
	}
	return base64.StdEncoding.EncodeToString(b)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
