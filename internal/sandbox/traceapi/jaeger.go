package traceapi

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// API serves a store through Jaeger's HTTP query API (the one Jaeger's UI
// and its HTTP clients use, under /api), shaped as Jaeger's query service
// shapes it: every answer is the envelope
// {"data":…,"total":…,"limit":0,"offset":0,"errors":null}, an error the
// same envelope with "data":null and errors [{"code":…,"msg":…}] under
// the HTTP status.
type API struct {
	store *spans.Store
	now   func() time.Time
}

// NewAPI returns the API over store; now is the clock the default search
// window ends at (the simulated time).
func NewAPI(store *spans.Store, now func() time.Time) *API {
	if now == nil {
		now = time.Now
	}
	return &API{store: store, now: now}
}

// Register adds the routes to mux:
//
//	GET /api/services
//	GET /api/services/{service}/operations
//	GET /api/operations?service=S[&spanKind=K]
//	GET /api/traces?service=S[&operation=O][&tags=JSON][&tag=k:v]…[&minDuration=D][&maxDuration=D][&start=µs][&end=µs][&lookback=D][&limit=N]
//	GET /api/traces?traceID=ID[&traceID=ID]…
//	GET /api/traces/{traceID}
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/services", a.services)
	mux.HandleFunc("GET /api/services/{service}/operations", a.serviceOperations)
	mux.HandleFunc("GET /api/operations", a.operations)
	mux.HandleFunc("GET /api/traces", a.search)
	mux.HandleFunc("GET /api/traces/{id}", a.trace)
}

// envelope is Jaeger's structuredResponse.
type envelope struct {
	Data   any          `json:"data"`
	Total  int          `json:"total"`
	Limit  int          `json:"limit"`
	Offset int          `json:"offset"`
	Errors []queryError `json:"errors"`
}

type queryError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

func writeData(w http.ResponseWriter, data any, total int) {
	writeEnvelope(w, http.StatusOK, envelope{Data: data, Total: total})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeEnvelope(w, code, envelope{Errors: []queryError{{Code: code, Msg: msg}}})
}

func writeEnvelope(w http.ResponseWriter, code int, e envelope) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}

// errServiceRequired is Jaeger's message for a search or an operations
// list without a service.
const errServiceRequired = "parameter 'service' is required"

func (a *API) services(w http.ResponseWriter, _ *http.Request) {
	s := a.store.Services()
	if s == nil {
		s = []string{}
	}
	writeData(w, s, len(s))
}

func (a *API) serviceOperations(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, op := range a.store.Operations(r.PathValue("service")) {
		names = append(names, op.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if names == nil {
		names = []string{}
	}
	writeData(w, names, len(names))
}

// operation is one entry of /api/operations.
type operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

func (a *API) operations(w http.ResponseWriter, r *http.Request) {
	service := r.FormValue("service")
	if service == "" {
		writeError(w, http.StatusBadRequest, errServiceRequired)
		return
	}
	kind := r.FormValue("spanKind")
	out := []operation{}
	for _, op := range a.store.Operations(service) {
		if kind == "" || op.Kind == kind {
			out = append(out, operation{Name: op.Name, SpanKind: op.Kind})
		}
	}
	slices.SortFunc(out, func(x, y operation) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.SpanKind, y.SpanKind)
	})
	writeData(w, out, len(out))
}

func (a *API) trace(w http.ResponseWriter, r *http.Request) {
	id, err := parseTraceID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t, ok := a.store.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "trace not found")
		return
	}
	writeData(w, []jaegerTrace{toJaeger(t)}, 1)
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	if ids := r.URL.Query()["traceID"]; len(ids) > 0 {
		out := []jaegerTrace{}
		for _, raw := range ids {
			id, err := parseTraceID(raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			if t, ok := a.store.Get(id); ok {
				out = append(out, toJaeger(t))
			}
		}
		writeData(w, out, len(out))
		return
	}
	q, err := parseQuery(r, a.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []jaegerTrace{}
	for _, t := range a.store.Find(q) {
		out = append(out, toJaeger(t))
	}
	writeData(w, out, len(out))
}

// Jaeger's defaults: 100 traces, the last two days.
const (
	defaultLimit    = 100
	defaultLookback = 48 * time.Hour
)

// parseQuery reads a search as Jaeger's query parser does, with a clear
// error for every malformed parameter.
func parseQuery(r *http.Request, now time.Time) (spans.Query, error) {
	q := spans.Query{Service: r.FormValue("service"), Operation: r.FormValue("operation"), Limit: defaultLimit}
	if q.Service == "" {
		return q, errors.New(errServiceRequired)
	}
	var err error
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return q, fmt.Errorf("malformed 'limit' parameter %q: want a whole number of traces, 0 or more", v)
		}
		if n > 0 {
			q.Limit = n
		}
	}
	if q.MinDuration, err = parseDuration(r, "minDuration"); err != nil {
		return q, err
	}
	if q.MaxDuration, err = parseDuration(r, "maxDuration"); err != nil {
		return q, err
	}
	if q.MinDuration > 0 && q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return q, errors.New("'maxDuration' should be greater than 'minDuration'")
	}
	end := now
	if q.End, err = parseMicros(r, "end"); err != nil {
		return q, err
	}
	if !q.End.IsZero() {
		end = q.End
	}
	lookback := defaultLookback
	if v := r.FormValue("lookback"); v != "" && v != "custom" {
		if lookback, err = parseLookback(v); err != nil {
			return q, err
		}
	}
	if q.Start, err = parseMicros(r, "start"); err != nil {
		return q, err
	}
	if q.Start.IsZero() {
		q.Start = end.Add(-lookback)
	}
	q.End = end
	if q.Start.After(q.End) {
		return q, fmt.Errorf("'start' (%s) is after 'end' (%s)", q.Start.UTC().Format(time.RFC3339Nano), q.End.UTC().Format(time.RFC3339Nano))
	}
	if q.Tags, err = parseTags(r.URL.Query()["tags"], r.URL.Query()["tag"]); err != nil {
		return q, err
	}
	return q, nil
}

// parseDuration reads a Go duration ("100ms", "1.2s").
func parseDuration(r *http.Request, name string) (time.Duration, error) {
	v := r.FormValue(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("cannot parse %s %q: want a duration such as 100ms, 1.2s or 2m", name, v)
	}
	return d, nil
}

// parseMicros reads a time in microseconds since the Unix epoch.
func parseMicros(r *http.Request, name string) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us < 0 {
		return time.Time{}, fmt.Errorf("cannot parse '%s' %q: want microseconds since the Unix epoch", name, v)
	}
	return time.UnixMicro(us).UTC(), nil
}

// parseLookback reads the UI's lookback: a Go duration, or days ("2d").
func parseLookback(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("cannot parse 'lookback' %q: want a duration such as 1h, 30m or 2d", v)
	}
	return d, nil
}

// parseTags reads tags as Jaeger does: each tags parameter a JSON object
// of strings ({"error":"true"}) — or, as people type them into Jaeger's
// search form, logfmt (error=true http.response.status_code=500) — and
// each tag parameter key:value.
func parseTags(tagsParams, tagParams []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range tagsParams {
		if strings.HasPrefix(strings.TrimSpace(p), "{") {
			var m map[string]string
			if err := json.Unmarshal([]byte(p), &m); err != nil {
				return nil, fmt.Errorf("malformed 'tags' parameter, cannot unmarshal JSON: %v; want an object of strings such as {\"error\":\"true\"}", err)
			}
			for k, v := range m {
				out[k] = v
			}
			continue
		}
		m, err := parseLogfmt(p)
		if err != nil {
			return nil, fmt.Errorf("malformed 'tags' parameter: %v; want JSON such as {\"error\":\"true\"} or key=value pairs", err)
		}
		for k, v := range m {
			out[k] = v
		}
	}
	for _, p := range tagParams {
		k, v, ok := strings.Cut(p, ":")
		if !ok || k == "" {
			return nil, fmt.Errorf("malformed 'tag' parameter, expecting key:value, received: %s", p)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseLogfmt reads key=value pairs separated by spaces; a value may be
// double-quoted.
func parseLogfmt(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \t\"") {
			return nil, fmt.Errorf("expected key=value at %q", s)
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && (s[end] != '"' || s[end-1] == '\\') {
				end++
			}
			if end >= len(s) {
				return nil, fmt.Errorf("unterminated quote in the value of %s", key)
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("bad quoted value of %s: %v", key, err)
			}
			val, s = v, s[end+1:]
		} else {
			sp := strings.IndexAny(s, " \t")
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		out[key] = val
		s = strings.TrimLeft(s, " \t")
	}
	return out, nil
}

// parseTraceID accepts Jaeger's forms of an ID: up to 32 hex digits,
// which are left-padded with zeros.
func parseTraceID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 32 {
		return "", fmt.Errorf("malformed trace ID %q: want 1 to 32 hex digits", s)
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(s)%2) + s); err != nil {
		return "", fmt.Errorf("malformed trace ID %q: want 1 to 32 hex digits", s)
	}
	return strings.Repeat("0", 32-len(s)) + s, nil
}
