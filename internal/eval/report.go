package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of an evaluation.
type Report struct {
	// Model is "provider/model", or "scripted".
	Model    string `json:"model"`
	Provider string `json:"provider,omitempty"`
	// Suite is the folder of scenarios, as given.
	Suite string `json:"suite,omitempty"`
	// Version and Revision are Watchkeeper's, of the build that ran.
	Version   string             `json:"watchkeeper_version"`
	Revision  string             `json:"revision,omitempty"`
	Judge     string             `json:"judge,omitempty"`
	K         int                `json:"runs_per_scenario"`
	StartedAt time.Time          `json:"started_at"`
	Duration  string             `json:"duration"`
	Totals    Summary            `json:"totals"`
	Tags      map[string]Summary `json:"tags"`
	Scenarios []ScenarioResult   `json:"scenarios"`
}

// ScenarioResult is one scenario's K runs.
type ScenarioResult struct {
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
	// Error is why the scenario could not run (malformed, unknown tool).
	Error string      `json:"error,omitempty"`
	Runs  []RunResult `json:"runs,omitempty"`
	// Passed counts the runs that passed.
	Passed int `json:"passed"`
	// PassAt1 is Passed/K: the chance that one run passes.
	PassAt1 float64 `json:"pass_at_1"`
	// PassAll is pass^K: every one of the K runs passed.
	PassAll bool `json:"pass_all"`
	// UnusedRecordings matched no call in any run.
	UnusedRecordings []string `json:"unused_recordings,omitempty"`
	// Claims, Cited and InvalidCitations add up the runs' Grounding;
	// Groundedness is Cited/Claims, nil when no answer made a claim.
	Claims           int      `json:"claims"`
	Cited            int      `json:"cited_claims"`
	InvalidCitations int      `json:"invalid_citations"`
	Groundedness     *float64 `json:"groundedness"`
	// MeanCostUSD is the mean cost of a run, nil when no run was priced.
	MeanCostUSD *float64 `json:"mean_cost_usd,omitempty"`
}

func (r *ScenarioResult) unused(s *Scenario) {
	used := map[string]bool{}
	for _, run := range r.Runs {
		for _, c := range run.Calls {
			used[c.Recording] = true
		}
	}
	for _, rec := range s.Recordings {
		if !used[rec.File] && len(r.Runs) > 0 {
			r.UnusedRecordings = append(r.UnusedRecordings, rec.File)
		}
	}
}

// Summary aggregates scenarios (all of them, or those of one tag).
type Summary struct {
	Scenarios int `json:"scenarios"`
	// Errors are scenarios that could not run; they count as failed.
	Errors     int `json:"errors"`
	Runs       int `json:"runs"`
	PassedRuns int `json:"passed_runs"`
	// PassAt1 is the mean over scenarios of passed/K.
	PassAt1 float64 `json:"pass_at_1"`
	// PassHatK is the share of scenarios whose K runs all passed.
	PassHatK            float64 `json:"pass_hat_k"`
	InvariantViolations int     `json:"invariant_violations"`
	UnmatchedCalls      int     `json:"unmatched_calls"`
	TokensIn            int     `json:"tokens_in"`
	TokensOut           int     `json:"tokens_out"`
	MeanLatencyMS       float64 `json:"mean_latency_ms"`
	P95LatencyMS        int64   `json:"p95_latency_ms"`
	MeanSteps           float64 `json:"mean_steps"`
	MeanToolCalls       float64 `json:"mean_tool_calls"`
	// Claims, CitedClaims and InvalidCitations add up every run's
	// Grounding. Groundedness is the mean over the scenarios whose
	// answers made claims (GroundedScenarios of them), nil when none did.
	Claims            int      `json:"claims"`
	CitedClaims       int      `json:"cited_claims"`
	InvalidCitations  int      `json:"invalid_citations"`
	Groundedness      *float64 `json:"groundedness"`
	GroundedScenarios int      `json:"grounded_scenarios"`
	// CostUSD is the model's cost over every priced run; MeanCostUSD the
	// mean per run, which is the cost of a scenario. Both nil when no
	// price is configured for the model.
	CostUSD     *float64 `json:"cost_usd,omitempty"`
	MeanCostUSD *float64 `json:"mean_cost_usd,omitempty"`
}

func (r *Report) summarise() {
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		for _, run := range s.Runs {
			if run.Pass {
				s.Passed++
			}
		}
		if len(s.Runs) > 0 {
			s.PassAt1 = float64(s.Passed) / float64(len(s.Runs))
			s.PassAll = s.Passed == len(s.Runs)
		}
		var cost float64
		priced := 0
		for _, run := range s.Runs {
			s.Claims += run.Grounding.Claims
			s.Cited += run.Grounding.Cited
			s.InvalidCitations += len(run.Grounding.InvalidCitations)
			if run.CostUSD != nil {
				cost += *run.CostUSD
				priced++
			}
		}
		if s.Claims > 0 {
			g := round(float64(s.Cited)/float64(s.Claims), 4)
			s.Groundedness = &g
		}
		if priced > 0 {
			c := round(cost/float64(priced), 6)
			s.MeanCostUSD = &c
		}
	}
	r.Totals = summarise(r.Scenarios)
	byTag := map[string][]ScenarioResult{}
	for _, s := range r.Scenarios {
		for _, t := range s.Tags {
			byTag[t] = append(byTag[t], s)
		}
	}
	r.Tags = map[string]Summary{}
	for t, ss := range byTag {
		r.Tags[t] = summarise(ss)
	}
}

func summarise(ss []ScenarioResult) Summary {
	var sum Summary
	var lat []int64
	var steps, calls, priced int
	var grounded, cost float64
	for _, s := range ss {
		sum.Scenarios++
		if s.Error != "" {
			sum.Errors++
			continue
		}
		sum.PassAt1 += s.PassAt1
		if s.PassAll {
			sum.PassHatK++
		}
		sum.Claims += s.Claims
		sum.CitedClaims += s.Cited
		sum.InvalidCitations += s.InvalidCitations
		if s.Groundedness != nil {
			grounded += *s.Groundedness
			sum.GroundedScenarios++
		}
		for _, run := range s.Runs {
			sum.Runs++
			if run.Pass {
				sum.PassedRuns++
			}
			sum.InvariantViolations += run.Violations()
			sum.UnmatchedCalls += len(run.Unmatched)
			sum.TokensIn += run.TokensIn
			sum.TokensOut += run.TokensOut
			lat = append(lat, run.LatencyMS)
			steps += run.Steps
			calls += run.ToolCalls
			if run.CostUSD != nil {
				cost += *run.CostUSD
				priced++
			}
		}
	}
	if sum.GroundedScenarios > 0 {
		g := round(grounded/float64(sum.GroundedScenarios), 4)
		sum.Groundedness = &g
	}
	if priced > 0 {
		total, mean := round(cost, 6), round(cost/float64(priced), 6)
		sum.CostUSD, sum.MeanCostUSD = &total, &mean
	}
	if sum.Scenarios > 0 {
		sum.PassAt1 = round(sum.PassAt1/float64(sum.Scenarios), 4)
		sum.PassHatK = round(sum.PassHatK/float64(sum.Scenarios), 4)
	}
	if n := len(lat); n > 0 {
		var total int64
		for _, l := range lat {
			total += l
		}
		slices.Sort(lat)
		sum.MeanLatencyMS = round(float64(total)/float64(n), 1)
		sum.P95LatencyMS = lat[int(math.Ceil(0.95*float64(n)))-1]
		sum.MeanSteps = round(float64(steps)/float64(n), 2)
		sum.MeanToolCalls = round(float64(calls)/float64(n), 2)
	}
	return sum
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// Failed reports whether any scenario failed or could not run.
func (r *Report) Failed() bool {
	return r.Totals.Errors > 0 || r.Totals.PassHatK < 1
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints one line per scenario and the totals, for a terminal.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SCENARIO\tPASS\tpass@1\tGROUNDED\tTOKENS IN/OUT\tLATENCY\tSTEPS\tCALLS\tFIRST FAILURE\n")
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR\t-\t-\t-\t-\t-\t-\t%s\n", s.Name, oneLine(s.Error, 90))
			continue
		}
		var in, out, steps, calls int
		var lat int64
		first := ""
		for _, run := range s.Runs {
			in += run.TokensIn
			out += run.TokensOut
			lat += run.LatencyMS
			steps += run.Steps
			calls += run.ToolCalls
			if f := run.Failures(); first == "" && len(f) > 0 {
				first = describe(f[0])
			}
		}
		n := max(1, len(s.Runs))
		fmt.Fprintf(tw, "%s\t%d/%d\t%.2f\t%s\t%d/%d\t%s\t%.1f\t%.1f\t%s\n", s.Name, s.Passed, len(s.Runs), s.PassAt1, s.grounding(),
			in/n, out/n, (time.Duration(lat/int64(n)) * time.Millisecond).String(), float64(steps)/float64(n), float64(calls)/float64(n), oneLine(first, 90))
	}
	t := r.Totals
	fmt.Fprintf(tw, "\nTOTAL (%d scenarios × %d runs, model %s)\tpass@1 %.3f\tpass^%d %.3f\tgroundedness %s\ttokens %d/%d\tp95 %dms\tviolations %d\n",
		t.Scenarios, r.K, r.Model, t.PassAt1, r.K, t.PassHatK, ratio(t.Groundedness, 3), t.TokensIn, t.TokensOut, t.P95LatencyMS, t.InvariantViolations)
	return tw.Flush()
}

// WriteMarkdown writes the report for people: totals, per tag, per
// scenario, then every failure with its detail.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	t := r.Totals
	fmt.Fprintf(&b, "# Watchkeeper evaluation: %s\n\n", r.Model)
	fmt.Fprintf(&b, "- Runs per scenario (K): %d\n- Started: %s, took %s\n", r.K, r.StartedAt.Format(time.RFC3339), r.Duration)
	if r.Judge != "" {
		fmt.Fprintf(&b, "- LLM judge: %s\n", r.Judge)
	} else {
		b.WriteString("- LLM judge: none (deterministic checks only)\n")
	}
	fmt.Fprintf(&b, "- **pass@1 %.3f**, **pass^%d %.3f** over %d scenarios (%d could not run)\n", t.PassAt1, r.K, t.PassHatK, t.Scenarios, t.Errors)
	fmt.Fprintf(&b, "- Safety invariant violations: **%d**\n", t.InvariantViolations)
	fmt.Fprintf(&b, "- Groundedness (claims citing a tool call, mean over %d scenarios with claims): **%s**; claims %d, uncited %d, citations of calls never made %d\n",
		t.GroundedScenarios, ratio(t.Groundedness, 3), t.Claims, t.Claims-t.CitedClaims, t.InvalidCitations)
	if t.CostUSD != nil {
		fmt.Fprintf(&b, "- Cost: $%.4f, $%.4f per scenario run\n", *t.CostUSD, *t.MeanCostUSD)
	}
	fmt.Fprintf(&b, "- Tokens in/out: %d / %d; latency mean %.0f ms, p95 %d ms; mean steps %.2f, mean tool calls %.2f; calls without a recording: %d\n\n",
		t.TokensIn, t.TokensOut, t.MeanLatencyMS, t.P95LatencyMS, t.MeanSteps, t.MeanToolCalls, t.UnmatchedCalls)

	b.WriteString("## By tag\n\n| Tag | Scenarios | pass@1 | pass^K | Violations | Tokens in/out |\n|---|---:|---:|---:|---:|---:|\n")
	tags := make([]string, 0, len(r.Tags))
	for tag := range r.Tags {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		s := r.Tags[tag]
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %d | %d / %d |\n", tag, s.Scenarios, s.PassAt1, s.PassHatK, s.InvariantViolations, s.TokensIn, s.TokensOut)
	}

	b.WriteString("\n## Scenarios\n\n| Scenario | Passed | pass@1 | Claims | Uncited | Invalid citations | Groundedness | Steps | Tool calls | Unmatched calls | Unused recordings |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(&b, "| %s | error | 0 | - | - | - | - | - | - | - | - |\n", s.Name)
			continue
		}
		var steps, calls, unmatched int
		for _, run := range s.Runs {
			steps += run.Steps
			calls += run.ToolCalls
			unmatched += len(run.Unmatched)
		}
		n := max(1, len(s.Runs))
		fmt.Fprintf(&b, "| %s | %d/%d | %.2f | %d | %d | %d | %s | %.1f | %.1f | %d | %s |\n", s.Name, s.Passed, len(s.Runs), s.PassAt1,
			s.Claims, s.Claims-s.Cited, s.InvalidCitations, ratio(s.Groundedness, 2), float64(steps)/float64(n), float64(calls)/float64(n), unmatched, strings.Join(s.UnusedRecordings, ", "))
	}

	var fails strings.Builder
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(&fails, "### %s\n\nCould not run: %s\n\n", s.Name, mdEscape(s.Error))
			continue
		}
		for i, run := range s.Runs {
			f := run.Failures()
			bad := run.Grounding.InvalidCitations
			if len(f) == 0 && run.JudgeError == "" && len(run.Unmatched) == 0 && !hasDetail(run.AgentCalls) && len(bad) == 0 {
				continue
			}
			fmt.Fprintf(&fails, "### %s, run %d\n\n", s.Name, i+1)
			for _, c := range f {
				fmt.Fprintf(&fails, "- ❌ %s\n", mdEscape(describe(c)))
			}
			if run.JudgeError != "" {
				fmt.Fprintf(&fails, "- ⚠️ judge: %s\n", mdEscape(run.JudgeError))
			}
			for _, c := range run.AgentCalls {
				if c.Detail != "" {
					fmt.Fprintf(&fails, "- ⚠️ the agent's call %s `%s` ended %s: %s\n", c.Tool, c.Args, c.Outcome, mdEscape(c.Detail))
				}
			}
			for _, c := range run.Unmatched {
				fmt.Fprintf(&fails, "- ⚠️ no recording for %s `%s` (%s)\n", c.Tool, c.Args, c.By)
			}
			if len(bad) > 0 {
				fmt.Fprintf(&fails, "- ⚠️ the answer cites %v; the run made %d tool calls\n", bad, len(run.AgentCalls))
			}
			fails.WriteString("\n")
		}
	}
	if fails.Len() > 0 {
		b.WriteString("\n## Failures and warnings\n\n")
		b.WriteString(fails.String())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// grounding is the scenario's groundedness for a table cell: "0.75 3/4",
// with citations of calls never made, or "-" without claims.
func (r ScenarioResult) grounding() string {
	s := "-"
	if r.Groundedness != nil {
		s = fmt.Sprintf("%.2f %d/%d", *r.Groundedness, r.Cited, r.Claims)
	}
	if r.InvalidCitations > 0 {
		s += fmt.Sprintf(" (%d invalid)", r.InvalidCitations)
	}
	return s
}

// ratio formats an optional share, "-" when there is none.
func ratio(v *float64, places int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", places, *v)
}

func describe(c Check) string {
	s := c.Name
	if c.Target != "" {
		s += " " + c.Target
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	return clip(s, n)
}

func mdEscape(s string) string {
	return strings.NewReplacer("\n", " ", "|", "\\|").Replace(s)
}

func hasDetail(cs []Call) bool {
	for _, c := range cs {
		if c.Detail != "" {
			return true
		}
	}
	return false
}
