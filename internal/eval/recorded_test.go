package eval_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/eval"
)

// recorded holds recorded runs, one folder per model, each a suite.
const recorded = "../../eval/recorded"

// TestRecordedRuns replays every recorded run with its model's recorded
// replies: a change to the agent loop, the parsing of replies or a tool's
// schema that breaks what a model once did fails here.
func TestRecordedRuns(t *testing.T) {
	models, err := os.ReadDir(recorded)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range models {
		if !m.IsDir() {
			continue
		}
		t.Run(m.Name(), func(t *testing.T) {
			ss, errs, err := eval.LoadSuite(filepath.Join(recorded, m.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Errorf("does not load: %v", e)
			}
			for _, s := range ss {
				if !s.Strict || s.Script == nil {
					t.Errorf("%s: a recorded run needs its script and strict: true, or a changed call would pass unnoticed", s.Name)
				}
			}
			n += len(ss)
			rep := eval.Evaluate(context.Background(), ss, errs, eval.Options{Tools: reference(t)})
			for _, s := range rep.Scenarios {
				if s.Error != "" {
					t.Errorf("%s/%s cannot run: %s", m.Name(), s.Name, s.Error)
				}
				for _, r := range s.Runs {
					for _, c := range r.Failures() {
						t.Errorf("%s/%s no longer replays: %s", m.Name(), s.Name, strings.TrimSpace(c.Name+" "+c.Target+": "+c.Detail))
					}
				}
			}
		})
	}
	if n < 3 {
		t.Errorf("%d recorded runs in %s; we ship at least 3", n, recorded)
	}
}

// TestABrokenRecordingFails breaks a shipped recorded run the ways a
// change to Watchkeeper breaks one, and checks that the replay says so.
func TestABrokenRecordingFails(t *testing.T) {
	const name = "bad-deploy-why-checkout-fails"
	const call = `{"name":"checkout","namespace":"shop"}`
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		// want are substrings of the failures (or of the scenario's error).
		want []string
	}{
		{
			name:    "a recording is missing",
			breakIt: func(t *testing.T, dir string) { remove(t, dir, "tools/02-kube_rollout_history.yaml") },
			want: []string{`replay call recorded: the agent called kube_rollout_history {"name":"checkout","namespace":"shop"} and no recording answers it`,
				"record the run again"},
		},
		{
			name: "the agent sends other arguments",
			breakIt: func(t *testing.T, dir string) {
				edit(t, dir, "scenario.yaml", call, `{"name":"checkout","namespace":"shop-staging"}`)
			},
			want: []string{`replay call recorded: the agent called kube_rollout_history {"name":"checkout","namespace":"shop-staging"} and no recording answers it`,
				"replay recording used: tools/02-kube_rollout_history.yaml (kube_rollout_history exact {\"name\":\"checkout\",\"namespace\":\"shop\"}) answered a call of the recorded run that the replay did not make"},
		},
		{
			name: "the tool's schema refuses the recorded arguments",
			breakIt: func(t *testing.T, dir string) {
				edit(t, dir, "scenario.yaml", call, `{"name":"checkout","namespace":"shop","follow":true}`)
			},
			want: []string{"replay recording used: tools/02-kube_rollout_history.yaml", `the agent's call kube_rollout_history {"follow":true,"name":"checkout","namespace":"shop"} ended tool_error: Error: invalid arguments for kube_rollout_history`},
		},
		{
			name: "Watchkeeper no longer has the tool",
			breakIt: func(t *testing.T, dir string) {
				edit(t, dir, "scenario.yaml", "name: kube_rollout_history", "name: kube_rollout_log")
				edit(t, dir, "tools/02-kube_rollout_history.yaml", "tool: kube_rollout_history", "tool: kube_rollout_log")
			},
			want: []string{`tools/02-kube_rollout_history.yaml names the tool "kube_rollout_log", which Watchkeeper does not have`},
		},
		{
			name: "the agent stops before the model's last reply",
			breakIt: func(t *testing.T, dir string) {
				appendTo(t, dir, "scenario.yaml", "        - text: a reply the agent never asked for\n")
			},
			want: []string{"replay script consumed: the run ended after 2 of the recorded model's 3 replies"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(recorded, "scripted", name))); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, dir)
			s, err := eval.LoadScenario(dir)
			if err != nil {
				t.Fatal(err)
			}
			rep := eval.Evaluate(context.Background(), []*eval.Scenario{s}, nil, eval.Options{Tools: reference(t)})
			sr := rep.Scenarios[0]
			got := sr.Error
			for _, r := range sr.Runs {
				if r.Pass {
					t.Error("the broken recording passes")
				}
				for _, c := range r.Failures() {
					got += "\n" + c.Name + " " + c.Target + ": " + c.Detail
				}
			}
			if sr.Error == "" && len(sr.Runs) == 0 {
				t.Fatal("no run and no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("the failures do not say %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestRecordRunReplaysAsRecorded records passing runs — an alert with its
// investigation, a proposal, a call nothing answered — and replays them.
func TestRecordRunReplaysAsRecorded(t *testing.T) {
	ss, errs, err := eval.LoadSuite(shipped)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	var pick []*eval.Scenario
	for _, s := range ss {
		switch s.Name {
		case "alert-high-error-rate-checkout", "bad-deploy-rollback-needs-approval", "metric-error-rate-checkout":
			pick = append(pick, s)
		}
	}
	extra, _ := suite(t, map[string]map[string]string{"unmatched": {"scenario.yaml": `now: 2026-11-20T14:30:00Z
question: q
must_mention: [nothing recorded]
script:
  turns:
    - tool_calls: [{name: prom_query, args: {query: 'up == 0'}}]
    - text: There is nothing recorded for that query.
`}})
	pick = append(pick, extra...)
	rep := eval.Evaluate(context.Background(), pick, nil, eval.Options{Tools: reference(t), KeepTranscripts: true})
	var again []*eval.Scenario
	for i, sr := range rep.Scenarios {
		rec, err := eval.RecordRun(pick[i], sr.Runs[0], "test-model", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatalf("%s: %v", sr.Name, err)
		}
		dir := filepath.Join(t.TempDir(), sr.Name)
		if err := eval.WriteRecorded(dir, rec); err != nil {
			t.Fatal(err)
		}
		s, err := eval.LoadScenario(dir)
		if err != nil {
			t.Fatalf("%s: the recorded scenario does not load: %v", sr.Name, err)
		}
		if !s.Strict || s.Script.Model != "recorded:test-model" || (pick[i].Alert != nil) != (s.Alert != nil) {
			t.Errorf("%s: strict %v, script model %q, alert %v", s.Name, s.Strict, s.Script.Model, s.Alert != nil)
		}
		for _, r := range s.Recordings {
			if r.Match != eval.MatchExact {
				t.Errorf("%s/%s: match %s; a recorded call is exact", s.Name, r.File, r.Match)
			}
		}
		again = append(again, s)
	}
	for _, sr := range eval.Evaluate(context.Background(), again, nil, eval.Options{Tools: reference(t)}).Scenarios {
		if sr.Error != "" || sr.Passed != 1 {
			t.Errorf("%s does not replay: %s %+v", sr.Name, sr.Error, sr.Runs[0].Failures())
		}
	}

	// Only a passing run, with its transcript, is a regression test.
	bad := rep.Scenarios[0].Runs[0]
	bad.Pass, bad.Checks = false, append(bad.Checks, eval.Check{Name: "must_mention", Target: "x", Detail: "not in the answer"})
	if _, err := eval.RecordRun(pick[0], bad, "m", time.Now()); err == nil || !strings.Contains(err.Error(), "the run failed (must_mention x: not in the answer)") {
		t.Errorf("a failed run: %v", err)
	}
	bare := rep.Scenarios[0].Runs[0]
	bare.Transcript = nil
	if _, err := eval.RecordRun(pick[0], bare, "m", time.Now()); err == nil || !strings.Contains(err.Error(), "KeepTranscripts") {
		t.Errorf("no transcript: %v", err)
	}
}

func remove(t *testing.T, dir, file string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The script holds arguments as JSON inside a YAML string.
	quoted := strings.ReplaceAll(old, `"`, `\"`)
	s := string(b)
	switch {
	case strings.Contains(s, old):
		s = strings.ReplaceAll(s, old, new)
	case strings.Contains(s, quoted):
		s = strings.ReplaceAll(s, quoted, strings.ReplaceAll(new, `"`, `\"`))
	default:
		t.Fatalf("%s does not contain %s", file, old)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, dir, file, text string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
