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

// nsTool records the arguments it ran with; its namespace is optional
// (like kube_changes, where none means every namespace).
type nsTool struct{ got []string }

func (*nsTool) Spec() tools.Spec {
	return tools.Spec{Name: "changes", Description: "What changed.", Parameters: tools.Object(map[string]*tools.Schema{
		"namespace": tools.String("namespace (default: all)")})}
}

func (n *nsTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	n.got = append(n.got, string(args))
	return tools.Text("changes listed"), nil
}

// In a conversation limited to a namespace, a call that leaves the
// namespace out runs in that namespace — not in the tool's default, nor
// in every namespace.
func TestSecurityScopeFillsAnOmittedNamespace(t *testing.T) {
	tool := &nsTool{}
	model := scripted.New(
		scripted.Turn{ToolCalls: []scripted.Call{{Name: "changes", RawArgs: `{}`}}},
		scripted.Turn{ExpectToolResult: "changes listed", ToolCalls: []scripted.Call{{Name: "changes", RawArgs: `{"namespace":"all"}`}}},
		scripted.Turn{ExpectToolResult: "outside this conversation's scope", Text: "done"},
	)
	a := agent.New(model, registry(t, tool), agent.Options{})
	if _, err := a.Run(context.Background(), agent.Task{Input: "what changed?", Scope: agent.Scope{Namespaces: []string{"shop"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(tool.got) != 1 || tool.got[0] != `{"namespace":"shop"}` {
		t.Errorf("the tool ran with %q; want once, in shop", tool.got)
	}
}
