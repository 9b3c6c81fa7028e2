package redact

import (
	"strings"
	"unicode"
)

// redactURLCredentials masks the secret in a URL's user information:
// the password of scheme://user:password@host, and a token used alone as
// the user (https://TOKEN@host). It is a linear scan: URLs are everywhere
// in logs, and a regular expression over every such line was the slowest
// part of redaction.
func redactURLCredentials(s string, _ *carry) string {
	var out strings.Builder
	last := 0
	for i := 0; ; {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			break
		}
		authStart := i + k + 3
		end := authStart
		for end < len(s) && !strings.ContainsRune("/?# \t\n\"'<>", rune(s[end])) {
			end++
		}
		from, to, next := userinfoSecret(s, authStart, end)
		if next == end && end > authStart && s[end-1] == ':' {
			next-- // the authority ran into the next scheme's "://"
		}
		if from < to && from >= last && !strings.HasPrefix(s[from:], Mask[:len(Mask)-1]) {
			out.WriteString(s[last:from])
			out.WriteString(Mask)
			last = to
		}
		i = next
		if i >= len(s) {
			break
		}
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// userinfoSecret returns the span of s to hide in the URL whose authority
// (up to the first slash) is s[start:end] — two equal numbers if none —
// and where the search for the next URL goes on: past what this one
// looked at, so that a line of many URLs is still read once.
func userinfoSecret(s string, start, end int) (from, to, next int) {
	auth := s[start:end]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		user := auth[:at]
		if colon := strings.IndexByte(user, ':'); colon >= 0 {
			if colon+1 < at {
				return start + colon + 1, start + at, end
			}
			return 0, 0, end
		}
		if tokenLike(user) {
			return start, start + at, end
		}
		return 0, 0, end
	}
	// No @ before the first slash, yet a colon not followed by a port:
	// perhaps a password with a slash in it (postgres://user:pa/ss@db/x).
	// Its end is the last @ before the path of the host that follows.
	colon := strings.IndexByte(auth, ':')
	if colon < 0 || end >= len(s) || s[end] != '/' || !userChars(auth[:colon]) || allDigits(auth[colon+1:]) {
		return 0, 0, end
	}
	tokEnd := end
	for tokEnd < len(s) && !strings.ContainsRune(" \t\n\"'<>", rune(s[tokEnd])) {
		tokEnd++
	}
	first := strings.IndexByte(s[end:tokEnd], '@')
	if first < 0 {
		return 0, 0, tokEnd
	}
	first += end
	hostEnd := tokEnd
	if j := strings.IndexAny(s[first:tokEnd], "/?#"); j >= 0 {
		hostEnd = first + j
	}
	at := first + strings.LastIndexByte(s[first:hostEnd], '@')
	return start + colon + 1, at, at
}

// userChars reports whether s is made of the characters a URL's user name
// may hold (RFC 3986 unreserved, percent-encoded and sub-delims); a host
// name qualifies too, an IPv6 address does not.
func userChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~%!$&'()*+,;=", c) >= 0) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// secretLastWords are the last words of key names whose values are secrets
// ("db_password", "clientSecret", "X-Api-Token").
var secretLastWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "passphrase": true, "pass": true,
	"secret": true, "token": true, "credential": true, "credentials": true, "dsn": true,
	"apikey": true, "accesskey": true, "privatekey": true, "secretkey": true,
}

// secretSuffixes end run-together key names whose values are secrets
// (PGPASSWORD, csrftoken). Short endings such as "pass" are left out:
// they end ordinary words (bypass, compass).
var secretSuffixes = []string{"password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "secretkey"}

// secretPairs are two-word key endings that name secrets.
var secretPairs = map[string]bool{
	"api key": true, "access key": true, "private key": true, "secret key": true,
	"auth key": true, "signing key": true, "encryption key": true, "session key": true,
	"connection string": true, "master key": true, "account key": true,
	// Rails' SECRET_KEY_BASE; a kubeconfig's client-key-data.
	"key base": true, "key data": true,
}

// keyKind says whether a key's value is a secret.
type keyKind int

const (
	notSecret keyKind = iota
	// secretIfTokenLike: "key" alone names cache keys, label keys and
	// object keys as often as API keys, so its value must look generated.
	secretIfTokenLike
	secretKey
)

// redactAssignments masks the values of secret-named keys in key=value,
// key: value, "key": "value" and similar forms (logfmt, JSON, YAML, env
// files, HTTP forms). Values already masked, empty values, null, booleans
// and nested objects are left alone. A secret key that ends its line, or
// introduces a YAML block scalar, leaves its value to the next lines in c.
func redactAssignments(s string, c *carry) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		d := s[i]
		if d != '=' && d != ':' {
			continue
		}
		if d == ':' && i+1 < len(s) && s[i+1] == '/' { // a URL scheme
			continue
		}
		key, keyStart := keyBefore(s[:i])
		kind := classifyKey(key)
		if kind == notSecret {
			continue
		}
		vs := i + 1
		if d == ':' && vs < len(s) && s[vs] == '=' { // :=
			vs++
		}
		for vs < len(s) && (s[vs] == ' ' || s[vs] == '\t') {
			vs++
		}
		if d == ':' && kind == secretKey && vs >= last {
			if rest := strings.TrimRight(s[vs:], "\r\n"); rest == "" {
				c.value = keyStart + 1
				continue
			} else if blockIndicator(rest) {
				c.block = keyStart + 1
				continue
			}
		}
		ve := valueEnd(s, vs)
		if ve <= vs || vs < last {
			continue
		}
		value := s[vs:ve]
		if !maskable(value) || kind == secretIfTokenLike && !tokenLike(strings.Trim(value, `"'`)) ||
			d == '=' && (labelMatcher(s[last:], keyStart-last, value) || shellDirectory(key, value)) {
			continue
		}
		out.WriteString(s[last:vs])
		if q := value[0]; q == '"' || q == '\'' {
			out.WriteByte(q)
			out.WriteString(Mask)
			out.WriteByte(q)
		} else {
			out.WriteString(Mask)
		}
		last = ve
		i = ve - 1
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// labelMatcher reports whether the key at keyStart is a label in a
// Prometheus series selector (kube_secret_info{secret="db-credentials"}):
// it follows { or , in braces that follow a metric name, and its value is
// quoted. Such a label names a Kubernetes object; it holds no secret.
func labelMatcher(s string, keyStart int, value string) bool {
	if value[0] != '"' {
		return false
	}
	j := keyStart
	for j > 0 && s[j-1] == ' ' {
		j--
	}
	if j <= 0 || s[j-1] != '{' && s[j-1] != ',' {
		return false
	}
	// Selectors are short; looking back a bounded way keeps a line of
	// many labels linear.
	from := max(0, j-512)
	open := strings.LastIndexByte(s[from:j], '{')
	if open < 0 {
		return false
	}
	open += from
	if open == 0 || strings.IndexByte(s[open:j], '}') >= 0 {
		return false
	}
	c := s[open-1]
	return c == '_' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// shellDirectory reports whether key=value is the shell's working directory
// (PWD=/home/alice in an environment dump), not a password.
func shellDirectory(key, value string) bool {
	return (strings.EqualFold(key, "pwd") || strings.EqualFold(key, "oldpwd")) && value[0] == '/'
}

// keyBefore returns the key that ends just before a delimiter, and where it
// starts: spaces and a closing quote are skipped, then key characters are
// collected.
func keyBefore(s string) (key string, start int) {
	j := len(s)
	for j > 0 && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
		j--
	}
	end := j
	for j > 0 && isKeyChar(s[j-1]) {
		j--
	}
	return s[j:end], j
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// keyWords splits a key into words at separators and camelCase boundaries.
func keyWords(key string) []string {
	var words []string
	start := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			if i > start {
				words = append(words, key[start:i])
			}
			start = i + 1
		case i > start && unicode.IsUpper(rune(c)) && unicode.IsLower(rune(key[i-1])):
			words = append(words, key[start:i])
			start = i
		}
	}
	if start < len(key) {
		words = append(words, key[start:])
	}
	return words
}

// lastWord returns the last word of a key, or "".
func lastWord(key string) string {
	words := keyWords(key)
	if len(words) == 0 {
		return ""
	}
	return words[len(words)-1]
}

// classifyKey checks a key's last word, or last two words.
func classifyKey(key string) keyKind {
	words := keyWords(key)
	if len(words) == 0 {
		return notSecret
	}
	last := strings.ToLower(words[len(words)-1])
	if secretLastWords[last] {
		return secretKey
	}
	if len(words) >= 2 && secretPairs[strings.ToLower(words[len(words)-2])+" "+last] {
		return secretKey
	}
	for _, suffix := range secretSuffixes {
		if strings.HasSuffix(last, suffix) {
			return secretKey
		}
	}
	if last == "key" {
		return secretIfTokenLike
	}
	return notSecret
}

// valueEnd returns the end of the value starting at i: a quoted string
// (which must close on the same line) or a run up to whitespace or a
// separator.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	if q := s[i]; q == '"' || q == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case q:
				return j + 1
			case '\n':
				return i
			}
		}
		return i
	}
	j := i
	for j < len(s) && !strings.ContainsRune(" \t\r\n,;&}]\"'", rune(s[j])) {
		j++
	}
	return j
}

func maskable(v string) bool {
	inner := strings.Trim(v, `"'`)
	switch {
	case inner == "", inner == "null", inner == "true", inner == "false", inner == "~":
		return false
	case v[0] == '{' || v[0] == '[':
		return false
	case strings.HasPrefix(inner, Mask[:len(Mask)-1]):
		return false
	}
	return true
}
