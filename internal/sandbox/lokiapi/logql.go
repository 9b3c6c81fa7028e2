package lokiapi

// The LogQL subset: a stream selector, line filters, the json and logfmt
// parsers and label filters.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

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
