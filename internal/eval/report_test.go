package eval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/eval"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGroundednessInTheReport scores answers in runs and reports the
// scores per scenario and overall; min_groundedness turns them into a
// check.
func TestGroundednessInTheReport(t *testing.T) {
	const twoCalls = `    - tool_calls: [{name: prom_query, args: {query: checkout_errors}}, {name: kube_rollout_history, args: {name: checkout, namespace: shop}}]
`
	ss, _ := suite(t, map[string]map[string]string{
		"cited": {"scenario.yaml": `now: 2026-11-20T14:30:00Z
question: why does checkout fail?
must_mention: ["1.5.0"]
min_groundedness: 0.5
script:
  turns:
` + twoCalls + `    - text: "checkout fails 25% of requests [1] since revision 4 (1.5.0) rolled out at 14:10 [2]. Roll back to 1.4.2."
`, "tools/01-q.yaml": errorRate, "tools/02-h.yaml": "tool: kube_rollout_history\noutput: revision 4 1.5.0\n"},
		"invalid": {"scenario.yaml": `now: 2026-11-20T14:30:00Z
question: why does checkout fail?
must_mention: ["1.5.0"]
min_groundedness: 0.5
script:
  turns:
` + twoCalls + `    - text: "checkout fails 25% of requests [1]. Revision 4 (1.5.0) rolled out at 14:10 [3]. The pods restarted twice."
`, "tools/01-q.yaml": errorRate, "tools/02-h.yaml": "tool: kube_rollout_history\noutput: revision 4 1.5.0\n"},
		"question": {"scenario.yaml": `now: 2026-11-20T14:30:00Z
question: is it slow?
must_mention: ["which service"]
script: {turns: [{text: "Which service do you mean, and since when?"}]}
`},
	})
	rep := eval.Evaluate(context.Background(), ss, nil, eval.Options{Tools: reference(t)})
	got := map[string]eval.ScenarioResult{}
	for _, s := range rep.Scenarios {
		got[s.Name] = s
	}
	if s := got["cited"]; !s.PassAll || s.Claims != 1 || s.Cited != 1 || *s.Groundedness != 1 {
		t.Errorf("cited: %+v, grounding %+v", s, s.Runs[0].Grounding)
	}
	inv := got["invalid"]
	if inv.PassAll || inv.Claims != 3 || inv.Cited != 1 || inv.InvalidCitations != 1 {
		t.Errorf("invalid: %+v, grounding %+v", inv, inv.Runs[0].Grounding)
	}
	if f := inv.Runs[0].Failures(); len(f) != 1 || f[0].Name != "groundedness" ||
		f[0].Detail != `1 of 3 claims cite a tool call (0.33); uncited: "Revision 4 (1.5.0) rolled out at 14:10 [3].", "The pods restarted twice."; cites [3], which name no tool call of the run` {
		t.Errorf("invalid: failures %+v", f)
	}
	if q := got["question"]; !q.PassAll || q.Claims != 0 || q.Groundedness != nil {
		t.Errorf("question: %+v", q)
	}
	// The mean is over the scenarios with claims: (1 + 1/3) / 2.
	if tot := rep.Totals; tot.Groundedness == nil || *tot.Groundedness != 0.6667 || tot.GroundedScenarios != 2 || tot.Claims != 4 || tot.CitedClaims != 2 || tot.InvalidCitations != 1 {
		t.Errorf("totals: %+v", tot)
	}

	var table, md, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GROUNDED", "1.00 1/1", "0.33 1/3 (1 invalid)", "groundedness 0.667"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"Groundedness (claims citing a tool call, mean over 2 scenarios with claims): **0.667**; claims 4, uncited 2, citations of calls never made 1",
		"| invalid | 0/1 | 0.00 | 3 | 2 | 1 | 0.33 |", "| question | 1/1 | 1.00 | 0 | 0 | 0 | - |", "the answer cites [3]; the run made 2 tool calls"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var back eval.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Scenarios[1].Runs[0].Grounding.Uncited[0] != "Revision 4 (1.5.0) rolled out at 14:10 [3]." || back.Version == "" {
		t.Errorf("JSON: %v %+v", err, back.Scenarios)
	}
}

func TestCostPerRun(t *testing.T) {
	ss, _ := suite(t, map[string]map[string]string{"s": {"scenario.yaml": "now: 2026-11-20T14:30:00Z\nquestion: q\nmust_mention: [ok]\n"}})
	model := scripted.New(scripted.Turn{Text: "ok", Usage: agent.Usage{InputTokens: 10_000, OutputTokens: 1_000}},
		scripted.Turn{Text: "ok", Usage: agent.Usage{InputTokens: 30_000, OutputTokens: 1_000}})
	rep := eval.Evaluate(context.Background(), ss, nil, eval.Options{Tools: reference(t), Model: model, ModelName: "p/scripted", Provider: "p", Runs: 2,
		Agent: agent.Config{Prices: agent.Prices{"scripted": {InputPerMTok: 2.5, OutputPerMTok: 10}}}})
	// $0.035 and $0.085: $0.12 in all, $0.06 a run.
	if tot := rep.Totals; tot.CostUSD == nil || *tot.CostUSD != 0.12 || *tot.MeanCostUSD != 0.06 || *rep.Scenarios[0].MeanCostUSD != 0.06 {
		t.Errorf("totals %+v", tot)
	}
	if rep.Provider != "p" {
		t.Errorf("provider %q", rep.Provider)
	}
}

// TestPublish renders reports as the table peers publish, against golden
// files; the CLI's `eval report` is tested against the same files.
func TestPublish(t *testing.T) {
	paths, err := filepath.Glob("testdata/reports/*.json")
	if err != nil || len(paths) < 3 {
		t.Fatal(err, paths)
	}
	var reports []*eval.Report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var r eval.Report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		reports = append(reports, &r)
	}
	// The price that the CLI test's configuration gives.
	rows := eval.Publish(reports, agent.Prices{"claude-sonnet-4-5": {InputPerMTok: 3, OutputPerMTok: 15}})
	var md, js bytes.Buffer
	if err := eval.WritePublishedMarkdown(&md, rows); err != nil {
		t.Fatal(err)
	}
	if err := eval.WritePublishedJSON(&js, rows); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/published.golden.md", md.Bytes())
	golden(t, "testdata/published.golden.json", js.Bytes())

	// A different suite is said to be incomparable.
	other := *reports[0]
	other.Suite = "eval/recorded/gpt-4o"
	md.Reset()
	if err := eval.WritePublishedMarkdown(&md, eval.Publish([]*eval.Report{reports[0], &other}, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "The rows ran different suites: their pass rates do not compare.") {
		t.Errorf("different suites:\n%s", md.String())
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
