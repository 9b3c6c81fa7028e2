package logs

import (
	"fmt"
	"regexp"
	"strings"
)

// Format reads log lines laid out as a logparser (Loghub) log_format such as
// `<Date> <Time> <Pid> <Level> <Component>: <Content>`: <Field> is a named
// field, and the text between fields is a regular-expression fragment in
// which a run of spaces matches \s+. The whole line must match.
//
// A Format is safe for concurrent use.
type Format struct {
	re      *regexp.Regexp
	fields  []string
	content int // index of Content in fields, or -1
	// fast is a matcher for formats whose separators are plain text,
	// which most are; it avoids the regular expression's cost.
	fast []part
}

type part struct {
	field int    // index in fields, or -1 for a separator
	lit   string // literal separator text
	ws    bool   // separator is whitespace (\s+)
}

var fieldRe = regexp.MustCompile(`<([^<>]+)>`)

// ParseFormat compiles a log format.
func ParseFormat(format string) (*Format, error) {
	if !strings.Contains(format, "<") {
		return nil, fmt.Errorf("log format %q has no <Field>; use the Loghub notation, e.g. '<Date> <Time> <Level> <Component>: <Content>'", format)
	}
	f := &Format{content: -1}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	fastOK := true
	for _, m := range fieldRe.FindAllStringSubmatchIndex(format, -1) {
		sep := format[last:m[0]]
		re.WriteString(spaces(sep))
		fastOK = fastOK && f.addSeparator(sep)
		name := format[m[2]:m[3]]
		if name == "Content" {
			f.content = len(f.fields)
		}
		fmt.Fprintf(&re, "(?P<%s>.*?)", sanitizeGroup(name))
		f.fast = append(f.fast, part{field: len(f.fields)})
		f.fields = append(f.fields, name)
		last = m[1]
	}
	if f.content < 0 {
		return nil, fmt.Errorf("log format %q has no <Content> field: name the message to mine, e.g. '<Date> <Time> <Level>: <Content>'", format)
	}
	re.WriteString(spaces(format[last:]))
	fastOK = fastOK && f.addSeparator(format[last:])
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, fmt.Errorf("log format %q: %w", format, err)
	}
	f.re = rx
	if !fastOK {
		f.fast = nil
	}
	return f, nil
}

func spaces(sep string) string {
	return regexp.MustCompile(` +`).ReplaceAllString(sep, `\s+`)
}

func sanitizeGroup(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
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
			case c == '\\' && len(sep) > 1 && strings.ContainsRune(`[](){}.*+?^$|\-/:@=`, rune(sep[1])):
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

// Parse returns the line's fields, or ok false when it does not match.
func (f *Format) Parse(line string) (fields []string, ok bool) {
	if f.fast != nil {
		if vals, ok := f.matchFast(line); ok {
			return vals, true
		}
	}
	m := f.re.FindStringSubmatch(line)
	if m == nil {
		return nil, false
	}
	return m[1:], true
}

// Content returns the line's Content field, or the whole line when the
// line does not match the format.
func (f *Format) Content(line string) string {
	vals, ok := f.Parse(line)
	if !ok {
		return line
	}
	return vals[f.content]
}

// matchFast matches the lazy-field format without backtracking: each field
// ends at the first place the following separator matches. It declines
// (ok false) when that greedy choice fails, and the regexp decides.
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
				end = strings.IndexAny(line[pos:], " \t")
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
			for pos < len(line) && (line[pos] == ' ' || line[pos] == '\t') {
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
