package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// loopModel calls the no-op tool with a new argument each step until it has
// made steps-1 calls, then answers. It does no work of its own, so the
// benchmark measures the agent's overhead per step.
type loopModel struct{ steps int }

func (m loopModel) Generate(_ context.Context, req agent.Request) (agent.Response, error) {
	calls := 0
	for _, msg := range req.Messages {
		calls += len(msg.ToolCalls)
	}
	if calls >= m.steps-1 {
		return agent.Response{Message: agent.Message{Content: "done"}, Usage: agent.Usage{InputTokens: 10, OutputTokens: 1}}, nil
	}
	return agent.Response{
		Message: agent.Message{ToolCalls: []agent.ToolCall{{ID: fmt.Sprint("c", calls), Name: "noop", Arguments: fmt.Sprintf(`{"n": %d}`, calls)}}},
		Usage:   agent.Usage{InputTokens: 10, OutputTokens: 1},
	}, nil
}

type noopTool struct{}

func (noopTool) Spec() tools.Spec {
	return tools.Spec{Name: "noop", Description: "Does nothing.", Parameters: tools.Object(map[string]*tools.Schema{"n": tools.Integer("n", 0, 1000)})}
}

func (noopTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Text("ok"), nil
}

func BenchmarkAgentStep(b *testing.B) {
	const steps = 12
	reg, _ := tools.NewRegistry(noopTool{})
	a := agent.New(loopModel{steps: steps}, reg, agent.Options{Config: agent.Config{MaxSteps: steps}})
	b.ReportAllocs()
	for b.Loop() {
		res, err := a.Run(context.Background(), agent.Task{Input: "q"}, nil)
		if err != nil || res.Steps != steps {
			b.Fatalf("err=%v steps=%d", err, res.Steps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
}
