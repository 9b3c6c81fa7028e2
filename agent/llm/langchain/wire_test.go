package langchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// fakeAnthropic serves POST /v1/messages and enforces the Messages API rules
// the adapter must respect: authentication headers, max_tokens, a first
// user turn, and tool_use/tool_result pairing across turns (after merging
// consecutive turns of one role, as the API does).
type fakeAnthropic struct {
	key     string
	mu      sync.Mutex
	replies []map[string]any
	bodies  []anthropicReq
	errors  []string
}

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
}

type anthropicReq struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	System    any    `json:"system"`
	Messages  []struct {
		Role    string           `json:"role"`
		Content []anthropicBlock `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	StopSequences []string `json:"stop_sequences"`
	Stream        bool     `json:"stream"`
}

func (f *fakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		f.mu.Lock()
		f.errors = append(f.errors, msg)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		fail(404, "not_found_error", "Not found: "+r.URL.Path)
		return
	}
	if r.Header.Get("x-api-key") != f.key {
		fail(401, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		fail(400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req anthropicReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(400, "invalid_request_error", "invalid JSON: "+err.Error())
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, req)
	f.mu.Unlock()
	if msg := checkAnthropic(req); msg != "" {
		fail(400, "invalid_request_error", msg)
		return
	}
	f.mu.Lock()
	if len(f.replies) == 0 {
		f.mu.Unlock()
		fail(500, "api_error", "fake: no scripted reply left")
		return
	}
	reply := f.replies[0]
	f.replies = f.replies[1:]
	f.mu.Unlock()
	if req.Stream {
		serveAnthropicStream(w, reply)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// serveAnthropicStream sends reply as the Messages API streams one:
// message_start with the input usage, each content block as
// content_block_start, deltas (text_delta, or input_json_delta in pieces
// for tool_use) and content_block_stop, then message_delta with the stop
// reason and output usage, and message_stop. A reply's "_cut" ends the
// stream after the first delta: "end" closes it cleanly, "abort" breaks
// the connection.
func serveAnthropicStream(w http.ResponseWriter, reply map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	send := func(event string, data map[string]any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		fl.Flush()
	}
	usage, _ := reply["usage"].(map[string]any)
	send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": reply["id"], "type": "message", "role": "assistant", "model": reply["model"], "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": usage["input_tokens"], "output_tokens": 1}}})
	send("ping", map[string]any{"type": "ping"})
	cut, _ := reply["_cut"].(string)
	blocks, _ := reply["content"].([]any)
	for i, b := range blocks {
		b := b.(map[string]any)
		var deltas []map[string]any
		switch b["type"] {
		case "text":
			send("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			for _, piece := range splitInTwo(b["text"].(string)) {
				deltas = append(deltas, map[string]any{"type": "text_delta", "text": piece})
			}
		case "tool_use":
			send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}})
			input, _ := json.Marshal(b["input"])
			deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": ""})
			for _, piece := range splitInTwo(string(input)) {
				deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": piece})
			}
		}
		for _, d := range deltas {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d})
			switch cut {
			case "abort":
				panic(http.ErrAbortHandler)
			case "end":
				return
			}
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": reply["stop_reason"], "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": usage["output_tokens"]}})
	send("message_stop", map[string]any{"type": "message_stop"})
}

func splitInTwo(s string) []string {
	if len(s) < 2 {
		return []string{s}
	}
	return []string{s[:len(s)/2], s[len(s)/2:]}
}

func checkAnthropic(req anthropicReq) string {
	if req.MaxTokens <= 0 {
		return "max_tokens: Field required"
	}
	if len(req.Messages) == 0 {
		return "messages: at least one message is required"
	}
	type turn struct {
		role   string
		blocks []anthropicBlock
	}
	var turns []turn
	hasToolBlocks := false
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		for _, b := range m.Content {
			if b.Type == "text" && b.Text == "" {
				return fmt.Sprintf("messages.%d: text content blocks must be non-empty", i)
			}
			if b.Type == "tool_use" || b.Type == "tool_result" {
				hasToolBlocks = true
			}
		}
		if n := len(turns); n > 0 && turns[n-1].role == m.Role {
			turns[n-1].blocks = append(turns[n-1].blocks, m.Content...)
		} else {
			turns = append(turns, turn{m.Role, append([]anthropicBlock(nil), m.Content...)})
		}
	}
	if hasToolBlocks && len(req.Tools) == 0 {
		return "Requests which include `tool_use` or `tool_result` blocks must define tools."
	}
	if turns[0].role != "user" {
		return `messages: first message must use the "user" role`
	}
	for i, t := range turns {
		var uses, results []string
		for _, b := range t.blocks {
			switch b.Type {
			case "tool_use":
				uses = append(uses, b.ID)
			case "tool_result":
				results = append(results, b.ToolUseID)
			}
		}
		if len(results) > 0 {
			var prev []string
			if i > 0 {
				for _, b := range turns[i-1].blocks {
					if b.Type == "tool_use" {
						prev = append(prev, b.ID)
					}
				}
			}
			for _, id := range results {
				if !slices.Contains(prev, id) {
					return fmt.Sprintf("messages.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, id)
				}
			}
		}
		if len(uses) > 0 {
			var next []string
			if i+1 < len(turns) {
				for _, b := range turns[i+1].blocks {
					if b.Type == "tool_result" {
						next = append(next, b.ToolUseID)
					}
				}
			}
			for _, id := range uses {
				if !slices.Contains(next, id) && i+1 < len(turns) {
					return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s.", i, id)
				}
			}
		}
	}
	return ""
}

type svcTool struct{}

func (svcTool) Spec() tools.Spec {
	return tools.Spec{Name: "replicas", Description: "Replica count of a service.",
		Parameters: tools.Object(map[string]*tools.Schema{"service": tools.String("service")}, "service")}
}

func (svcTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	var a struct{ Service string }
	_ = json.Unmarshal(args, &a)
	return tools.Text(a.Service + ": 3 replicas"), nil
}

func TestAnthropicOverTheWire(t *testing.T) {
	fake := &fakeAnthropic{key: "sk-ant-test", replies: []map[string]any{
		{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "tool_use",
			"content": []any{
				map[string]any{"type": "text", "text": "Checking both."},
				map[string]any{"type": "tool_use", "id": "toolu_1", "name": "replicas", "input": map[string]any{"service": "checkout"}},
				map[string]any{"type": "tool_use", "id": "toolu_2", "name": "replicas", "input": map[string]any{"service": "cart"}},
			},
			"usage": map[string]any{"input_tokens": 500, "output_tokens": 60}},
		{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "end_turn",
			"content": []any{map[string]any{"type": "text", "text": "Both run 3 replicas."}},
			"usage":   map[string]any{"input_tokens": 650, "output_tokens": 9}},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m, err := New(context.Background(), Config{Provider: Anthropic, Model: "claude-test", APIKey: "sk-ant-test", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := tools.NewRegistry(svcTool{})
	res, err := agent.New(m, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "replicas of checkout and cart?"}, nil)
	if err != nil {
		t.Fatalf("Run: %v (server errors: %v)", err, fake.errors)
	}
	if len(fake.errors) > 0 {
		t.Fatalf("server rejected requests: %v", fake.errors)
	}
	if res.Answer != "Both run 3 replicas." || res.ToolCalls != 2 {
		t.Errorf("answer=%q toolcalls=%d", res.Answer, res.ToolCalls)
	}
	if res.Usage.InputTokens != 1150 || res.Usage.OutputTokens != 69 {
		t.Errorf("usage = %+v", res.Usage)
	}
	second := fake.bodies[1]
	if second.System == nil || len(second.Tools) != 1 {
		t.Errorf("system=%v tools=%d", second.System, len(second.Tools))
	}
	var results []string
	for _, msg := range second.Messages {
		for _, b := range msg.Content {
			if b.Type == "tool_result" {
				var out string
				_ = json.Unmarshal(b.Content, &out)
				// The agent numbers evidence ("[1] replicas\n…"); the
				// tool's own output ends the result.
				results = append(results, b.ToolUseID+"="+out[strings.LastIndex(out, "\n")+1:])
			}
		}
	}
	if strings.Join(results, "|") != "toolu_1=checkout: 3 replicas|toolu_2=cart: 3 replicas" {
		t.Errorf("tool results = %v", results)
	}
}

func TestAnthropicLastStepWithoutTools(t *testing.T) {
	// On the last step the agent offers no tools; the API would refuse the
	// earlier tool blocks, so they must arrive as text.
	fake := &fakeAnthropic{key: "k", replies: []map[string]any{
		{"id": "msg_1", "type": "message", "role": "assistant", "stop_reason": "tool_use",
			"content": []any{map[string]any{"type": "tool_use", "id": "toolu_1", "name": "replicas", "input": map[string]any{"service": "a"}}},
			"usage":   map[string]any{"input_tokens": 1, "output_tokens": 1}},
		{"id": "msg_2", "type": "message", "role": "assistant", "stop_reason": "end_turn",
			"content": []any{map[string]any{"type": "text", "text": "a has 3."}},
			"usage":   map[string]any{"input_tokens": 1, "output_tokens": 1}},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m, _ := New(context.Background(), Config{Provider: Anthropic, Model: "claude-test", APIKey: "k", BaseURL: srv.URL + "/v1"})
	reg, _ := tools.NewRegistry(svcTool{})
	res, err := agent.New(m, reg, agent.Options{Config: agent.Config{MaxSteps: 2}}).Run(context.Background(), agent.Task{Input: "a?"}, nil)
	if err != nil || res.Answer != "a has 3." {
		t.Fatalf("err=%v answer=%q server errors=%v", err, res.Answer, fake.errors)
	}
}

func TestAnthropicBadKey(t *testing.T) {
	fake := &fakeAnthropic{key: "right"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m, _ := New(context.Background(), Config{Provider: Anthropic, Model: "claude-test", APIKey: "wrong", BaseURL: srv.URL + "/v1"})
	_, err := m.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v", err)
	}
}

// fakeOllama serves Ollama's native POST /api/chat (non-streaming).
type fakeOllama struct {
	model   string
	replies []string
	got     []map[string]any
}

func (f *fakeOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/chat" {
		http.Error(w, `{"error":"not found"}`, 404)
		return
	}
	var req map[string]any
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.got = append(f.got, req)
	if req["model"] != f.model {
		w.WriteHeader(404)
		fmt.Fprintf(w, `{"error":"model \"%v\" not found, try pulling it first"}`, req["model"])
		return
	}
	if len(f.replies) == 0 {
		w.WriteHeader(500)
		fmt.Fprint(w, `{"error":"fake: no reply left"}`)
		return
	}
	reply := f.replies[0]
	f.replies = f.replies[1:]
	_ = json.NewEncoder(w).Encode(map[string]any{"model": f.model, "created_at": "2026-11-24T14:00:00Z",
		"message": map[string]any{"role": "assistant", "content": reply}, "done": true,
		"prompt_eval_count": 200, "eval_count": 20})
}

func TestOllamaReActOverTheWire(t *testing.T) {
	fake := &fakeOllama{model: "llama3.1", replies: []string{
		"Thought: look it up\nAction: replicas\nAction Input: {\"service\": \"checkout\"}",
		"Thought: done\nFinal Answer: checkout runs 3 replicas.",
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m, err := New(context.Background(), Config{Provider: Ollama, Model: "llama3.1", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := tools.NewRegistry(svcTool{})
	res, err := agent.New(m, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "replicas?"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answer != "checkout runs 3 replicas." || res.Mode != agent.ModeReAct || res.Usage.InputTokens != 400 {
		t.Errorf("answer=%q mode=%s usage=%+v", res.Answer, res.Mode, res.Usage)
	}
	msgs := fake.got[1]["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if content, _ := last["content"].(string); last["role"] != "user" || !strings.HasPrefix(content, "Observation: ") || !strings.HasSuffix(content, "checkout: 3 replicas") {
		t.Errorf("last message = %v", last)
	}
	if opts, _ := fake.got[0]["options"].(map[string]any); opts == nil || fmt.Sprint(opts["stop"]) != "[\nObservation:]" {
		t.Errorf("stop words not sent: %v", fake.got[0]["options"])
	}
}

func TestOllamaUnknownModel(t *testing.T) {
	srv := httptest.NewServer(&fakeOllama{model: "llama3.1"})
	defer srv.Close()
	m, _ := New(context.Background(), Config{Provider: Ollama, Model: "mistral", BaseURL: srv.URL})
	_, err := m.Generate(context.Background(), agent.Request{Messages: []agent.Message{{Role: agent.RoleUser, Content: "hi"}}})
	if err == nil || !strings.Contains(err.Error(), "not found, try pulling it first") {
		t.Fatalf("err = %v", err)
	}
}

func TestAnthropicStreamingOverTheWire(t *testing.T) {
	run := func(t *testing.T, fake *fakeAnthropic) (*agent.Result, []string, error) {
		t.Helper()
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		m, err := New(context.Background(), Config{Provider: Anthropic, Model: "claude-test", APIKey: fake.key, BaseURL: srv.URL + "/v1", Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu       sync.Mutex
			streamed []string
		)
		obs := func(_ context.Context, e agent.Event) {
			if e.Kind == agent.EventModelText {
				mu.Lock()
				streamed = append(streamed, e.Text)
				mu.Unlock()
			}
		}
		reg, _ := tools.NewRegistry(svcTool{})
		res, err := agent.New(m, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "replicas of checkout?"}, obs)
		return res, streamed, err
	}
	toolTurn := map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "tool_use",
		"content": []any{
			map[string]any{"type": "text", "text": "Checking checkout.\n"},
			map[string]any{"type": "tool_use", "id": "toolu_1", "name": "replicas", "input": map[string]any{"service": "checkout"}},
		},
		"usage": map[string]any{"input_tokens": 300, "output_tokens": 40}}
	answer := func(text, cut string) map[string]any {
		r := map[string]any{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "end_turn",
			"content": []any{map[string]any{"type": "text", "text": text}},
			"usage":   map[string]any{"input_tokens": 400, "output_tokens": 9}}
		if cut != "" {
			r["_cut"] = cut
		}
		return r
	}

	t.Run("text deltas and a streamed tool_use", func(t *testing.T) {
		fake := &fakeAnthropic{key: "k", replies: []map[string]any{toolTurn, answer("checkout runs\n3 replicas.", "")}}
		res, streamed, err := run(t, fake)
		if err != nil {
			t.Fatalf("Run: %v (server errors: %v)", err, fake.errors)
		}
		if res.Answer != "checkout runs\n3 replicas." || res.ToolCalls != 1 {
			t.Errorf("answer=%q toolcalls=%d", res.Answer, res.ToolCalls)
		}
		if res.Usage.InputTokens != 700 || res.Usage.OutputTokens != 49 {
			t.Errorf("usage = %+v", res.Usage)
		}
		all := strings.Join(streamed, "")
		if !strings.Contains(all, "Checking checkout.") || !strings.Contains(all, "checkout runs") {
			t.Errorf("streamed text = %q", streamed)
		}
		for i, b := range fake.bodies {
			if !b.Stream {
				t.Errorf("request %d was not streamed", i)
			}
		}
		var results []string
		for _, msg := range fake.bodies[1].Messages {
			for _, b := range msg.Content {
				if b.Type == "tool_result" {
					results = append(results, b.ToolUseID+"="+string(b.Content))
				}
			}
		}
		if len(results) != 1 || !strings.HasPrefix(results[0], "toolu_1=") || !strings.Contains(results[0], "checkout: 3 replicas") {
			t.Errorf("tool results = %v", results)
		}
	})

	for _, cut := range []string{"end", "abort"} {
		t.Run("a stream cut mid-message ("+cut+")", func(t *testing.T) {
			fake := &fakeAnthropic{key: "k", replies: []map[string]any{answer("checkout has 3 replicas.", cut), answer("checkout has 3 replicas.", "")}}
			res, _, err := run(t, fake)
			if err != nil || res.Answer != "checkout has 3 replicas." || len(fake.bodies) != 2 {
				t.Errorf("cut once: answer=%q err=%v requests=%d", res.Answer, err, len(fake.bodies))
			}
			fake.replies = []map[string]any{answer("a", cut), answer("b", cut)}
			_, _, err = run(t, fake)
			if !errors.Is(err, agent.ErrIncompleteReply) || !strings.Contains(err.Error(), "connection may have dropped") {
				t.Errorf("cut twice: %v", err)
			}
		})
	}
}
