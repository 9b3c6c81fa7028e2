// Package redact removes secrets from text before it leaves Watchkeeper for
// a language model or a chat. It errs on the side of hiding: a false
// positive costs a few characters of context, a false negative leaks a
// credential into a third party's logs.
package redact

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"strings"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// rule is one kind of secret. A rule runs only on the lines where one of
// its cheap literal hints occurs, which keeps redaction fast on the common
// case: log lines with no secret at all.
type rule struct {
	name string
	// hints are lower-case substrings of at least two bytes, one of which
	// must occur in a line (compared case-insensitively) for the rule to
	// run on it; empty means always run.
	hints []string
	re    *regexp.Regexp
	// keep is the number of the submatch to keep before the secret
	// (a "password=" prefix); the rest of the match is masked.
	keep int
	// looksSecret, when set, must accept the masked part (given the line
	// before the match too); it filters out prose such as "Basic
	// authentication".
	looksSecret func(before, value string) bool
	// scan, when set, is used instead of re. It may leave state for the
	// lines after this one in c (a key whose value is on the next line).
	scan func(line string, c *carry) string
}

// Redactor hides secrets. The zero value is not usable; use New.
// A Redactor is safe for concurrent use.
type Redactor struct {
	rules []rule
	index *hintIndex
	extra []string
}

// New returns a redactor with the built-in rules and, in addition, the
// literal values given (such as the bot's own configured tokens), which are
// hidden wherever they occur.
func New(literals ...string) *Redactor {
	rules := builtin()
	r := &Redactor{rules: rules, index: newHintIndex(rules)}
	for _, l := range literals {
		r.addLiteral(l)
		// Copy sees one line at a time, so each line of a multi-line value
		// (a key read from a file) is hidden on its own as well.
		if strings.Contains(l, "\n") {
			for _, part := range strings.Split(l, "\n") {
				r.addLiteral(strings.TrimSpace(part))
			}
		}
	}
	return r
}

func (r *Redactor) addLiteral(l string) {
	// Very short values would mask ordinary words.
	if len(l) >= 6 {
		r.extra = append(r.extra, l)
	}
}

func builtin() []rule {
	return []rule{
		// First, so that the other rules see a key as one Mask.
		{name: "private key", hints: []string{"private key"}, scan: redactPrivateKey},
		{name: "url credentials", hints: []string{"://"}, scan: redactURLCredentials},
		{name: "slack token", hints: []string{"xox", "xapp-"},
			re: regexp.MustCompile(`\b(xoxe\.)?(xox[abposre]|xapp)-[0-9A-Za-z\-]{8,}`)},
		{name: "slack webhook", hints: []string{"hooks.slack.com"},
			re: regexp.MustCompile(`hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_\-]+`)},
		{name: "aws access key id", hints: []string{"akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "apka"},
			re: regexp.MustCompile(`\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b`)},
		{name: "github token", hints: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
			re: regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b`)},
		{name: "gitlab token", hints: []string{"glpat-"},
			re: regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}`)},
		{name: "npm token", hints: []string{"npm_"},
			re: regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
		// glsa_ are Grafana service account tokens, glc_ Grafana Cloud
		// access policy tokens (base64 of a JSON object).
		{name: "grafana token", hints: []string{"glsa_", "glc_"},
			re: regexp.MustCompile(`\b(glsa_[A-Za-z0-9_]{20,}|glc_[A-Za-z0-9+/_\-]{20,}={0,2})`)},
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
			looksSecret: authorizationValue},
		{name: "aws secret key", hints: []string{"aws_secret", "secretaccesskey", "secret_access_key"},
			re: regexp.MustCompile(`(?i)((?:aws_secret_access_key|secretaccesskey|secret_access_key)["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}`), keep: 1},
		{name: "command-line flag", hints: []string{"--", "-p"},
			re: regexp.MustCompile(`(?i)((?:^|\s)--?[a-z0-9\-]*(?:password|passwd|token|secret|api-?key|cookie)[ =])("[^"\n]*"|'[^'\n]*'|[^\s"']+)`), keep: 1},
		// Before the assignments: a cookie named like a secret (csrftoken)
		// is masked once, by the rule that knows cookies.
		{name: "cookie", hints: []string{"cookie"}, scan: redactCookies},
		{name: "secret assignment", hints: secretHints, scan: redactAssignments},
	}
}

// secretHints gate redactAssignments; every key it masks contains one.
var secretHints = []string{"pass", "pwd", "secret", "token", "credential", "dsn", "key", "connection"}

// Redact returns s with every secret replaced by Mask.
//
// Text is redacted a line at a time, and a rule only runs on the lines
// that hold one of its hints, found for all rules in one pass over the
// line. A few secrets span lines — a private key, a value on the line after
// its key — and a line passes what the next must know in a carry.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	s = r.replaceLiterals(s)
	var (
		c       carry
		out     strings.Builder
		changed bool
	)
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start + 1
		}
		line := s[start:end]
		got := r.redactLine(line, &c)
		if got != line && !changed {
			changed = true
			out.Grow(len(s))
			out.WriteString(s[:start])
		}
		if changed {
			out.WriteString(got)
		}
		start = end
	}
	if rest := r.flush(&c); rest != "" {
		out.WriteString(rest) // the text changed: it had a private key
	}
	if !changed {
		return s
	}
	return out.String()
}

// Copy writes to dst what Redact makes of everything src holds, reading a
// line at a time so that memory is bounded by the longest line rather than
// by the input, and returns how many secrets it masked. Its output is that
// of Redact, except that a configured literal spanning lines is masked line
// by line. Errors say whether reading or writing failed.
func (r *Redactor) Copy(dst io.Writer, src io.Reader) (masked int, err error) {
	br := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(dst, 64<<10)
	var (
		c       carry
		in, out int // masks read and written
	)
	write := func(s string) error {
		out += strings.Count(s, Mask)
		if _, err := bw.WriteString(s); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	for {
		line, rerr := br.ReadString('\n')
		if line != "" {
			in += strings.Count(line, Mask)
			if err := write(r.redactLine(r.replaceLiterals(line), &c)); err != nil {
				return max(0, out-in), err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// What was read is written, so the output ends where the
			// input broke off.
			_ = write(r.flush(&c))
			_ = bw.Flush()
			return max(0, out-in), fmt.Errorf("read input: %w", rerr)
		}
	}
	if err := write(r.flush(&c)); err != nil {
		return max(0, out-in), err
	}
	if err := bw.Flush(); err != nil {
		return max(0, out-in), fmt.Errorf("write output: %w", err)
	}
	return max(0, out-in), nil
}

// replaceLiterals masks the configured literal values.
func (r *Redactor) replaceLiterals(s string) string {
	for _, l := range r.extra {
		if strings.Contains(s, l) {
			s = strings.ReplaceAll(s, l, Mask)
		}
	}
	return s
}

// redactLine redacts one line (with its line break, if any), given what the
// lines before it left in c, and leaves in c what the next line must know.
func (r *Redactor) redactLine(line string, c *carry) string {
	if c.inKey {
		end := pemEnd.FindStringIndex(line)
		if end == nil {
			return "" // inside a private key
		}
		// The key's lines become one Mask: what came before it and what
		// follows it make one line, which the rules see whole.
		line = c.held + line[end[1]:]
		c.inKey, c.held = false, ""
	}
	if c.block > 0 {
		if got, ok := maskBlockLine(line, c.block); ok {
			return got
		}
		c.block = 0
	}
	pending := c.value
	c.value = 0
	for found := r.index.scan(line); found != 0; found &= found - 1 {
		line = r.apply(&r.rules[bits.TrailingZeros64(found)], line, c)
		if c.inKey {
			// A private key began and goes on: the line is finished
			// once its END is seen.
			c.held, c.value = line, pending
			return ""
		}
	}
	if pending > 0 {
		line = maskNextLineValue(line, pending, c)
	}
	return line
}

// flush returns what is held at the end of the text: the start of a line
// whose private key never ended, as when the text was cut short.
func (r *Redactor) flush(c *carry) string {
	if !c.inKey {
		return ""
	}
	held := c.held
	c.inKey, c.held = false, ""
	return r.redactLine(held, c)
}

// apply runs one rule over a line.
func (r *Redactor) apply(ru *rule, s string, c *carry) string {
	if ru.scan != nil {
		return ru.scan(s, c)
	}
	if ru.keep == 0 {
		return ru.re.ReplaceAllLiteralString(s, Mask)
	}
	matches := ru.re.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var out strings.Builder
	last := 0
	for _, m := range matches {
		// The match is the kept prefix ("password=") and the value.
		vs := m[2*ru.keep+1]
		value := s[vs:m[1]]
		if strings.HasPrefix(strings.TrimLeft(value, `"'`), Mask[:len(Mask)-1]) {
			continue // already masked
		}
		if ru.looksSecret != nil && !ru.looksSecret(s[:m[0]], value) {
			continue
		}
		out.WriteString(s[last:vs])
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
			// Keep the quotes so redacted JSON and YAML stay valid.
			out.WriteString(value[:1] + Mask + value[:1])
		} else {
			out.WriteString(Mask)
		}
		last = m[1]
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// authorizationValue accepts any value of an Authorization header
// (Authorization: Bearer …, "authorization": "Basic …"), and elsewhere a
// word after Bearer, Basic or token only if it looks like a credential
// rather than prose ("Bearer authentication is required"): it has a digit
// or a symbol of base64 and URL-safe tokens, or it is longer than English
// words run. before is the line up to "Bearer".
func authorizationValue(before, value string) bool {
	return credentialLike(value) || len(value) >= 20 || afterAuthorizationKey(before)
}

// afterAuthorizationKey reports whether s ends with an Authorization key
// and its delimiter: `Authorization: `, `"authorization": "`,
// `authorization=`, and Go's printing of an http.Header, `Authorization:[`.
func afterAuthorizationKey(s string) bool {
	s = strings.TrimRight(s, ` \t"'[`)
	if s == "" || s[len(s)-1] != ':' && s[len(s)-1] != '=' {
		return false
	}
	s = strings.TrimRight(s[:len(s)-1], ` \t"'`)
	const key = "authorization"
	return len(s) >= len(key) && hasPrefixFold(s[len(s)-len(key):], key)
}

// credentialLike reports whether v looks like a credential rather than a
// word: it has a digit or one of the symbols of base64 and URL-safe tokens.
func credentialLike(v string) bool {
	return strings.ContainsAny(v, "0123456789+/=-_.~")
}

// tokenLike reports whether v looks like a generated credential rather than
// a name: twelve or more characters of base64, URL-safe or percent-encoded
// text, with both letters and digits. It decides where the key alone does
// not ("key=", the user part of a URL).
func tokenLike(v string) bool {
	if len(v) < 12 {
		return false
	}
	var letter, digit bool
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case strings.IndexByte("+/=_-.~%", c) >= 0:
		default:
			return false
		}
	}
	return letter && digit
}
