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
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

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

// A client that sends and never reads holds nothing that stops others.
func TestHTTPClientThatNeverReads(t *testing.T) {
	ts := httpServer(t, mcp.HTTPOptions{Token: "tok", PerSecond: 1000, Burst: 1000})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 50 {
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%s",
			mcp.Path, len(initialize), initialize)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: bearer{"tok"}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "other", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: ts.URL + mcp.Path, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"word": "served"}})
	if err != nil || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "echo: served") {
		t.Errorf("another client while one never reads: %v %v", res, err)
	}
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
