package logs

import "strings"

// Token classes: which tokens of a message carry values. A template keeps
// the words a program writes and replaces what changes from line to line.
// The rules are about the shape of a token, never about one system's
// vocabulary, and they err towards keeping a word: a word that varies is
// still found by the miner, when it varies, from the lines themselves.

// isVariable reports whether tok, on its own, is a value: it holds a
// digit (numbers, IDs, IPs, times, hex, versions, sizes such as 12MB),
// a wildcard, or its core (without the punctuation around it) is a path,
// a URL, a Windows path, an e-mail address or a host name.
func isVariable(tok string) bool {
	special := false
	for i := 0; i < len(tok); i++ {
		switch tok[i] {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return true
		case '/', '\\', '@', '.', '<', '~':
			special = true
		}
	}
	core := trimPunct(tok)
	if !special {
		return isLiteral(core) // a word, unless a boolean
	}
	switch {
	case strings.Contains(tok, Wildcard):
		return true
	case len(core) < 2:
		return false
	case core[0] == '/', core[0] == '~' && core[1] == '/', strings.HasPrefix(core, "./"), strings.HasPrefix(core, "../"):
		return true // a path: /var/lib/app, ~/x, ./run
	case strings.Contains(core, "://"):
		return true // a URL
	case strings.IndexByte(core, '\\') >= 0 && len(core) > 2:
		return true // a Windows path or domain\user
	case strings.IndexByte(core, '/') > 0 && strings.IndexByte(core, '.') >= 0:
		return true // a relative path with a file or package: com.app/.Main, lib/x.so
	}
	if at := strings.IndexByte(core, '@'); at > 0 && strings.IndexByte(core[at:], '.') > 0 {
		return true // user@host.example
	}
	return isLiteral(core) || isHostName(core)
}

// trimPunct strips the brackets, quotes and trailing punctuation around a
// token: "(alice)," is alice, "[10.0.0.1]" is 10.0.0.1.
func trimPunct(tok string) string {
	i, j := 0, len(tok)
	for i < j && strings.IndexByte(`([{<'"`+"`", tok[i]) >= 0 {
		i++
	}
	for j > i && strings.IndexByte(`)]}>'",;:.!?`+"`", tok[j-1]) >= 0 {
		j--
	}
	return tok[i:j]
}

// isNumeric reports whether tok's core is a number (12, -3, 1.5, <1,
// (1.16) — the kind of token a unit follows.
func isNumeric(tok string) bool {
	core := trimPunct(tok)
	core = strings.TrimLeft(core, "<>=~+-")
	if core == "" {
		return false
	}
	digits := 0
	for i := 0; i < len(core); i++ {
		switch c := core[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == ',':
		default:
			return false
		}
	}
	return digits > 0
}

// isUnit reports whether tok is a unit of size or time, which, after a
// number, belongs to the value: "1.2 MB" and "3 KB" are one variable, as
// are "<1 sec" and "250 ms". Words such as "bytes" or "seconds" are
// kept: a message names them.
func isUnit(tok string) bool {
	switch trimPunct(tok) {
	case "B", "KB", "MB", "GB", "TB", "PB", "kB", "KiB", "MiB", "GiB", "TiB", "K", "M", "G",
		"ms", "s", "sec", "secs", "us", "µs", "ns", "min", "mins", "h", "hr", "hrs", "%":
		return true
	}
	return false
}

// isDateWord reports whether tok is a month or weekday name, which is a
// variable when it stands next to a number or another such name
// ("Sun Jul 17 14:03:05 2005").
func isDateWord(tok string) bool {
	core := trimPunct(tok)
	if len(core) < 3 {
		return false
	}
	switch strings.ToLower(core[:3]) {
	case "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
		"mon", "tue", "wed", "thu", "fri", "sat", "sun":
	default:
		return false
	}
	switch strings.ToLower(core) {
	case "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
		"january", "february", "march", "april", "june", "july", "august", "september", "october", "november", "december",
		"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
		"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday":
		return true
	}
	return false
}

// isLiteral reports whether tok is a printed boolean: a program prints a
// value there. Null and nil are not: "nil pointer dereference" and "null
// pointer" are words of a message as often as values.
func isLiteral(tok string) bool {
	switch tok {
	case "true", "false", "True", "False", "TRUE", "FALSE":
		return true
	}
	return false
}

// digitOrHost is the token rule before the classes above (for measuring
// them): a digit, a wildcard or a host name.
func digitOrHost(tok string) bool {
	return hasDigit(tok) || strings.Contains(tok, Wildcard) || isHostName(tok)
}

func hasDigit(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c >= '0' && c <= '9' {
			return true
		}
	}
	return false
}

// isHostName reports whether tok is a domain name such as mail.example.com:
// three or more dot-separated labels of letters, digits and hyphens, the
// last a short alphabetic top-level domain. Java class names
// (org.apache.Foo) end in a long identifier and are kept.
func isHostName(tok string) bool {
	for len(tok) > 0 && strings.IndexByte(".,;:", tok[len(tok)-1]) >= 0 {
		tok = tok[:len(tok)-1]
	}
	dots := strings.Count(tok, ".")
	if dots < 2 {
		return false
	}
	last := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(last) < 2 || len(last) > 6 {
		return false
	}
	for i := 0; i < len(last); i++ {
		if c := last[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
