package langchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

func call(name string, args map[string]any) map[string]any {
	return map[string]any{"functionCall": map[string]any{"name": name, "args": args}}
}

func text(s string) map[string]any { return map[string]any{"text": s} }

// runGemini runs the agent with the replicas tool against fake through
// New, as the app builds it.
func runGemini(t *testing.T, fake *fakeGemini, cfg Config, obs agent.Observer) (*agent.Result, error) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg.Provider = Gemini
	if cfg.Model == "" {
		cfg.Model = fake.model
	}
	if cfg.APIKey == "" {
		cfg.APIKey = fake.key
	}
	cfg.BaseURL = srv.URL + cfg.BaseURL
	cfg.RetryBaseDelay = time.Millisecond
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := tools.NewRegistry(svcTool{})
	return agent.New(m, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "replicas of checkout and cart?"}, obs)
}

func TestGeminiOverTheWire(t *testing.T) {
	t.Run("tool round trip with thought signatures", func(t *testing.T) {
		fake := &fakeGemini{key: "AIza-test-key", model: "gemini-3-pro-preview", signs: true, replies: []gemReply{
			{parts: []map[string]any{text("Checking both."), call("replicas", map[string]any{"service": "checkout"}), call("replicas", map[string]any{"service": "cart"})},
				usage: [3]int{500, 60, 40}},
			{parts: []map[string]any{call("replicas", map[string]any{"service": "payments"})}, usage: [3]int{600, 10, 0}},
			{parts: []map[string]any{text("Both run 3 replicas.")}, usage: [3]int{650, 9, 0}},
		}}
		res, err := runGemini(t, fake, Config{}, nil)
		if err != nil {
			t.Fatalf("Run: %v (server rejected: %v)", err, fake.rejected)
		}
		if res.Answer != "Both run 3 replicas." || res.ToolCalls != 3 {
			t.Errorf("answer=%q toolcalls=%d", res.Answer, res.ToolCalls)
		}
		if res.Usage.InputTokens != 1750 || res.Usage.OutputTokens != 119 {
			t.Errorf("usage = %+v, want thinking counted as output", res.Usage)
		}
		if fake.keyInURL || len(fake.paths) != 3 || fake.paths[0] != "/v1beta/models/gemini-3-pro-preview:generateContent" {
			t.Errorf("key in URL=%v paths=%v", fake.keyInURL, fake.paths)
		}
		last := fake.bodies[2]
		if last.SystemInstruction == nil || len(last.Tools) != 1 || last.Tools[0].FunctionDeclarations[0].Parameters.Type != "OBJECT" {
			t.Errorf("system=%v tools=%+v", last.SystemInstruction, last.Tools)
		}
		var roles, results []string
		for _, c := range last.Contents {
			roles = append(roles, c.Role)
			for _, p := range c.Parts {
				if p.FunctionResponse != nil {
					// The agent numbers evidence ("[1] replicas\n…"); the
					// tool's own output ends the result.
					out := fmt.Sprint(p.FunctionResponse.Response["result"])
					results = append(results, p.FunctionResponse.Name+"="+out[strings.LastIndex(out, "\n")+1:])
				}
			}
		}
		if strings.Join(roles, ",") != "user,model,user,model,user" {
			t.Errorf("roles = %v", roles)
		}
		if strings.Join(results, "|") != "replicas=checkout: 3 replicas|replicas=cart: 3 replicas|replicas=payments: 3 replicas" {
			t.Errorf("function responses = %v", results)
		}
	})

	t.Run("streamed", func(t *testing.T) {
		fake := &fakeGemini{key: "k", model: "gemini-2.5-flash", replies: []gemReply{
			{parts: []map[string]any{text("Looking at checkout.\n"), call("replicas", map[string]any{"service": "checkout"})}, usage: [3]int{100, 20, 5}},
			{parts: []map[string]any{text("checkout runs\n3 replicas.")}, usage: [3]int{150, 8, 0}},
		}}
		var mu sync.Mutex
		var streamed []string
		obs := func(_ context.Context, e agent.Event) {
			if e.Kind == agent.EventModelText {
				mu.Lock()
				streamed = append(streamed, e.Text)
				mu.Unlock()
			}
		}
		res, err := runGemini(t, fake, Config{Stream: true}, obs)
		if err != nil {
			t.Fatalf("Run: %v (server rejected: %v)", err, fake.rejected)
		}
		if res.Answer != "checkout runs\n3 replicas." || res.ToolCalls != 1 || res.Usage.OutputTokens != 33 {
			t.Errorf("answer=%q toolcalls=%d usage=%+v", res.Answer, res.ToolCalls, res.Usage)
		}
		all := strings.Join(streamed, "")
		if !strings.Contains(all, "Looking at checkout.") || !strings.Contains(all, "checkout runs") {
			t.Errorf("streamed text = %q", streamed)
		}
		for _, p := range fake.paths {
			if p != "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
				t.Errorf("path = %s", p)
			}
		}
	})

	t.Run("a cut stream is asked again once", func(t *testing.T) {
		for _, cut := range []string{"end", "abort"} {
			fake := &fakeGemini{key: "k", model: "gemini-2.5-flash", replies: []gemReply{
				{parts: []map[string]any{text("checkout has 3 replicas.")}, cut: cut},
				{parts: []map[string]any{text("checkout has 3 replicas.")}},
			}}
			res, err := runGemini(t, fake, Config{Stream: true}, func(context.Context, agent.Event) {})
			if err != nil || res.Answer != "checkout has 3 replicas." || len(fake.bodies) != 2 {
				t.Errorf("%s once: answer=%q err=%v requests=%d", cut, res.Answer, err, len(fake.bodies))
			}
			fake.replies = []gemReply{{parts: []map[string]any{text("a long answer")}, cut: cut}, {parts: []map[string]any{text("a long answer")}, cut: cut}}
			_, err = runGemini(t, fake, Config{Stream: true}, func(context.Context, agent.Event) {})
			if !errors.Is(err, agent.ErrIncompleteReply) || !strings.Contains(err.Error(), "connection may have dropped") {
				t.Errorf("%s twice: %v", cut, err)
			}
		}
	})

	t.Run("the base URL may name the API version", func(t *testing.T) {
		for _, suffix := range []string{"/", "/v1beta", "/v1beta/"} {
			fake := &fakeGemini{key: "k", model: "gemini-2.5-flash", replies: []gemReply{{parts: []map[string]any{text("ok")}}}}
			if res, err := runGemini(t, fake, Config{BaseURL: suffix, Model: "models/gemini-2.5-flash"}, nil); err != nil || res.Answer != "ok" {
				t.Errorf("base URL ending %q: %v %v", suffix, err, fake.rejected)
			}
		}
	})

	ok := gemReply{parts: []map[string]any{text("checkout has 3 replicas.")}, usage: [3]int{10, 5, 0}}
	for _, tt := range []struct {
		name     string
		cfg      Config
		replies  []gemReply
		want     []string
		is       error
		requests int
	}{
		{name: "bad key", cfg: Config{APIKey: "AIza-wrong-key"},
			want: []string{"rejected the API key", "API key not valid", "check llm.api_key"}, requests: 1},
		{name: "unknown model", cfg: Config{Model: "gemini-9-ultra"},
			want: []string{"does not know model \"gemini-9-ultra\"", "404 NOT_FOUND", "check llm.model"}, requests: 1},
		{name: "rate limited, then answered", replies: []gemReply{{status: 429, errStatus: "RESOURCE_EXHAUSTED", message: "Resource has been exhausted (e.g. check quota)."}, ok},
			requests: 2},
		{name: "rate limited throughout", cfg: Config{MaxRetries: 1},
			replies: []gemReply{{status: 429, errStatus: "RESOURCE_EXHAUSTED", message: "You exceeded your current quota.", retryDelay: "7s"},
				{status: 429, errStatus: "RESOURCE_EXHAUSTED", message: "You exceeded your current quota.", retryDelay: "7s"}},
			want: []string{"rate limiting us (429 RESOURCE_EXHAUSTED: You exceeded your current quota.) after 1 retries; it asks to wait 7s"}, requests: 2},
		{name: "invalid argument", replies: []gemReply{{status: 400, errStatus: "INVALID_ARGUMENT", message: "Request contains an invalid argument."}},
			want: []string{"rejected the request (400 INVALID_ARGUMENT: Request contains an invalid argument.)"}, requests: 1},
		{name: "context window", replies: []gemReply{{status: 400, errStatus: "INVALID_ARGUMENT", message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}},
			is: agent.ErrContextLength, requests: 1},
		{name: "llm.timeout applies", cfg: Config{Timeout: 50 * time.Millisecond}, replies: []gemReply{{delay: 5 * time.Second}},
			want: []string{"did not answer within llm.timeout (50ms)"}, requests: 1},
		{name: "server error after retries", cfg: Config{MaxRetries: 2},
			replies: []gemReply{{status: 503, errStatus: "UNAVAILABLE", message: "The model is overloaded. Please try again later."},
				{status: 503, errStatus: "UNAVAILABLE", message: "The model is overloaded."}, {status: 503, errStatus: "UNAVAILABLE", message: "The model is overloaded."}},
			want: []string{"failed (503 UNAVAILABLE: The model is overloaded.) after 2 retries"}, requests: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeGemini{key: "AIza-right-key", model: "gemini-2.5-flash", replies: tt.replies}
			res, err := runGemini(t, fake, tt.cfg, nil)
			// Locked: on a timeout, no answer orders the handler's
			// write before this read.
			fake.mu.Lock()
			n := len(fake.paths)
			fake.mu.Unlock()
			if n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if len(tt.want) == 0 && tt.is == nil {
				if err != nil || res.Answer != "checkout has 3 replicas." {
					t.Fatalf("answer=%q err=%v", res.Answer, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "AIza-") {
				t.Errorf("the key leaked into the error: %v", err)
			}
		})
	}
}

// The fake is only worth its passes if it refuses what Gemini refuses.
func TestFakeGeminiRefuses(t *testing.T) {
	fake := &fakeGemini{key: "k", model: "m", signs: true, issued: map[string]string{}, replies: []gemReply{{parts: []map[string]any{text("ok")}}}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	user := `{"role":"user","parts":[{"text":"q"}]}`
	callTurn := `{"role":"model","parts":[{"functionCall":{"name":"replicas","args":{"service":"a"}}%s}]}`
	for _, tt := range []struct{ name, body, want string }{
		{"JSON schema keywords Gemini lacks", `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"replicas","parameters":{"type":"OBJECT","properties":{"service":{"type":"STRING"}},"additionalProperties":false}}]}]}`,
			`Unknown name "additionalProperties"`},
		{"lower-case or unknown types", `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"replicas","parameters":{"type":"dict"}}]}]}`, "Invalid value at"},
		{"an OBJECT without properties", `{"contents":[` + user + `],"tools":[{"functionDeclarations":[{"name":"replicas","parameters":{"type":"OBJECT"}}]}]}`, "should be non-empty for OBJECT type"},
		{"two user turns in a row", `{"contents":[` + user + `,` + user + `]}`, "alternate between user and model"},
		{"an empty text part", `{"contents":[{"role":"user","parts":[{"text":""}]}]}`, "required oneof field 'data'"},
		{"an assistant role", `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`, "valid role"},
		{"a call left unanswered", `{"contents":[` + user + `,` + fmt.Sprintf(callTurn, `,"thoughtSignature":"x"`) + `,` + user + `]}`, "number of function response parts"},
		{"a call without its signature", `{"contents":[` + user + `,` + fmt.Sprintf(callTurn, "") + `,{"role":"user","parts":[{"functionResponse":{"name":"replicas","response":{"result":"3"}}}]}]}`, "missing a thought_signature"},
		{"a signature not issued", `{"contents":[` + user + `,` + fmt.Sprintf(callTurn, `,"thoughtSignature":"forged"`) + `,{"role":"user","parts":[{"functionResponse":{"name":"replicas","response":{"result":"3"}}}]}]}`, "Corrupted thought signature"},
		{"six stop sequences", `{"contents":[` + user + `],"generationConfig":{"stopSequences":["a","b","c","d","e","f"]}}`, "at most 5"},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:generateContent", bytes.NewBufferString(tt.body))
		req.Header.Set("x-goog-api-key", "k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error GeminiError }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(body.Error.Message, tt.want) {
			t.Errorf("%s: %d %q, want 400 %q", tt.name, resp.StatusCode, body.Error.Message, tt.want)
		}
	}
}

func TestGeminiSchema(t *testing.T) {
	lo, hi := 1.0, 5.0
	in := tools.Object(map[string]*tools.Schema{
		"service": tools.Enum("service", "a", "b"),
		"n":       {Type: "integer", Minimum: &lo, Maximum: &hi, Default: 2},
		"tags":    {Type: "array", Items: tools.String("tag")},
	}, "service")
	got, _ := json.Marshal(geminiSchema(in))
	want := `{"type":"OBJECT","properties":{"n":{"type":"INTEGER","minimum":1,"maximum":5},"service":{"type":"STRING","description":"service","enum":["a","b"]},"tags":{"type":"ARRAY","items":{"type":"STRING","description":"tag"}}},"required":["service"]}`
	if string(got) != want {
		t.Errorf("schema\n got %s\nwant %s", got, want)
	}
}
