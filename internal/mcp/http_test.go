package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/mcp"
	"github.com/watchkeeper/watchkeeper/tools"
)

func httpServer(t *testing.T, o mcp.HTTPOptions) *httptest.Server {
	t.Helper()
	reg, err := tools.NewRegistry(echoTool{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mcp.NewServer(mcp.ServerConfig{Tools: reg, Invoker: tools.Invoker{Tools: reg}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := mcp.HTTPHandler(srv, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

type rpcReply struct {
	status  int
	header  http.Header
	body    string
	message map[string]any
}

// post sends one JSON-RPC body as a streamable HTTP client does and
// decodes the reply (JSON, or the first event of a stream).
func post(t *testing.T, url, token, session, body string) rpcReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := rpcReply{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				r.body = d
				break
			}
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		r.body = string(b)
	}
	_ = json.Unmarshal([]byte(r.body), &r.message)
	return r
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`

func TestHTTPEndpointRules(t *testing.T) {
	if _, err := mcp.HTTPHandler(nil, mcp.HTTPOptions{}); err == nil || !strings.Contains(err.Error(), "needs a bearer token") {
		t.Errorf("no token: %v", err)
	}
	ts := httpServer(t, mcp.HTTPOptions{Token: "tok", PerSecond: 1000, Burst: 1000, MaxBodyBytes: 256 << 10})
	url := ts.URL + mcp.Path

	for _, tt := range []struct {
		name, token string
		want        int
	}{{"no token", "", 401}, {"a wrong token", "nope", 401}} {
		if r := post(t, url, tt.token, "", initialize); r.status != tt.want || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %q", tt.name, r.status, r.body)
		}
	}
	init := post(t, url, "tok", "", initialize)
	session := init.header.Get("Mcp-Session-Id")
	if init.status != 200 || session == "" || init.message["result"] == nil {
		t.Fatalf("initialize: %+v", init)
	}
	post(t, url, "tok", session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	// Malformed JSON-RPC and unknown methods are JSON-RPC errors; the
	// session goes on.
	bad := post(t, url, "tok", session, `{"jsonrpc":"2.0","id":2,"method":`)
	if bad.status < 400 || bad.status >= 500 {
		t.Errorf("malformed JSON: %d %q", bad.status, bad.body)
	}
	// The SDK refuses a method it does not know before it reaches a
	// handler: 400, naming the method.
	unknown := post(t, url, "tok", session, `{"jsonrpc":"2.0","id":3,"method":"tools/destroy","params":{}}`)
	if unknown.status != http.StatusBadRequest || !strings.Contains(unknown.body, `"tools/destroy" unsupported`) {
		t.Errorf("unknown method: %d %q", unknown.status, unknown.body)
	}
	huge := fmt.Sprintf(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"word":%q}}}`, strings.Repeat("x", 300<<10))
	if r := post(t, url, "tok", session, huge); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %d %q", r.status, r.body)
	}
	call := post(t, url, "tok", session, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"word":"ok"}}}`)
	if !strings.Contains(call.body, "echo: ok") {
		t.Errorf("a call after the errors: %d %q", call.status, call.body)
	}
}

func TestHTTPRateLimitPerClient(t *testing.T) {
	ts := httpServer(t, mcp.HTTPOptions{Token: "tok", PerSecond: 0.01, Burst: 2})
	url := ts.URL + mcp.Path
	for i := range 2 {
		if r := post(t, url, "tok", "", initialize); r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
	}
	r := post(t, url, "tok", "", initialize)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("over the burst: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
}

// bigTool answers with 32 MB: enough to fill a connection's buffers.
type bigTool struct{ ran *atomic.Int32 }

func (bigTool) Spec() tools.Spec {
	return tools.Spec{Name: "big", Description: "A big answer.", Parameters: tools.Object(map[string]*tools.Schema{})}
}

func (b bigTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	b.ran.Add(1)
	return tools.Result{Text: strings.Repeat("x", 32<<20)}, nil
}

// A client that asks for a large answer and never reads it has its
// request ended after the write wait, instead of holding the handler (and
// 32 MB) for as long as it likes; other clients are served meanwhile.
func TestHTTPClientThatNeverReads(t *testing.T) {
	ran := &atomic.Int32{}
	reg, err := tools.NewRegistry(echoTool{}, bigTool{ran})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mcp.NewServer(mcp.ServerConfig{Tools: reg, Invoker: tools.Invoker{Tools: reg}, OutputTokens: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h, err := mcp.HTTPHandler(srv, mcp.HTTPOptions{Token: "tok", PerSecond: 1000, Burst: 1000, WriteWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var active atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	url := ts.URL + mcp.Path
	init := post(t, url, "tok", "", initialize)
	session := init.header.Get("Mcp-Session-Id")
	post(t, url, "tok", session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"big","arguments":{}}}`
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer tok\r\nMcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-06-18\r\n"+
		"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%s",
		mcp.Path, strings.TrimPrefix(ts.URL, "http://"), session, len(call), call)
	deadline := time.Now().Add(10 * time.Second)
	for ran.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the big call never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok := post(t, url, "tok", session, `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo","arguments":{"word":"served"}}}`); !strings.Contains(ok.body, "echo: served") {
		t.Errorf("another request while one never reads: %d %q", ok.status, ok.body)
	}
	deadline = time.Now().Add(20 * time.Second)
	for active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request of a client that never reads is still held after 20 s (write wait 1 s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
