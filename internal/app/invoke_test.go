package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/tools"
)

const leakedKey = "sk-invoke-test-0123456789abcdef"

// changesProbe stands in for kube_changes: it records the namespace each
// call came with and leaks a configured secret in its output.
type changesProbe struct {
	mu         sync.Mutex
	namespaces []string
}

func (*changesProbe) Spec() tools.Spec {
	return tools.Spec{Name: "kube_changes", Description: "Recent changes.", Parameters: tools.Object(map[string]*tools.Schema{
		"namespace": tools.String("namespace (default: all)"), "since": tools.String("since")})}
}

func (p *changesProbe) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Namespace string }
	_ = json.Unmarshal(raw, &a)
	p.mu.Lock()
	p.namespaces = append(p.namespaces, a.Namespace)
	p.mu.Unlock()
	return tools.Text("changes in " + a.Namespace + ": deploy by a bot with key " + leakedKey), nil
}

// TestOneInvocationPath: the agent, the terminal's /run and the incident
// playbook (Slack's commands: TestSlashCommandsRespectChannelScope) run a
// tool the same way — an omitted namespace filled from the caller's
// scope, the configured secret redacted from what comes back, the call
// counted in the metrics.
func TestOneInvocationPath(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.LLM.APIKey = leakedKey
	cfg.Slack.Channels = []config.SlackChannel{{ID: "CSHOP", SlackScope: config.SlackScope{Namespaces: []string{"shop"}}}}
	probe := &changesProbe{}
	model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{{Name: "kube_changes", RawArgs: `{}`}}}, scripted.Turn{Text: "done"})
	a, err := New(ctx, cfg, Options{Tools: []tools.Tool{probe}, Model: model})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	scope := agent.Scope{Namespaces: []string{"shop"}}
	saw := map[string]string{}

	// The agent, in a conversation limited to shop.
	var mu sync.Mutex
	if _, err := a.AskScoped(ctx, "slack", "conv-1", "what changed?", scope, func(_ context.Context, e agent.Event) {
		if e.Kind == agent.EventToolEnd {
			mu.Lock()
			saw["agent"] = e.Text
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	// The terminal, with the same scope.
	var out, errb bytes.Buffer
	c := chat.New(chat.Config{Tools: a.Tools(), Invoker: a.Invoker(), Scope: scope, Redactor: a.Redactor(),
		In: strings.NewReader(""), Out: &out, Err: &errb})
	if err := c.Once(ctx, "/run kube_changes {}"); err != nil {
		t.Fatal(err)
	}
	saw["terminal"] = out.String()

	// The playbook of an incident posted in the shop channel.
	in := incident.Incident{ID: "inc_1", Channel: "CSHOP", StartedAt: time.Now(),
		Data: incident.Data{CommonLabels: map[string]string{"alertname": "Deploys"}}}
	for _, f := range a.playbook.Run(ctx, in) {
		if f.Tool == "kube_changes" {
			saw["playbook"] = f.Text
		}
	}

	for _, surface := range []string{"agent", "terminal", "playbook"} {
		text := saw[surface]
		if !strings.Contains(text, "changes in shop") || strings.Contains(text, leakedKey) {
			t.Errorf("%s saw %q: want the namespace filled from the scope and the key redacted", surface, text)
		}
	}
	if got := strings.Join(probe.namespaces, ","); got != "shop,shop,shop" {
		t.Errorf("the tool was called with namespaces %q", got)
	}
	families, err := a.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := 0.0
	for _, f := range families {
		if f.GetName() == "watchkeeper_tool_calls_total" {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "tool" && l.GetValue() == "kube_changes" {
						counted += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if counted != 3 {
		t.Errorf("%v kube_changes calls counted, want 3", counted)
	}
}
