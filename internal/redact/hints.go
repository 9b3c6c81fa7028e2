package redact

import (
	"fmt"
	"math/bits"
	"strings"
)

// hintIndex finds, in one pass over a line, which rules have a hint in it.
// Looking for each hint with strings.Contains cost one pass over the text
// per hint, and there are nearly fifty hints; this is one pass for all of
// them, needs no lower-cased copy of the text, and so lets rules be added
// without slowing down the common case of text that holds no secret.
type hintIndex struct {
	// first and second hold, for each byte, the rules that have a hint
	// whose first (second) byte it is, in either case: a rule is worth a
	// closer look at position i only when line[i] and line[i+1] both have
	// its bit.
	first, second [256]uint64
	// hints are the lower-case hints of each rule, by rule number.
	hints [][]string
	// always holds the rules without hints, which run on every line.
	always uint64
}

// newHintIndex indexes the hints of rules; rule n is bit n. It panics on
// more than 64 rules or a hint shorter than two bytes, which are mistakes
// in the built-in table that every test run would catch.
func newHintIndex(rules []rule) *hintIndex {
	if len(rules) > 64 {
		panic(fmt.Sprintf("redact: %d rules; the hint index holds 64", len(rules)))
	}
	h := &hintIndex{hints: make([][]string, len(rules))}
	for n, ru := range rules {
		bit := uint64(1) << n
		if len(ru.hints) == 0 {
			h.always |= bit
			continue
		}
		for _, hint := range ru.hints {
			if len(hint) < 2 || strings.ToLower(hint) != hint {
				panic(fmt.Sprintf("redact: rule %q: hint %q must be lower case and at least two bytes", ru.name, hint))
			}
			for _, c := range []byte{hint[0], upper(hint[0])} {
				h.first[c] |= bit
			}
			for _, c := range []byte{hint[1], upper(hint[1])} {
				h.second[c] |= bit
			}
		}
		h.hints[n] = ru.hints
	}
	return h
}

// scan returns the rules with a hint in line (compared case-insensitively
// for ASCII letters), as a set of rule bits.
func (h *hintIndex) scan(line string) uint64 {
	found := h.always
	for i := 0; i+1 < len(line); i++ {
		cand := h.first[line[i]]
		if cand == 0 {
			continue
		}
		cand &= h.second[line[i+1]] &^ found
		for cand != 0 {
			n := bits.TrailingZeros64(cand)
			cand &= cand - 1
			for _, hint := range h.hints[n] {
				if hasPrefixFold(line[i:], hint) {
					found |= 1 << n
					break
				}
			}
		}
	}
	return found
}

// hasPrefixFold reports whether s starts with lower, ignoring the case of
// ASCII letters in s.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
