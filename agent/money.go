package agent

import (
	"fmt"
	"strings"
)

// Budget is what one run may spend on models, in US dollars. The caller
// works it out from every budget that applies (per question, per incident,
// per day) and passes the one that binds. The zero value is no limit.
type Budget struct {
	// LeftUSD is what the run may spend; 0 or less with Scope empty means
	// no limit.
	LeftUSD float64
	// Scope names the budget that binds ("question", "incident", "day"),
	// for the note under the answer and the footer.
	Scope string
	// LimitUSD is that budget's full amount, for the note.
	LimitUSD float64
}

func (b Budget) set() bool { return b.Scope != "" }

// BudgetUse is how a run stood against its money budget.
type BudgetUse struct {
	Scope    string  `json:"scope"`
	LimitUSD float64 `json:"limit_usd"`
	// LeftUSD is what was left of the budget when the run started.
	LeftUSD float64 `json:"left_usd"`
	// Ended is set when the budget made the run answer early.
	Ended bool `json:"ended,omitempty"`
}

// FastUse is the fast model's share of a run: the tool outputs it
// summarised.
type FastUse struct {
	Model string `json:"model"`
	Calls int    `json:"calls"`
	Usage Usage  `json:"usage"`
	// CostUSD is nil when no price is configured for the model.
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// outputEstimate is the reply length assumed when pricing a call before
// it is made and no max_output_tokens is configured.
const outputEstimate = 1024

// spentUSD is what the run has spent so far on both models, and whether
// that is known: a main model without a price makes it unknown, and a
// budget cannot be held then. A fast model without a price counts as
// free (a local model, typically), so that it cannot switch the budget
// off for the main model's spend.
func (r *run) spentUSD() (float64, bool) {
	main := r.a.opts.Config.Prices.Cost(r.priceName(), r.res.Usage)
	if main == nil {
		return 0, false
	}
	total := *main
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.res.Fast; f != nil && f.CostUSD != nil {
		total += *f.CostUSD
	}
	return total, true
}

// priceName is the name the main model is priced by.
func (r *run) priceName() string {
	if r.res.Model != "" {
		return r.res.Model
	}
	return r.a.opts.Config.ModelName
}

// afford reports, for a call of about in input tokens, whether the
// budget pays for it (one) and for it and the call after it, which
// carries one more tool result (two). Both are true without a budget or
// without a price.
func (r *run) afford(in int) (one, two bool) {
	b := r.task.Budget
	if !b.set() {
		return true, true
	}
	spent, ok := r.spentUSD()
	if !ok {
		return true, true
	}
	out := r.a.opts.Config.MaxOutputTokens
	if out <= 0 {
		out = outputEstimate
	}
	price := func(in int) float64 {
		c := r.a.opts.Config.Prices.Cost(r.priceName(), Usage{InputTokens: in, OutputTokens: out})
		if c == nil {
			return 0
		}
		return *c
	}
	first := price(in)
	second := price(in + out + r.a.opts.Config.ToolOutputTokens)
	return spent+first <= b.LeftUSD, spent+first+second <= b.LeftUSD
}

// budgetNote is the line under an answer the budget cut short.
func (b Budget) note() string {
	when := ""
	if b.Scope == "day" {
		when = "; it starts again at 00:00 UTC"
	}
	return fmt.Sprintf("_The %s model budget ($%.2f) ran out, so this answer rests on the evidence gathered so far%s._", b.Scope, b.LimitUSD, when)
}

// evidenceAnswer is the best answer a run can give without another model
// call: what each tool returned, by the numbers the calls were given.
// It is for people: the results are shown without their untrusted-data
// markers, so the conversation's memory keeps budgetMemo instead.
func (r *run) evidenceAnswer() string {
	const maxItems = 10
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for _, e := range r.res.Evidence {
		if len(lines) == maxItems {
			lines = append(lines, fmt.Sprintf("- … %d more (Show my work)", len(r.res.Evidence)-maxItems))
			break
		}
		lines = append(lines, fmt.Sprintf("- [%d] `%s`: %s", e.N, e.Tool, e.Result))
	}
	if len(lines) == 0 {
		return "No tool was called before the budget ran out, so there is no evidence to report."
	}
	return "What the tools returned before the budget ran out (not yet weighed by the model):\n" + strings.Join(lines, "\n")
}

// budgetMemo stands for an evidence answer in the conversation's memory.
const budgetMemo = "(The model budget ran out before an answer was written; the tool results above are the evidence gathered.)"
