package eval

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/watchkeeper/watchkeeper/agent"
)

// Published is one evaluation as a line of a published comparison of
// models: pass rates, groundedness, tokens and cost per scenario, with
// what is needed to reproduce it (the suite, K, the date and the build).
type Published struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Suite    string `json:"suite,omitempty"`
	// Scenarios counts every scenario, those that could not run included
	// (they count as failed).
	Scenarios       int     `json:"scenarios"`
	RunsPerScenario int     `json:"runs_per_scenario"`
	PassAt1         float64 `json:"pass_at_1"`
	PassHatK        float64 `json:"pass_hat_k"`
	// Groundedness is the mean over scenarios of the share of claims that
	// cite a tool call, nil when no answer made a claim.
	Groundedness        *float64 `json:"mean_groundedness"`
	InvariantViolations int      `json:"invariant_violations"`
	// MeanTokensIn and MeanTokensOut are per run: one scenario, once.
	MeanTokensIn  int `json:"mean_tokens_in"`
	MeanTokensOut int `json:"mean_tokens_out"`
	// CostPerScenarioUSD is the model's mean cost of a run (the judge's
	// tokens are not the model's and are left out), nil when unknown.
	CostPerScenarioUSD *float64 `json:"cost_per_scenario_usd"`
	// CostFrom says where the cost comes from: "run" (the prices
	// configured when the evaluation ran) or "prices" (the tokens priced
	// afterwards).
	CostFrom string `json:"cost_from,omitempty"`
	Judge    string `json:"judge,omitempty"`
	Date     string `json:"date"`
	Version  string `json:"watchkeeper_version"`
	Revision string `json:"revision,omitempty"`
}

// Publish summarises reports for publishing, best pass@1 first. Reports
// whose runs were not priced are priced with prices, when it knows the
// model.
func Publish(reports []*Report, prices agent.Prices) []Published {
	var out []Published
	for _, r := range reports {
		t := r.Totals
		p := Published{
			Model: r.Model, Provider: r.Provider, Suite: r.Suite, Scenarios: t.Scenarios, RunsPerScenario: r.K,
			PassAt1: t.PassAt1, PassHatK: t.PassHatK, Groundedness: t.Groundedness, InvariantViolations: t.InvariantViolations,
			Judge: r.Judge, Date: r.StartedAt.UTC().Format("2006-01-02"), Version: r.Version, Revision: r.Revision,
		}
		if p.Provider == "" {
			if prov, _, ok := strings.Cut(r.Model, "/"); ok {
				p.Provider = prov
			}
		}
		p.Model = strings.TrimPrefix(r.Model, p.Provider+"/")
		if t.Runs > 0 {
			p.MeanTokensIn = (t.TokensIn + t.Runs/2) / t.Runs
			p.MeanTokensOut = (t.TokensOut + t.Runs/2) / t.Runs
		}
		switch {
		case t.MeanCostUSD != nil:
			p.CostPerScenarioUSD, p.CostFrom = t.MeanCostUSD, "run"
		case t.Runs > 0:
			if c := prices.Cost(p.Model, agent.Usage{InputTokens: t.TokensIn, OutputTokens: t.TokensOut}); c != nil {
				v := round(*c/float64(t.Runs), 6)
				p.CostPerScenarioUSD, p.CostFrom = &v, "prices"
			}
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Published) int {
		return cmp.Or(cmp.Compare(b.PassAt1, a.PassAt1), cmp.Compare(b.PassHatK, a.PassHatK), strings.Compare(a.Model, b.Model))
	})
	return out
}

// WritePublishedJSON writes rows as an indented JSON array.
func WritePublishedJSON(w io.Writer, rows []Published) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// WritePublishedMarkdown writes rows as the Markdown table peers publish,
// with the definitions a reader needs beneath it.
func WritePublishedMarkdown(w io.Writer, rows []Published) error {
	var b strings.Builder
	b.WriteString("| Model | Provider | Scenarios × runs | pass@1 | pass^K | Groundedness | Violations | Tokens per scenario (in / out) | Cost per scenario (USD) | Date | Watchkeeper |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	var suites []string
	priced := false
	for _, p := range rows {
		cost := "-"
		if p.CostPerScenarioUSD != nil {
			cost = fmt.Sprintf("$%.4f", *p.CostPerScenarioUSD)
			if p.CostFrom == "prices" {
				cost += "*"
				priced = true
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d × %d | %.3f | %.3f | %s | %d | %s / %s | %s | %s | %s |\n",
			mdEscape(p.Model), mdEscape(orDash(p.Provider)), p.Scenarios, p.RunsPerScenario, p.PassAt1, p.PassHatK,
			ratio(p.Groundedness, 2), p.InvariantViolations, thousands(p.MeanTokensIn), thousands(p.MeanTokensOut), cost, p.Date, mdEscape(build(p)))
		if s := fmt.Sprintf("`%s` (%d scenarios)", orDash(p.Suite), p.Scenarios); !slices.Contains(suites, s) {
			suites = append(suites, s)
		}
	}
	b.WriteString("\npass@1: the share of runs that pass, averaged over scenarios. pass^K: the share of scenarios whose K runs all pass. " +
		"Groundedness: the share of an answer's claims that cite a tool call of the run, averaged over scenarios with claims. " +
		"Violations: runs that broke a safety invariant. Cost: the model's tokens at its price per scenario run, the judge's excluded.")
	if priced {
		b.WriteString(" *Priced after the run from llm.prices.")
	}
	fmt.Fprintf(&b, "\nSuite: %s.", strings.Join(suites, ", "))
	if len(suites) > 1 {
		b.WriteString(" The rows ran different suites: their pass rates do not compare.")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// build is the Watchkeeper build a report came from: "v1.2.0 (abc1234)".
func build(p Published) string {
	v := orDash(p.Version)
	if p.Revision != "" && p.Revision != "unknown" {
		v += " (" + p.Revision[:min(7, len(p.Revision))] + ")"
	}
	return v
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// thousands writes n with thousands separators: 12,345.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
