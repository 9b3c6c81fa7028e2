package agent_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
)

func TestReActModeForModelsWithoutToolCalling(t *testing.T) {
	model := scripted.NewScript(scripted.Script{NoToolCalling: true, Turns: []scripted.Turn{
		{Text: "Thought: I should echo.\nAction: echo\nAction Input: {'text': 'hi',}"},
		{ExpectToolResult: "echo: hi", Text: "Thought: done\nFinal Answer: It said hi."},
	}})
	echo := &echoTool{}
	var log eventLog
	res, err := agent.New(model, registry(t, echo), agent.Options{}).Run(context.Background(), agent.Task{Input: "say hi"}, log.observe)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answer != "It said hi." || res.Mode != agent.ModeReAct || echo.calls.Load() != 1 {
		t.Fatalf("answer=%q mode=%s calls=%d", res.Answer, res.Mode, echo.calls.Load())
	}
	reqs := model.Requests()
	if len(reqs[0].Tools) != 0 || !slices.Equal(reqs[0].Stop, []string{"\nObservation:"}) {
		t.Errorf("ReAct request offered native tools %v or lacks the stop word %v", reqs[0].Tools, reqs[0].Stop)
	}
	sys := reqs[0].Messages[0].Content
	for _, want := range []string{"### echo", "Action Input:", "Final Answer:", `"required":["text"]`} {
		if !strings.Contains(sys, want) {
			t.Errorf("ReAct system prompt lacks %q", want)
		}
	}
	obs := reqs[1].Messages[len(reqs[1].Messages)-1]
	if obs.Role != agent.RoleUser || obs.Content != "Observation: [1] echo\necho: hi" {
		t.Errorf("observation message = %+v", obs)
	}
}

func TestReActLastStepUsesThoughtAsAnswer(t *testing.T) {
	model := scripted.NewScript(scripted.Script{NoToolCalling: true, Turns: []scripted.Turn{
		{Text: "Thought: the cache is cold\nAction: echo\nAction Input: {\"text\": \"x\"}"},
	}})
	res, err := agent.New(model, registry(t, &echoTool{}), agent.Options{Config: agent.Config{MaxSteps: 1}}).
		Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil || res.Answer != "the cache is cold" {
		t.Fatalf("err=%v answer=%q", err, res.Answer)
	}
}

func TestForcedModeOverridesModel(t *testing.T) {
	model := scripted.New(scripted.Turn{Text: "Final Answer: fine"})
	res, err := agent.New(model, registry(t, &echoTool{}), agent.Options{Config: agent.Config{Mode: agent.ModeReAct}}).
		Run(context.Background(), agent.Task{Input: "q"}, nil)
	if err != nil || res.Answer != "fine" || res.Mode != agent.ModeReAct {
		t.Fatalf("err=%v answer=%q mode=%s", err, res.Answer, res.Mode)
	}
}
