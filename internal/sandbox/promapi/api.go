// Package promapi is the sandbox's Prometheus: the real TSDB written by an
// exporter of the world's snapshots, and the real PromQL engine behind a
// Prometheus-compatible HTTP API. It imports the world and no other
// emulator; the alerting rules it reports come through RuleSource.
package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// API serves the subset of Prometheus's HTTP API that tools use, with the
// real API's parameters, response shapes, error types and status codes:
// /api/v1/query, query_range, series, labels, label/<name>/values,
// metadata, rules, alerts, targets and status/buildinfo.
type API struct {
	store    *Store
	now      func() time.Time
	rules    RuleSource
	snapshot func() *world.Snapshot
	parser   parser.Parser
}

// Config is what the API needs besides the store.
type Config struct {
	// Now is the simulated current time: the default time of queries.
	Now func() time.Time
	// Rules are the alerting rules /api/v1/rules and /api/v1/alerts
	// report; required to serve them.
	Rules RuleSource
	// Snapshot returns the latest step of the world (nil before the first),
	// from which /api/v1/targets derives the scrape targets; required to
	// serve them.
	Snapshot func() *world.Snapshot
	// Parser parses match[] selectors.
	Parser parser.Parser
}

// NewAPI returns the API over store. Register it on a mux to serve it; it
// is safe for concurrent use.
func NewAPI(store *Store, cfg Config) *API {
	return &API{store: store, now: cfg.Now, rules: cfg.Rules, snapshot: cfg.Snapshot, parser: cfg.Parser}
}

// apiError is an error with Prometheus's error type.
type apiError struct {
	typ  string
	err  error
	code int
}

func badData(err error) *apiError { return &apiError{"bad_data", err, http.StatusBadRequest} }

func invalidParam(err error, name string) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// Register adds the API's routes, /-/healthy, /-/ready, and /graph (a
// small page for the links that point at Prometheus's graph page), to
// mux.
func (a *API) Register(mux *http.ServeMux) {
	for path, h := range map[string]func(*http.Request) (any, []string, *apiError){
		"/api/v1/query":               a.query,
		"/api/v1/query_range":         a.queryRange,
		"/api/v1/series":              a.series,
		"/api/v1/labels":              a.labelNames,
		"/api/v1/label/{name}/values": a.labelValues,
		"/api/v1/metadata":            a.metadata,
		"/api/v1/rules":               a.rulesHandler,
		"/api/v1/alerts":              a.alertsHandler,
		"/api/v1/targets":             a.targetsHandler,
		"/api/v1/status/buildinfo":    a.buildinfo,
	} {
		mux.HandleFunc(path, a.wrap(h))
	}
	mux.HandleFunc("GET /graph", a.graphPage)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Prometheus Server is Healthy.") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Prometheus Server is Ready.") })
}

func (a *API) wrap(h func(*http.Request) (any, []string, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"status": "error", "errorType": "bad_data", "error": "method not allowed"})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeAPIError(w, badData(fmt.Errorf("error parsing form values: %w", err)))
			return
		}
		data, warnings, apiErr := h(r)
		if apiErr != nil {
			writeAPIError(w, apiErr)
			return
		}
		resp := map[string]any{"status": "success", "data": data}
		if len(warnings) > 0 {
			resp["warnings"] = warnings
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.code, map[string]any{"status": "error", "errorType": e.typ, "error": e.err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// parseTime reads a timestamp as Prometheus does: Unix seconds (with a
// fraction) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func (a *API) timeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, invalidParam(err, name)
	}
	return t, nil
}

func (a *API) timeout(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	ctx := r.Context()
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, nil, invalidParam(err, "timeout")
		}
		c, cancel := context.WithTimeout(ctx, d)
		return c, cancel, nil
	}
	c, cancel := context.WithCancel(ctx)
	return c, cancel, nil
}

func (a *API) query(r *http.Request) (any, []string, *apiError) {
	ts, apiErr := a.timeParam(r, "time", a.now())
	if apiErr != nil {
		return nil, nil, apiErr
	}
	ctx, cancel, apiErr := a.timeout(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer cancel()
	q, err := a.store.engine.NewInstantQuery(ctx, a.store.db, nil, r.FormValue("query"), ts)
	if err != nil {
		return nil, nil, invalidParam(err, "query")
	}
	return a.exec(ctx, q)
}

func (a *API) queryRange(r *http.Request) (any, []string, *apiError) {
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return nil, nil, invalidParam(err, "start")
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return nil, nil, invalidParam(err, "end")
	}
	if end.Before(start) {
		return nil, nil, invalidParam(errors.New("end timestamp must not be before start time"), "end")
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return nil, nil, invalidParam(err, "step")
	}
	if step <= 0 {
		return nil, nil, invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")
	}
	if end.Sub(start)/step > 11000 {
		return nil, nil, badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
	}
	ctx, cancel, apiErr := a.timeout(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer cancel()
	q, err := a.store.engine.NewRangeQuery(ctx, a.store.db, nil, r.FormValue("query"), start, end, step)
	if err != nil {
		return nil, nil, invalidParam(err, "query")
	}
	return a.exec(ctx, q)
}

func (a *API) exec(ctx context.Context, q promql.Query) (any, []string, *apiError) {
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, nil, execError(res.Err)
	}
	warnings := annotationStrings(res.Warnings)
	return map[string]any{"resultType": res.Value.Type(), "result": encodeValue(res.Value)}, warnings, nil
}

// execError maps engine errors to the API's error types.
func execError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled):
		return &apiError{"canceled", err, 499}
	case errors.As(err, &timeout):
		return &apiError{"timeout", err, http.StatusServiceUnavailable}
	case errors.As(err, &storage):
		return &apiError{"internal", err, http.StatusInternalServerError}
	case errors.Is(err, context.Canceled):
		return &apiError{"canceled", err, 499}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{"timeout", err, http.StatusServiceUnavailable}
	}
	return &apiError{"execution", err, http.StatusUnprocessableEntity}
}

func annotationStrings(a annotations.Annotations) []string {
	var out []string
	for _, err := range a {
		out = append(out, err.Error())
	}
	return out
}

// matchers reads match[] selectors.
func (a *API) matchers(r *http.Request) ([][]*labels.Matcher, *apiError) {
	var sets [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		ms, err := a.parser.ParseMetricSelector(s)
		if err != nil {
			return nil, badData(err)
		}
		sets = append(sets, ms)
	}
	return sets, nil
}

func (a *API) querier(r *http.Request) (storage.Querier, *storage.SelectHints, *apiError) {
	start, apiErr := a.timeParam(r, "start", time.Unix(0, 0))
	if apiErr != nil {
		return nil, nil, apiErr
	}
	end, apiErr := a.timeParam(r, "end", a.now().Add(24*time.Hour))
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if end.Before(start) {
		return nil, nil, invalidParam(errors.New("end timestamp must not be before start time"), "end")
	}
	q, err := a.store.db.Querier(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return nil, nil, &apiError{"internal", err, http.StatusInternalServerError}
	}
	return q, &storage.SelectHints{Start: start.UnixMilli(), End: end.UnixMilli(), Func: "series"}, nil
}

func limit(r *http.Request) (int, *apiError) {
	v := r.FormValue("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalidParam(errors.New("limit must be a non-negative number"), "limit")
	}
	return n, nil
}

func (a *API) series(r *http.Request) (any, []string, *apiError) {
	sets, apiErr := a.matchers(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if len(sets) == 0 {
		return nil, nil, badData(errors.New("no match[] parameter provided"))
	}
	n, apiErr := limit(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	q, hints, apiErr := a.querier(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer q.Close()
	seen := map[string]bool{}
	out := []map[string]string{}
	for _, ms := range sets {
		ss := q.Select(r.Context(), true, hints, ms...)
		for ss.Next() {
			l := ss.At().Labels()
			if seen[l.String()] {
				continue
			}
			seen[l.String()] = true
			out = append(out, l.Map())
		}
		if err := ss.Err(); err != nil {
			return nil, nil, &apiError{"internal", err, http.StatusInternalServerError}
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.FromMap(out[i]).String() < labels.FromMap(out[j]).String() })
	var warnings []string
	if n > 0 && len(out) > n {
		out = out[:n]
		warnings = append(warnings, "results truncated due to limit")
	}
	return out, warnings, nil
}

func (a *API) labelNames(r *http.Request) (any, []string, *apiError) {
	return a.collectLabels(r, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		ns, _, err := q.LabelNames(r.Context(), nil, ms...)
		return ns, err
	})
}

func (a *API) labelValues(r *http.Request) (any, []string, *apiError) {
	name := r.PathValue("name")
	if !model.LabelName(name).IsValid() && !strings.HasPrefix(name, "U__") {
		return nil, nil, badData(fmt.Errorf("invalid label name: %q", name))
	}
	return a.collectLabels(r, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		vs, _, err := q.LabelValues(r.Context(), name, nil, ms...)
		return vs, err
	})
}

// collectLabels runs get for every match[] set (or once without matchers)
// and returns the sorted union, cut to limit.
func (a *API) collectLabels(r *http.Request, get func(storage.Querier, []*labels.Matcher) ([]string, error)) (any, []string, *apiError) {
	sets, apiErr := a.matchers(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	q, _, apiErr := a.querier(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer q.Close()
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	found := map[string]bool{}
	for _, ms := range sets {
		list, err := get(q, ms)
		if err != nil {
			return nil, nil, &apiError{"internal", err, http.StatusInternalServerError}
		}
		for _, v := range list {
			found[v] = true
		}
	}
	return truncate(sortedKeys(found), r)
}

func truncate(list []string, r *http.Request) (any, []string, *apiError) {
	n, apiErr := limit(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if n > 0 && len(list) > n {
		return list[:n], []string{"results truncated due to limit"}, nil
	}
	return list, nil, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *API) metadata(r *http.Request) (any, []string, *apiError) {
	want := r.FormValue("metric")
	out := map[string][]map[string]string{}
	for _, m := range metricMetadata() {
		if want == "" || want == m.name {
			out[m.name] = []map[string]string{{"type": m.typ, "help": m.help, "unit": ""}}
		}
	}
	return out, nil, nil
}

func (a *API) buildinfo(*http.Request) (any, []string, *apiError) {
	return map[string]string{"version": "3.0.0-watchkeeper-sandbox", "revision": "sandbox", "branch": "sandbox",
		"buildUser": "watchkeeper", "buildDate": "20261124-00:00:00", "goVersion": "go1.26"}, nil, nil
}

func (a *API) targetsHandler(r *http.Request) (any, []string, *apiError) {
	state := r.FormValue("state")
	active := []map[string]any{}
	for _, t := range targets(a.snapshot()) {
		health := "up"
		lastErr := ""
		if !t.up {
			health = "down"
			lastErr = fmt.Sprintf("Get \"http://%s/metrics\": dial tcp %s: connect: connection refused", t.instance, t.instance)
		}
		active = append(active, map[string]any{
			"discoveredLabels":   map[string]string{"__address__": t.instance, "__meta_kubernetes_namespace": world.Namespace, "__meta_kubernetes_pod_name": t.pod},
			"labels":             map[string]string{"instance": t.instance, "job": t.job, "namespace": world.Namespace, "pod": t.pod, "service": t.job},
			"scrapePool":         t.job,
			"scrapeUrl":          "http://" + t.instance + "/metrics",
			"globalUrl":          "http://" + t.instance + "/metrics",
			"lastError":          lastErr,
			"lastScrape":         t.lastScrape.Format(time.RFC3339Nano),
			"lastScrapeDuration": 0.004,
			"health":             health,
			"scrapeInterval":     "15s",
			"scrapeTimeout":      "10s",
		})
	}
	data := map[string]any{"activeTargets": active, "droppedTargets": []any{}}
	if state == "dropped" {
		data["activeTargets"] = []any{}
	}
	return data, nil, nil
}

// target is a scrape target, derived from the latest snapshot.
type target struct {
	job, instance, pod string
	up                 bool
	lastScrape         time.Time
}

// targets are the pods of snap, each scraped on its exporter's port.
func targets(snap *world.Snapshot) []target {
	var out []target
	if snap == nil {
		return out
	}
	for _, st := range snap.Services {
		port := targetPort(st.Kind)
		for _, p := range st.Pods {
			out = append(out, target{job: st.Name, instance: p.Name + ":" + port, pod: p.Name, up: p.Ready, lastScrape: snap.Time})
		}
	}
	return out
}

// encodeValue renders a PromQL result in the API's JSON shape.
func encodeValue(v parser.Value) any {
	switch x := v.(type) {
	case promql.Vector:
		out := make([]map[string]any, 0, len(x))
		for _, s := range x {
			out = append(out, map[string]any{"metric": s.Metric.Map(), "value": point(s.T, s.F)})
		}
		return out
	case promql.Matrix:
		out := make([]map[string]any, 0, len(x))
		for _, s := range x {
			pts := make([][2]any, 0, len(s.Floats))
			for _, p := range s.Floats {
				pts = append(pts, point(p.T, p.F))
			}
			out = append(out, map[string]any{"metric": s.Metric.Map(), "values": pts})
		}
		return out
	case promql.Scalar:
		return point(x.T, x.V)
	case promql.String:
		return [2]any{json.Number(formatTimestamp(x.T)), x.V}
	}
	return nil
}

func point(t int64, v float64) [2]any {
	return [2]any{json.Number(formatTimestamp(t)), formatValue(v)}
}

// formatTimestamp writes milliseconds as seconds with up to three
// decimals, as Prometheus does.
func formatTimestamp(ms int64) string {
	s := strconv.FormatInt(ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%03d", abs(frac)), "0")
	}
	return s
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
