package logs

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLineBytes is where Sanitize cuts a line by default: enough for a
// stack-trace line or a JSON record, far below what a runaway logger writes.
const MaxLineBytes = 2048

// Sanitize makes a log line safe to show a model or a person: terminal
// escape sequences (ANSI colours, OSC titles and hyperlinks) are removed,
// control characters dropped — line breaks inside one entry become " ⏎ " so
// an entry stays one line — invisible direction overrides and zero-width
// characters (which can hide text from a reader) removed, invalid UTF-8
// replaced, and the line cut to max bytes with a note of how much was cut.
// max <= 0 means MaxLineBytes. Clean short lines are returned as they are,
// without allocating.
func Sanitize(line string, max int) string {
	if max <= 0 {
		max = MaxLineBytes
	}
	if len(line) <= max && isClean(line) {
		return line
	}
	var b strings.Builder
	b.Grow(min(len(line), max) + 32)
	i := 0
	for i < len(line) && b.Len() < max {
		c := line[i]
		switch {
		case c == 0x1b:
			i = skipEscape(line, i)
			continue
		case c == '\n':
			if b.Len() > 0 && i+1 < len(line) {
				b.WriteString(" ⏎ ")
			}
			i++
			continue
		case c == '\t':
			b.WriteByte(' ')
			i++
			continue
		case c < 0x20 || c == 0x7f:
			i++
			continue
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(line[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case invisible(r):
		case r >= 0x80 && r < 0xa0: // C1 controls, including the 8-bit CSI
		default:
			b.WriteRune(r)
		}
	}
	if i < len(line) {
		fmt.Fprintf(&b, " …[line cut: %d more bytes]", len(line)-i)
	}
	return b.String()
}

// isClean reports whether line is printable ASCII (tabs aside), the common
// case that needs no work.
func isClean(line string) bool {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// skipEscape returns the index after the escape sequence starting at i:
// CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), or ESC and one
// more character.
func skipEscape(s string, i int) int {
	i++ // ESC
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		i++
		for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
			i++
		}
		return min(i+1, len(s))
	case ']', 'P', '_', '^':
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	return i + 1
}

// invisible reports runes that change how text displays without showing:
// bidirectional overrides and isolates ("Trojan Source"), zero-width
// characters, and the byte-order mark.
func invisible(r rune) bool {
	switch {
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}
