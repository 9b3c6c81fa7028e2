package agent_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Arguments cut off mid-object are repaired for a read (the worst case is
// a wrong query), never for a tool that proposes a change: {"n": 12 cut
// short may have meant 120.
func TestSecurityTruncatedArgumentsNotRepairedForChanges(t *testing.T) {
	var proposed, read atomic.Int32
	scale := &funcTool{name: "scale", mutating: true, run: func(_ context.Context, args json.RawMessage) (tools.Result, error) {
		proposed.Add(1)
		return tools.Result{Proposal: &tools.Proposal{Summary: "Scale to " + string(args)}}, nil
	}}
	look := &funcTool{name: "look", run: func(context.Context, json.RawMessage) (tools.Result, error) {
		read.Add(1)
		return tools.Text("looked"), nil
	}}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "scale", RawArgs: `{"n": 12`}}},
		scripted.Turn{ExpectToolResult: "never repaired", ToolCalls: []scripted.Call{{Name: "scale", RawArgs: "Sure: {\"n\": 12}"}}},
		scripted.Turn{ExpectToolResult: "never repaired", ToolCalls: []scripted.Call{{Name: "look", RawArgs: `{"n": 12`}}},
		scripted.Turn{ExpectToolResult: "looked", Text: "done"},
	)
	prop := &memProposer{}
	var log eventLog
	a := agent.New(model, registry(t, scale, look), agent.Options{Proposer: prop})
	if _, err := a.Run(context.Background(), agent.Task{Input: "scale it"}, log.observe); err != nil {
		t.Fatal(err)
	}
	if proposed.Load() != 0 || len(prop.got) != 0 {
		t.Errorf("a change was proposed from repaired arguments (%d runs, %d stored)", proposed.Load(), len(prop.got))
	}
	if read.Load() != 1 {
		t.Errorf("the read tool ran %d times with repaired arguments; want 1", read.Load())
	}
	for _, e := range log.of(agent.EventToolEnd)[:2] {
		if e.Outcome != agent.OutcomeToolError {
			t.Errorf("scale with broken arguments: outcome %s", e.Outcome)
		}
	}
}
