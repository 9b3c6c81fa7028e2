package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/mcp"
)

func mcpCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "mcp", Short: "Serve Watchkeeper's tools to other agents over the Model Context Protocol, and check MCP servers"}
	cmd.AddCommand(mcpServeCmd(g, stdio), mcpCheckCmd(g, stdio))
	return cmd
}

func mcpServeCmd(g *globals, stdio IO) *cobra.Command {
	var (
		overHTTP bool
		listen   string
		world    string
	)
	cmd := &cobra.Command{
		Use:   "serve [--http [--listen ADDR]] [--sandbox[=SCENARIO]]",
		Short: "Serve Watchkeeper's tools, runbooks and open incidents over MCP (stdio, or streamable HTTP)",
		Long: `Serves Watchkeeper over the Model Context Protocol: every read tool (PromQL, logs, traces,
anomalies, root-cause ranking, Kubernetes reads, runbooks) with its JSON schema, the runbooks
and open incidents as resources, and the prompt "investigate_alert". Calls run through the
same path as Slack's and the terminal's: validation, scope, timeouts, redaction, metrics, and
the audit log names the MCP client.

Write tools never act over MCP: a call stores a proposal and returns its ID; a person
approves it in the terminal on the same store (watchkeeper chat, then /approve ID), or with
its buttons in the Slack channel mcp.serve.approvals_channel, under the same approval
policy as everywhere.

Over stdio (the default) the client starts this command; logs go to standard error.
--http serves streamable HTTP at /mcp on mcp.serve.listen, and every request must carry
Authorization: Bearer <mcp.serve.bearer_token>.

--sandbox serves the embedded sandbox world (a scenario name; default: the demo's), so
any MCP client can try Watchkeeper in one line:

  {"mcpServers": {"watchkeeper": {"command": "watchkeeper", "args": ["mcp", "serve", "--sandbox"]}}}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			if listen != "" && !overHTTP {
				return usageError{errors.New("--listen is for --http; over stdio there is no address")}
			}
			if listen != "" {
				l.MCP.Serve.Listen = listen
			}
			if overHTTP && l.MCP.Serve.BearerToken == "" {
				return usageError{errors.New("mcp serve --http needs a bearer token: set mcp.serve.bearer_token_file " +
					"(or WATCHKEEPER_MCP_SERVE_BEARER_TOKEN); every request must send Authorization: Bearer <token>")}
			}
			level := "warn"
			if g.logLevel != "" {
				level = g.logLevel
			}
			// Standard output is the protocol over stdio: logs go to
			// standard error, always.
			logger := newLogger(stdio.Err, level, "text")
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			a, closeApp, err := newAppOn(ctx, l, world, logger)
			if err != nil {
				return err
			}
			defer closeApp()
			srv, err := a.MCPServer()
			if err != nil {
				return err
			}
			if !overHTTP {
				if err := mcp.ServeStdio(ctx, srv, stdio.In, stdio.Out); err != nil && ctx.Err() == nil {
					return fmt.Errorf("mcp over stdio: %w", err)
				}
				return nil
			}
			return serveMCPHTTP(ctx, srv, l.MCP.Serve.Listen, mcp.HTTPOptions{Token: l.MCP.Serve.BearerToken.Reveal(),
				PerSecond: l.MCP.Serve.RateLimit.PerSecond, Burst: l.MCP.Serve.RateLimit.Burst, Logger: logger}, stdio)
		},
	}
	cmd.Flags().BoolVar(&overHTTP, "http", false, "serve streamable HTTP at /mcp on mcp.serve.listen instead of stdio")
	cmd.Flags().StringVar(&listen, "listen", "", "address for --http (default: mcp.serve.listen)")
	cmd.Flags().StringVar(&world, "sandbox", "", "serve the embedded sandbox world: a scenario name (watchkeeper sandbox list)")
	cmd.Flags().Lookup("sandbox").NoOptDefVal = "default"
	return cmd
}

// serveMCPHTTP serves until ctx ends, then lets requests under way finish
// for a few seconds.
func serveMCPHTTP(ctx context.Context, srv *sdk.Server, listen string, o mcp.HTTPOptions, stdio IO) error {
	h, err := mcp.HTTPHandler(srv, o)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; change mcp.serve.listen or --listen", listen, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(stdio.Err, "Serving MCP on http://%s%s (bearer token required)\n", ln.Addr(), mcp.Path)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func mcpCheckCmd(g *globals, stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Start or reach every MCP server in mcp.servers and list the tools the agent would get",
		Long: `Connects to each server of mcp.servers as the agent would (starting commands, reaching URLs),
lists the tools that allow_tools and deny_tools leave, and says for each whether a call runs
(read_only) or becomes a proposal. Exits 1 when a server cannot be used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			if len(l.MCP.Servers) == 0 {
				fmt.Fprintln(stdio.Out, "no MCP servers configured (mcp.servers)")
				return nil
			}
			failed := probeMCP(cmd.Context(), l.MCP.Servers, stdio)
			if failed > 0 {
				return fmt.Errorf("%d of %d MCP servers cannot be used; the agent runs without their tools", failed, len(l.MCP.Servers))
			}
			return nil
		},
	}
}

// probeMCP connects to every server as the agent would and prints what it
// gets; it returns how many cannot be used.
func probeMCP(ctx context.Context, servers []config.MCPServer, stdio IO) int {
	logger := newLogger(stdio.Err, "error", "text")
	failed := 0
	for _, s := range servers {
		c, err := mcp.Connect(ctx, app.RemoteOf(s, logger))
		if err != nil {
			failed++
			fmt.Fprintf(stdio.Out, "mcp server %s: failed: %v\n", s.Name, err)
			continue
		}
		ts, skipped := c.Tools()
		mode := "each call is a proposal a person approves"
		if s.ReadOnly {
			mode = "read-only: calls run"
		}
		var names []string
		for _, t := range ts {
			names = append(names, t.Spec().Name)
		}
		fmt.Fprintf(stdio.Out, "mcp server %s: ok, %d tools (%s): %s\n", s.Name, len(ts), mode, strings.Join(names, ", "))
		for _, sk := range skipped {
			fmt.Fprintf(stdio.Out, "  left out: %s\n", sk)
		}
		c.Close()
	}
	return failed
}
