package logs

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Structured lines. A JSON or logfmt line is one token to a miner that
// splits on spaces, or a bag of fields in no fixed order; what a person
// means by its pattern is its message. These functions find the message
// by the field names loggers use, and failing that by which field reads
// like prose, so a logger with its own convention still works.

// messageKeys are the field names, lower-cased, that loggers put the
// message under, most specific first: Go's slog and zap, logrus, pino,
// bunyan, Serilog's compact form, GELF, Docker's json-file, journald,
// OpenTelemetry, Google Cloud Logging.
var messageKeys = []string{"msg", "message", "@m", "@message", "short_message", "log", "text", "textpayload", "body", "event", "full_message", "description"}

// timeKeys are fields that hold a time, left out of a line's fields.
var timeKeys = map[string]bool{"time": true, "ts": true, "timestamp": true, "@timestamp": true, "@t": true, "t": true, "date": true, "datetime": true, "eventtime": true, "caller": true, "source_location": true}

// StructuredMessage returns the message of a JSON object or logfmt line
// and true, or the line and false when it is neither or has no message
// field. A JSON object without a message field gives its fields (see
// MineText) and true. It allocates only for messages with escapes.
func StructuredMessage(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if len(t) >= 2 && t[0] == '{' && t[len(t)-1] == '}' {
		msg, key, valid := findMessage(t)
		if !valid {
			return line, false
		}
		if key == "" {
			return fieldsText(t, ""), true
		}
		// Docker's json-file and similar wrappers carry the program's
		// own line, which may be structured in its turn.
		if strings.EqualFold(key, "log") || strings.EqualFold(key, "body") {
			if inner, ok := StructuredMessage(msg); ok {
				return inner, true
			}
		}
		return strings.TrimSpace(msg), true
	}
	if msg, ok := logfmtMessage(t); ok {
		return msg, true
	}
	return line, false
}

// findMessage returns the message of the JSON object s and its key: the
// string under the first of messageKeys present (in any case), else the
// string member that reads most like prose (the most words of letters,
// at least two). key is empty when there is none; valid is false when s
// is not a JSON object.
func findMessage(s string) (msg, key string, valid bool) {
	rank := len(messageKeys)
	valid = eachMember(s, func(k, raw string) {
		if len(raw) <= 2 || raw[0] != '"' {
			return
		}
		for i, want := range messageKeys[:rank] {
			if len(k) == len(want) && strings.EqualFold(k, want) {
				rank, key, msg = i, k, raw
				return
			}
		}
	})
	if !valid {
		return "", "", false
	}
	if key == "" {
		// No field by a known name: the one that reads like prose.
		bestWords := 1
		eachMember(s, func(k, raw string) {
			if len(raw) <= 2 || raw[0] != '"' || timeKeys[strings.ToLower(k)] {
				return
			}
			if n := proseWords(raw[1 : len(raw)-1]); n > bestWords || n == bestWords && key != "" && k < key {
				msg, key, bestWords = raw, k, n
			}
		})
	}
	if key == "" {
		return "", "", true
	}
	text := jsonString(msg)
	if strings.TrimSpace(text) == "" {
		return "", "", true
	}
	return text, key, true
}

// eachMember calls fn with the key and the raw value of each top-level
// member of the JSON object s, and reports whether s is one (numbers and
// literals are not checked beyond their extent). Keys with escapes are
// passed raw.
func eachMember(s string, fn func(key, raw string)) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return false
		}
		end := stringEnd(s, i)
		if end < 0 {
			return false
		}
		key := s[i+1 : end-1]
		i = skipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		vend := valueEnd(s, i)
		if vend < 0 {
			return false
		}
		fn(key, s[i:vend])
		i = skipSpace(s, vend)
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return skipSpace(s, i+1) == len(s)
		default:
			return false
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at s[i], or
// -1.
func stringEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the JSON value starting at s[i], or -1.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				e := stringEnd(s, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// jsonString returns the text of a raw JSON string, unescaped.
func jsonString(raw string) string {
	if strings.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	var v string
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return raw[1 : len(raw)-1]
	}
	return v
}

// proseWords counts the words of s made of letters only.
func proseWords(s string) int {
	n := 0
	for _, w := range strings.Fields(s) {
		w = trimPunct(w)
		letters := len(w) > 1
		for i := 0; i < len(w) && letters; i++ {
			c := w[i]
			letters = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '\'' || c == '-'
		}
		if letters {
			n++
		}
	}
	return n
}

// fieldsText writes the members of the JSON object s as key=value in key
// order, without the times and without the member skip, so that member
// order does not split a template and the template reads like a message.
// String values are unescaped, and quoted when they hold a space; other
// values are written as they are.
func fieldsText(s, skip string) string {
	type member struct{ key, raw string }
	var ms []member
	eachMember(s, func(k, raw string) {
		if k != skip && !timeKeys[strings.ToLower(k)] {
			ms = append(ms, member{k, raw})
		}
	})
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].key < ms[j].key })
	var b strings.Builder
	for _, m := range ms {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(m.key)
		b.WriteByte('=')
		if m.raw[0] != '"' {
			b.WriteString(m.raw)
			continue
		}
		v := jsonString(m.raw)
		if v == "" || strings.ContainsAny(v, " \t\"") {
			b.WriteString(strconv.Quote(v))
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}

// logfmtMessage returns the message field of a logfmt line (key=value
// pairs, values bare or double-quoted with backslash escapes). A line is
// logfmt only when it starts with a pair and has at least two.
func logfmtMessage(line string) (string, bool) {
	pairs, msg, found := 0, "", false
	rank := len(messageKeys)
	for line != "" {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		k := fieldKey(line)
		if k == 0 {
			if pairs == 0 {
				return "", false
			}
			// Text that is not a pair: skip a word, as logfmt readers do.
			if i := strings.IndexAny(line, " \t"); i >= 0 {
				line = line[i:]
				continue
			}
			break
		}
		key := line[:k-1]
		if len(key) <= len("short_message") {
			key = strings.ToLower(key)
		}
		line = line[k:]
		var val string
		if line[0] == '"' {
			end := closingQuote(line)
			if end < 0 {
				val, line = line[1:], ""
			} else {
				raw := line[:end+1]
				line = line[end+1:]
				val = raw[1 : len(raw)-1]
				if strings.IndexByte(val, '\\') >= 0 {
					if v, err := strconv.Unquote(raw); err == nil {
						val = v
					}
				}
			}
		} else {
			end := strings.IndexAny(line, " \t")
			if end < 0 {
				end = len(line)
			}
			val, line = line[:end], line[end:]
		}
		pairs++
		for i, want := range messageKeys[:rank] {
			if key == want {
				msg, found, rank = val, true, i
				break
			}
		}
		if rank == 0 && pairs >= 2 {
			break // nothing ranks above msg
		}
	}
	return msg, found && pairs >= 2
}

// closingQuote returns the index of the quote that ends the quoted string
// at the start of s, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
