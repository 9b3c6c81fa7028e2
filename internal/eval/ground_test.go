package eval_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/eval"
)

// calls are n agent calls; the first ones ask about checkout in shop.
func calls(n int) []eval.Call {
	args := []string{
		`{"query":"sum(rate(http_requests_total{namespace=\"shop\",service=\"checkout\",code=~\"5..\"}[1m]))"}`,
		`{"name":"checkout","namespace":"shop"}`,
		`{"kind":"pods","namespace":"shop","selector":"app=cart"}`,
	}
	var out []eval.Call
	for i := range n {
		out = append(out, eval.Call{Tool: "t", Args: json.RawMessage(args[i%len(args)])})
	}
	return out
}

func TestGround(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		calls  int
		// claims, cited, invalid citations; groundedness -1 when none.
		claims, cited int
		invalid       []int
		uncited       []string
		unresolved    bool
	}{
		{
			name: "every claim cited, in each citation form",
			answer: `checkout started failing at **14:11 UTC**, right after a rollout: revision 4 (image ` + "`checkout:1.5.0`" + `) was created at 14:10 [2]. The error ratio jumped from 0.7% to **25%** at 14:11 and has stayed there (0.2566 now) [1][3]. Nothing else changed [2, 3].

Next step: roll back to revision 3 (` + "`checkout:1.4.2`" + `) — I can propose that for approval.`,
			calls: 3, claims: 3, cited: 3,
		},
		{
			name: "the shipped scenario's uncited answer",
			answer: `checkout started failing at **14:11 UTC**, right after a rollout: revision 4 (image ` + "`checkout:1.5.0`" + `) was created at 14:10. The error ratio jumped from 0.7% to **25%** at 14:11 and has stayed there (0.2566 now). Nothing else changed.

Likely cause: the new image 1.5.0. Next step: roll back to revision 3 (` + "`checkout:1.4.2`" + `) — I can propose that for approval.`,
			calls: 2, claims: 4, cited: 0,
			uncited: []string{
				"checkout started failing at **14:11 UTC**, right after a rollout: revision 4 (image ⟨code⟩) was created at 14:10.",
				"The error ratio jumped from 0.7% to **25%** at 14:11 and has stayed there (0.2566 now).",
				"Nothing else changed.",
				"Likely cause: the new image 1.5.0.",
			},
		},
		{
			name: "mixed, with the citation after the period and a list",
			answer: `**Assessment**
1. Most likely: the **checkout 1.5.0 deploy** at 14:10 (revision 4). [2] The error ratio jumped from 0.7% to 25% at 14:11 [1].
2. Unlikely: dependencies — cart, shipping and payments show only small memory drifts.

Next: roll back checkout to revision 3 (1.4.2), as the HighErrorRate runbook says for a bad deploy.`,
			calls: 2, claims: 3, cited: 2,
			uncited: []string{"Unlikely: dependencies — cart, shipping and payments show only small memory drifts."},
		},
		{
			name:   "numbers that were no tool call",
			answer: "The cart pods are being OOMKilled [1]. Both restarted 4 times [3]. The limit is 384Mi [0][2].",
			calls:  2, claims: 3, cited: 2, invalid: []int{3, 0},
			uncited: []string{"Both restarted 4 times [3]."},
		},
		{
			name: "brackets in code are not citations",
			answer: "The p99 comes from `histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m]))` and is 2.1 s [1].\n\n" +
				"```promql\nsum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))\nitems[7]\n```\n" +
				"It doubled since 14:00 [2].",
			calls: 2, claims: 2, cited: 2,
		},
		{
			name: "links are not citations, except a linked number",
			answer: "The [HighErrorRate runbook](https://runbooks.example.com/high-error-rate) says to roll back bad deploys [3].\n" +
				"See <https://grafana.example.com/d/abc|the checkout dashboard>.\n" +
				"checkout's error ratio is 25% [1](https://prom.example.com/graph?g0.expr=x[5m]).",
			calls: 3, claims: 2, cited: 2,
		},
		{
			name: "a clarifying question makes no claim",
			answer: `Which service do you mean? I can look at checkout, cart or payments.

- Do you mean latency or errors?
- Since when?`,
			calls: 0, claims: 0,
		},
		{
			name: "unresolved, next steps and a reference list are not claims",
			answer: `## Summary
The cause is unresolved: the logs show nothing unusual and no deploy happened.
Error ratio 4.1% since 13:55 [1].

## Next steps
- Check the payments provider's status page.
- Compare with yesterday's traffic.

## Evidence
[1] prom_query error ratio
[2] logs_search checkout errors`,
			calls: 2, claims: 1, cited: 1, unresolved: true,
		},
		{
			name: "table rows are claims, the header is not",
			answer: `| Service | p99 | Change |
|---|---:|---|
| frontend | 2.1 s | +1.8 s [1] |
| catalog | 482 ms | +473 ms |`,
			calls: 1, claims: 2, cited: 1,
			uncited: []string{"| catalog | 482 ms | +473 ms |"},
		},
		{
			name:   "names the run asked about make a claim; recommendations do not",
			answer: "Checkout looks fine [2]. The shop namespace is quiet. You could enable debug logs. If it recurs, page the payments team.",
			calls:  2, claims: 2, cited: 1,
			uncited: []string{"The shop namespace is quiet."},
		},
		{
			name: "PromQL in prose and Slack headings",
			answer: `*Root cause*
Over [5m] windows, rate(errors_total[1m]) is 0.25 [1]; the series http_requests_total{code="500"}[10m] doubled [1,2].
*Recommendations*
I recommend rolling back, since the 1.5.0 deploy broke checkout.
Roll back to 1.4.2 [2].`,
			calls: 2, claims: 1, cited: 1,
		},
		{
			name: "quoted evidence, questions in emphasis and the agent's intentions are not claims",
			answer: "In the last 15 minutes checkout logged **471 error lines** [1]:\n" +
				"`level=error msg=\"request failed\" path=/checkout`\n" +
				"Query: `sum(rate(http_requests_total[5m]))`.\n" +
				"For example: *is checkout slow since 14:00?* — then I can look at its latency.\n" +
				"I'll propose the restart for approval once I know what you mean. Read it with runbook_read.",
			calls: 1, claims: 1, cited: 1,
		},
		{
			name:   "abbreviations and decimals do not end sentences",
			answer: "Latency rose, e.g. frontend p99 went from 0.3 s to 2.1 s, because postgres is slow [1].",
			calls:  1, claims: 1, cited: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := eval.Ground(tt.answer, calls(tt.calls))
			if g.Claims != tt.claims || g.Cited != tt.cited || !slices.Equal(g.InvalidCitations, tt.invalid) || g.Unresolved != tt.unresolved {
				t.Errorf("claims %d cited %d invalid %v unresolved %v; want %d %d %v %v\nuncited: %q",
					g.Claims, g.Cited, g.InvalidCitations, g.Unresolved, tt.claims, tt.cited, tt.invalid, tt.unresolved, g.Uncited)
			}
			if tt.uncited != nil && !slices.Equal(g.Uncited, tt.uncited) {
				t.Errorf("uncited = %q\nwant      %q", g.Uncited, tt.uncited)
			}
			switch {
			case tt.claims == 0 && g.Groundedness != nil:
				t.Errorf("groundedness = %v, want none without claims", *g.Groundedness)
			case tt.claims > 0 && (g.Groundedness == nil || fmt.Sprintf("%.4f", *g.Groundedness) != fmt.Sprintf("%.4f", float64(tt.cited)/float64(tt.claims))):
				t.Errorf("groundedness = %v, want %d/%d", g.Groundedness, tt.cited, tt.claims)
			}
		})
	}
}
