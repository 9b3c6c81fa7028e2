package logs

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// ErrBadFormat is wrapped by every error of ParseFormat: the format, not
// the input, needs fixing.
var ErrBadFormat = errors.New("bad log format")

// Format reads log lines laid out as a logparser (Loghub) log_format, for
// example `<Date> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`.
//
// The contract is logparser's: the format is a regular expression in
// which <Field> stands for a named field. The text between fields is a
// regular-expression fragment (escaped brackets `\[`, optional groups
// `(…)?`, alternations) in which a run of spaces matches `\s+`. Every field
// is lazy (`.*?`) except Content, which is greedy; the expression is
// anchored at both ends and matched against the line without its leading
// and trailing white space. Fields are found by name, so groups of the
// format's own do not shift them. A field inside an optional group that
// did not take part is empty.
//
// A Format is safe for concurrent use.
type Format struct {
	re *regexp.Regexp
	// head matches the part before Content when the format ends in
	// Content: the rest of the line is Content, and a long line costs
	// only its header.
	head    *regexp.Regexp
	fields  []string
	groups  []int // submatch index of each field
	content int   // index of Content in fields
	// fast matches formats whose separators are plain text, which most
	// are, without the regular expression's cost. Nil when it cannot.
	fast []part
}

// maxHeaderBytes is how far into a line its header (the fields before
// Content) is looked for, so that a runaway line costs little.
const maxHeaderBytes = 64 << 10

type part struct {
	field int    // index in fields, or -1 for a separator
	lit   string // literal separator text
	ws    bool   // separator is white space (\s+)
}

var (
	fieldRe  = regexp.MustCompile(`<([^<>]+)>`)
	spacesRe = regexp.MustCompile(` +`)
)

// ParseFormat compiles a log format. It fails, wrapping ErrBadFormat, when
// the format has no <Content> field, names a field twice, or is not a
// valid regular expression (an unbalanced parenthesis, say).
func ParseFormat(format string) (*Format, error) {
	locs := fieldRe.FindAllStringSubmatchIndex(format, -1)
	if len(locs) == 0 {
		return nil, fmt.Errorf("%w %q: it has no <Field>; use the Loghub notation, e.g. '<Date> <Time> <Level> <Component>: <Content>' (or '<Content>' for whole lines)", ErrBadFormat, format)
	}
	f := &Format{content: -1}
	var re strings.Builder
	re.WriteString(`^(?:`)
	headEnd := -1 // length of re before Content's group
	last := 0
	fastOK := true
	seen := map[string]bool{}
	for i, m := range locs {
		sep := format[last:m[0]]
		if oddBackslashes(sep) {
			return nil, fmt.Errorf("%w %q: the backslash before <%s> escapes nothing; write \\\\ for a backslash", ErrBadFormat, format, format[m[2]:m[3]])
		}
		re.WriteString(separatorRegexp(sep))
		fastOK = fastOK && f.addSeparator(sep)
		name := format[m[2]:m[3]]
		if seen[name] {
			return nil, fmt.Errorf("%w %q: the field <%s> appears twice; give each field its own name", ErrBadFormat, format, name)
		}
		seen[name] = true
		// Groups get synthetic names: field names need not be valid
		// group names ("<Log-Level>"), and fields are found by index.
		if name == "Content" {
			f.content = len(f.fields)
			headEnd = re.Len()
			fmt.Fprintf(&re, `(?P<f%d>.*)`, i)
		} else {
			fmt.Fprintf(&re, `(?P<f%d>.*?)`, i)
		}
		f.fast = append(f.fast, part{field: len(f.fields)})
		f.fields = append(f.fields, name)
		last = m[1]
	}
	if f.content < 0 {
		return nil, fmt.Errorf("%w %q: it has no <Content> field; name the message to mine, e.g. '<Date> <Time> <Level>: <Content>'", ErrBadFormat, format)
	}
	if oddBackslashes(format[last:]) {
		return nil, fmt.Errorf("%w %q: it ends in a backslash that escapes nothing; write \\\\ for a backslash", ErrBadFormat, format)
	}
	re.WriteString(separatorRegexp(format[last:]))
	fastOK = fastOK && f.addSeparator(format[last:])
	re.WriteString(`)$`)
	rx, err := regexp.Compile(re.String())
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = string(se.Code) // the expression around it is ours
		}
		return nil, fmt.Errorf("%w %q: the text between <Field>s is a regular expression, and this one is not valid (%s); escape literal brackets and parentheses as \\[ \\] \\( \\)", ErrBadFormat, format, msg)
	}
	f.re = rx
	for i := range f.fields {
		f.groups = append(f.groups, rx.SubexpIndex(fmt.Sprintf("f%d", i)))
	}
	// With Content last and greedy, the anchored match is the header's
	// first match followed by the rest of the line: the same fields.
	if f.content == len(f.fields)-1 && last == len(format) {
		head := re.String()[:headEnd] + ")"
		if tree, err := syntax.Parse(head, syntax.Perl); err == nil && !topLevelAlternation(tree) {
			f.head, _ = regexp.Compile(head) // a prefix of a valid expression closed: valid
		}
	}
	// The fast matcher ends every field at the first match of what
	// follows, which is what a lazy field does; Content is greedy, so
	// only a format ending in Content can use it.
	if !fastOK || f.content != len(f.fields)-1 || f.fast[len(f.fast)-1].field != f.content {
		f.fast = nil
	}
	return f, nil
}

// oddBackslashes reports whether s ends in an escape with nothing to
// escape, which would escape the group that follows in our expression.
func oddBackslashes(s string) bool {
	n := len(s) - len(strings.TrimRight(s, `\`))
	return n%2 == 1
}

// separatorRegexp is the regular expression of the text between two
// fields: logparser's rule, a run of spaces matches any white space. A
// Python-only escape with a Go equivalent is translated.
func separatorRegexp(sep string) string {
	sep = strings.ReplaceAll(sep, `\Z`, `\z`)
	return spacesRe.ReplaceAllLiteralString(sep, `\s+`)
}

// addSeparator adds a separator to the fast matcher and reports whether it
// could: only spaces and text whose regex escapes are of punctuation.
func (f *Format) addSeparator(sep string) bool {
	for sep != "" {
		if sep[0] == ' ' {
			sep = strings.TrimLeft(sep, " ")
			f.fast = append(f.fast, part{field: -1, ws: true})
			continue
		}
		var lit strings.Builder
		for sep != "" && sep[0] != ' ' {
			c := sep[0]
			switch {
			case c == '\\' && len(sep) > 1 && strings.ContainsRune(`[](){}.*+?^$|\-/:@=,;#'"`, rune(sep[1])):
				lit.WriteByte(sep[1])
				sep = sep[2:]
			case strings.ContainsRune(`[](){}.*+?^$|\`, rune(c)):
				return false // a real regular expression: use the regexp
			default:
				lit.WriteByte(c)
				sep = sep[1:]
			}
		}
		f.fast = append(f.fast, part{field: -1, lit: lit.String()})
	}
	return true
}

// Fields returns the field names in order.
func (f *Format) Fields() []string { return f.fields }

// Parse returns the line's fields in the order of Fields, or ok false when
// the line does not match. The line is matched without its leading and
// trailing white space.
func (f *Format) Parse(line string) (fields []string, ok bool) {
	line = strings.TrimSpace(line)
	if f.fast != nil {
		if vals, ok := f.matchFast(line); ok {
			return vals, true
		}
	}
	vals := make([]string, len(f.fields))
	// Content (.*) stops at a line break, which lines read from a file
	// do not have; a string that has one takes the exact path.
	if f.head != nil && strings.IndexByte(line, '\n') < 0 {
		m := f.head.FindStringSubmatchIndex(line[:min(len(line), maxHeaderBytes)])
		if m == nil {
			return nil, false
		}
		for i, g := range f.groups[:f.content] {
			if s := m[2*g]; s >= 0 {
				vals[i] = line[s:m[2*g+1]]
			}
		}
		vals[f.content] = line[m[1]:]
		return vals, true
	}
	m := f.re.FindStringSubmatchIndex(line)
	if m == nil {
		return nil, false
	}
	for i, g := range f.groups {
		if s := m[2*g]; s >= 0 {
			vals[i] = line[s:m[2*g+1]]
		}
	}
	return vals, true
}

// topLevelAlternation reports whether an expression is a|b at its top,
// inside the ^(?: … ) around it.
func topLevelAlternation(re *syntax.Regexp) bool {
	for re.Op == syntax.OpConcat || re.Op == syntax.OpCapture && re.Name == "" {
		if re.Op == syntax.OpCapture {
			re = re.Sub[0]
			continue
		}
		var inner *syntax.Regexp
		for _, sub := range re.Sub {
			if sub.Op != syntax.OpBeginText && sub.Op != syntax.OpBeginLine {
				if inner != nil {
					return false
				}
				inner = sub
			}
		}
		if inner == nil {
			return false
		}
		re = inner
	}
	return re.Op == syntax.OpAlternate
}

// Content returns the line's Content field, and whether the line matched
// the format. A line that does not match is its own content, without its
// leading and trailing white space.
func (f *Format) Content(line string) (string, bool) {
	vals, ok := f.Parse(line)
	if !ok {
		return strings.TrimSpace(line), false
	}
	return vals[f.content], true
}

// matchFast matches the lazy-field format without backtracking: each field
// ends at the first place the following separator matches. It declines
// (ok false) when that choice fails, and the regexp decides. When it
// succeeds its answer is the regexp's: a lazy field's first choice is the
// shortest, and the last field (Content) takes the rest.
func (f *Format) matchFast(line string) ([]string, bool) {
	vals := make([]string, len(f.fields))
	pos := 0
	for i, p := range f.fast {
		switch {
		case p.field >= 0:
			if i == len(f.fast)-1 {
				vals[p.field] = line[pos:]
				pos = len(line)
				continue
			}
			next := f.fast[i+1]
			var end int
			if next.ws {
				end = strings.IndexAny(line[pos:], " \t\v\f")
			} else {
				end = strings.Index(line[pos:], next.lit)
			}
			if end < 0 {
				return nil, false
			}
			vals[p.field] = line[pos : pos+end]
			pos += end
		case p.ws:
			n := 0
			for pos < len(line) && isSpace(line[pos]) {
				pos++
				n++
			}
			if n == 0 {
				return nil, false
			}
		default:
			if !strings.HasPrefix(line[pos:], p.lit) {
				return nil, false
			}
			pos += len(p.lit)
		}
	}
	return vals, pos == len(line)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'
}
