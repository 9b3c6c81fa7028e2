package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// repairJSON returns s as a JSON object, repairing the mistakes language
// models commonly make in tool arguments: code fences and prose around the
// object, single-quoted strings, unquoted keys, Python literals (True, None),
// trailing or missing commas, raw newlines inside strings, // comments, and
// output cut off before its closing brackets. An empty string is {}. It
// fails when no object can be recovered; it never invents values.
func repairJSON(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	if isObject(s) {
		return json.RawMessage(s), nil
	}
	start := strings.IndexByte(s, '{')
	if start < 0 {
		return nil, errors.New("no JSON object found")
	}
	fixed := scanRepair(s[start:])
	if !isObject(fixed) {
		var e error = errors.New("not an object")
		var v any
		if err := json.Unmarshal([]byte(fixed), &v); err != nil {
			e = err
		}
		return nil, fmt.Errorf("still invalid after repair: %w", e)
	}
	return json.RawMessage(fixed), nil
}

func isObject(s string) bool {
	if !json.Valid([]byte(s)) {
		return false
	}
	var m map[string]any
	return json.Unmarshal([]byte(s), &m) == nil
}

// scanRepair rewrites s, which starts with '{', into JSON as well as it can.
// It stops at the bracket that closes the first object.
func scanRepair(s string) string {
	var out strings.Builder
	out.Grow(len(s) + 8)
	var stack []byte // closers still owed
	inString := false
	var quote byte

	// lastSig is the last significant byte written outside strings.
	lastSig := func() byte {
		o := out.String()
		for i := len(o) - 1; i >= 0; i-- {
			if c := o[i]; c != ' ' && c != '\n' && c != '\t' && c != '\r' {
				return c
			}
		}
		return 0
	}
	dropTrailingComma := func() {
		o := out.String()
		t := strings.TrimRight(o, " \n\t\r")
		if strings.HasSuffix(t, ",") {
			out.Reset()
			out.WriteString(t[:len(t)-1])
		}
	}
	// beforeValue inserts a comma when a value or key starts right after
	// another value, as in {"a": 1 "b": 2}.
	beforeValue := func() {
		switch c := lastSig(); {
		case c == '"' || c == '}' || c == ']' || isBare(c):
			out.WriteByte(',')
		}
	}

	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case c == '\\' && i+1 < len(s):
				i++
				if s[i] == '\'' {
					out.WriteByte('\'')
				} else {
					out.WriteByte('\\')
					out.WriteByte(s[i])
				}
			case c == quote:
				inString = false
				out.WriteByte('"')
			case c == '"':
				out.WriteString(`\"`)
			case c == '\n':
				out.WriteString(`\n`)
			case c == '\r':
				out.WriteString(`\r`)
			case c == '\t':
				out.WriteString(`\t`)
			case c < 0x20:
				fmt.Fprintf(&out, `\u%04x`, c)
			default:
				out.WriteByte(c)
			}
			continue
		}
		switch {
		case c == '"' || c == '\'':
			beforeValue()
			inString, quote = true, c
			out.WriteByte('"')
		case c == '{' || c == '[':
			if len(stack) > 0 {
				beforeValue()
			}
			if c == '{' {
				stack = append(stack, '}')
			} else {
				stack = append(stack, ']')
			}
			out.WriteByte(c)
		case c == '}' || c == ']':
			dropTrailingComma()
			if lastSig() == ':' {
				out.WriteString("null")
			}
			// Pop to the matching opener; a stray closer is dropped.
			if k := strings.LastIndexByte(string(stack), c); k >= 0 {
				for len(stack) > k {
					out.WriteByte(stack[len(stack)-1])
					stack = stack[:len(stack)-1]
				}
			}
			if len(stack) == 0 {
				return out.String()
			}
		case c == ',' || c == ':':
			out.WriteByte(c)
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			out.WriteByte(c)
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case isBare(c):
			j := i
			for j < len(s) && isBare(s[j]) {
				j++
			}
			beforeValue()
			out.WriteString(bareToken(s[i:j]))
			i = j - 1
		default:
			// Anything else outside a string (backticks, stray prose) is
			// dropped rather than guessed at.
		}
	}
	if inString {
		out.WriteByte('"')
	}
	dropTrailingComma()
	if lastSig() == ':' {
		out.WriteString("null")
	}
	for k := len(stack) - 1; k >= 0; k-- {
		out.WriteByte(stack[k])
	}
	return out.String()
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '+' || c == '.' || c == '$'
}

// bareToken turns an unquoted token into JSON: numbers and JSON literals stay,
// Python literals become JSON ones, anything else becomes a string.
func bareToken(t string) string {
	switch t {
	case "true", "false", "null":
		return t
	case "True":
		return "true"
	case "False":
		return "false"
	case "None", "nil", "undefined":
		return "null"
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil && json.Valid([]byte(t)) {
		return t
	}
	return strconv.Quote(t)
}
