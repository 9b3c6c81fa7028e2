package tools

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// bytesPerToken is the usual estimate for English text and JSON with the
// tokenizers of current models. Providers report exact counts for what was
// sent; this estimate is only used to budget before sending.
const bytesPerToken = 4

// EstimateTokens returns an estimate of the number of tokens in s.
func EstimateTokens(s string) int {
	return (len(s) + bytesPerToken - 1) / bytesPerToken
}

// Truncate cuts text to about maxTokens, keeping the head and the tail (the
// start shows the shape of an answer, the end often holds the newest lines)
// and cutting at line boundaries where it can. When it cuts, it appends a
// note that tells the model how much was left out and how to narrow its
// query. maxTokens <= 0 means no limit.
func Truncate(text string, maxTokens int) (string, bool) {
	if maxTokens <= 0 || EstimateTokens(text) <= maxTokens {
		return text, false
	}
	budget := maxTokens * bytesPerToken
	headLen := budget * 3 / 4
	tailLen := budget - headLen

	// Cut on rune boundaries so neither piece ends inside a UTF-8 sequence.
	h := headLen
	for h > 0 && !utf8.RuneStart(text[h]) {
		h--
	}
	if i := strings.LastIndexByte(text[:h], '\n'); i > h/2 {
		h = i + 1
	}
	t := len(text) - tailLen
	for t < len(text) && !utf8.RuneStart(text[t]) {
		t++
	}
	if i := strings.IndexByte(text[t:], '\n'); i >= 0 && i < tailLen/2 {
		t += i + 1
	}
	head, tail := text[:h], text[t:]

	omitted := text[len(head) : len(text)-len(tail)]
	note := fmt.Sprintf("\n[… output cut: %d of %d bytes (about %d of %d tokens, %d lines) omitted here to stay within the %d-token budget. "+
		"Narrow your query — a shorter time range, more specific filters or selectors, fewer series, or a lower limit — instead of repeating it.]\n",
		len(omitted), len(text), EstimateTokens(omitted), EstimateTokens(text), strings.Count(omitted, "\n"), maxTokens)
	return head + note + tail, true
}
