package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/mcp"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Over stdio every line that is no JSON-RPC message gets a JSON-RPC error
// and the session — the process — goes on.
func TestStdioBadInput(t *testing.T) {
	reg, err := tools.NewRegistry(echoTool{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mcp.NewServer(mcp.ServerConfig{Tools: reg, Invoker: tools.Invoker{Tools: reg}})
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mcp.ServeStdio(ctx, srv, inR, outW); outW.Close() }()
	replies := bufio.NewScanner(outR)
	replies.Buffer(make([]byte, 1<<20), 1<<20)
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	reply := func() map[string]any {
		t.Helper()
		if !replies.Scan() {
			t.Fatalf("no reply: %v", replies.Err())
		}
		var m map[string]any
		if err := json.Unmarshal(replies.Bytes(), &m); err != nil {
			t.Fatalf("reply %q: %v", replies.Text(), err)
		}
		return m
	}
	code := func(m map[string]any) float64 {
		e, _ := m["error"].(map[string]any)
		c, _ := e["code"].(float64)
		return c
	}

	send(initialize)
	if r := reply(); r["result"] == nil {
		t.Fatalf("initialize: %v", r)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, tt := range []struct {
		name, line string
		code       float64
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":2,"method":`, -32700},
		{"a batch", `[{"jsonrpc":"2.0","id":3,"method":"tools/list"}]`, -32600},
		{"no JSON-RPC", `{"hello":"world"}`, -32600},
		{"over 4 MiB", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"word":"` + strings.Repeat("x", 5<<20) + `"}}}`, -32600},
		{"an unknown method", `{"jsonrpc":"2.0","id":5,"method":"tools/destroy"}`, -32601},
	} {
		send(tt.line)
		if r := reply(); code(r) != tt.code {
			t.Errorf("%s: %v, want code %v", tt.name, r, tt.code)
		}
	}
	send(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"word":"alive"}}}`)
	if r := reply(); !strings.Contains(replies.Text(), "echo: alive") {
		t.Errorf("after the bad lines: %v", r)
	}
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeStdio at the end of input: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("ServeStdio did not return at the end of its input")
	}
}
