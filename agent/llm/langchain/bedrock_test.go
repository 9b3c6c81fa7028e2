package langchain

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

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

// toolResults lists a request's toolResult blocks as id=last line of the
// result, and the roles of its messages.
func toolResults(t *testing.T, body map[string]any) (roles, results []string) {
	t.Helper()
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		m := m.(map[string]any)
		roles = append(roles, m["role"].(string))
		for _, b := range m["content"].([]any) {
			tr, ok := b.(map[string]any)["toolResult"].(map[string]any)
			if !ok {
				continue
			}
			out := tr["content"].([]any)[0].(map[string]any)["text"].(string)
			results = append(results, tr["toolUseId"].(string)+"="+out[strings.LastIndex(out, "\n")+1:])
		}
	}
	return roles, results
}

func TestBedrockOverTheWire(t *testing.T) {
	// Converse gives every family the same request and native tools:
	// Claude and Llama 3.1 run the same round trip.
	for _, model := range []string{claudeOnBedrock, llamaOnBedrock} {
		t.Run(model+": tool round trip", func(t *testing.T) {
			fake := newFakeBedrock(model,
				converseReply("tool_use", [2]int{500, 60}, textBlock("Checking both."), toolUse("tooluse_bdrk_1", "checkout"), toolUse("tooluse_bdrk_2", "cart")),
				converseReply("end_turn", [2]int{650, 9}, textBlock("Both run 3 replicas.")))
			// Stream is asked for but not used: Converse does not stream.
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
			roles, results := toolResults(t, second)
			system, _ := second["system"].([]any)
			tc, _ := second["toolConfig"].(map[string]any)
			tls, _ := tc["tools"].([]any)
			if strings.Join(roles, ",") != "user,assistant,user" || len(system) != 1 || len(tls) != 1 {
				t.Errorf("roles=%v system=%v toolConfig=%v", roles, second["system"], second["toolConfig"])
			}
			if strings.Join(results, "|") != "tooluse_bdrk_1=checkout: 3 replicas|tooluse_bdrk_2=cart: 3 replicas" {
				t.Errorf("tool results = %v", results)
			}
			spec := tls[0].(map[string]any)["toolSpec"].(map[string]any)
			schema := spec["inputSchema"].(map[string]any)["json"].(map[string]any)
			if spec["name"] != "replicas" || spec["description"] == "" || schema["type"] != "object" || schema["properties"].(map[string]any)["service"] == nil {
				t.Errorf("toolSpec = %v", spec)
			}
			use := second["messages"].([]any)[1].(map[string]any)["content"].([]any)[1].(map[string]any)["toolUse"].(map[string]any)
			if use["toolUseId"] != "tooluse_bdrk_1" || use["input"].(map[string]any)["service"] != "checkout" {
				t.Errorf("toolUse sent back = %v", use)
			}
		})
	}

	t.Run("claude: an empty reply is nudged within the tool results' turn", func(t *testing.T) {
		// Claude may answer tool results with no content; the empty turn
		// is left out (Converse refuses empty content) and the agent's
		// nudge joins the results' user turn.
		fake := newFakeBedrock(claudeOnBedrock,
			converseReply("tool_use", [2]int{100, 10}, toolUse("tooluse_bdrk_1", "checkout")),
			converseReply("end_turn", [2]int{150, 1}),
			converseReply("end_turn", [2]int{170, 8}, textBlock("checkout runs 3 replicas.")))
		res, err := runBedrock(t, fake, Config{}, "")
		if err != nil || res.Answer != "checkout runs 3 replicas." {
			t.Fatalf("answer=%q err=%v (server rejected: %v)", res.Answer, err, fake.rejected)
		}
		last := fake.bodies[2]["messages"].([]any)
		turn := last[len(last)-1].(map[string]any)["content"].([]any)
		if len(turn) != 2 || turn[0].(map[string]any)["toolResult"] == nil || turn[1].(map[string]any)["text"] == nil {
			t.Errorf("last turn = %v", turn)
		}
	})

	t.Run("a model without tool use switches to ReAct", func(t *testing.T) {
		mistral := "mistral.mistral-7b-instruct-v0:2"
		fake := newFakeBedrock(mistral,
			converseReply("stop_sequence", [2]int{300, 20}, textBlock("Thought: look it up\nAction: replicas\nAction Input: {\"service\": \"checkout\"}")),
			converseReply("end_turn", [2]int{340, 12}, textBlock("Thought: done\nFinal Answer: checkout runs 3 replicas.")))
		fake.noTools = true
		res, err := runBedrock(t, fake, Config{}, "")
		if err != nil {
			t.Fatalf("Run: %v (server rejected: %v)", err, fake.rejected)
		}
		if res.Answer != "checkout runs 3 replicas." || res.Mode != agent.ModeReAct || res.ToolCalls != 1 || res.Usage.InputTokens != 640 {
			t.Errorf("answer=%q mode=%s toolcalls=%d usage=%+v", res.Answer, res.Mode, res.ToolCalls, res.Usage)
		}
		if fake.requests != 3 || len(fake.rejected) != 1 || !strings.Contains(fake.rejected[0], "doesn't support tool use") {
			t.Errorf("%d requests, rejected: %v", fake.requests, fake.rejected)
		}
		for i, b := range fake.bodies[1:] {
			if b["toolConfig"] != nil {
				t.Errorf("ReAct request %d still offers tools", i+1)
			}
		}
		if b, _ := json.Marshal(fake.bodies[2]["messages"]); !strings.Contains(string(b), "checkout: 3 replicas") {
			t.Errorf("second ReAct request lacks the observation: %s", b)
		}
	})

	t.Run("a reply cut at max_tokens is reported, not refused", func(t *testing.T) {
		fake := newFakeBedrock(claudeOnBedrock, converseReply("max_tokens", [2]int{80, 16}, textBlock("checkout runs")))
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		awsEnv(t, awsKeyID, awsSecret)
		m, err := New(context.Background(), Config{Provider: Bedrock, Model: claudeOnBedrock, Region: "eu-west-1", BaseURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		temp := 0.5
		resp, err := m.Generate(context.Background(), agent.Request{MaxTokens: 16, Temperature: &temp, Stop: []string{"END"},
			Messages: []agent.Message{{Role: agent.RoleSystem, Content: "Be brief."}, {Role: agent.RoleUser, Content: "checkout?"}}})
		if err != nil || resp.FinishReason != "max_tokens" || resp.Message.Content != "checkout runs" || resp.Usage.OutputTokens != 16 {
			t.Fatalf("resp=%+v err=%v (rejected: %v)", resp, err, fake.rejected)
		}
		ic, _ := fake.bodies[0]["inferenceConfig"].(map[string]any)
		if ic["maxTokens"] != 16.0 || ic["temperature"] != 0.5 || len(ic["stopSequences"].([]any)) != 1 || fake.bodies[0]["toolConfig"] != nil {
			t.Errorf("inferenceConfig=%v toolConfig=%v", ic, fake.bodies[0]["toolConfig"])
		}
	})

	answered := converseReply("end_turn", [2]int{10, 5}, textBlock("checkout has 3 replicas."))
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
		{name: "too many tokens", replies: []bedrockReply{{status: 400, code: "ValidationException", msg: "The model returned the following errors: prompt is too long: 210000 tokens > 200000 maximum"}},
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
	if err != nil || !m.NativeToolCalling() {
		t.Errorf("nova: err=%v native=%v (Converse gives Nova tools)", err, m != nil && m.NativeToolCalling())
	}
}

// The fake is only worth its passes if it refuses what Bedrock refuses.
func TestFakeBedrockRefuses(t *testing.T) {
	fake := newFakeBedrock(claudeOnBedrock, converseReply("end_turn", [2]int{1, 1}, textBlock("ok")))
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const (
		good  = `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
		tools = `"toolConfig":{"tools":[{"toolSpec":{"name":"replicas","description":"d","inputSchema":{"json":{"type":"object"}}}}]}`
		use   = `{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"replicas","input":{"service":"cart"}}}]}`
	)
	for _, tt := range []struct {
		name    string
		body    string
		path    string
		noTools bool
		mutate  func(r *http.Request, s sigv4)
		status  int
		want    string
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
		{name: "InvokeModel", body: good, path: "/invoke", status: 404, want: "only Converse is served"},
		{name: "a modelId key", body: `{"modelId":"claude",` + good[1:], status: 400, want: `unknown field "modelId"`},
		{name: "starts with the assistant", body: `{"messages":[{"role":"assistant","content":[{"text":"hi"}]}]}`, status: 400,
			want: "A conversation must start with a user message."},
		{name: "two user turns", body: `{"messages":[{"role":"user","content":[{"text":"hi"}]},{"role":"user","content":[{"text":"again"}]}]}`, status: 400,
			want: "A conversation must alternate between user and assistant roles."},
		{name: "empty content", body: `{"messages":[{"role":"user","content":[{"text":"hi"}]},{"role":"assistant","content":[]},{"role":"user","content":[{"text":"?"}]}]}`,
			status: 400, want: "The content field in the Message object at messages.1 is empty."},
		{name: "blank text", body: `{"messages":[{"role":"user","content":[{"text":" "}]}]}`, status: 400,
			want: "The text field in the ContentBlock object at messages.0.content.0 is blank."},
		{name: "a toolUse without toolConfig", body: `{"messages":[{"role":"user","content":[{"text":"hi"}]},` + use + `]}`, status: 400,
			want: "The toolConfig field must be defined when using toolUse and toolResult content blocks."},
		{name: "a toolUse left unanswered", body: `{` + tools + `,"messages":[{"role":"user","content":[{"text":"hi"}]},` + use + `,{"role":"user","content":[{"text":"go on"}]}]}`,
			status: 400, want: "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_1"},
		{name: "a toolResult for no toolUse", status: 400, want: "The number of toolResult blocks at messages.0.content exceeds the number of toolUse blocks of previous turn.",
			body: `{` + tools + `,"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_x","content":[{"text":"3"}]}}]}]}`},
		{name: "a toolResult of an unknown id", status: 400, want: "exceeds the number of toolUse blocks",
			body: `{` + tools + `,"messages":[{"role":"user","content":[{"text":"hi"}]},` + use + `,{"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_2","content":[{"text":"3"}]}}]}]}`},
		{name: "tools for a model without tool use", noTools: true, body: `{` + tools + `,` + good[1:], status: 400,
			want: "This model doesn't support tool use."},
	} {
		fake.mu.Lock()
		fake.noTools = tt.noTools
		fake.mu.Unlock()
		path := "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
		if tt.path != "" {
			path = strings.Replace(path, "/converse", tt.path, 1)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(tt.body))
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
	// The same fake answers a request that keeps every rule.
	fake.mu.Lock()
	fake.noTools = false
	fake.mu.Unlock()
	body := `{` + tools + `,"messages":[{"role":"user","content":[{"text":"hi"}]},` + use +
		`,{"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_1","content":[{"text":"3"}],"status":"success"}},{"text":"and?"}]}]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	fake.sig.sign(req, []byte(body), awsKeyID, awsSecret, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a valid request: %d (rejected: %v)", resp.StatusCode, fake.rejected)
	}
}
