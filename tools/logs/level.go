package logs

import "strings"

// Level is a log line's severity, ordered so that comparisons work:
// LevelError > LevelWarn. LevelUnknown is the zero value.
type Level uint8

// Levels, least severe first.
const (
	LevelUnknown Level = iota
	LevelTrace
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
)

var levelNames = [...]string{"unknown", "trace", "debug", "info", "warn", "error", "fatal"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "unknown"
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel reads a level name as people and loggers write it: error,
// ERR, Warning, crit, E... An unknown word gives false.
func ParseLevel(s string) (Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "trc", "finest", "finer":
		return LevelTrace, true
	case "debug", "dbg", "fine", "verbose", "d":
		return LevelDebug, true
	case "info", "inf", "information", "informational", "notice", "log", "i":
		return LevelInfo, true
	case "warn", "warning", "wrn", "w":
		return LevelWarn, true
	case "error", "err", "eror", "severe", "e":
		return LevelError, true
	case "fatal", "ftl", "crit", "critical", "panic", "alert", "emerg", "emergency", "f", "dpanic":
		return LevelFatal, true
	}
	return LevelUnknown, false
}

// levelKeys are the field names structured loggers put the level under.
var levelKeys = []string{"level", "lvl", "severity", "loglevel", "log.level", "levelname"}

// DetectLevel finds the severity of a line written by common loggers:
// JSON ("level":"error"), logfmt (level=error), klog (E1124 14:00:00...),
// bracketed or bare upper-case words ([ERROR], WARN, FATAL:), and
// PostgreSQL's "ERROR:" prefixes. Only the first 256 bytes are read: the
// level is at the start, and a word deep in a message ("0 errors") is not
// a level. Lines with no recognisable level are LevelUnknown.
func DetectLevel(line string) Level {
	head := line
	if len(head) > 256 {
		head = head[:256]
	}
	// klog / glog: Lmmdd hh:mm:ss.uuuuuu
	if len(head) > 5 && strings.IndexByte("IWEF", head[0]) >= 0 && isDigits(head[1:5]) {
		switch head[0] {
		case 'I':
			return LevelInfo
		case 'W':
			return LevelWarn
		case 'E':
			return LevelError
		default:
			return LevelFatal
		}
	}
	if l, ok := keyedLevel(head); ok {
		return l
	}
	// Upper-case words: ERROR, [WARN], <ERR>, FATAL:. Lower-case prose is
	// not trusted: "no error" is not an error line.
	for i := 0; i < len(head); {
		for i < len(head) && !isUpper(head[i]) {
			i++
		}
		j := i
		for j < len(head) && isUpper(head[j]) {
			j++
		}
		if j-i >= 3 && (i == 0 || !isWord(head[i-1])) && (j == len(head) || !isWord(head[j])) {
			if l, ok := ParseLevel(head[i:j]); ok {
				return l
			}
		}
		i = j
	}
	return LevelUnknown
}

// keyedLevel finds key=value or "key":"value" for a level key.
func keyedLevel(head string) (Level, bool) {
	lower := head
	for i := 0; i < len(head); i++ {
		if c := head[i]; c >= 'A' && c <= 'Z' {
			lower = strings.ToLower(head)
			break
		}
	}
	for _, k := range levelKeys {
		from := 0
		for {
			i := strings.Index(lower[from:], k)
			if i < 0 {
				break
			}
			i += from
			from = i + len(k)
			if i > 0 && (isLetter(lower[i-1]) || lower[i-1] == '_') {
				continue
			}
			rest := lower[i+len(k):]
			rest = strings.TrimPrefix(rest, `"`)
			switch {
			case strings.HasPrefix(rest, "="):
				rest = rest[1:]
			case strings.HasPrefix(rest, ":"):
				rest = strings.TrimLeft(rest[1:], " ")
			default:
				continue
			}
			rest = strings.TrimLeft(rest, `"'`)
			j := 0
			for j < len(rest) && isLetter(rest[j]) {
				j++
			}
			if l, ok := ParseLevel(rest[:j]); ok {
				return l, true
			}
		}
	}
	return LevelUnknown, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isWord(c byte) bool   { return isLetter(c) || c >= '0' && c <= '9' || c == '_' }
