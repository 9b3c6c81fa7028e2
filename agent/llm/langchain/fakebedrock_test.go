package langchain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeBedrock serves Bedrock Runtime's Converse operation (POST
// /model/{modelId}/converse, the model id URL-escaped) as AWS documents it,
// and nothing else. It verifies each request's SigV4 signature and refuses
// what Converse refuses: bad signatures and unknown keys (403), unknown
// fields, a conversation that does not start with the user or does not
// alternate, empty content and blank text, toolUse and toolResult blocks
// without a toolConfig, a toolUse not answered in the next user turn, a
// toolResult for no toolUse, and any toolConfig for a model without tool
// use. Errors are restJson1 as the SDK reads them: the type in
// x-amzn-ErrorType, the message in {"message": …}.
type fakeBedrock struct {
	sig   sigv4
	model string

	mu sync.Mutex
	// deny answers every signed request with AccessDeniedException.
	deny bool
	// noTools makes the model one without tool use (Titan, Llama 3.0,
	// Mistral 7B …).
	noTools  bool
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

// cvBlock is a Converse content block: exactly one member is set.
type cvBlock struct {
	Text    *string `json:"text"`
	ToolUse *struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUse"`
	ToolResult *struct {
		ToolUseID string `json:"toolUseId"`
		Content   []struct {
			Text *string         `json:"text"`
			JSON json.RawMessage `json:"json"`
		} `json:"content"`
		Status string `json:"status"`
	} `json:"toolResult"`
}

// converseBody is Converse's request body; modelId travels in the path.
type converseBody struct {
	Messages []struct {
		Role    string    `json:"role"`
		Content []cvBlock `json:"content"`
	} `json:"messages"`
	System []struct {
		Text *string `json:"text"`
	} `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec *struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				InputSchema struct {
					JSON map[string]any `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice json.RawMessage `json:"toolChoice"`
	} `json:"toolConfig"`
	AdditionalModelRequestFields      json.RawMessage   `json:"additionalModelRequestFields"`
	AdditionalModelResponseFieldPaths []string          `json:"additionalModelResponseFieldPaths"`
	RequestMetadata                   map[string]string `json:"requestMetadata"`
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
	deny, noTools := f.deny, f.noTools
	f.mu.Unlock()
	model, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/model/"), "/converse")
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/model/") || !ok {
		fail(404, "UnknownOperationException", "fake: only Converse is served, not "+r.Method+" "+r.URL.Path)
		return
	}
	if deny {
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
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	f.mu.Lock()
	f.bodies = append(f.bodies, raw)
	f.mu.Unlock()
	if msg := checkConverse(body, noTools); msg != "" {
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
	_ = json.NewEncoder(w).Encode(reply.body)
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.Header().Set("X-Amzn-Requestid", "8f1c0d2e-0000-4000-8000-00000000dead")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// checkConverse applies Converse's rules to a request body and returns
// Bedrock's message for the first one broken, or "".
func checkConverse(body []byte, noTools bool) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req converseBody
	if err := dec.Decode(&req); err != nil {
		return "Malformed input request: " + err.Error() + ", please reformat your input and try again."
	}
	if req.ToolConfig != nil && noTools {
		return "This model doesn't support tool use."
	}
	if req.ToolConfig != nil {
		if len(req.ToolConfig.Tools) == 0 {
			return "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"
		}
		for i, tl := range req.ToolConfig.Tools {
			switch {
			case tl.ToolSpec == nil:
				return fmt.Sprintf("The toolSpec field at toolConfig.tools.%d is missing.", i)
			case tl.ToolSpec.Name == "":
				return fmt.Sprintf("1 validation error detected: Value null at 'toolConfig.tools.%d.member.toolSpec.name' failed to satisfy constraint: Member must not be null", i+1)
			case tl.ToolSpec.InputSchema.JSON["type"] != "object":
				return fmt.Sprintf("The value at toolConfig.tools.%d.toolSpec.inputSchema.json.type must be one of the following: object.", i)
			}
		}
	}
	for i, s := range req.System {
		if s.Text == nil || strings.TrimSpace(*s.Text) == "" {
			return fmt.Sprintf("The text field in the SystemContentBlock object at system.%d is blank. Add text to the text field, and try again.", i)
		}
	}
	if ic := req.InferenceConfig; ic != nil && ic.MaxTokens != nil && *ic.MaxTokens < 1 {
		return fmt.Sprintf("1 validation error detected: Value '%d' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1", *ic.MaxTokens)
	}
	if len(req.Messages) == 0 || req.Messages[0].Role != "user" {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	var pending []string // toolUse ids the next user turn must answer
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		}
		if i > 0 && m.Role == req.Messages[i-1].Role {
			return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
		}
		if len(m.Content) == 0 {
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		answered := map[string]bool{}
		var uses []string
		for j, b := range m.Content {
			n := 0
			for _, set := range []bool{b.Text != nil, b.ToolUse != nil, b.ToolResult != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Sprintf("Malformed input request: messages.%d.content.%d must set exactly one of text, toolUse, toolResult, please reformat your input and try again.", i, j)
			}
			switch {
			case b.Text != nil && strings.TrimSpace(*b.Text) == "":
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			case (b.ToolUse != nil || b.ToolResult != nil) && req.ToolConfig == nil:
				return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
			case b.ToolUse != nil:
				if m.Role != "assistant" {
					return fmt.Sprintf("messages.%d.content.%d: toolUse blocks may only appear in assistant messages.", i, j)
				}
				var in map[string]any
				if json.Unmarshal(b.ToolUse.Input, &in) != nil || in == nil {
					return fmt.Sprintf("The input at messages.%d.content.%d.toolUse must be a JSON object.", i, j)
				}
				if b.ToolUse.ToolUseID == "" || b.ToolUse.Name == "" {
					return fmt.Sprintf("Malformed input request: messages.%d.content.%d.toolUse needs toolUseId and name, please reformat your input and try again.", i, j)
				}
				uses = append(uses, b.ToolUse.ToolUseID)
			case b.ToolResult != nil:
				if m.Role != "user" {
					return fmt.Sprintf("messages.%d.content.%d: toolResult blocks may only appear in user messages.", i, j)
				}
				if !slices.Contains(pending, b.ToolResult.ToolUseID) {
					return fmt.Sprintf("The number of toolResult blocks at messages.%d.content exceeds the number of toolUse blocks of previous turn.", i)
				}
				if s := b.ToolResult.Status; s != "" && s != "success" && s != "error" {
					return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.content.%d.member.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]", s, i+1, j+1)
				}
				if len(b.ToolResult.Content) == 0 {
					return fmt.Sprintf("The content field in the ToolResultBlock object at messages.%d.content.%d is empty.", i, j)
				}
				answered[b.ToolResult.ToolUseID] = true
			}
		}
		if m.Role == "user" {
			var missing []string
			for _, id := range pending {
				if !answered[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return fmt.Sprintf("Expected toolResult blocks at messages.%d.content for the following Ids: %s", i, strings.Join(missing, ", "))
			}
		}
		pending = uses
	}
	return ""
}

const (
	claudeOnBedrock = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	llamaOnBedrock  = "meta.llama3-1-70b-instruct-v1:0"
	awsKeyID        = "AKIAWATCHKEEPERTEST"
	awsSecret       = "wk/secret+TEST/KEY0123456789abcdefghijkl"
)

func newFakeBedrock(model string, replies ...bedrockReply) *fakeBedrock {
	return &fakeBedrock{model: model, replies: replies,
		sig: sigv4{service: "bedrock", region: "eu-west-1", secrets: map[string]string{awsKeyID: awsSecret}, now: time.Now}}
}

// converseReply is Converse's answer: the assistant message, why it
// stopped, and the token counts.
func converseReply(stop string, usage [2]int, blocks ...map[string]any) bedrockReply {
	if blocks == nil {
		blocks = []map[string]any{}
	}
	return bedrockReply{body: map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": blocks}},
		"stopReason": stop,
		"usage":      map[string]any{"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": usage[0] + usage[1]},
		"metrics":    map[string]any{"latencyMs": 812},
	}}
}

func toolUse(id, service string) map[string]any {
	return map[string]any{"toolUse": map[string]any{"toolUseId": id, "name": "replicas", "input": map[string]any{"service": service}}}
}

func textBlock(s string) map[string]any { return map[string]any{"text": s} }
