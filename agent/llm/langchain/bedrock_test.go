package langchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// fakeBedrock serves what langchaingo's Bedrock provider calls: the
// Bedrock Runtime InvokeModel operation (POST /model/{modelId}/invoke),
// with Claude's Messages body (anthropic_version bedrock-2023-05-31) or
// Llama's prompt body. It verifies each request's SigV4 signature and
// refuses what Bedrock refuses: bad signatures and unknown keys (403),
// keys for bodies the model does not take, missing required keys, Claude
// turns that do not alternate, tool results without their tool_use. Errors
// are restJson1 as the SDK reads them: the type in x-amzn-ErrorType, the
// message in {"message": …}.
type fakeBedrock struct {
	sig   sigv4
	model string
	// deny answers every signed request with AccessDeniedException.
	deny bool

	mu       sync.Mutex
	replies  []bedrockReply
	bodies   []map[string]any
	requests int
	verified int
	rejected []string
}

type bedrockReply struct {
	status int
	code   string
	msg    string
	body   map[string]any
}

// bedrockClaudeBody is Claude's InvokeModel body on Bedrock; unknown keys
// are refused, as Bedrock does ("extraneous key [model] is not permitted").
type bedrockClaudeBody struct {
	AnthropicVersion string `json:"anthropic_version"`
	MaxTokens        int    `json:"max_tokens"`
	System           string `json:"system"`
	Messages         []struct {
		Role    string           `json:"role"`
		Content []anthropicBlock `json:"content"`
	} `json:"messages"`
	Temperature   float64  `json:"temperature"`
	TopP          float64  `json:"top_p"`
	TopK          int      `json:"top_k"`
	StopSequences []string `json:"stop_sequences"`
	Tools         []struct {
		Name        string         `json:"name"`
		Description string         `json:"description"`
		InputSchema map[string]any `json:"input_schema"`
	} `json:"tools"`
	ToolChoice map[string]any `json:"tool_choice"`
}

type bedrockLlamaBody struct {
	Prompt      string  `json:"prompt"`
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"top_p"`
	MaxGenLen   int     `json:"max_gen_len"`
}

func (f *fakeBedrock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	fail := func(status int, code, msg string) {
		f.mu.Lock()
		f.rejected = append(f.rejected, code+": "+msg)
		f.mu.Unlock()
		writeAWSError(w, status, code, msg)
	}
	if d := f.sig.verify(r, body); d != nil {
		fail(d.status, d.code, d.msg)
		return
	}
	f.mu.Lock()
	f.verified++
	f.mu.Unlock()
	model, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/model/"), "/invoke")
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/model/") || !ok {
		fail(404, "UnknownOperationException", "fake: only InvokeModel is served, not "+r.Method+" "+r.URL.Path)
		return
	}
	if f.deny {
		fail(403, "AccessDeniedException", "You don't have access to the model with the specified model ID.")
		return
	}
	if model != f.model {
		fail(400, "ValidationException", "The provided model identifier is invalid.")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail(400, "ValidationException", "fake: Content-Type "+ct+" is not application/json")
		return
	}
	var msg string
	if strings.Contains(model, "anthropic") {
		msg = checkBedrockClaude(body)
	} else {
		msg = checkBedrockLlama(body)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	f.mu.Lock()
	f.bodies = append(f.bodies, raw)
	f.mu.Unlock()
	if msg != "" {
		fail(400, "ValidationException", msg)
		return
	}
	f.mu.Lock()
	if len(f.replies) == 0 {
		f.mu.Unlock()
		fail(500, "InternalServerException", "fake: no scripted reply left")
		return
	}
	reply := f.replies[0]
	f.replies = f.replies[1:]
	f.mu.Unlock()
	if reply.status != 0 {
		writeAWSError(w, reply.status, reply.code, reply.msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "8f1c0d2e-0000-4000-8000-000000000000")
	w.Header().Set("X-Amzn-Bedrock-Invocation-Latency", "812")
	if u, ok := reply.body["usage"].(map[string]any); ok {
		w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", fmt.Sprint(u["input_tokens"]))
		w.Header().Set("X-Amzn-Bedrock-Output-Token-Count", fmt.Sprint(u["output_tokens"]))
	}
	_ = json.NewEncoder(w).Encode(reply.body)
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.Header().Set("X-Amzn-Requestid", "8f1c0d2e-0000-4000-8000-00000000dead")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func malformed(err error) string {
	msg := err.Error()
	if _, field, ok := strings.Cut(msg, "unknown field "); ok {
		return "Malformed input request: #: extraneous key [" + strings.Trim(field, `"`) + "] is not permitted, please reformat your input and try again."
	}
	return "Malformed input request: " + msg + ", please reformat your input and try again."
}

// checkBedrockClaude applies Bedrock's and Claude's rules to a Messages
// body; Bedrock, unlike Anthropic's own API, refuses two turns of one role
// in a row.
func checkBedrockClaude(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req bedrockClaudeBody
	if err := dec.Decode(&req); err != nil {
		return malformed(err)
	}
	switch {
	case req.AnthropicVersion == "":
		return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
	case req.AnthropicVersion != "bedrock-2023-05-31":
		return "Invalid API version: " + req.AnthropicVersion
	case req.MaxTokens == 0:
		return "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
	}
	for i, tl := range req.Tools {
		if tl.InputSchema["type"] != "object" {
			return fmt.Sprintf("tools.%d.custom.input_schema.type: Input should be 'object'", i)
		}
	}
	for i := 1; i < len(req.Messages); i++ {
		if req.Messages[i].Role == req.Messages[i-1].Role {
			return fmt.Sprintf("messages: roles must alternate between \"user\" and \"assistant\", but found multiple %q roles in a row", req.Messages[i].Role)
		}
	}
	// The rest of the rules are Anthropic's own.
	var areq anthropicReq
	areq.MaxTokens = req.MaxTokens
	for _, m := range req.Messages {
		areq.Messages = append(areq.Messages, struct {
			Role    string           `json:"role"`
			Content []anthropicBlock `json:"content"`
		}{m.Role, m.Content})
	}
	for _, tl := range req.Tools {
		areq.Tools = append(areq.Tools, struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"input_schema"`
		}{Name: tl.Name})
	}
	return checkAnthropic(areq)
}

func checkBedrockLlama(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req bedrockLlamaBody
	if err := dec.Decode(&req); err != nil {
		return malformed(err)
	}
	if req.Prompt == "" {
		return "Malformed input request: #: required key [prompt] not found, please reformat your input and try again."
	}
	return ""
}

const (
	claudeOnBedrock = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	awsKeyID        = "AKIAWATCHKEEPERTEST"
	awsSecret       = "wk/secret+TEST/KEY0123456789abcdefghijkl"
)

func newFakeBedrock(model string, replies ...bedrockReply) *fakeBedrock {
	return &fakeBedrock{model: model, replies: replies,
		sig: sigv4{service: "bedrock", region: "eu-west-1", secrets: map[string]string{awsKeyID: awsSecret}, now: time.Now}}
}

// awsEnv gives the AWS SDK's default chain these credentials and nothing
// else: no profile, no shared files, no instance metadata.
func awsEnv(t *testing.T, keyID, secret string) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "",
	} {
		t.Setenv(k, v)
	}
}

// runBedrock runs the agent with the replicas tool against fake through
// New, as the app builds it, with credentials from the environment.
func runBedrock(t *testing.T, fake *fakeBedrock, cfg Config, secret string) (*agent.Result, error) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	keyID := awsKeyID
	if secret == "" {
		secret = awsSecret
	} else if secret == "unknown-key" {
		keyID = "AKIAUNKNOWN"
	}
	awsEnv(t, keyID, secret)
	cfg.Provider, cfg.Region, cfg.BaseURL, cfg.RetryBaseDelay = Bedrock, "eu-west-1", srv.URL, time.Millisecond
	if cfg.Model == "" {
		cfg.Model = fake.model
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := tools.NewRegistry(svcTool{})
	return agent.New(m, reg, agent.Options{}).Run(context.Background(), agent.Task{Input: "replicas of checkout and cart?"}, nil)
}

func claudeReply(stop string, usage [2]int, blocks ...map[string]any) bedrockReply {
	if blocks == nil {
		blocks = []map[string]any{}
	}
	return bedrockReply{body: map[string]any{"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20240620",
		"content": blocks, "stop_reason": stop, "stop_sequence": nil, "usage": map[string]any{"input_tokens": usage[0], "output_tokens": usage[1]}}}
}

func toolUse(id, service string) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": "replicas", "input": map[string]any{"service": service}}
}

func textBlock(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func TestBedrockOverTheWire(t *testing.T) {
	t.Run("claude: tool round trip", func(t *testing.T) {
		fake := newFakeBedrock(claudeOnBedrock,
			claudeReply("tool_use", [2]int{500, 60}, textBlock("Checking both."), toolUse("toolu_bdrk_1", "checkout"), toolUse("toolu_bdrk_2", "cart")),
			claudeReply("end_turn", [2]int{650, 9}, textBlock("Both run 3 replicas.")))
		// Stream is asked for but not used: the fake serves no
		// InvokeModelWithResponseStream, where the tool calls would be lost.
		res, err := runBedrock(t, fake, Config{Stream: true}, "")
		if err != nil {
			t.Fatalf("Run: %v (server rejected: %v)", err, fake.rejected)
		}
		if res.Answer != "Both run 3 replicas." || res.ToolCalls != 2 || res.Mode != agent.ModeNative {
			t.Errorf("answer=%q toolcalls=%d mode=%s", res.Answer, res.ToolCalls, res.Mode)
		}
		if res.Usage.InputTokens != 1150 || res.Usage.OutputTokens != 69 {
			t.Errorf("usage = %+v", res.Usage)
		}
		if fake.verified != 2 {
			t.Errorf("%d of %d requests carried a valid signature", fake.verified, fake.requests)
		}
		second := fake.bodies[1]
		msgs, _ := second["messages"].([]any)
		var roles, results []string
		for _, m := range msgs {
			m := m.(map[string]any)
			roles = append(roles, m["role"].(string))
			for _, b := range m["content"].([]any) {
				if b := b.(map[string]any); b["type"] == "tool_result" {
					out := b["content"].(string)
					results = append(results, b["tool_use_id"].(string)+"="+out[strings.LastIndex(out, "\n")+1:])
				}
			}
		}
		if strings.Join(roles, ",") != "user,assistant,user" || second["system"] == "" || len(second["tools"].([]any)) != 1 {
			t.Errorf("roles=%v system=%v tools=%v", roles, second["system"], second["tools"])
		}
		if strings.Join(results, "|") != "toolu_bdrk_1=checkout: 3 replicas|toolu_bdrk_2=cart: 3 replicas" {
			t.Errorf("tool results = %v", results)
		}
	})

	t.Run("claude: an empty reply is nudged within the tool results' turn", func(t *testing.T) {
		// Claude may answer tool results with no content; the agent's
		// nudge then follows the results, and Bedrock refuses two user
		// turns in a row.
		fake := newFakeBedrock(claudeOnBedrock,
			claudeReply("tool_use", [2]int{100, 10}, toolUse("toolu_bdrk_1", "checkout")),
			claudeReply("end_turn", [2]int{150, 1}),
			claudeReply("end_turn", [2]int{170, 8}, textBlock("checkout runs 3 replicas.")))
		res, err := runBedrock(t, fake, Config{}, "")
		if err != nil || res.Answer != "checkout runs 3 replicas." {
			t.Fatalf("answer=%q err=%v (server rejected: %v)", res.Answer, err, fake.rejected)
		}
		last := fake.bodies[2]["messages"].([]any)
		turn := last[len(last)-1].(map[string]any)["content"].([]any)
		if len(turn) != 2 || turn[0].(map[string]any)["type"] != "tool_result" || turn[1].(map[string]any)["type"] != "text" {
			t.Errorf("last turn = %v", turn)
		}
	})

	t.Run("llama: no tools in langchaingo, so ReAct", func(t *testing.T) {
		llama := "meta.llama3-1-70b-instruct-v1:0"
		gen := func(s string) bedrockReply {
			return bedrockReply{body: map[string]any{"generation": s, "prompt_token_count": 300, "generation_token_count": 20, "stop_reason": "stop"}}
		}
		fake := newFakeBedrock(llama,
			gen("Thought: look it up\nAction: replicas\nAction Input: {\"service\": \"checkout\"}"),
			gen("Thought: done\nFinal Answer: checkout runs 3 replicas."))
		res, err := runBedrock(t, fake, Config{}, "")
		if err != nil {
			t.Fatalf("Run: %v (server rejected: %v)", err, fake.rejected)
		}
		if res.Answer != "checkout runs 3 replicas." || res.Mode != agent.ModeReAct || res.ToolCalls != 1 || res.Usage.InputTokens != 600 {
			t.Errorf("answer=%q mode=%s toolcalls=%d usage=%+v", res.Answer, res.Mode, res.ToolCalls, res.Usage)
		}
		if p, _ := fake.bodies[1]["prompt"].(string); !strings.Contains(p, "Observation:") || !strings.Contains(p, "checkout: 3 replicas") {
			t.Errorf("second prompt lacks the observation: %q", p)
		}
	})

	answered := claudeReply("end_turn", [2]int{10, 5}, textBlock("checkout has 3 replicas."))
	throttled := bedrockReply{status: 429, code: "ThrottlingException", msg: "Too many requests, please wait before trying again."}
	for _, tt := range []struct {
		name     string
		secret   string
		cfg      Config
		deny     bool
		replies  []bedrockReply
		want     []string
		is       error
		requests int
	}{
		{name: "wrong secret key", secret: "wk/secret+WRONG/KEY0123456789abcdefghijkl",
			want: []string{"AWS rejected the credentials", "InvalidSignatureException: The request signature we calculated does not match", "AWS_SECRET_ACCESS_KEY"}, requests: 1},
		{name: "unknown access key", secret: "unknown-key",
			want: []string{"AWS rejected the credentials", "UnrecognizedClientException: The security token included in the request is invalid.", "AWS_ACCESS_KEY_ID"}, requests: 1},
		{name: "no access to the model", deny: true,
			want: []string{"may not invoke model", "AccessDeniedException", "bedrock:InvokeModel", "Model access"}, requests: 1},
		{name: "unknown model", cfg: Config{Model: "anthropic.claude-9-v1:0"},
			want: []string{`does not know model "anthropic.claude-9-v1:0"`, "The provided model identifier is invalid.", "llm.region"}, requests: 1},
		{name: "throttled, then answered", replies: []bedrockReply{throttled, answered}, requests: 2},
		{name: "throttled throughout", cfg: Config{MaxRetries: 1}, replies: []bedrockReply{throttled, throttled},
			want: []string{"Bedrock is throttling us (ThrottlingException: Too many requests, please wait before trying again.) after 1 retries"}, requests: 2},
		{name: "validation", replies: []bedrockReply{{status: 400, code: "ValidationException", msg: "max_tokens: 300000 > 8192, which is the maximum allowed number of output tokens for claude-3-5-sonnet-20240620"}},
			want: []string{"Bedrock rejected the request", "ValidationException: max_tokens: 300000 > 8192"}, requests: 1},
		{name: "context window", replies: []bedrockReply{{status: 400, code: "ValidationException", msg: "Input is too long for requested model."}},
			is: agent.ErrContextLength, requests: 1},
		{name: "server error after retries", cfg: Config{MaxRetries: 2},
			replies: []bedrockReply{{status: 500, code: "InternalServerException", msg: "The server encountered an error processing your request."},
				{status: 503, code: "ServiceUnavailableException", msg: "Bedrock is unable to process your request."},
				{status: 503, code: "ServiceUnavailableException", msg: "Bedrock is unable to process your request."}},
			want: []string{"Bedrock failed (ServiceUnavailableException: Bedrock is unable to process your request.) after 2 retries"}, requests: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeBedrock(claudeOnBedrock, tt.replies...)
			fake.deny = tt.deny
			res, err := runBedrock(t, fake, tt.cfg, tt.secret)
			if fake.requests != tt.requests {
				t.Errorf("%d requests, want %d (rejected: %v)", fake.requests, tt.requests, fake.rejected)
			}
			if len(tt.want) == 0 && tt.is == nil {
				if err != nil || res.Answer != "checkout has 3 replicas." || fake.verified != tt.requests {
					t.Fatalf("answer=%q err=%v verified=%d", res.Answer, err, fake.verified)
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
			if strings.Contains(err.Error(), "wk/secret") {
				t.Errorf("the secret key leaked into the error: %v", err)
			}
		})
	}
}

func TestBedrockNeedsARegion(t *testing.T) {
	awsEnv(t, awsKeyID, awsSecret)
	_, err := New(context.Background(), Config{Provider: Bedrock, Model: claudeOnBedrock})
	if err == nil || !strings.Contains(err.Error(), "set llm.region") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	m, err := New(context.Background(), Config{Provider: Bedrock, Model: "amazon.nova-pro-v1:0"})
	if err != nil || m.NativeToolCalling() {
		t.Errorf("nova: err=%v native=%v (langchaingo sends Nova no tools)", err, m != nil && m.NativeToolCalling())
	}
}

// The fake is only worth its passes if it refuses what Bedrock refuses.
func TestFakeBedrockRefuses(t *testing.T) {
	fake := newFakeBedrock(claudeOnBedrock, claudeReply("end_turn", [2]int{1, 1}, textBlock("ok")))
	srv := httptest.NewServer(fake)
	defer srv.Close()
	good := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`
	for _, tt := range []struct {
		name   string
		body   string
		mutate func(r *http.Request, s sigv4)
		status int
		want   string
	}{
		{name: "signed an hour ago", body: good, status: 403, want: "Signature expired",
			mutate: func(r *http.Request, s sigv4) {
				s.sign(r, []byte(good), awsKeyID, awsSecret, time.Now().Add(-time.Hour))
			}},
		{name: "scoped to another region", body: good, status: 403, want: "Credential should be scoped to a valid region",
			mutate: func(r *http.Request, s sigv4) {
				s.region = "us-east-1"
				s.sign(r, []byte(good), awsKeyID, awsSecret, time.Now())
			}},
		{name: "scoped to another service", body: good, status: 403, want: "scoped to correct service: 'bedrock'",
			mutate: func(r *http.Request, s sigv4) {
				s.service = "bedrock-runtime"
				s.sign(r, []byte(good), awsKeyID, awsSecret, time.Now())
			}},
		{name: "body changed after signing", body: strings.Replace(good, "hi", "hj", 1), status: 403, want: "signature we calculated does not match",
			mutate: func(r *http.Request, s sigv4) { s.sign(r, []byte(good), awsKeyID, awsSecret, time.Now()) }},
		{name: "not signed", body: good, status: 403, want: "Missing Authentication Token", mutate: func(*http.Request, sigv4) {}},
		{name: "a model key", body: strings.Replace(good, `"max_tokens"`, `"model":"claude","max_tokens"`, 1), status: 400, want: "extraneous key [model] is not permitted"},
		{name: "no max_tokens", body: strings.Replace(good, `"max_tokens":10,`, ``, 1), status: 400, want: "required key [max_tokens] not found"},
		{name: "two user turns", body: strings.Replace(good, `}]}]}`, `}]},{"role":"user","content":[{"type":"text","text":"again"}]}]}`, 1), status: 400,
			want: `roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`},
		{name: "a tool result without its tool_use", status: 400, want: "unexpected `tool_use_id`",
			body: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"tools":[{"name":"replicas","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"3"}]}]}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		if tt.mutate != nil {
			tt.mutate(req, fake.sig)
		} else {
			fake.sig.sign(req, []byte(tt.body), awsKeyID, awsSecret, time.Now())
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(body.Message, tt.want) || resp.Header.Get("X-Amzn-Errortype") == "" {
			t.Errorf("%s: %d %q (%s), want %d %q", tt.name, resp.StatusCode, body.Message, resp.Header.Get("X-Amzn-Errortype"), tt.status, tt.want)
		}
	}
}
