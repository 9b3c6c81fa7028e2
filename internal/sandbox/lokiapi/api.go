// Package lokiapi is the sandbox's Loki: the log lines the shop's
// containers write, generated from the world's snapshots, kept in a store
// and served through a Loki-compatible HTTP API with a subset of LogQL.
// It imports the world and no other emulator.
package lokiapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// API serves the part of Loki's HTTP API that log tools use:
// /loki/api/v1/query_range, query, labels, label/<name>/values and series,
// for LogQL log queries: a stream selector, line filters, the json and
// logfmt parsers and label filters. Metric queries are refused with a
// parse error, as Loki refuses what it cannot parse.
type API struct {
	store *Store
	now   func() time.Time
}

// NewAPI returns the API over store; now is the simulated current time,
// the default end of queries. It is safe for concurrent use.
func NewAPI(store *Store, now func() time.Time) *API { return &API{store: store, now: now} }

const (
	lokiDefaultLimit = 100
	lokiMaxLimit     = 5000
)

// Register adds the API's routes, and /ready, to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("/loki/api/v1/query_range", a.queryRange)
	mux.HandleFunc("/loki/api/v1/query", a.query)
	mux.HandleFunc("/loki/api/v1/labels", a.labels)
	mux.HandleFunc("/loki/api/v1/label/{name}/values", a.labelValues)
	mux.HandleFunc("/loki/api/v1/series", a.series)
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
}

// lokiError writes an error as Loki does: plain text with the status.
func lokiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func lokiTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e14 || n < -1e14 {
			return time.Unix(0, n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func (a *API) params(w http.ResponseWriter, r *http.Request) (q *logQuery, start, end time.Time, limit int, forward bool, ok bool) {
	if err := r.ParseForm(); err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	var err error
	end, err = lokiTime(r.FormValue("end"), a.now())
	if err != nil {
		lokiError(w, http.StatusBadRequest, "invalid end: "+err.Error())
		return
	}
	start, err = lokiTime(r.FormValue("start"), end.Add(-time.Hour))
	if err != nil {
		lokiError(w, http.StatusBadRequest, "invalid start: "+err.Error())
		return
	}
	if end.Before(start) {
		lokiError(w, http.StatusBadRequest, "end timestamp must not be before or equal to start time")
		return
	}
	limit = lokiDefaultLimit
	if v := r.FormValue("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit <= 0 {
			lokiError(w, http.StatusBadRequest, "limit must be a positive value")
			return
		}
	}
	if limit > lokiMaxLimit {
		lokiError(w, http.StatusBadRequest, fmt.Sprintf("max entries limit per query exceeded, limit > max_entries_limit (%d > %d)", limit, lokiMaxLimit))
		return
	}
	switch strings.ToLower(r.FormValue("direction")) {
	case "", "backward":
	case "forward":
		forward = true
	default:
		lokiError(w, http.StatusBadRequest, "invalid direction "+r.FormValue("direction"))
		return
	}
	q, err = parseLogQL(r.FormValue("query"))
	if err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	return q, start, end, limit, forward, true
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request) {
	q, start, end, limit, forward, ok := a.params(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": map[string]any{
		"resultType": "streams", "result": a.store.run(q, start, end, limit, forward),
		"stats": map[string]any{"summary": map[string]any{"execTime": 0.001}},
	}})
}

// query answers instant queries. Loki accepts only metric queries there.
func (a *API) query(w http.ResponseWriter, r *http.Request) {
	if _, err := parseLogQL(r.FormValue("query")); err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	lokiError(w, http.StatusBadRequest, "log queries are not supported as an instant query type, please change your query to a range query type")
}

func (a *API) matching(r *http.Request) ([]*logStream, bool, error) {
	if err := r.ParseForm(); err != nil {
		return nil, false, err
	}
	var sels [][]labelMatcher
	for _, m := range r.Form["match[]"] {
		q, err := parseLogQL(m)
		if err != nil {
			return nil, false, err
		}
		sels = append(sels, q.selector)
	}
	a.store.mu.RLock()
	defer a.store.mu.RUnlock()
	var out []*logStream
	for _, s := range a.store.streams {
		if len(sels) == 0 {
			out = append(out, s)
			continue
		}
		for _, sel := range sels {
			if matchAll(sel, s.labels) {
				out = append(out, s)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, len(sels) > 0, nil
}

func (a *API) labels(w http.ResponseWriter, r *http.Request) {
	streams, _, err := a.matching(r)
	if err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	names := map[string]bool{}
	for _, s := range streams {
		for k := range s.labels {
			names[k] = true
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": sortedKeys(names)})
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request) {
	streams, _, err := a.matching(r)
	if err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := r.PathValue("name")
	values := map[string]bool{}
	for _, s := range streams {
		if v, ok := s.labels[name]; ok {
			values[v] = true
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": sortedKeys(values)})
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	streams, selected, err := a.matching(r)
	if err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !selected {
		lokiError(w, http.StatusBadRequest, "match[] must be specified")
		return
	}
	out := []map[string]string{}
	for _, s := range streams {
		out = append(out, s.labels)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": out})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
