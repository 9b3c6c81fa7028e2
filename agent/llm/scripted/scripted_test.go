package scripted_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
)

func user(s string) agent.Request {
	return agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: s}}}
}

func TestFailsLoudly(t *testing.T) {
	m := scripted.New(scripted.Turn{ExpectInput: "checkout", Text: "ok"})
	_, err := m.Generate(context.Background(), user("payments?"))
	if err == nil || !strings.Contains(err.Error(), `request #1 does not match the script: expected the last user message to contain "checkout", got "payments?"`) {
		t.Fatalf("mismatch: %v", err)
	}
	_, err = m.Generate(context.Background(), user("again"))
	if err == nil || !strings.Contains(err.Error(), `unexpected request #2: the script has only 1 turns (last message: "again")`) {
		t.Fatalf("exhausted: %v", err)
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	m := scripted.New(scripted.Turn{Delay: time.Hour, Text: "late"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := m.Generate(ctx, user("q")); err != context.DeadlineExceeded {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "demo.yaml")
	_ = os.WriteFile(good, []byte(`model: demo
no_tool_calling: true
turns:
  - expect_input: time
    text: "Action: current_time\nAction Input: {}"
  - tool_calls:
      - name: current_time
        args: {timezone: UTC}
      - name: broken
        raw_args: "{oops"
    usage: {input_tokens: 5, output_tokens: 2}
`), 0o600)
	m, err := scripted.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if m.NativeToolCalling() || m.Remaining() != 2 {
		t.Errorf("native=%v remaining=%d", m.NativeToolCalling(), m.Remaining())
	}
	if _, err := m.Generate(context.Background(), user("what time")); err != nil {
		t.Fatal(err)
	}
	resp, err := m.Generate(context.Background(), user("x"))
	if err != nil || resp.Message.ToolCalls[0].Arguments != `{"timezone":"UTC"}` || resp.Message.ToolCalls[1].Arguments != "{oops" || resp.Usage.InputTokens != 5 {
		t.Errorf("resp = %+v, %v", resp, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("turns:\n  - txt: hi\n"), 0o600)
	if _, err := scripted.Load(bad); err == nil || !strings.Contains(err.Error(), "field txt not found") {
		t.Errorf("unknown field: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	_ = os.WriteFile(empty, []byte("turns: []\n"), 0o600)
	if _, err := scripted.Load(empty); err == nil || !strings.Contains(err.Error(), "has no turns") {
		t.Errorf("empty: %v", err)
	}
}
