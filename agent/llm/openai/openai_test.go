package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/fakeopenai"
	"github.com/watchkeeper/watchkeeper/agent/llm/openai"
	"github.com/watchkeeper/watchkeeper/tools"
)

const key = "sk-test-0123456789abcdef"

// sleeps records the waits between retries instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newClient(t *testing.T, srv *fakeopenai.Server, mut func(*openai.Config), opts ...openai.Option) *openai.Client {
	t.Helper()
	cfg := openai.Config{Kind: openai.KindCompatible, BaseURL: srv.URL, APIKey: key, Model: "gpt-test"}
	if mut != nil {
		mut(&cfg)
	}
	c, err := openai.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkScriptUsed(t *testing.T, srv *fakeopenai.Server) {
	t.Helper()
	if u := srv.Unexpected(); len(u) > 0 {
		t.Errorf("unexpected requests: %v", u)
	}
	if n := srv.Remaining(); n > 0 {
		t.Errorf("%d scripted replies were not requested", n)
	}
}

type lookupTool struct{}

func (lookupTool) Spec() tools.Spec {
	return tools.Spec{Name: "lookup", Description: "Look a service up.",
		Parameters: tools.Object(map[string]*tools.Schema{"service": tools.String("service name")}, "service")}
}

func (lookupTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	var a struct{ Service string }
	if err := tools.DecodeArgs(args, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	return tools.Text(a.Service + " has 3 replicas"), nil
}

// TestAgentOverTheWire runs the whole loop against the fake server, in both
// JSON and streaming modes, including a malformed tool-call argument that
// the agent repairs.
func TestAgentOverTheWire(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			srv := fakeopenai.New([]fakeopenai.Reply{
				{Content: "Checking.", ToolCalls: []fakeopenai.ToolCall{
					{ID: "call_a", Name: "lookup", Arguments: `{"service": "checkout"}`},
					{ID: "call_b", Name: "lookup", Arguments: `{'service': 'cart',`}, // malformed
				}, Usage: &fakeopenai.Usage{PromptTokens: 300, CompletionTokens: 40}},
				{Content: "checkout and cart have 3 replicas each.", Usage: &fakeopenai.Usage{PromptTokens: 400, CompletionTokens: 12}},
			}, fakeopenai.WithAPIKey(key))
			defer srv.Close()
			client := newClient(t, srv, func(c *openai.Config) { c.Stream = stream })
			reg, _ := tools.NewRegistry(lookupTool{})
			var streamed strings.Builder
			res, err := agent.New(client, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "how many replicas?"},
				func(_ context.Context, e agent.Event) {
					if e.Kind == agent.EventModelText {
						streamed.WriteString(e.Text)
					}
				})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkScriptUsed(t, srv)
			if res.Answer != "checkout and cart have 3 replicas each." {
				t.Errorf("answer = %q", res.Answer)
			}
			if res.Usage.InputTokens != 700 || res.Usage.OutputTokens != 52 {
				t.Errorf("usage = %+v", res.Usage)
			}
			if stream && streamed.String() != "Checking.checkout and cart have 3 replicas each." {
				t.Errorf("streamed text = %q", streamed.String())
			}
			reqs := srv.Requests()
			for i, r := range reqs {
				if r.Rejected != "" {
					t.Errorf("request %d rejected: %s", i, r.Rejected)
				}
				if r.Header.Get("Authorization") != "Bearer "+key {
					t.Errorf("request %d has no bearer token", i)
				}
				if r.Body.Stream != stream {
					t.Errorf("request %d stream = %v", i, r.Body.Stream)
				}
			}
			first := reqs[0].Body
			if len(first.Tools) != 1 || first.Tools[0].Function.Name != "lookup" || !strings.Contains(string(first.Tools[0].Function.Parameters), `"required":["service"]`) {
				t.Errorf("tools sent = %+v", first.Tools)
			}
			// The second request carries both results, linked by id; the
			// repaired call ran.
			var results []string
			for _, m := range reqs[1].Body.Messages {
				if m.Role == "tool" {
					results = append(results, m.ToolCallID+"="+m.Text())
				}
			}
			want := []string{"call_a=[1] lookup\ncheckout has 3 replicas", "call_b=[2] lookup\ncart has 3 replicas"}
			if strings.Join(results, "|") != strings.Join(want, "|") {
				t.Errorf("tool results = %v, want %v", results, want)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		replies   []fakeopenai.Reply
		wantErr   string // empty: success
		wantCalls int
		check     func(t *testing.T, waits []time.Duration)
	}{
		{
			name:      "429 honours Retry-After",
			replies:   []fakeopenai.Reply{{Status: 429, RetryAfter: "2", ErrorMessage: "Rate limit reached"}, {Content: "ok"}},
			wantCalls: 2,
			check: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 1 || waits[0] != 2*time.Second {
					t.Errorf("waits = %v, want [2s]", waits)
				}
			},
		},
		{
			name:      "5xx backs off exponentially",
			replies:   []fakeopenai.Reply{{Status: 500}, {Status: 502}, {Status: 503}, {Content: "ok"}},
			wantCalls: 4,
			check: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 3 {
					t.Fatalf("waits = %v", waits)
				}
				for i, w := range waits {
					hi := 100 * time.Millisecond << i
					if w < hi/2 || w > hi {
						t.Errorf("wait %d = %v, want within [%v, %v]", i, w, hi/2, hi)
					}
				}
			},
		},
		{
			name:      "gives up after max retries",
			replies:   []fakeopenai.Reply{{Status: 503}, {Status: 503}, {Status: 503}, {Status: 503, ErrorMessage: "overloaded"}},
			wantErr:   "failed (503: overloaded) after 3 retries",
			wantCalls: 4,
		},
		{
			name:      "Retry-After beyond the cap fails at once",
			replies:   []fakeopenai.Reply{{Status: 429, RetryAfter: "120", ErrorMessage: "Please try again in 2m"}},
			wantErr:   "rate limiting us (429: Please try again in 2m)",
			wantCalls: 1,
		},
		{
			name:      "400 is not retried",
			replies:   []fakeopenai.Reply{{Status: 400, ErrorMessage: "context_length_exceeded"}},
			wantErr:   "the request is longer than its context window (400: context_length_exceeded)",
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeopenai.New(tt.replies, fakeopenai.WithAPIKey(key))
			defer srv.Close()
			var s sleeps
			c := newClient(t, srv, func(c *openai.Config) { c.RetryBaseDelay = 100 * time.Millisecond }, openai.WithSleep(s.sleep))
			resp, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
			if tt.wantErr == "" {
				if err != nil || resp.Message.Content != "ok" {
					t.Fatalf("err=%v content=%q", err, resp.Message.Content)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := len(srv.Requests()); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			if tt.check != nil {
				tt.check(t, s.waits())
			}
		})
	}
}

func TestRateLimitedServer(t *testing.T) {
	srv := fakeopenai.New([]fakeopenai.Reply{{Content: "one"}, {Content: "two"}}, fakeopenai.WithRateLimit(1, 300*time.Millisecond))
	defer srv.Close()
	// Real waits here: the limiter is the server's clock, bounded to 300ms.
	c := newClient(t, srv, nil)
	req := agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}}
	if _, err := c.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Generate(context.Background(), req)
	if err != nil || resp.Message.Content != "two" {
		t.Fatalf("second call after the limit: err=%v content=%q", err, resp.Message.Content)
	}
	var limited int
	for _, r := range srv.Requests() {
		if r.Rejected == "rate limited" {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("server rate-limited %d requests, want 1", limited)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	t.Run("bad key", func(t *testing.T) {
		srv := fakeopenai.New(nil, fakeopenai.WithAPIKey(key))
		defer srv.Close()
		c := newClient(t, srv, func(c *openai.Config) { c.APIKey = "sk-wrong-key-000000" })
		_, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
		if err == nil || !strings.Contains(err.Error(), "rejected the credentials (401") || !strings.Contains(err.Error(), "llm.api_key") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "sk-wrong-key-000000") {
			t.Error("the error leaks the key")
		}
		if len(srv.Requests()) != 1 {
			t.Errorf("401 was retried")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens here now
		var s sleeps
		c, err := openai.New(openai.Config{Kind: openai.KindCompatible, BaseURL: "http://" + addr + "/v1", Model: "m"}, openai.WithSleep(s.sleep))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
		if err == nil || !strings.Contains(err.Error(), "cannot reach the model at http://"+addr+"/v1; check llm.base_url") {
			t.Fatalf("err = %v", err)
		}
		if len(s.waits()) != 3 {
			t.Errorf("connection errors retried %d times, want 3", len(s.waits()))
		}
	})
	t.Run("slow model times out", func(t *testing.T) {
		srv := fakeopenai.New([]fakeopenai.Reply{{Delay: 5 * time.Second, Content: "late"}})
		defer srv.Close()
		c := newClient(t, srv, func(c *openai.Config) { c.Timeout = 50 * time.Millisecond })
		_, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
		if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms (llm.timeout)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		srv := fakeopenai.New([]fakeopenai.Reply{{Delay: 5 * time.Second, Content: "late"}})
		defer srv.Close()
		c := newClient(t, srv, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, err := c.Generate(ctx, agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's deadline", err)
		}
	})
	t.Run("stream cut off", func(t *testing.T) {
		srv := fakeopenai.New([]fakeopenai.Reply{{CutStream: true, Content: "partial"}})
		defer srv.Close()
		c := newClient(t, srv, func(c *openai.Config) { c.Stream = true })
		_, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}, OnText: func(string) {}})
		if err == nil || !strings.Contains(err.Error(), "stream ended before the reply was complete") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("request the API would refuse", func(t *testing.T) {
		srv := fakeopenai.New(nil)
		defer srv.Close()
		c := newClient(t, srv, nil)
		_, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{
			{Role: agent.RoleUser, Content: "hi"},
			{Role: agent.RoleAssistant, ToolCalls: []agent.ToolCall{{ID: "c1", Name: "lookup", Arguments: "{}"}}},
			{Role: agent.RoleUser, Content: "no tool result in between"},
		}})
		if err == nil || !strings.Contains(err.Error(), "(400: An assistant message with 'tool_calls' must be followed by tool messages") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestAzure(t *testing.T) {
	srv := fakeopenai.New([]fakeopenai.Reply{{Content: "from azure"}}, fakeopenai.WithAPIKey(key))
	defer srv.Close()
	c, err := openai.New(openai.Config{Kind: openai.KindAzure, BaseURL: strings.TrimSuffix(srv.URL, "/v1"), APIKey: key,
		Model: "gpt-4o", Deployment: "prod-gpt4o", APIVersion: "2024-10-21"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
	if err != nil || resp.Message.Content != "from azure" || resp.Model != "prod-gpt4o" {
		t.Fatalf("err=%v resp=%+v", err, resp)
	}
	r := srv.Requests()[0]
	if r.Path != "/openai/deployments/prod-gpt4o/chat/completions" || r.Header.Get("api-key") != key {
		t.Errorf("path=%s api-key=%q", r.Path, r.Header.Get("api-key"))
	}
}

func TestCustomHeadersAndMaxTokens(t *testing.T) {
	srv := fakeopenai.New([]fakeopenai.Reply{{Content: "a"}, {Content: "b"}})
	defer srv.Close()
	c := newClient(t, srv, func(c *openai.Config) { c.Headers = map[string]string{"X-Team": "sre"} })
	if _, err := c.Generate(context.Background(), agent.Request{MaxTokens: 300, Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if r.Header.Get("X-Team") != "sre" || r.Body.MaxTokens != 300 {
		t.Errorf("header=%q max_tokens=%d", r.Header.Get("X-Team"), r.Body.MaxTokens)
	}
	// api.openai.com wants max_completion_tokens instead.
	o, _ := openai.New(openai.Config{Kind: openai.KindOpenAI, BaseURL: srv.URL, Model: "gpt-test"})
	if _, err := o.Generate(context.Background(), agent.Request{MaxTokens: 300, Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	if r := srv.Requests()[1]; r.Body.MaxCompletionTokens != 300 || r.Body.MaxTokens != 0 {
		t.Errorf("openai kind sent max_tokens=%d max_completion_tokens=%d", r.Body.MaxTokens, r.Body.MaxCompletionTokens)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  openai.Config
		want string
	}{
		{openai.Config{Kind: openai.KindCompatible, Model: "m"}, "needs llm.base_url"},
		{openai.Config{Kind: openai.KindAzure, Model: "m"}, "Azure needs llm.base_url"},
		{openai.Config{Kind: "bogus", Model: "m"}, `unknown kind "bogus"`},
		{openai.Config{}, "no model configured"},
	} {
		if _, err := openai.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
