package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Configured MCP servers' tools join the agent's: namespaced, run when
// the server is declared read-only, proposed otherwise; a server that
// does not start is reported and the rest runs.
func TestMCPServersJoinTheAgent(t *testing.T) {
	node := testserver.Need(t, "node")
	home, _ := os.UserHomeDir()
	everything := testserver.Need(t, "mcp-server-everything",
		filepath.Join(home, ".cache", "watchkeeper", "node", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"))
	ctx := context.Background()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.MCP.Servers = []config.MCPServer{
		{Name: "everything", Command: node, Args: []string{everything, "stdio"}, AllowTools: []string{"echo", "get-sum"}, ReadOnly: true},
		{Name: "broken", Command: "/nonexistent/mcp-server"},
		{Name: "writer", Command: node, Args: []string{everything, "stdio"}, AllowTools: []string{"echo"}},
	}
	model := scripted.New(scripted.Turn{ToolCalls: []scripted.Call{{Name: "everything__echo", RawArgs: `{"message": "from the agent"}`}}},
		scripted.Turn{Text: "done"})
	a, err := New(ctx, cfg, Options{Model: model})
	if err != nil {
		t.Fatalf("a server that does not start must not stop Watchkeeper: %v", err)
	}
	defer a.Close()
	for _, name := range []string{"everything__echo", "everything__get_sum", "writer__echo"} {
		if _, ok := a.Tools().Get(name); !ok {
			t.Errorf("tool %s missing: %v", name, a.Tools().Names())
		}
	}
	if w, _ := a.Tools().Get("writer__echo"); w == nil || !w.Spec().Mutating {
		t.Error("a tool of a server not declared read-only is not a write tool")
	}
	health := a.MCPHealth()
	if health["everything"] != nil || health["broken"] == nil || !strings.Contains(health["broken"].Error(), "no such file") {
		t.Errorf("health: %v", health)
	}

	var mu sync.Mutex
	var seen string
	res, err := a.Ask(ctx, "terminal", "conv-mcp", "echo something", func(_ context.Context, e agent.Event) {
		if e.Kind == agent.EventToolEnd {
			mu.Lock()
			seen += e.Text
			mu.Unlock()
		}
	})
	if err != nil || res.Answer != "done" {
		t.Fatalf("ask: %v %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(seen, "Echo: from the agent") {
		t.Errorf("the agent's call of the MCP tool: %q", seen)
	}

	out := a.Invoker().Invoke(ctx, tools.Invocation{Tool: "writer__echo", Args: json.RawMessage(`{"message": "x"}`), Source: "test"})
	if out.Outcome != tools.OutcomeOK || out.Result.Proposal == nil || out.Result.Proposal.Summary != "Call echo on MCP server writer" {
		t.Errorf("a write tool's call: %+v", out)
	}
}
