package agent

import "testing"

func TestParseReActText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want reactStep
	}{
		{"action", "Thought: check errors\nAction: prom_query\nAction Input: {\"query\": \"up\"}",
			reactStep{Action: "prom_query", Input: `{"query": "up"}`}},
		{"final", "Thought: I know.\nFinal Answer: checkout is slow because of the DB.",
			reactStep{Final: "checkout is slow because of the DB.", HasFinal: true}},
		{"markdown emphasis", "**Thought:** x\n**Action:** `prom_query`\n**Action Input:** {\"query\": \"up\"}",
			reactStep{Action: "prom_query", Input: `{"query": "up"}`}},
		{"multi-line input", "Action: logs\nAction Input: {\n  \"service\": \"checkout\"\n}\nThought: wait",
			reactStep{Action: "logs", Input: "{\n  \"service\": \"checkout\"\n}"}},
		{"hallucinated observation is cut", "Action: logs\nAction Input: {}\nObservation: all good\nFinal Answer: fine",
			reactStep{Action: "logs", Input: "{}"}},
		{"action without input", "Action: list_alerts", reactStep{Action: "list_alerts", Input: "{}"}},
		{"action none is an answer", "Action: None\nFinal Answer: nothing to do", reactStep{Final: "nothing to do", HasFinal: true}},
		{"plain text is the answer", "The service is healthy.", reactStep{Final: "The service is healthy.", HasFinal: true}},
		{"final before action wins", "Final Answer: done\nAction: logs", reactStep{Final: "done\nAction: logs", HasFinal: true}},
		{"case insensitive", "action: echo\naction input: {\"text\": \"x\"}", reactStep{Action: "echo", Input: `{"text": "x"}`}},
		{"parenthesised name", "Action: echo()\nAction Input: {}", reactStep{Action: "echo", Input: "{}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseReActText(tt.in); got != tt.want {
				t.Errorf("parseReActText(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReactThought(t *testing.T) {
	if got := reactThought("Thought: the DB is saturated\nAction: logs\nAction Input: {}"); got != "the DB is saturated" {
		t.Errorf("reactThought = %q", got)
	}
}
