package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeScenario creates a scenario folder from file contents by path.
func writeScenario(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validScenario = `name: ok
now: 2026-11-20T14:30:00Z
question: why is checkout slow?
must_mention: [postgres]
`

func TestLoadScenarioErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// want are substrings of the error, the first naming file:line.
		want []string
	}{
		{"unknown field", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\nmust_mentoin: [x]\n"},
			[]string{"scenario.yaml:3: field must_mentoin not found"}},
		{"not YAML", map[string]string{ScenarioFile: "question: [unclosed\n"},
			[]string{"scenario.yaml:"}},
		{"empty file", map[string]string{ScenarioFile: ""},
			[]string{"scenario.yaml: the file is empty"}},
		{"wrong type", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\nread_only: sometimes\nmust_mention: [x]\n"},
			[]string{"scenario.yaml:3: cannot unmarshal"}},
		{"no question or alert", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nmust_mention: [x]\n"},
			[]string{"needs a question or an alert"}},
		{"missing now", map[string]string{ScenarioFile: "question: q\nmust_mention: [x]\n"},
			[]string{"now is missing"}},
		{"expects nothing", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\n"},
			[]string{"expects nothing"}},
		{"bad regex points at its line", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\nmust_mention:\n  - fine\n  - 're:(unclosed'\n"},
			[]string{"scenario.yaml:5:", "missing closing )"}},
		{"bad match kind", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\nexpect_tools:\n  - tool: prom_query\n    match: fuzzy\n"},
			[]string{"scenario.yaml:4:", `match "fuzzy" must be exact, subset or regex`}},
		{"read-only expecting a proposal", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nquestion: q\nread_only: true\nexpect_proposals:\n  - tool: kube_scale\n"},
			[]string{"scenario.yaml:4:", "read_only scenario cannot expect proposals"}},
		{"alert that is not a webhook", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nmust_mention: [x]\nalert:\n  version: \"3\"\n  status: firing\n"},
			[]string{"scenario.yaml:4: alert:", "version \"3\" is not supported"}},
		{"alert with an unknown field", map[string]string{ScenarioFile: "now: 2026-11-20T14:30:00Z\nmust_mention: [x]\nalert:\n  version: \"4\"\n  colour: red\n"},
			[]string{"scenario.yaml:4: alert:", `unknown field "colour"`}},
		{"recording with an unknown field", map[string]string{ScenarioFile: validScenario, "tools/a.yaml": "tool: prom_query\noutptu: x\n"},
			[]string{filepath.Join("tools", "a.yaml") + ":2: field outptu not found"}},
		{"recording without output", map[string]string{ScenarioFile: validScenario, "tools/a.yaml": "tool: prom_query\nargs: {query: up}\n"},
			[]string{"has no output, error or proposal"}},
		{"recording with a bad regex", map[string]string{ScenarioFile: validScenario, "tools/a.yaml": "tool: prom_query\nmatch: regex\nargs: {query: '('}\noutput: x\n"},
			[]string{"args.query:", "missing closing )"}},
		{"regex rule on a number", map[string]string{ScenarioFile: validScenario, "tools/a.yaml": "tool: kube_scale\nmatch: regex\nargs: {replicas: 3}\noutput: x\n"},
			[]string{"a regex rule needs string patterns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeScenario(t, tt.files)
			_, err := LoadScenario(dir)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadScenarioDefaults(t *testing.T) {
	dir := writeScenario(t, map[string]string{
		ScenarioFile: validScenario + "alert_is_absent: \n",
	})
	if _, err := LoadScenario(dir); err == nil {
		t.Fatal("an unknown key loaded")
	}
	dir = writeScenario(t, map[string]string{ScenarioFile: strings.Replace(validScenario, "name: ok\n", "", 1),
		"tools/01-q.yaml": "tool: prom_query\nargs: {query: up}\noutput: '1'\n", "tools/notes.txt": "ignored"})
	s, err := LoadScenario(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != filepath.Base(dir) {
		t.Errorf("name = %q, want the folder's", s.Name)
	}
	if s.Budget.ToolCalls != DefaultBudgetToolCalls || s.Budget.Steps != DefaultBudgetSteps {
		t.Errorf("budget = %+v, want the defaults", s.Budget)
	}
	if len(s.Recordings) != 1 || s.Recordings[0].File != filepath.Join("tools", "01-q.yaml") || s.Recordings[0].matchKind() != MatchSubset {
		t.Errorf("recordings = %+v", s.Recordings)
	}
}

func TestLoadSuiteReportsBrokenScenariosAndGoesOn(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{"good": validScenario, "broken": "question: [\n", "dup": validScenario} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, ScenarioFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := LoadSuite(root); err == nil || !strings.Contains(err.Error(), `both named "ok"`) {
		t.Fatalf("two scenarios named ok: err = %v", err)
	}
	os.RemoveAll(filepath.Join(root, "dup"))
	ss, errs, err := LoadSuite(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Name != "ok" {
		t.Errorf("scenarios = %v", ss)
	}
	if len(errs) != 1 || errs[0].Scenario != "broken" || !strings.Contains(errs[0].Error(), "scenario.yaml:") {
		t.Errorf("load errors = %v", errs)
	}
	if _, _, err := LoadSuite(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no scenarios") {
		t.Errorf("empty suite: err = %v", err)
	}
}

func TestCallRuleMatching(t *testing.T) {
	rule := func(match string, args map[string]any) CallRule {
		r := CallRule{Tool: "prom_query", Match: match, Args: args}
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name string
		rule CallRule
		tool string
		args string
		want bool
	}{
		{"no args matches any call", rule("", nil), "prom_query", `{"query":"up"}`, true},
		{"other tool", rule("", nil), "prom_query_range", `{"query":"up"}`, false},
		{"subset: named args equal", rule(MatchSubset, map[string]any{"query": "up"}), "prom_query", `{"query":"up","time":"now"}`, true},
		{"subset: value differs", rule(MatchSubset, map[string]any{"query": "up"}), "prom_query", `{"query":"up == 0"}`, false},
		{"subset: arg missing", rule(MatchSubset, map[string]any{"time": "now"}), "prom_query", `{"query":"up"}`, false},
		{"subset: numbers compare as JSON", rule(MatchSubset, map[string]any{"replicas": 4}), "prom_query", `{"replicas":4.0}`, true},
		{"subset: nested objects are subsets", rule(MatchSubset, map[string]any{"m": map[string]any{"a": "1"}}), "prom_query", `{"m":{"a":"1","b":"2"}}`, true},
		{"exact: equal", rule(MatchExact, map[string]any{"query": "up"}), "prom_query", `{ "query" : "up" }`, true},
		{"exact: an extra arg", rule(MatchExact, map[string]any{"query": "up"}), "prom_query", `{"query":"up","time":"now"}`, false},
		{"exact: no args and none given", rule(MatchExact, nil), "prom_query", `{}`, true},
		{"exact: no args but some given", rule(MatchExact, nil), "prom_query", `{"query":"up"}`, false},
		{"regex: matches", rule(MatchRegex, map[string]any{"query": `checkout.*5\.\.`}), "prom_query", `{"query":"rate(x{service=\"checkout\",code=~\"5..\"}[5m])"}`, true},
		{"regex: no match", rule(MatchRegex, map[string]any{"query": `^up$`}), "prom_query", `{"query":"up == 0"}`, false},
		{"regex: non-string values as JSON text", rule(MatchRegex, map[string]any{"replicas": `^[3-5]$`}), "prom_query", `{"replicas":4}`, true},
		{"invalid JSON never matches", rule(MatchSubset, map[string]any{"query": "up"}), "prom_query", `{query: up`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.Matches(tt.tool, json.RawMessage(tt.args)); got != tt.want {
				t.Errorf("Matches(%s %s) = %v, want %v", tt.tool, tt.args, got, tt.want)
			}
		})
	}
}

func TestReplayPrefersTheMostSpecificRecording(t *testing.T) {
	mk := func(file, match string, args map[string]any) Recording {
		r := Recording{CallRule: CallRule{Tool: "prom_query", Match: match, Args: args}, Output: file, File: file}
		if err := r.compile(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	rp := newReplay([]Recording{
		mk("any", MatchSubset, nil),
		mk("regex", MatchRegex, map[string]any{"query": "checkout"}),
		mk("subset", MatchSubset, map[string]any{"query": "checkout_errors"}),
		mk("exact", MatchExact, map[string]any{"query": "checkout_errors", "time": "14:00"}),
		mk("never", MatchExact, map[string]any{"query": "never"}),
	})
	for _, tt := range []struct{ args, want string }{
		{`{"query":"checkout_errors","time":"14:00"}`, "exact"},
		{`{"query":"checkout_errors","time":"15:00"}`, "subset"},
		{`{"query":"checkout_latency"}`, "regex"},
		{`{"query":"up"}`, "any"},
	} {
		rec, ok := rp.serve("prom_query", json.RawMessage(tt.args), "agent")
		if !ok || rec.File != tt.want {
			t.Errorf("%s answered by %q (%v), want %q", tt.args, rec.File, ok, tt.want)
		}
	}
	if _, ok := rp.serve("prom_labels", json.RawMessage(`{}`), "agent"); ok {
		t.Error("a call of another tool was answered")
	}
	if got := rp.Unused(); len(got) != 1 || got[0] != "never" {
		t.Errorf("unused = %v, want [never]", got)
	}
	calls := rp.Calls()
	if len(calls) != 5 || calls[4].Recording != "" || calls[4].Tool != "prom_labels" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestParseVerdicts(t *testing.T) {
	tests := []struct {
		name, text string
		n          int
		want       []bool
		err        string
	}{
		{"valid", `{"facts":[{"index":1,"present":false,"reason":"no"},{"index":0,"present":true,"reason":"yes"}]}`, 2, []bool{true, false}, ""},
		{"one fence is tolerated", "```json\n{\"facts\":[{\"index\":0,\"present\":true,\"reason\":\"r\"}]}\n```", 1, []bool{true}, ""},
		{"empty", "  ", 1, nil, "returned nothing"},
		{"prose", "The answer mentions postgres.", 1, nil, "not the required JSON"},
		{"text after the object", `{"facts":[{"index":0,"present":true}]} I hope this helps`, 1, nil, "text after the JSON"},
		{"unknown field", `{"facts":[{"index":0,"present":true}],"score":3}`, 1, nil, "not the required JSON"},
		{"present as a string", `{"facts":[{"index":0,"present":"yes"}]}`, 1, nil, "not the required JSON"},
		{"missing present", `{"facts":[{"index":0}]}`, 1, nil, "without index or present"},
		{"fact left out", `{"facts":[{"index":0,"present":true}]}`, 2, nil, "leaves out fact 1"},
		{"fact twice", `{"facts":[{"index":0,"present":true},{"index":0,"present":false}]}`, 1, nil, "names fact 0 twice"},
		{"index out of range", `{"facts":[{"index":3,"present":true}]}`, 1, nil, "names fact 3; there are 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseVerdicts(tt.text, tt.n)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				if v[i].Present != w || v[i].Index != i {
					t.Errorf("verdict %d = %+v, want present %v", i, v[i], w)
				}
			}
		})
	}
}

func TestRootCause(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"the investigation's ranking", "# P\n\n## Root cause\nCandidates (to be confirmed):\nRoot-cause ranking ...\n1. catalog — score 9.1 (own 3.0)\n2. postgres — score 2\n\n## Impact\n- x\n", "catalog"},
		{"the team's words", "## Summary\nx\n## Root Cause\n\n- A ConfigMap change removed the gold pricing tier.\n## Impact\n", "A ConfigMap change removed the gold pricing tier."},
		{"not determined", "## Root cause\nNot determined from the record. To be filled in by the team.\n", ""},
		{"no section", "# Postmortem\n## Summary\nx\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RootCause(tt.md)
			if (tt.want == "") != (len(got) == 0) || (len(got) > 0 && got[0] != tt.want) {
				t.Errorf("RootCause = %q, want %q", got, tt.want)
			}
		})
	}
}
