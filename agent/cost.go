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
//
// Names that carry a vendor or region prefix (Bedrock's
// "us.anthropic.claude-sonnet-4-5-…", Gemini's "models/gemini-2.5-flash")
// are matched without it when the full name has no entry.
func (p Prices) Cost(model string, u Usage) *float64 {
	price, ok := p.lookup(model)
	if !ok {
		return nil
	}
	c := (float64(u.InputTokens)*price.InputPerMTok + float64(u.OutputTokens)*price.OutputPerMTok) / 1e6
	return &c
}

func (p Prices) lookup(model string) (Price, bool) {
	for name := model; ; {
		if price, ok := p.match(name); ok {
			return price, true
		}
		rest, ok := stripVendor(name)
		if !ok {
			return Price{}, false
		}
		name = rest
	}
}

func (p Prices) match(model string) (Price, bool) {
	if price, ok := p[model]; ok {
		return price, true
	}
	best := ""
	for name := range p {
		if strings.HasPrefix(model, name) && len(name) > len(best) {
			best = name
		}
	}
	if best == "" {
		return Price{}, false
	}
	return p[best], true
}

// stripVendor drops a leading "models/" or one leading segment of letters
// followed by a dot ("us.", "anthropic."); version dots ("gemini-2.5")
// are not vendors.
func stripVendor(name string) (string, bool) {
	if rest, ok := strings.CutPrefix(name, "models/"); ok {
		return rest, true
	}
	seg, rest, ok := strings.Cut(name, ".")
	if !ok || seg == "" || rest == "" {
		return "", false
	}
	for _, c := range seg {
		if c < 'a' || c > 'z' {
			return "", false
		}
	}
	return rest, true
}

// Footer renders the accounting line shown under an answer:
// "gpt-4o · 3 steps · 2 tool calls · 1,234 in / 210 out tokens · $0.0120 of
// $0.50 question budget · fast gpt-4o-mini: 1 summary, $0.0004 · 2.1s".
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
		cost := fmt.Sprintf("$%.4f", *s.CostUSD)
		if b := s.Budget; b != nil {
			cost += fmt.Sprintf(" of $%.2f %s budget", b.LeftUSD, b.Scope)
			if b.Ended {
				cost += " (ran out)"
			}
		}
		parts = append(parts, cost)
	}
	if f := s.Fast; f != nil {
		fast := fmt.Sprintf("fast %s: 1 summary", f.Model)
		if f.Calls != 1 {
			fast = fmt.Sprintf("fast %s: %d summaries", f.Model, f.Calls)
		}
		if f.CostUSD != nil {
			fast += fmt.Sprintf(", $%.4f", *f.CostUSD)
		}
		parts = append(parts, fast)
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
