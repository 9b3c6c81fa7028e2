package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// echoTool returns its "text" argument.
type echoTool struct{ calls atomic.Int32 }

func (*echoTool) Spec() tools.Spec {
	return tools.Spec{Name: "echo", Description: "Echo the text back.",
		Parameters: tools.Object(map[string]*tools.Schema{"text": tools.String("text to echo")}, "text")}
}

func (e *echoTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	e.calls.Add(1)
	var a struct{ Text string }
	if err := tools.DecodeArgs(args, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	return tools.Text("echo: " + a.Text), nil
}

// funcTool is a tool whose behaviour is a function.
type funcTool struct {
	name     string
	mutating bool
	run      func(ctx context.Context, args json.RawMessage) (tools.Result, error)
	applied  atomic.Int32
}

func (f *funcTool) Spec() tools.Spec {
	return tools.Spec{Name: f.name, Description: "test tool " + f.name, Mutating: f.mutating,
		Parameters: tools.Object(map[string]*tools.Schema{"n": tools.Integer("a number", 0, 1000)})}
}

func (f *funcTool) Run(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	return f.run(ctx, args)
}

func (f *funcTool) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	f.applied.Add(1)
	return tools.Text("applied"), nil
}

func registry(t *testing.T, ts ...tools.Tool) *tools.Registry {
	t.Helper()
	r, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eventLog collects events; the agent serialises calls, the lock guards
// reads from the test goroutine.
type eventLog struct {
	mu     sync.Mutex
	events []agent.Event
}

func (l *eventLog) observe(_ context.Context, e agent.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) kinds() []agent.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []agent.EventKind
	for _, e := range l.events {
		if e.Kind != agent.EventModelText {
			ks = append(ks, e.Kind)
		}
	}
	return ks
}

func (l *eventLog) of(kind agent.EventKind) []agent.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []agent.Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// memRecorder keeps run records.
type memRecorder struct {
	mu   sync.Mutex
	runs []agent.RunRecord
	err  error
}

func (m *memRecorder) RecordRun(ctx context.Context, r agent.RunRecord) error {
	if ctx.Err() != nil {
		return errors.New("recorder got a cancelled context")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs = append(m.runs, r)
	return m.err
}

func (m *memRecorder) only(t *testing.T) agent.RunRecord {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.runs) != 1 {
		t.Fatalf("recorded %d runs, want 1", len(m.runs))
	}
	return m.runs[0]
}

// fixedClock advances by step on every call, so durations are exact.
func fixedClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

func lastToolMessages(msgs []agent.Message) []agent.Message {
	var out []agent.Message
	for _, m := range msgs {
		if m.Role == agent.RoleTool {
			out = append(out, m)
		}
	}
	return out
}

func contains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("got %q\nwant it to contain %q", got, want)
	}
}
