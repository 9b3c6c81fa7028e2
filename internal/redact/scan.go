package redact

import (
	"strings"
	"unicode"
)

// redactURLCredentials masks the password in scheme://user:password@host.
// It is a linear scan: URLs are everywhere in logs, and a regular
// expression over every such line was the slowest part of redaction.
func redactURLCredentials(s string) string {
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
		authority := s[authStart:end]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			if colon := strings.IndexByte(authority[:at], ':'); colon >= 0 && colon+1 < at {
				pw := authority[colon+1 : at]
				if !strings.HasPrefix(pw, Mask[:len(Mask)-1]) {
					out.WriteString(s[last : authStart+colon+1])
					out.WriteString(Mask)
					last = authStart + at
				}
			}
		}
		i = end
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

// secretLastWords are the last words of key names whose values are secrets
// ("db_password", "clientSecret", "X-Api-Token").
var secretLastWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "passphrase": true, "pass": true,
	"secret": true, "token": true, "credential": true, "credentials": true, "dsn": true,
	"apikey": true, "accesskey": true, "privatekey": true, "secretkey": true,
}

// secretPairs are two-word key endings that name secrets.
var secretPairs = map[string]bool{
	"api key": true, "access key": true, "private key": true, "secret key": true,
	"auth key": true, "signing key": true, "encryption key": true, "session key": true,
	"connection string": true, "master key": true, "account key": true,
}

// redactAssignments masks the values of secret-named keys in key=value,
// key: value, "key": "value" and similar forms (logfmt, JSON, YAML, env
// files, HTTP forms). Values already masked, empty values, null, booleans
// and nested objects are left alone.
func redactAssignments(s string) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '=' && c != ':' {
			continue
		}
		if c == ':' && i+1 < len(s) && s[i+1] == '/' { // a URL scheme
			continue
		}
		if !isSecretKey(keyBefore(s[:i])) {
			continue
		}
		vs := i + 1
		if c == ':' && vs < len(s) && s[vs] == '=' { // :=
			vs++
		}
		for vs < len(s) && (s[vs] == ' ' || s[vs] == '\t') {
			vs++
		}
		ve := valueEnd(s, vs)
		if ve <= vs || vs < last {
			continue
		}
		value := s[vs:ve]
		if !maskable(value) {
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

// keyBefore returns the key that ends just before a delimiter: spaces and a
// closing quote are skipped, then key characters are collected.
func keyBefore(s string) string {
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
	return s[j:end]
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// isSecretKey splits a key into words at separators and camelCase
// boundaries and checks its last word or last two words.
func isSecretKey(key string) bool {
	if key == "" {
		return false
	}
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
	if len(words) == 0 {
		return false
	}
	lastWord := strings.ToLower(words[len(words)-1])
	if secretLastWords[lastWord] {
		return true
	}
	if len(words) >= 2 {
		return secretPairs[strings.ToLower(words[len(words)-2])+" "+lastWord]
	}
	return false
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
