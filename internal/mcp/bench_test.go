package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/internal/mcp"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/prom"
)

// promAPI answers every instant query with the same small vector, as
// Prometheus's HTTP API does: what MCP adds is measured, not the backend.
func promAPI(b *testing.B) string {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"__name__":"up","job":"checkout","instance":"10.0.0.1:8080"},"value":[1764770400,"1"]},` +
			`{"metric":{"__name__":"up","job":"cart","instance":"10.0.0.2:8080"},"value":[1764770400,"0"]}]}}`))
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkPromQuery: prom_query called directly through the invoker, and
// the same call through the MCP server and an MCP client session (the
// JSON-RPC encoding, the transport, the handler, the audit-free path).
func BenchmarkPromQuery(b *testing.B) {
	c, err := prom.New(prom.Config{URL: promAPI(b)})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := tools.NewRegistry(c.Tools()...)
	if err != nil {
		b.Fatal(err)
	}
	iv := tools.Invoker{Tools: reg}
	args := json.RawMessage(`{"query": "up"}`)
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out := iv.Invoke(ctx, tools.Invocation{Tool: "prom_query", Args: args}); out.Outcome != tools.OutcomeOK {
				b.Fatal(out.Reason)
			}
		}
	})
	b.Run("mcp", func(b *testing.B) {
		srv, err := mcp.NewServer(mcp.ServerConfig{Tools: reg, Invoker: iv})
		if err != nil {
			b.Fatal(err)
		}
		ct, st := sdk.NewInMemoryTransports()
		ss, err := srv.Connect(ctx, st, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ss.Close()
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		b.ReportAllocs()
		for b.Loop() {
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "prom_query", Arguments: args})
			if err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
	})
}
