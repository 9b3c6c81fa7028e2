package runbook

import (
	"regexp"
	"strings"
	"unicode"
)

// Free text is matched word by word: the query's words that say something
// (not "why", "is", "the") against the words of each runbook's title,
// alerts and services — its metadata — and of its body. Words compare by
// a rough stem, so "errors" finds "error", "failing" finds "fail" and
// "HighErrorRate" finds "high error rate".

// wordRE is a word: letters and digits; camel case is split before.
var wordRE = regexp.MustCompile(`[a-z0-9]+`)

// stopWords say nothing about which runbook is meant.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but of to in on at by for with from into out about over under up
		is are was were be been being am do does did done has have had having can could should would will shall may might must
		i me my we our us you your it its they them their this that these those there here what which who whom whose why how when where
		not no any some all very just so too also than then there's what's it's
		runbook runbooks playbook doc docs please help show find tell need going get getting got there`) {
		stopWords[w] = true
	}
}

// splitCamel puts a space where a lower-case letter or digit meets an
// upper-case one: "HighErrorRate" is "High Error Rate", "OOMKilled"
// stays one word.
func splitCamel(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// words returns the stems of the words of s that are not stop words, in
// order, without repeats.
func words(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range wordRE.FindAllString(strings.ToLower(splitCamel(s)), -1) {
		if len(w) < 2 || stopWords[w] {
			continue
		}
		st := stem(w)
		if !seen[st] {
			seen[st] = true
			out = append(out, st)
		}
	}
	return out
}

// stem strips the commonest English endings, enough for a query's
// "errors", "failing", "restarted" to meet a runbook's "error", "fail",
// "restart". It only has to treat both sides alike.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		w = w[:len(w)-3] + "y"
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	switch {
	case len(w) > 5 && strings.HasSuffix(w, "ing"):
		w = w[:len(w)-3]
	case len(w) > 5 && strings.HasSuffix(w, "ed"):
		w = w[:len(w)-2]
	}
	return w
}

// index is what free text is matched against in one runbook.
type index struct {
	meta, body map[string]bool
}

func newIndex(rb Runbook) index {
	ix := index{meta: map[string]bool{}, body: map[string]bool{}}
	meta := append(append([]string{rb.Title}, rb.Alerts...), rb.Services...)
	for _, s := range meta {
		for _, w := range words(s) {
			ix.meta[w] = true
		}
	}
	for _, w := range words(rb.Body) {
		ix.body[w] = true
	}
	return ix
}
