package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// lokiAPI serves the part of Loki's HTTP API that log tools use:
// /loki/api/v1/query_range, query, labels, label/<name>/values and series,
// for LogQL log queries: a stream selector, line filters, the json and
// logfmt parsers and label filters. Metric queries are refused with a
// parse error, as Loki refuses what it cannot parse.
type lokiAPI struct {
	store *logStore
	now   func() time.Time
}

const (
	lokiDefaultLimit = 100
	lokiMaxLimit     = 5000
)

func (a *lokiAPI) register(mux *http.ServeMux) {
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

func (a *lokiAPI) params(w http.ResponseWriter, r *http.Request) (q *logQuery, start, end time.Time, limit int, forward bool, ok bool) {
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

func (a *lokiAPI) queryRange(w http.ResponseWriter, r *http.Request) {
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
func (a *lokiAPI) query(w http.ResponseWriter, r *http.Request) {
	if _, err := parseLogQL(r.FormValue("query")); err != nil {
		lokiError(w, http.StatusBadRequest, err.Error())
		return
	}
	lokiError(w, http.StatusBadRequest, "log queries are not supported as an instant query type, please change your query to a range query type")
}

func (a *lokiAPI) matching(r *http.Request) ([]*logStream, bool, error) {
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

func (a *lokiAPI) labels(w http.ResponseWriter, r *http.Request) {
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

func (a *lokiAPI) labelValues(w http.ResponseWriter, r *http.Request) {
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

func (a *lokiAPI) series(w http.ResponseWriter, r *http.Request) {
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

// run evaluates a log query: matching streams, lines in [start, end) that
// pass every stage, newest first (or oldest with forward), at most limit
// lines, grouped by their final label sets.
func (l *logStore) run(q *logQuery, start, end time.Time, limit int, forward bool) []map[string]any {
	type hit struct {
		labels map[string]string
		e      logEntry
	}
	var hits []hit
	l.mu.RLock()
	for _, s := range l.streams {
		if !matchAll(q.selector, s.labels) {
			continue
		}
		lo := sort.Search(len(s.entries), func(i int) bool { return !s.entries[i].ts.Before(start) })
		for _, e := range s.entries[lo:] {
			if !e.ts.Before(end) {
				break
			}
			if ls, ok := q.apply(e.line, s.labels); ok {
				hits = append(hits, hit{ls, e})
			}
		}
	}
	l.mu.RUnlock()
	sort.SliceStable(hits, func(i, j int) bool {
		if forward {
			return hits[i].e.ts.Before(hits[j].e.ts)
		}
		return hits[i].e.ts.After(hits[j].e.ts)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	byKey := map[string]int{}
	out := []map[string]any{}
	for _, h := range hits {
		key := labelKey(h.labels)
		i, ok := byKey[key]
		if !ok {
			i = len(out)
			byKey[key] = i
			out = append(out, map[string]any{"stream": h.labels, "values": [][2]string{}})
		}
		out[i]["values"] = append(out[i]["values"].([][2]string), [2]string{strconv.FormatInt(h.e.ts.UnixNano(), 10), h.e.line})
	}
	return out
}

// --- LogQL subset ---

type labelMatcher struct {
	name, op, value string
	re              *regexp.Regexp
}

func (m labelMatcher) matches(v string) bool {
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	case "!~":
		return !m.re.MatchString(v)
	}
	return false
}

func matchAll(ms []labelMatcher, ls map[string]string) bool {
	for _, m := range ms {
		if !m.matches(ls[m.name]) {
			return false
		}
	}
	return true
}

// stage is one pipeline step: a line filter, a parser or a label filter.
type stage struct {
	kind     string // line, json, logfmt, label
	op       string
	value    string
	re       *regexp.Regexp
	matcher  labelMatcher
	numeric  bool
	number   float64
	compared string
}

type logQuery struct {
	selector []labelMatcher
	stages   []stage
}

// apply runs the pipeline on one line; it returns the line's labels (with
// extracted ones) and whether the line passes.
func (q *logQuery) apply(line string, streamLabels map[string]string) (map[string]string, bool) {
	ls := streamLabels
	extracted := false
	for _, st := range q.stages {
		switch st.kind {
		case "line":
			switch st.op {
			case "|=":
				if !strings.Contains(line, st.value) {
					return nil, false
				}
			case "!=":
				if strings.Contains(line, st.value) {
					return nil, false
				}
			case "|~":
				if !st.re.MatchString(line) {
					return nil, false
				}
			case "!~":
				if st.re.MatchString(line) {
					return nil, false
				}
			}
		case "json", "logfmt":
			if !extracted {
				ls = copyLabels(streamLabels)
				extracted = true
			}
			var fields map[string]string
			if st.kind == "json" {
				fields = jsonFields(line)
			} else {
				fields = logfmtFields(line)
			}
			for k, v := range fields {
				if _, exists := streamLabels[k]; exists {
					k += "_extracted"
				}
				ls[k] = v
			}
		case "label":
			v := ls[st.matcher.name]
			if st.numeric {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || !compare(f, st.compared, st.number) {
					return nil, false
				}
			} else if !st.matcher.matches(v) {
				return nil, false
			}
		}
	}
	return ls, true
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	}
	return false
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+8)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonFields(line string) map[string]string {
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return map[string]string{"__error__": "JSONParserErr"}
	}
	out := map[string]string{}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[sanitizeLabel(k)] = x
		case float64:
			out[sanitizeLabel(k)] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[sanitizeLabel(k)] = strconv.FormatBool(x)
		}
	}
	return out
}

func logfmtFields(line string) map[string]string {
	out := map[string]string{}
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		k := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' {
			i++
		}
		key := line[k:i]
		if i >= len(line) || line[i] != '=' {
			continue
		}
		i++
		var val string
		if i < len(line) && line[i] == '"' {
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if s, err := strconv.Unquote(line[i:min(j+1, len(line))]); err == nil {
				val = s
			} else {
				val = line[i+1 : min(j, len(line))]
			}
			i = j + 1
		} else {
			j := i
			for j < len(line) && line[j] != ' ' {
				j++
			}
			val = line[i:j]
			i = j
		}
		if key != "" {
			out[sanitizeLabel(key)] = val
		}
	}
	return out
}

func sanitizeLabel(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, k)
}

// parseLogQL parses the supported subset, with errors in Loki's words.
func parseLogQL(s string) (*logQuery, error) {
	p := &lqParser{src: s}
	return p.parse()
}

type lqParser struct {
	src string
	pos int
}

func (p *lqParser) errf(format string, a ...any) error {
	return fmt.Errorf("parse error at line 1, col %d: %s", p.pos+1, fmt.Sprintf(format, a...))
}

func (p *lqParser) skip() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *lqParser) peek(tok string) bool {
	p.skip()
	return strings.HasPrefix(p.src[p.pos:], tok)
}

func (p *lqParser) ident() string {
	p.skip()
	start := p.pos
	for p.pos < len(p.src) {
		c := rune(p.src[p.pos])
		if c == '_' || unicode.IsLetter(c) || (p.pos > start && unicode.IsDigit(c)) {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *lqParser) str() (string, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return "", p.errf("syntax error: unexpected $end, expecting STRING")
	}
	switch p.src[p.pos] {
	case '`':
		end := strings.IndexByte(p.src[p.pos+1:], '`')
		if end < 0 {
			return "", p.errf("syntax error: unterminated raw string")
		}
		v := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return v, nil
	case '"':
		j := p.pos + 1
		for j < len(p.src) && p.src[j] != '"' {
			if p.src[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(p.src) {
			return "", p.errf("syntax error: unterminated string")
		}
		v, err := strconv.Unquote(p.src[p.pos : j+1])
		if err != nil {
			return "", p.errf("invalid string %s: %v", p.src[p.pos:j+1], err)
		}
		p.pos = j + 1
		return v, nil
	}
	return "", p.errf("syntax error: unexpected %q, expecting STRING", p.src[p.pos:min(p.pos+10, len(p.src))])
}

func (p *lqParser) op(ops ...string) string {
	p.skip()
	for _, o := range ops {
		if strings.HasPrefix(p.src[p.pos:], o) {
			p.pos += len(o)
			return o
		}
	}
	return ""
}

func (p *lqParser) matcher() (labelMatcher, error) {
	name := p.ident()
	if name == "" {
		return labelMatcher{}, p.errf("syntax error: unexpected %q, expecting IDENTIFIER", p.rest())
	}
	op := p.op("=~", "!~", "!=", "=")
	if op == "" {
		return labelMatcher{}, p.errf("syntax error: unexpected %q, expecting = or != or =~ or !~", p.rest())
	}
	v, err := p.str()
	if err != nil {
		return labelMatcher{}, err
	}
	m := labelMatcher{name: name, op: op, value: v}
	if op == "=~" || op == "!~" {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return labelMatcher{}, p.errf("invalid regex %q: %v", v, err)
		}
		m.re = re
	}
	return m, nil
}

func (p *lqParser) rest() string {
	r := p.src[p.pos:]
	if r == "" {
		return "$end"
	}
	return r[:min(len(r), 12)]
}

var metricFuncs = regexp.MustCompile(`^\s*(rate|count_over_time|bytes_over_time|bytes_rate|sum|avg|min|max|count|topk|bottomk|sum_over_time|avg_over_time|quantile_over_time|absent_over_time|first_over_time|last_over_time|stddev|stdvar|sort|sort_desc)\b`)

func (p *lqParser) parse() (*logQuery, error) {
	if strings.TrimSpace(p.src) == "" {
		return nil, p.errf("syntax error: unexpected $end")
	}
	if metricFuncs.MatchString(p.src) {
		return nil, p.errf("metric queries are not supported by the Watchkeeper sandbox; send a log query such as {service=\"checkout\"} |= \"error\"")
	}
	q := &logQuery{}
	if !p.peek("{") {
		return nil, p.errf("syntax error: unexpected %q, expecting {", p.rest())
	}
	p.pos++
	for {
		if p.peek("}") {
			p.pos++
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		q.selector = append(q.selector, m)
		if p.peek(",") {
			p.pos++
			continue
		}
		if !p.peek("}") {
			return nil, p.errf("syntax error: unexpected %q, expecting , or }", p.rest())
		}
	}
	nonEmpty := false
	for _, m := range q.selector {
		if !(m.op == "=" && m.value == "") && !(m.re != nil && m.re.MatchString("")) && m.op != "!=" {
			nonEmpty = true
		}
	}
	if !nonEmpty {
		return nil, p.errf("queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will")
	}
	for {
		p.skip()
		if p.pos >= len(p.src) {
			return q, nil
		}
		switch op := p.op("|=", "|~", "!=", "!~", "|"); op {
		case "|=", "|~", "!=", "!~":
			v, err := p.str()
			if err != nil {
				return nil, err
			}
			st := stage{kind: "line", op: op, value: v}
			if op == "|~" || op == "!~" {
				re, err := regexp.Compile(v)
				if err != nil {
					return nil, p.errf("invalid regex %q: %v", v, err)
				}
				st.re = re
			}
			q.stages = append(q.stages, st)
		case "|":
			name := p.ident()
			switch name {
			case "json", "logfmt":
				q.stages = append(q.stages, stage{kind: name})
			case "":
				return nil, p.errf("syntax error: unexpected %q after |", p.rest())
			case "line_format", "label_format", "pattern", "regexp", "unpack", "unwrap", "drop", "keep", "decolorize", "distinct":
				return nil, p.errf("the %s stage is not supported by the Watchkeeper sandbox; use line filters, | json or | logfmt and label filters", name)
			default:
				if op := p.op("==", "!=", ">=", "<=", ">", "<", "=~", "!~", "="); op != "" {
					p.skip()
					if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '`') {
						v, err := p.str()
						if err != nil {
							return nil, err
						}
						if op == "==" {
							op = "="
						}
						m := labelMatcher{name: name, op: op, value: v}
						if op == "=~" || op == "!~" {
							re, err := regexp.Compile("^(?:" + v + ")$")
							if err != nil {
								return nil, p.errf("invalid regex %q: %v", v, err)
							}
							m.re = re
						}
						if op != "=" && op != "!=" && op != "=~" && op != "!~" {
							return nil, p.errf("syntax error: %s cannot compare strings", op)
						}
						q.stages = append(q.stages, stage{kind: "label", matcher: m})
					} else {
						start := p.pos
						for p.pos < len(p.src) && (unicode.IsDigit(rune(p.src[p.pos])) || p.src[p.pos] == '.' || p.src[p.pos] == '-') {
							p.pos++
						}
						f, err := strconv.ParseFloat(p.src[start:p.pos], 64)
						if err != nil {
							return nil, p.errf("syntax error: unexpected %q, expecting STRING or NUMBER", p.rest())
						}
						if op == "=" {
							op = "=="
						}
						q.stages = append(q.stages, stage{kind: "label", matcher: labelMatcher{name: name}, numeric: true, number: f, compared: op})
					}
				} else {
					return nil, p.errf("syntax error: unexpected %q after | %s", p.rest(), name)
				}
			}
		default:
			return nil, p.errf("syntax error: unexpected %q", p.rest())
		}
	}
}
