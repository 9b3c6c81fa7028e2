package redact

import (
	"regexp"
	"strings"
)

// carry is what a line leaves for the lines after it. Redaction works a
// line at a time, which keeps it linear and lets Copy stream, but a few
// secrets span lines: a private key, and a value written on the line after
// its key (pretty-printed JSON, YAML). Only rules that ran on a line — so
// only lines with a hint — set it.
type carry struct {
	// inKey: inside a PEM private key whose END line has not come; held
	// is the start of the line it began on, up to the key's Mask, to be
	// joined with what follows the END.
	inKey bool
	held  string
	// value, when not 0, is one more than the column of a secret key that
	// ended its line ("password":); the value is on the next line that is
	// not blank.
	value int
	// block, when not 0, is one more than the column of a secret key that
	// introduced a YAML block scalar (password: |); the block's lines are
	// those indented at least this much, and blank lines.
	block int
}

var (
	pemBegin = regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
	pemEnd   = regexp.MustCompile(`-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
)

// redactPrivateKey replaces a PEM private key, from its BEGIN line to its
// END line, by one Mask. A key that does not end on this line sets
// c.inKey: the lines up to its END are dropped, and a key cut off by
// truncation is hidden to the end of the text.
func redactPrivateKey(line string, c *carry) string {
	begin := pemBegin.FindStringIndex(line)
	if begin == nil {
		return line
	}
	if end := pemEnd.FindStringIndex(line[begin[1]:]); end != nil {
		// A key with escaped line breaks ("...KEY-----\nMII...") is one line.
		return line[:begin[0]] + Mask + redactPrivateKey(line[begin[1]+end[1]:], c)
	}
	c.inKey = true
	return line[:begin[0]] + Mask
}

// blockIndicator reports whether rest, what follows a key's delimiter, is
// a YAML block scalar header (|, >-, |+2 …) and nothing else but a comment.
func blockIndicator(rest string) bool {
	if rest == "" || rest[0] != '|' && rest[0] != '>' {
		return false
	}
	i := 1
	for i < len(rest) && i <= 2 && strings.IndexByte("+-123456789", rest[i]) >= 0 {
		i++
	}
	rest = strings.TrimLeft(rest[i:], " \t")
	return rest == "" || rest[0] == '#' || rest[0] == '\r' || rest[0] == '\n'
}

// maskBlockLine masks a line of a YAML block scalar whose lines are indented
// at least indent columns; it reports false for the first line after the
// block. Blank lines belong to the block and are kept.
func maskBlockLine(line string, indent int) (string, bool) {
	body, eol := cutEOL(line)
	n := leadingSpaces(body)
	switch {
	case n == len(body):
		return line, true
	case n < indent:
		return line, false
	case strings.HasPrefix(body[n:], Mask):
		return line, true
	}
	return body[:n] + Mask + eol, true
}

// maskNextLineValue masks the value at the start of line for a secret key
// that ended the line before it, at column need-1. A quoted value (JSON) is
// masked wherever it starts; a plain one (YAML) only if it is indented
// under the key and is not itself a key, a list item or a nested object.
// On a blank line the value is still to come, and c says so.
func maskNextLineValue(line string, need int, c *carry) string {
	body, eol := cutEOL(line)
	n := leadingSpaces(body)
	rest := body[n:]
	if rest == "" {
		c.value = need
		return line
	}
	if q := rest[0]; q == '"' || q == '\'' {
		ve := valueEnd(body, n)
		if ve <= n || !maskable(body[n:ve]) {
			return line
		}
		return body[:n] + string(q) + Mask + string(q) + body[ve:] + eol
	}
	value := strings.TrimRight(rest, " \t,")
	if n < need || !maskable(value) || strings.IndexByte("-#{[]}&*!|>%@`", value[0]) >= 0 ||
		strings.HasSuffix(value, ":") || strings.Contains(value, ": ") {
		return line
	}
	return body[:n] + Mask + rest[len(value):] + eol
}

// cutEOL splits a line into its text and its line break ("\n", "\r\n" or
// nothing).
func cutEOL(line string) (body, eol string) {
	body = strings.TrimSuffix(line, "\n")
	body = strings.TrimSuffix(body, "\r")
	return body, line[len(body):]
}

func leadingSpaces(s string) int {
	n := 0
	for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
		n++
	}
	return n
}
