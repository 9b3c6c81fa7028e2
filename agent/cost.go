package agent

import (
	"fmt"
	"strings"
	"time"
)

// Price is what a model charges, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `yaml:"input_per_mtok" json:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok" json:"output_per_mtok"`
}

// Prices maps model names to prices.
type Prices map[string]Price

// Cost returns the cost of usage on model, or nil when no price is known.
// A model name matches its exact entry first, then the longest entry it
// starts with, so "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini".
func (p Prices) Cost(model string, u Usage) *float64 {
	price, ok := p[model]
	if !ok {
		best := ""
		for name := range p {
			if strings.HasPrefix(model, name) && len(name) > len(best) {
				best = name
			}
		}
		if best == "" {
			return nil
		}
		price = p[best]
	}
	c := (float64(u.InputTokens)*price.InputPerMTok + float64(u.OutputTokens)*price.OutputPerMTok) / 1e6
	return &c
}

// Footer renders the accounting line shown under an answer:
// "gpt-4o-mini · 3 steps · 2 tool calls · 1,234 in / 210 out tokens · $0.0012 · 2.1s".
func (s Summary) Footer() string {
	var parts []string
	if s.Model != "" {
		parts = append(parts, s.Model)
	}
	parts = append(parts, plural(s.Steps, "step"), plural(s.ToolCalls, "tool call"))
	tok := fmt.Sprintf("%s in / %s out tokens", thousands(s.Usage.InputTokens), thousands(s.Usage.OutputTokens))
	if s.Usage.Estimated {
		tok = "~" + tok
	}
	parts = append(parts, tok)
	if s.CostUSD != nil {
		parts = append(parts, fmt.Sprintf("$%.4f", *s.CostUSD))
	}
	parts = append(parts, s.Duration.Round(100*time.Millisecond).String())
	return strings.Join(parts, " · ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
