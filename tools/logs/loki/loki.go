// Package loki is a log backend for Grafana Loki: it turns a logs.Query
// into LogQL and reads /loki/api/v1/query_range page by page. It speaks the
// documented HTTP API only (Loki's Go module is AGPL and not imported), so
// it also works with Loki-compatible servers and gateways.
package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools/logs"
)

// Config configures the backend.
type Config struct {
	// URL is Loki's base URL (http://loki:3100), or a gateway's.
	URL        string
	HTTPClient *http.Client
	// Tenant is sent as X-Scope-OrgID for multi-tenant Loki.
	Tenant string
	// Labels maps the query model to stream labels (defaults: service,
	// namespace, pod, container).
	Labels logs.LabelNames
	// PageSize is lines per request (default 5000, Loki's default
	// max_entries_limit_per_query). It is halved when a page is too
	// large for the response cap.
	PageSize int
	// LinkURL is a Grafana base URL and Datasource its Loki data source
	// UID; when set, results link to Grafana Explore.
	LinkURL, Datasource string
}

// Backend reads Loki. It is safe for concurrent use.
type Backend struct {
	logs.HTTPAPI
	cfg Config
}

// New returns a backend for cfg.
func New(cfg Config) (*Backend, error) {
	api, err := logs.NewHTTPAPI("loki", "Loki", cfg.URL, "/loki/api/v1/query_range", cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	cfg.Labels = cfg.Labels.WithDefaults()
	return &Backend{HTTPAPI: api, cfg: cfg}, nil
}

// Name implements logs.Backend.
func (b *Backend) Name() string { return "loki" }

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// LogQL returns the query in LogQL: a stream selector, then line filters.
// The level filter is pushed down as a case-insensitive regular expression
// that keeps every line at or above it (the caller checks exactly).
func (b *Backend) LogQL(q logs.Query) (string, error) {
	ms := q.Selector(b.cfg.Labels)
	if len(ms) == 0 {
		return "", &logs.QueryError{Backend: "loki", Message: "a stream selector needs at least one label: give a service, namespace, pod or labels"}
	}
	var s strings.Builder
	s.WriteByte('{')
	for i, x := range ms {
		if !labelName.MatchString(x.Name) {
			return "", &logs.QueryError{Backend: "loki", Message: fmt.Sprintf("%q is not a valid label name (letters, digits and _)", x.Name)}
		}
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(x.Name + "=" + strconv.Quote(x.Value))
	}
	s.WriteByte('}')
	for _, c := range q.Contains {
		s.WriteString(" |= " + strconv.Quote(c))
	}
	if q.Regex != "" {
		s.WriteString(" |~ " + quoteRegex(q.Regex))
	}
	if q.MinLevel != logs.LevelUnknown {
		s.WriteString(" |~ " + quoteRegex(logs.LevelPattern(q.MinLevel)))
	}
	return s.String(), nil
}

// quoteRegex uses a raw string where it can, so that backslashes read as
// written.
func quoteRegex(re string) string {
	if !strings.Contains(re, "`") {
		return "`" + re + "`"
	}
	return strconv.Quote(re)
}

// Search implements logs.Backend. Lines come oldest first; with q.Tail the
// last q.Limit lines of the range are read (newest first from Loki, then
// reversed).
func (b *Backend) Search(ctx context.Context, q logs.Query, each func(logs.Entry) error) (logs.Stats, error) {
	expr, err := b.LogQL(q)
	if err != nil {
		return logs.Stats{}, err
	}
	if q.Previous {
		return logs.Stats{Native: expr}, &logs.QueryError{Backend: "loki", Message: "previous (a restarted container's earlier logs) needs the kubernetes backend; Loki keeps every instance's lines in the same stream, so search the time before the restart"}
	}
	st := logs.Stats{Native: expr, Link: b.link(expr, q.Start, q.End)}
	start, end := q.Window(time.Now())
	fetch := func(ctx context.Context, start, end time.Time, limit int, backward bool) ([]logs.Entry, error) {
		return b.queryRange(ctx, expr, start, end, limit, backward)
	}
	truncated, err := logs.Paginate(ctx, logs.Query{Start: start, End: end, Limit: q.Limit, Tail: q.Tail}, b.cfg.PageSize, fetch, each)
	st.Truncated = truncated
	return st, err
}

// maxEntries finds the server's limit in Loki's refusal (both wordings
// Loki versions use).
var maxEntries = regexp.MustCompile(`max entries limit per query exceeded, limit > max_entries_limit(?:_per_query)? \(\d+ > (\d+)\)`)

// response is Loki's query_range answer.
type response struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Error string `json:"error"`
}

type stream struct {
	Stream map[string]string   `json:"stream"`
	Values [][]json.RawMessage `json:"values"`
}

// queryRange runs one request and returns its lines in reading order.
func (b *Backend) queryRange(ctx context.Context, expr string, start, end time.Time, limit int, backward bool) ([]logs.Entry, error) {
	v := url.Values{}
	v.Set("query", expr)
	v.Set("start", strconv.FormatInt(start.UnixNano(), 10))
	v.Set("end", strconv.FormatInt(end.UnixNano(), 10))
	v.Set("limit", strconv.Itoa(limit))
	if backward {
		v.Set("direction", "backward")
	} else {
		v.Set("direction", "forward")
	}
	u := b.Base.JoinPath(b.QueryPath)
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("loki: %w", err)
	}
	if b.cfg.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", b.cfg.Tenant)
	}
	resp, err := b.Do(ctx, req)
	if err != nil {
		return nil, withPageLimit(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, b.TransportError(ctx, err)
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("loki at %s: the answer is not Loki's JSON (%v); is logs.url a Loki API?", b.cfg.URL, err)
	}
	if r.Status != "success" {
		return nil, &logs.QueryError{Backend: "loki", Message: nonEmpty(r.Error, "status "+r.Status)}
	}
	if r.Data.ResultType != "streams" {
		return nil, &logs.QueryError{Backend: "loki", Message: fmt.Sprintf("the query returned a %s, not log lines; send a log query (a stream selector and filters), not a metric query", r.Data.ResultType)}
	}
	var streams []stream
	if err := json.Unmarshal(r.Data.Result, &streams); err != nil {
		return nil, fmt.Errorf("loki at %s: streams: %w", b.cfg.URL, err)
	}
	var out []logs.Entry
	for _, s := range streams {
		for _, val := range s.Values {
			if len(val) < 2 {
				return nil, fmt.Errorf("loki at %s: a value has %d elements, want [timestamp, line]", b.cfg.URL, len(val))
			}
			var tsStr, line string
			if err := json.Unmarshal(val[0], &tsStr); err != nil {
				return nil, fmt.Errorf("loki at %s: timestamp: %w", b.cfg.URL, err)
			}
			if err := json.Unmarshal(val[1], &line); err != nil {
				return nil, fmt.Errorf("loki at %s: line: %w", b.cfg.URL, err)
			}
			ns, err := strconv.ParseInt(tsStr, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("loki at %s: timestamp %q: %w", b.cfg.URL, tsStr, err)
			}
			out = append(out, logs.Entry{Time: time.Unix(0, ns).UTC(), Line: line, Labels: s.Stream})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if backward {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Time.Before(out[j].Time)
	})
	return out, nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// withPageLimit turns Loki's refusal of a page size above its
// max_entries_limit_per_query into a PageLimitError, so pages shrink to it.
func withPageLimit(err error) error {
	var qe *logs.QueryError
	if errors.As(err, &qe) {
		if m := maxEntries.FindStringSubmatch(qe.Message); m != nil {
			max, _ := strconv.Atoi(m[1])
			return &logs.PageLimitError{Max: max, Err: qe}
		}
	}
	return err
}

// link opens the query in Grafana Explore.
func (b *Backend) link(expr string, start, end time.Time) string {
	if b.cfg.LinkURL == "" {
		return ""
	}
	ds := map[string]string{"type": "loki", "uid": b.cfg.Datasource}
	pane := map[string]any{"a": map[string]any{
		"datasource": b.cfg.Datasource,
		"queries":    []any{map[string]any{"refId": "A", "expr": expr, "queryType": "range", "datasource": ds}},
		"range":      map[string]string{"from": strconv.FormatInt(start.UnixMilli(), 10), "to": strconv.FormatInt(end.UnixMilli(), 10)},
	}}
	raw, _ := json.Marshal(pane)
	return strings.TrimRight(b.cfg.LinkURL, "/") + "/explore?schemaVersion=1&orgId=1&panes=" + url.QueryEscape(string(raw))
}
