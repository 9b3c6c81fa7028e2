// Package victorialogs is a log backend for VictoriaLogs: it turns a
// logs.Query into LogsQL and reads /select/logsql/query, whose answer is
// one JSON object per line.
package victorialogs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools/logs"
)

// Config configures the backend.
type Config struct {
	// URL is VictoriaLogs' base URL (http://victorialogs:9428).
	URL        string
	HTTPClient *http.Client
	// Tenant is "AccountID" or "AccountID:ProjectID" for multi-tenant
	// (cluster) installs; empty means the default tenant.
	Tenant string
	// Fields maps the query model to log fields (defaults: service,
	// namespace, pod, container).
	Fields logs.LabelNames
	// PageSize is lines per request (default 5000).
	PageSize int
	// LinkURL is VictoriaLogs' web UI base (URL when empty); results link
	// to the query in /select/vmui.
	LinkURL string
}

// Backend reads VictoriaLogs. It is safe for concurrent use.
type Backend struct {
	logs.HTTPAPI
	cfg     Config
	account string
	project string
}

// New returns a backend for cfg.
func New(cfg Config) (*Backend, error) {
	api, err := logs.NewHTTPAPI("victorialogs", "VictoriaLogs", cfg.URL, "/select/logsql/query", cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	if cfg.LinkURL == "" {
		cfg.LinkURL = cfg.URL
	}
	cfg.Fields = cfg.Fields.WithDefaults()
	b := &Backend{HTTPAPI: api, cfg: cfg}
	if cfg.Tenant != "" {
		acc, proj, _ := strings.Cut(cfg.Tenant, ":")
		for _, s := range []string{acc, proj} {
			if s != "" {
				if _, err := strconv.ParseUint(s, 10, 32); err != nil {
					return nil, fmt.Errorf("victorialogs: tenant %q: want AccountID or AccountID:ProjectID, numbers", cfg.Tenant)
				}
			}
		}
		b.account, b.project = acc, proj
	}
	return b, nil
}

// Name implements logs.Backend.
func (b *Backend) Name() string { return "victorialogs" }

var plainField = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.]*$`)

func field(name string) string {
	if plainField.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}

// LogsQL returns the filters of q in LogsQL, without the time range:
// exact field matches, then substring and regular-expression filters on
// the message. Substrings become quoted regular expressions, because
// LogsQL's phrase filter matches whole words only.
func (b *Backend) LogsQL(q logs.Query) (string, error) {
	var parts []string
	for _, m := range q.Selector(b.cfg.Fields) {
		parts = append(parts, field(m.Name)+":="+strconv.Quote(m.Value))
	}
	if len(parts) == 0 {
		return "", &logs.QueryError{Backend: "victorialogs", Message: "say which logs: give a service, namespace, pod or labels"}
	}
	for _, c := range q.Contains {
		parts = append(parts, "_msg:~"+strconv.Quote(regexp.QuoteMeta(c)))
	}
	if q.Regex != "" {
		parts = append(parts, "_msg:~"+strconv.Quote(q.Regex))
	}
	if q.MinLevel != logs.LevelUnknown {
		parts = append(parts, "_msg:~"+strconv.Quote(logs.LevelPattern(q.MinLevel)))
	}
	return strings.Join(parts, " "), nil
}

func timeFilter(start, end time.Time) string {
	return fmt.Sprintf("_time:[%s, %s)", start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano))
}

// Search implements logs.Backend.
func (b *Backend) Search(ctx context.Context, q logs.Query, each func(logs.Entry) error) (logs.Stats, error) {
	filters, err := b.LogsQL(q)
	if err != nil {
		return logs.Stats{}, err
	}
	if q.Previous {
		return logs.Stats{}, &logs.QueryError{Backend: "victorialogs", Message: "previous (a restarted container's earlier logs) needs the kubernetes backend; search the time before the restart instead"}
	}
	start, end := q.Window(time.Now())
	native := timeFilter(start, end) + " " + filters
	st := logs.Stats{Native: native, Link: b.link(native)}
	fetch := func(ctx context.Context, s, e time.Time, limit int, backward bool) ([]logs.Entry, error) {
		order := "_time"
		if backward {
			order = "_time desc"
		}
		return b.query(ctx, fmt.Sprintf("%s %s | sort by (%s) | limit %d", timeFilter(s, e), filters, order, limit))
	}
	truncated, err := logs.Paginate(ctx, logs.Query{Start: start, End: end, Limit: q.Limit, Tail: q.Tail}, b.cfg.PageSize, fetch, each)
	st.Truncated = truncated
	return st, err
}

// query runs one LogsQL query and decodes its JSON lines.
func (b *Backend) query(ctx context.Context, expr string) ([]logs.Entry, error) {
	form := url.Values{"query": {expr}}
	u := b.Base.JoinPath(b.QueryPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("victorialogs: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.account != "" {
		req.Header.Set("AccountID", b.account)
		if b.project != "" {
			req.Header.Set("ProjectID", b.project)
		}
	}
	resp, err := b.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []logs.Entry
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		// The response cap (endpoint.Config.MaxResponseBytes) bounds a
		// record as it bounds the page.
		rec, err := r.ReadBytes('\n')
		if rec = trimNL(rec); len(rec) > 0 {
			e, derr := decode(rec)
			if derr != nil {
				return nil, fmt.Errorf("victorialogs at %s: the answer is not VictoriaLogs' JSON lines (%v); is logs.url VictoriaLogs?", b.cfg.URL, derr)
			}
			out = append(out, e)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, b.TransportError(ctx, err)
		}
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// decode reads one record: _time, _msg and the other fields as labels.
func decode(rec []byte) (logs.Entry, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return logs.Entry{}, err
	}
	var e logs.Entry
	var ts string
	if err := json.Unmarshal(m["_time"], &ts); err != nil {
		return e, fmt.Errorf("_time: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return e, fmt.Errorf("_time %q: %w", ts, err)
	}
	e.Time = t.UTC()
	if raw, ok := m["_msg"]; ok {
		if err := json.Unmarshal(raw, &e.Line); err != nil {
			return e, fmt.Errorf("_msg: %w", err)
		}
	}
	e.Labels = make(map[string]string, len(m))
	for k, raw := range m {
		switch k {
		case "_time", "_msg", "_stream", "_stream_id":
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			e.Labels[k] = s
		}
	}
	return e, nil
}

// link opens the query in VictoriaLogs' web UI.
func (b *Backend) link(expr string) string {
	return strings.TrimRight(b.cfg.LinkURL, "/") + "/select/vmui/?#/?query=" + url.QueryEscape(expr)
}
