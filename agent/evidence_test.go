package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/tools"
)

// evidenceKey is what numbering decides about a call.
func evidenceKey(e agent.Evidence) string {
	return fmt.Sprintf("[%d] %s %s %s", e.N, e.Tool, e.Args, e.Outcome)
}

func evidenceKeys(ev []agent.Evidence) []string {
	var out []string
	for _, e := range ev {
		out = append(out, evidenceKey(e))
	}
	return out
}

// Calls are numbered in the order the model listed them, also when a later
// call of a step finishes first: the label the model reads, the run's
// Evidence, the order of the events every surface numbers by and the
// stored transcript all agree.
func TestEvidenceNumbersCallsInCallOrder(t *testing.T) {
	fastDone := make(chan struct{})
	slow := &funcTool{name: "slow", run: func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
		select {
		case <-fastDone:
		case <-ctx.Done():
		}
		// Time for the fast call's end to reach the events first, were
		// it not held back for this one.
		time.Sleep(20 * time.Millisecond)
		return tools.Text("slow result"), nil
	}}
	fast := &funcTool{name: "fast", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		defer close(fastDone)
		return tools.Text("fast result"), nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "slow", Args: map[string]any{"n": 1}}, {Name: "fast", Args: map[string]any{"n": 2}}}},
		scripted.Turn{ExpectToolResult: "[2] fast\nfast result", ToolCalls: []scripted.Call{
			{Name: "echo", Args: map[string]any{"text": "third"}}, {Name: "nope"}}},
		scripted.Turn{ExpectToolResult: "[3] echo\necho: third", Text: "Slow says so [1], fast agrees [2][3]."},
	)
	rec := &memRecorder{}
	var log eventLog
	a := agent.New(model, registry(t, slow, fast, &echoTool{}), agent.Options{Recorder: rec})
	res, err := a.Run(context.Background(), agent.Task{Input: "q"}, log.observe)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`[1] slow {"n":1} ok`,
		`[2] fast {"n":2} ok`,
		`[3] echo {"text":"third"} ok`,
		`[4] nope {} refused`,
	}
	if got := evidenceKeys(res.Evidence); !slices.Equal(got, want) {
		t.Errorf("Result.Evidence = %q\nwant %q", got, want)
	}
	if e := res.Evidence[0]; e.Step != 1 || e.Result != "slow result" || e.CallID == "" || res.Evidence[2].Step != 2 {
		t.Errorf("evidence 1 = %+v, 3 = %+v", e, res.Evidence[2])
	}
	// The label reaches the model, on every result, in call order.
	var labels []string
	for _, m := range lastToolMessages(model.Requests()[2].Messages) {
		first, _, _ := strings.Cut(m.Content, "\n")
		labels = append(labels, first)
	}
	if !slices.Equal(labels, []string{"[1] slow", "[2] fast", "[3] echo", "[4] nope"}) {
		t.Errorf("the model read results labelled %q", labels)
	}
	// The events say the same, in the same order.
	var kinds []string
	for _, e := range log.events {
		if e.Kind == agent.EventToolStart || e.Kind == agent.EventToolEnd {
			kinds = append(kinds, string(e.Kind)+" "+e.Tool)
		}
	}
	if got := evidenceKeys(agent.EvidenceOf(log.events)); !slices.Equal(got, want) {
		t.Errorf("EvidenceOf(events) = %q\nwant %q\nevents: %q", got, want, kinds)
	}
	ends := log.of(agent.EventToolEnd)
	if ends[0].Tool != "slow" || ends[1].Tool != "fast" {
		t.Errorf("the fast call's end was passed on before the slow one's: %q", kinds)
	}
	// The stored transcript keeps the list.
	var tr agent.Transcript
	if err := json.Unmarshal(rec.only(t).Transcript, &tr); err != nil {
		t.Fatal(err)
	}
	if got := evidenceKeys(tr.Evidence); !slices.Equal(got, want) {
		t.Errorf("transcript evidence = %q", got)
	}
	if got := agent.Note(res.Answer, len(res.Evidence)); got != "" {
		t.Errorf("a cited answer got the note %q", got)
	}
}

// In ReAct mode the Observation carries the label, and numbers go on
// across steps.
func TestEvidenceLabelsReActObservations(t *testing.T) {
	model := scripted.NewScript(scripted.Script{NoToolCalling: true, Turns: []scripted.Turn{
		{Text: "Thought: look.\nAction: echo\nAction Input: {\"text\": \"one\"}"},
		{ExpectToolResult: "[1] echo\necho: one", Text: "Thought: again.\nAction: echo\nAction Input: {\"text\": \"two\"}"},
		{ExpectToolResult: "[2] echo\necho: two", Text: "Final Answer: one [1], two [2]."},
	}})
	res, err := agent.New(model, registry(t, &echoTool{}), agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := model.Requests()
	if obs := reqs[2].Messages[len(reqs[2].Messages)-1]; obs.Content != "Observation: [2] echo\necho: two" {
		t.Errorf("observation = %q", obs.Content)
	}
	want := []string{`[1] echo {"text":"one"} ok`, `[2] echo {"text":"two"} ok`}
	if got := evidenceKeys(res.Evidence); !slices.Equal(got, want) {
		t.Errorf("evidence = %q", got)
	}
}

// A proposal's evidence names the calls by their numbers, so an approver
// can match them to the answer.
func TestProposalEvidenceIsNumbered(t *testing.T) {
	scale := &funcTool{name: "scale", mutating: true, run: func(context.Context, json.RawMessage) (tools.Result, error) {
		return tools.Result{Proposal: &tools.Proposal{Summary: "scale up"}}, nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "load"}}}},
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "scale", Args: map[string]any{"n": 3}}}},
		scripted.Turn{Text: "Load is high [1]; I propose scaling [2]."},
	)
	res, err := agent.New(model, registry(t, &echoTool{}, scale), agent.Options{}).Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Proposals) != 1 {
		t.Fatalf("%d proposals", len(res.Proposals))
	}
	contains(t, res.Proposals[0].Details, `- echo {"text":"load"} (run `+res.RunID+", step 1, call [1])")
	if res.Evidence[1].Outcome != agent.OutcomeProposed {
		t.Errorf("evidence 2 = %+v", res.Evidence[1])
	}
}

func TestCitations(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       []int
	}{
		{"one", "p99 is 2.3s [3].", []int{3}},
		{"adjacent", "errors rose [2][5] and fell [1]", []int{1, 2, 5}},
		{"list", "see [2, 5] and [5,7]", []int{2, 5, 7}},
		{"range", "every pod restarted [2-4]", []int{2, 3, 4}},
		{"none", "nothing to cite here", nil},
		{"code is not a citation", "the query `rate(x[5])[1]` and ```\nlog [9]\n``` say so [1]", []int{1}},
		{"a link is not a citation", "[1](https://example.com/1) and the [runbook](https://x) [2]", []int{2}},
		{"not numbers", "[firing] alert [5m] [a1]", nil},
		{"a wide span is no range", "between [1900-2026]", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := agent.Citations(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Citations(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

// A number that is no call of the run is marked, never left to read as a
// citation; valid ones stay as written.
func TestMarkInvalidCitations(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		calls      int
		want       string
		invalid    []int
	}{
		{"all valid", "a [1], b [2, 3] [2-3]", 3, "a [1], b [2, 3] [2-3]", nil},
		{"past the last call", "a [1], b [7].", 3, "a [1], b [7: no such tool call].", []int{7}},
		{"in a list", "b [2, 9]", 3, "b [2][9: no such tool call]", []int{9}},
		{"zero", "c [0]", 3, "c [0: no such tool call]", []int{0}},
		{"no calls at all", "d [1] and [1]", 0, "d [1: no such tool call] and [1: no such tool call]", []int{1}},
		{"code untouched", "`x[9]` [9]", 1, "`x[9]` [9: no such tool call]", []int{9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, invalid := agent.MarkInvalidCitations(tt.text, tt.calls)
			if got != tt.want || !slices.Equal(invalid, tt.invalid) {
				t.Errorf("MarkInvalidCitations(%q, %d) = %q, %v\nwant %q, %v", tt.text, tt.calls, got, invalid, tt.want, tt.invalid)
			}
			if marked := agent.Citations(got); slices.ContainsFunc(marked, func(n int) bool { return n < 1 || n > tt.calls }) {
				t.Errorf("the marked text still cites %v", marked)
			}
		})
	}
}

func TestNote(t *testing.T) {
	for _, tt := range []struct {
		name, answer string
		calls        int
		want         string
	}{
		{"no tool called", "It is probably DNS.", 0, agent.NoEvidenceNote},
		{"no tool called, made-up citation", "It is DNS [1].", 0, agent.NoEvidenceNote},
		{"calls, none cited", "It is DNS.", 2, agent.UncitedNote},
		{"calls, only made-up citations", "It is DNS [5].", 2, agent.UncitedNote},
		{"cited", "It is DNS [2].", 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := agent.Note(tt.answer, tt.calls); got != tt.want {
				t.Errorf("Note(%q, %d) = %q, want %q", tt.answer, tt.calls, got, tt.want)
			}
		})
	}
}

// EvidenceOf pairs ends with starts by call ID, the earliest open one
// first: answers without a model reuse the tool's name as the ID.
func TestEvidenceOfRepeatedCallIDs(t *testing.T) {
	events := []agent.Event{
		{Kind: agent.EventRunStarted},
		{Kind: agent.EventToolStart, Step: 1, Tool: "prom_query", CallID: "prom_query", Args: json.RawMessage(`{"query":"a"}`)},
		{Kind: agent.EventToolEnd, Step: 1, Tool: "prom_query", CallID: "prom_query", Outcome: agent.OutcomeOK, Text: "<untrusted-data source=\"x\">\nA\n</untrusted-data>"},
		{Kind: agent.EventToolStart, Step: 1, Tool: "prom_query", CallID: "prom_query", Args: json.RawMessage(`{"query":"b"}`)},
		{Kind: agent.EventToolEnd, Step: 1, Tool: "prom_query", CallID: "prom_query", Outcome: agent.OutcomeError, Text: "Error: down"},
	}
	got := agent.EvidenceOf(events)
	if len(got) != 2 || got[0].Result != "A" || got[0].Outcome != agent.OutcomeOK || got[1].N != 2 || got[1].Outcome != agent.OutcomeError || got[1].Result != "Error: down" {
		t.Errorf("EvidenceOf = %+v", got)
	}
}

// Each question numbers its calls from 1: an earlier question's results
// in the history lose their numbers, so [1] can only mean this question's
// first call.
func TestEarlierQuestionsResultsAreNotCitable(t *testing.T) {
	history := []agent.Message{
		{Role: agent.RoleUser, Content: "how many replicas?"},
		{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "old", Name: "echo", Arguments: `{"text":"3"}`}}},
		{Role: agent.RoleTool, ToolCallID: "old", Name: "echo", Content: "[1] echo\necho: 3"},
		{Role: agent.RoleUser, Content: "Observation: [2] echo\necho: 4"},
		{Role: agent.RoleAssistant, Content: "3 replicas [1]"},
	}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "echo", Args: map[string]any{"text": "5"}}}},
		scripted.Turn{Text: "now 5 [1]"},
	)
	a := agent.New(model, registry(t, &echoTool{}), agent.Options{})
	if _, err := a.Run(context.Background(), agent.Task{Input: "and now?", History: history}, nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, m := range model.Requests()[1].Messages {
		if m.Role == agent.RoleTool || strings.HasPrefix(m.Content, "Observation: ") {
			seen = append(seen, m.Content)
		}
	}
	want := []string{"[earlier] echo\necho: 3", "Observation: [earlier] echo\necho: 4", "[1] echo\necho: 5"}
	if !slices.Equal(seen, want) {
		t.Errorf("results the model saw = %q\nwant %q", seen, want)
	}
	if history[2].Content != "[1] echo\necho: 3" {
		t.Errorf("the caller's history was changed: %q", history[2].Content)
	}
}
