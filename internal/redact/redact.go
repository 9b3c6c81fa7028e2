// Package redact removes secrets from text before it leaves Watchkeeper for
// a language model or a chat. It errs on the side of hiding: a false
// positive costs a few characters of context, a false negative leaks a
// credential into a third party's logs.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// rule is one kind of secret. A rule runs only when one of its cheap
// literal hints occurs in the text, which keeps redaction fast on the
// common case: log lines with no secret at all.
type rule struct {
	name string
	// hints are lower-case substrings, one of which must occur (checked
	// case-insensitively) for re to run; empty means always run.
	hints []string
	re    *regexp.Regexp
	// keep is the number of the submatch to keep before the secret
	// (a "password=" prefix); the rest of the match is masked.
	keep int
	// looksSecret, when set, must accept the masked part; it filters out
	// prose such as "Basic authentication".
	looksSecret func(value string) bool
	// multiline rules run over the whole text instead of line by line.
	multiline bool
	// scan, when set, is used instead of re.
	scan func(string) string
}

// Redactor hides secrets. The zero value is not usable; use New.
// A Redactor is safe for concurrent use.
type Redactor struct {
	rules []rule
	extra []string
}

// New returns a redactor with the built-in rules and, in addition, the
// literal values given (such as the bot's own configured tokens), which are
// hidden wherever they occur.
func New(literals ...string) *Redactor {
	r := &Redactor{rules: builtin()}
	for _, l := range literals {
		// Very short values would mask ordinary words.
		if len(l) >= 6 {
			r.extra = append(r.extra, l)
		}
	}
	return r
}

func builtin() []rule {
	return []rule{
		{name: "private key", hints: []string{"private key"},
			re:        regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)`),
			multiline: true},
		{name: "url credentials", hints: []string{"://"}, scan: redactURLCredentials},
		{name: "slack token", hints: []string{"xox", "xapp-"},
			re: regexp.MustCompile(`\b(xox[abposre]|xapp)-[0-9A-Za-z\-]{8,}`)},
		{name: "slack webhook", hints: []string{"hooks.slack.com"},
			re: regexp.MustCompile(`hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_\-]+`)},
		{name: "aws access key id", hints: []string{"akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "apka"},
			re: regexp.MustCompile(`\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b`)},
		{name: "github token", hints: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
			re: regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b`)},
		{name: "gitlab token", hints: []string{"glpat-"},
			re: regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}`)},
		{name: "llm api key", hints: []string{"sk-"},
			re: regexp.MustCompile(`\bsk-(ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}`)},
		{name: "google api key", hints: []string{"aiza"},
			re: regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`)},
		{name: "stripe key", hints: []string{"sk_live_", "rk_live_", "sk_test_"},
			re: regexp.MustCompile(`\b[sr]k_(live|test)_[0-9A-Za-z]{16,}`)},
		{name: "jwt", hints: []string{"eyj"},
			re: regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`)},
		{name: "authorization header", hints: []string{"bearer", "basic", "token ", "authorization"},
			re: regexp.MustCompile(`(?i)(\b(?:bearer|basic|token)[ \t]+)[A-Za-z0-9\-._~+/]{8,}=*`), keep: 1,
			looksSecret: credentialLike},
		{name: "aws secret key", hints: []string{"aws_secret", "secretaccesskey", "secret_access_key"},
			re: regexp.MustCompile(`(?i)((?:aws_secret_access_key|secretaccesskey|secret_access_key)["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}`), keep: 1},
		{name: "command-line flag", hints: []string{"--", "-p"},
			re: regexp.MustCompile(`(?i)((?:^|\s)--?[a-z0-9\-]*(?:password|passwd|token|secret|api-?key)[ =])("[^"\n]*"|'[^'\n]*'|[^\s"']+)`), keep: 1},
		{name: "secret assignment", hints: secretHints, scan: redactAssignments},
	}
}

// secretHints gate redactAssignments; every key it masks contains one.
var secretHints = []string{"pass", "pwd", "secret", "token", "credential", "dsn", "key", "connection"}

// Redact returns s with every secret replaced by Mask.
//
// Rules are gated twice by their literal hints: once over the whole text
// (most text matches no rule and costs one scan), then per line, so a regular
// expression only ever runs on the lines that might hold its secret.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	for _, l := range r.extra {
		if strings.Contains(s, l) {
			s = strings.ReplaceAll(s, l, Mask)
		}
	}
	lower := asciiLower(s)
	var candidates []*rule
	for i := range r.rules {
		ru := &r.rules[i]
		if len(ru.hints) > 0 && !containsAny(lower, ru.hints) {
			continue
		}
		if ru.multiline {
			s = r.apply(ru, s)
			lower = asciiLower(s)
			continue
		}
		candidates = append(candidates, ru)
	}
	if len(candidates) == 0 {
		return s
	}
	var out strings.Builder
	changed := false
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start + 1
		}
		line, ll := s[start:end], lower[start:end]
		orig := line
		for _, ru := range candidates {
			if len(ru.hints) > 0 && !containsAny(ll, ru.hints) {
				continue
			}
			if next := r.apply(ru, line); next != line {
				line, ll = next, asciiLower(next)
			}
		}
		if line != orig && !changed {
			changed = true
			out.Grow(len(s))
			out.WriteString(s[:start])
		}
		if changed {
			out.WriteString(line)
		}
		start = end
	}
	if !changed {
		return s
	}
	return out.String()
}

// apply runs one rule over s.
func (r *Redactor) apply(ru *rule, s string) string {
	if ru.scan != nil {
		return ru.scan(s)
	}
	if ru.keep == 0 {
		return ru.re.ReplaceAllLiteralString(s, Mask)
	}
	return ru.re.ReplaceAllStringFunc(s, func(m string) string {
		prefix := ru.re.FindStringSubmatch(m)[ru.keep]
		value := m[len(prefix):]
		if strings.HasPrefix(strings.TrimLeft(value, `"'`), Mask[:len(Mask)-1]) {
			return m // already masked
		}
		if ru.looksSecret != nil && !ru.looksSecret(value) {
			return m
		}
		switch {
		case len(value) >= 2 && (value[0] == '"' || value[0] == '\''):
			// Keep the quotes so redacted JSON and YAML stay valid.
			return prefix + value[:1] + Mask + value[:1]
		}
		return prefix + Mask
	})
}

// asciiLower lower-cases ASCII letters only, so byte offsets in the result
// match those in s (strings.ToLower may change the length of non-ASCII text).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// credentialLike reports whether v looks like a credential rather than a
// word: it has a digit or one of the symbols of base64 and URL-safe tokens.
func credentialLike(v string) bool {
	return strings.ContainsAny(v, "0123456789+/=-_.~")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
