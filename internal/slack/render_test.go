package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, blocks []slackapi.Block) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // readable golden files: Slack's markup as written
	enc.SetIndent("", "  ")
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	got := bytes.TrimSpace(buf.Bytes())
	if problem := slackfake.BlocksProblem(string(got)); problem != "" {
		t.Errorf("%s breaks Slack's rules: %s", name, problem)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/slack -run Golden -update)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func TestGoldenBlocks(t *testing.T) {
	at := time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC)
	answer, _, overflow := slack.AnswerBlocks(slack.Answer{
		Text: "## Checkout is slow\nCheckout p99 rose to **2.31s** at 14:02 [1] after deploy `checkout:v2.4.1` [2].\n- payments is fine [7]\n- see [graph](http://prom/g?a=1&b=2)\n",
		Evidence: []slack.Evidence{
			{Tool: "prom_query_range", Query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))`,
				Duration: 412 * time.Millisecond, Outcome: "ok", Link: "http://prom/graph?g0.expr=x"},
			{Tool: "logs_search", Query: `{"service":"checkout","level":"error"}`, Duration: 1200 * time.Millisecond, Outcome: "ok"},
			{Tool: "rca_rank", Query: "14:02", Duration: 30 * time.Millisecond, Outcome: "tool_error"},
		},
		Footer: "gpt-4o · 4 steps · 3 tool calls · 5,120 in / 310 out tokens · $0.0142 · 9.8s",
		RunID:  "run_0123456789abcdef",
	})
	if overflow {
		t.Error("a short answer overflowed")
	}
	golden(t, "answer", answer)

	failed, _, _ := slack.AnswerBlocks(slack.Answer{Text: "the model did not answer in time (llm.timeout 2m0s); try again", Failed: true,
		Footer: "gpt-4o · 1 step · 0 tool calls · 900 in / 0 out tokens · 2m0s"})
	golden(t, "answer_failed", failed)

	// An answer resting on no tool call says so, whatever the model wrote.
	bare, _, _ := slack.AnswerBlocks(slack.Answer{Text: "Checkout is probably slow because of DNS [1].",
		Footer: "gpt-4o · 1 step · 0 tool calls · 900 in / 40 out tokens · 1.2s", RunID: "run_0123456789abcdef"})
	golden(t, "answer_no_evidence", bare)

	// Calls made but none cited: the reader is told to check them.
	uncited, _, _ := slack.AnswerBlocks(slack.Answer{Text: "Checkout is slow.",
		Evidence: []slack.Evidence{{Tool: "prom_query", Query: "up", Duration: 80 * time.Millisecond, Outcome: "ok"}},
		RunID:    "run_0123456789abcdef"})
	golden(t, "answer_uncited", uncited)

	// More calls than fit: the cited ones are listed whatever their
	// number, the rest are behind Show my work.
	var many []slack.Evidence
	for i := range 12 {
		many = append(many, slack.Evidence{Tool: "prom_query", Query: fmt.Sprintf("q%d", i+1), Outcome: "ok"})
	}
	manyBlocks, _, _ := slack.AnswerBlocks(slack.Answer{Text: "Memory grows [11], then the pod restarts [12][3].", Evidence: many,
		RunID: "run_0123456789abcdef"})
	golden(t, "answer_many_calls", manyBlocks)

	golden(t, "progress", slack.ProgressBlocks("Working on it… 1 tool calls so far",
		[]slack.Evidence{{Tool: "prom_query", Query: "up == 0", Duration: 80 * time.Millisecond, Outcome: "ok"}}, []string{"logs_search"}))

	p := approval.Proposal{ID: "prop_a1b2c3", Tool: "rollout_undo", Summary: "Roll back deployment checkout to revision 7 <image v2.4.0>",
		Details: "namespace: shop\nimage: checkout:v2.4.1 → checkout:v2.4.0", Risk: "medium", RequestedBy: "UALICE",
		Status: approval.Pending, CreatedAt: at}
	pending, _ := slack.ProposalBlocks(p, 15*time.Minute)
	golden(t, "proposal_pending", pending)
	p.Status, p.DecidedBy, p.DecidedAt, p.Result = approval.Executed, "UADMIN", at.Add(3*time.Minute), "rolled back; 3/3 pods ready"
	executed, _ := slack.ProposalBlocks(p, 15*time.Minute)
	golden(t, "proposal_executed", executed)
	p.Status, p.Result = approval.Rejected, ""
	rejected, _ := slack.ProposalBlocks(p, 15*time.Minute)
	golden(t, "proposal_rejected", rejected)
}

func TestMrkdwnEscapesHostileText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"<!channel> wake up <@U123>", "&lt;!channel&gt; wake up &lt;@U123&gt;"},
		{"**bold** and __also__", "*bold* and *also*"},
		{"# Title", "*Title*"},
		{"- one\n* two", "• one\n• two"},
		// A link's label never hides its destination (finding 10).
		{"[site](https://x.example/a?b=1&c=2)", "site (<https://x.example/a?b=1&amp;c=2>)"},
		{"[a|b](https://x.example/p|q>r)", "a|b (<https://x.example/p%7Cq%3Er>)"},
		{"[https://x.example/a](https://x.example/a)", "<https://x.example/a>"},
		{"[js](javascript:alert(1))", "[js](javascript:alert(1))"},
		{"`<b>` and ```\n<!here> **no**\n```", "`&lt;b&gt;` and ```\n&lt;!here&gt; **no**\n```"},
	} {
		if got := slack.Mrkdwn(tt.in); got != tt.want {
			t.Errorf("Mrkdwn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLongAnswersStayWithinSlackLimits(t *testing.T) {
	var b strings.Builder
	for i := range 4000 {
		b.WriteString("Line ")
		b.WriteString(strings.Repeat("x", i%90))
		b.WriteString(" & <tag>\n")
		if i%500 == 0 {
			b.WriteString("```\ncode inside a fence " + strings.Repeat("y", 200) + "\n")
		}
		if i%500 == 250 {
			b.WriteString("```\n")
		}
	}
	b.WriteString(strings.Repeat("z", 9000)) // one line longer than a section
	var evidence []slack.Evidence
	for range 30 {
		evidence = append(evidence, slack.Evidence{Tool: "prom_query", Query: strings.Repeat("q", 5000), Outcome: "ok"})
	}
	blocks, fallback, overflow := slack.AnswerBlocks(slack.Answer{Text: b.String(), Evidence: evidence, RunID: "run_x", Footer: "f"})
	if !overflow {
		t.Error("a 300 kB answer did not overflow into a snippet")
	}
	if len(blocks) > 50 {
		t.Errorf("%d blocks", len(blocks))
	}
	if utf8.RuneCountInString(fallback) > 3000 {
		t.Errorf("fallback text is %d characters", utf8.RuneCountInString(fallback))
	}
	raw, _ := json.Marshal(blocks)
	if problem := slackfake.BlocksProblem(string(raw)); problem != "" {
		t.Errorf("blocks break Slack's rules: %s", problem)
	}
	for _, blk := range blocks {
		if s, ok := blk.(*slackapi.SectionBlock); ok && strings.Count(s.Text.Text, "```")%2 != 0 {
			t.Errorf("a section has an unbalanced code fence: %.80q…", s.Text.Text)
		}
	}
}

// The answer, its evidence and Show my work agree on the numbers: a
// step's two parallel calls are [1] and [2] in the order the model listed
// them, the answer's [1] and [2] are theirs, and a made-up [9] is marked.
func TestAnswerAndShowMyWorkNumberTheCalls(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ExpectInput: "checkout latency", ToolCalls: []scripted.Call{
			{Name: "prom_query_range", Args: map[string]any{"query": "histogram_quantile(0.99, x)"}},
			{Name: "prom_query_range", Args: map[string]any{"query": "sum((x"}}}},
		{ExpectToolResult: "[2] prom_query_range\nError:", Text: "Checkout p99 is 2.31s [1]; the error rate is unknown [2]. Payments is fine [9]."},
	}})
	ts := h.fake.UserMessage(chOps, alice, "checkout latency?", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "checkout latency?"))
	ans := h.answered(chOps, ts, "Checkout p99 is 2.31s")
	text := blocksText(ans.Blocks)
	for _, want := range []string{"is 2.31s [1]", "unknown [2]", "Payments is fine [9: no such tool call]",
		"*[1]* ✓ `prom_query_range` `histogram_quantile(0.99, x)`", "*[2]* ✗ `prom_query_range` `sum((x`"} {
		if !strings.Contains(text, want) {
			t.Errorf("the answer lacks %q:\n%s", want, text)
		}
	}
	var runID string
	var blocks []map[string]any
	_ = json.Unmarshal(ans.Blocks, &blocks)
	for _, b := range blocks {
		if b["type"] == "actions" {
			runID = b["elements"].([]any)[0].(map[string]any)["value"].(string)
		}
	}
	h.click(chOps, bob, ans.TS, "show_work", runID)
	var view string
	eventually(t, "the work modal", func() bool {
		for _, v := range h.fake.Views() {
			if text := blocksText(v.View); strings.Contains(text, "prom_query_range") {
				view = text
				return true
			}
		}
		return false
	})
	first := strings.Index(view, "*[1]* ✓ `prom_query_range` `{\"query\":\"histogram_quantile(0.99, x)\"}`")
	second := strings.Index(view, "*[2]* ✗ `prom_query_range` `{\"query\":\"sum((x\"}`")
	if first < 0 || second < first || !strings.Contains(view[first:second], "checkout p99 2.31s") {
		t.Errorf("the work modal does not list the calls by number with their results:\n%s", view)
	}
}
