package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/mcp"
	"github.com/watchkeeper/watchkeeper/internal/version"
)

// RemoteOf is an mcp.servers entry as the client takes it.
func RemoteOf(s config.MCPServer, logger *slog.Logger) mcp.Remote {
	return mcp.Remote{Name: s.Name, Command: s.Command, Args: s.Args, Env: s.Env, URL: s.URL, Headers: s.Headers,
		AllowTools: s.AllowTools, DenyTools: s.DenyTools, ReadOnly: s.ReadOnly, Timeout: s.Timeout.D(),
		Logger: logger.With("server", s.Name)}
}

// connectMCP starts or reaches every configured MCP server at once, so
// that a slow one delays start-up by its own timeout only. Every client is
// returned, connected or not: one that failed says why (Health) and
// connects again on its first call.
func connectMCP(ctx context.Context, servers []config.MCPServer, logger *slog.Logger) []*mcp.Client {
	out := make([]*mcp.Client, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			c, err := mcp.Connect(ctx, RemoteOf(s, logger))
			if err != nil {
				logger.Warn("an MCP server is not available; the agent runs without its tools", "server", s.Name, "err", err)
			}
			out[i] = c
		})
	}
	wg.Wait()
	return out
}

// MCPHealth is each configured MCP server's state: nil when connected.
func (a *App) MCPHealth() map[string]error {
	out := map[string]error{}
	for _, c := range a.mcpClients {
		out[c.Name()] = c.Health()
	}
	return out
}

// MCPServer is the MCP server `watchkeeper mcp serve` runs: this app's
// tools through its invoker, proposals stored for approval, its runbooks
// and open incidents.
func (a *App) MCPServer() (*sdk.Server, error) {
	cfg := mcp.ServerConfig{
		Tools: a.tools, Invoker: a.Invoker(), Approvals: a.approvals, Incidents: a.ledger,
		Audit: a.store, Redact: a.redactor.Redact, OutputTokens: a.cfg.Agent.ToolOutputTokens, Version: version.Version(),
		Logger: a.logger.With("component", "mcp"),
	}
	if a.library != nil {
		cfg.Runbooks = a.library
	}
	if ch := a.cfg.MCP.Serve.ApprovalsChannel; ch != "" && a.slack != nil {
		cfg.Show = func(ctx context.Context, id string) string {
			if err := a.slack.ShowProposal(ctx, ch, id); err != nil {
				a.logger.Error("post a proposal made over MCP to Slack", "proposal", id, "channel", ch, "err", err)
				return ""
			}
			return fmt.Sprintf(", or with its Approve button in Slack (channel %s)", ch)
		}
	}
	if sc := a.cfg.MCP.Serve.Scope; len(sc.Namespaces)+len(sc.Clusters)+len(sc.Tools) > 0 {
		cfg.Policy, cfg.Namespaces = agent.Scope{Namespaces: sc.Namespaces, Clusters: sc.Clusters, Tools: sc.Tools}, sc.Namespaces
	}
	return mcp.NewServer(cfg)
}
