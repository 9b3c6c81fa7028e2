// Package fakeopenai is a scripted OpenAI-compatible chat completions server
// for tests and offline demos. It speaks the wire format of
// POST /v1/chat/completions — JSON and server-sent-event streaming, tool
// calls, usage — and enforces the request rules the real API enforces
// (authentication, known parameters, message ordering around tool calls,
// tool schemas), so a client that passes against it is not merely passing
// against itself. Faults are scripted per reply: error statuses with
// Retry-After, slow replies, malformed tool-call arguments, streams cut off.
package fakeopenai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Reply is one scripted response. The zero Reply is an empty answer.
type Reply struct {
	Content   string
	ToolCalls []ToolCall
	// Usage is reported when set; otherwise a rough count is reported.
	Usage *Usage

	// Status, when not 0 or 200, makes the server answer with an OpenAI
	// error body of this status.
	Status       int
	ErrorMessage string
	ErrorType    string
	// RetryAfter is sent as the Retry-After header with an error status.
	RetryAfter string
	// Delay is waited before answering; a client that hangs up ends it.
	Delay time.Duration
	// CutStream ends a streamed reply after the first chunk, without
	// finish_reason or [DONE], as a dropped connection does.
	CutStream bool
}

// ToolCall is a scripted tool call. Arguments is sent verbatim, so it can be
// malformed JSON on purpose.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// Usage is the token usage reported.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Request is a request the server received and accepted or rejected.
type Request struct {
	Path   string
	Header http.Header
	Body   ChatRequest
	// Rejected is the error message when the server refused the request.
	Rejected string
}

// ChatRequest is the accepted subset of the chat completions request.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   json.RawMessage `json:"parallel_tool_calls,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	MaxTokens           int             `json:"max_tokens,omitempty"`
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	N                   int             `json:"n,omitempty"`
	Seed                *int            `json:"seed,omitempty"`
	User                string          `json:"user,omitempty"`
	ResponseFormat      json.RawMessage `json:"response_format,omitempty"`
	FrequencyPenalty    float64         `json:"frequency_penalty,omitempty"`
	PresencePenalty     float64         `json:"presence_penalty,omitempty"`
	LogitBias           json.RawMessage `json:"logit_bias,omitempty"`
	Logprobs            bool            `json:"logprobs,omitempty"`
	TopLogprobs         int             `json:"top_logprobs,omitempty"`
	Store               bool            `json:"store,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is a chat message as sent by clients.
type Message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  []WireToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// Text returns the message content when it is a plain string.
func (m Message) Text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	return string(m.Content)
}

// WireToolCall is a tool call as it appears on the wire.
type WireToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments,omitempty"`
	} `json:"function"`
}

// Tool is a tool definition as sent by clients.
type Tool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      bool            `json:"strict,omitempty"`
	} `json:"function,omitempty"`
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to configure clients with, ending in /v1.
	URL string
	// Model is the model name reported in responses when the request
	// names none (Azure routes by deployment instead).
	Model string

	srv    *httptest.Server
	apiKey string

	mu         sync.Mutex
	replies    []Reply
	requests   []Request
	unexpected []string
	fallback   func(ChatRequest) Reply
	limit      int
	window     time.Duration
	hits       []time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey requires "Authorization: Bearer key" (or Azure's "api-key").
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithFallback computes replies once the scripted ones are used up,
// instead of failing.
func WithFallback(f func(ChatRequest) Reply) Option { return func(s *Server) { s.fallback = f } }

// WithRateLimit answers 429 with Retry-After once more than n requests
// arrive within window, as the real API's request-per-minute limit does.
func WithRateLimit(n int, window time.Duration) Option {
	return func(s *Server) { s.limit, s.window = n, window }
}

// New starts a server that answers with replies in order.
func New(replies []Reply, opts ...Option) *Server {
	s := &Server{replies: replies, Model: "fake-model"}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Enqueue adds replies to the script.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Unexpected returns a description of every request that arrived after the
// script ran out. A test should fail if it is not empty.
func (s *Server) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

// Remaining returns the number of scripted replies not yet used.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.replies)
}

var azurePath = regexp.MustCompile(`^/openai/deployments/([^/]+)/chat/completions$`)

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, Header: r.Header.Clone()}
	reject := func(status int, typ, code, msg string) {
		rec.Rejected = msg
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		writeError(w, status, typ, code, msg, "")
	}

	azure := azurePath.FindStringSubmatch(r.URL.Path)
	switch {
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{map[string]any{"id": s.Model, "object": "model", "owned_by": "fake"}}})
		return
	case r.URL.Path != "/v1/chat/completions" && azure == nil:
		reject(http.StatusNotFound, "invalid_request_error", "unknown_url", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	case r.Method != http.MethodPost:
		reject(http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	if azure != nil && r.URL.Query().Get("api-version") == "" {
		reject(http.StatusNotFound, "invalid_request_error", "404", "Resource not found: api-version query parameter is required")
		return
	}
	if s.apiKey != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if azure != nil {
			got = r.Header.Get("api-key")
		}
		if got != s.apiKey {
			reject(http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
				fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.", maskKey(got)))
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		reject(http.StatusBadRequest, "invalid_request_error", "", "Invalid Content-Type header ("+ct+"), expected application/json.")
		return
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		reject(http.StatusBadRequest, "invalid_request_error", "", "could not read body: "+err.Error())
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.DisallowUnknownFields()
	var req ChatRequest
	if err := dec.Decode(&req); err != nil {
		msg := "We could not parse the JSON body of your request: " + err.Error()
		if strings.Contains(err.Error(), "unknown field") {
			msg = "Unrecognized request argument supplied: " + strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		}
		reject(http.StatusBadRequest, "invalid_request_error", "", msg)
		return
	}
	rec.Body = req
	if azure == nil && req.Model == "" {
		reject(http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter")
		return
	}
	if msg := validate(req); msg != "" {
		reject(http.StatusBadRequest, "invalid_request_error", "", msg)
		return
	}
	if wait, limited := s.rateLimited(); limited {
		rec.Rejected = "rate limited"
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded",
			"Rate limit reached for requests per min. Please try again in "+wait.String()+".", fmt.Sprint(int(wait.Seconds()+0.999)))
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	n := len(s.requests)
	var reply Reply
	switch {
	case len(s.replies) > 0:
		reply, s.replies = s.replies[0], s.replies[1:]
	case s.fallback != nil:
		f := s.fallback
		s.mu.Unlock()
		reply = f(req)
		s.mu.Lock()
	default:
		last := ""
		if len(req.Messages) > 0 {
			last = req.Messages[len(req.Messages)-1].Text()
		}
		s.unexpected = append(s.unexpected, fmt.Sprintf("request #%d (last message %q)", n, last))
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "server_error", "", fmt.Sprintf("fakeopenai: unexpected request #%d: no scripted reply left", n), "")
		return
	}
	s.mu.Unlock()

	if reply.Delay > 0 {
		t := time.NewTimer(reply.Delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		typ := reply.ErrorType
		if typ == "" {
			typ = "server_error"
			if reply.Status < 500 {
				typ = "invalid_request_error"
			}
		}
		msg := reply.ErrorMessage
		if msg == "" {
			msg = http.StatusText(reply.Status)
		}
		writeError(w, reply.Status, typ, "", msg, reply.RetryAfter)
		return
	}
	model := req.Model
	if azure != nil {
		model = azure[1]
	}
	if model == "" {
		model = s.Model
	}
	usage := reply.Usage
	if usage == nil {
		usage = &Usage{PromptTokens: len(body.Bytes()) / 4, CompletionTokens: (len(reply.Content) + 3) / 4}
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	id := fmt.Sprintf("chatcmpl-%d", n)
	if req.Stream {
		s.stream(w, id, model, reply, usage, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	writeCompletion(w, id, model, reply, usage)
}

func (s *Server) rateLimited() (time.Duration, bool) {
	if s.limit <= 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	kept := s.hits[:0]
	for _, h := range s.hits {
		if now.Sub(h) < s.window {
			kept = append(kept, h)
		}
	}
	s.hits = kept
	if len(s.hits) >= s.limit {
		return s.window - now.Sub(s.hits[0]), true
	}
	s.hits = append(s.hits, now)
	return 0, false
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

func writeError(w http.ResponseWriter, status int, typ, code, msg, retryAfter string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	var c any
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}

func wireCalls(calls []ToolCall) []map[string]any {
	var out []map[string]any
	for i, c := range calls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i+1)
		}
		out = append(out, map[string]any{"id": id, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": c.Arguments}})
	}
	return out
}

func finishReason(r Reply) string {
	if len(r.ToolCalls) > 0 {
		return "tool_calls"
	}
	return "stop"
}

func writeCompletion(w http.ResponseWriter, id, model string, r Reply, u *Usage) {
	msg := map[string]any{"role": "assistant", "content": nil}
	if r.Content != "" {
		msg["content"] = r.Content
	}
	if len(r.ToolCalls) > 0 {
		msg["tool_calls"] = wireCalls(r.ToolCalls)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finishReason(r)}},
		"usage":   u,
	})
}

// stream writes the reply as chat.completion.chunk events: role first,
// content in word-sized pieces, each tool call as a header chunk followed by
// argument fragments, then finish_reason, usage if asked for, and [DONE].
func (s *Server) stream(w http.ResponseWriter, id, model string, r Reply, u *Usage, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	created := time.Now().Unix()
	send := func(delta map[string]any, finish any, usage any) {
		chunk := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		if delta == nil {
			chunk["choices"] = []any{}
		}
		if includeUsage {
			chunk["usage"] = usage
		}
		b, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send(map[string]any{"role": "assistant", "content": ""}, nil, nil)
	if r.CutStream {
		return
	}
	for _, piece := range splitKeep(r.Content, 3) {
		send(map[string]any{"content": piece}, nil, nil)
	}
	for i, c := range wireCalls(r.ToolCalls) {
		fn := c["function"].(map[string]any)
		args := fn["arguments"].(string)
		send(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c["id"], "type": "function",
			"function": map[string]any{"name": fn["name"], "arguments": ""}}}}, nil, nil)
		for _, frag := range splitKeep(args, 2) {
			send(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": frag}}}}, nil, nil)
		}
	}
	send(map[string]any{}, finishReason(r), nil)
	if includeUsage {
		send(nil, nil, u)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// splitKeep splits s into about n pieces that concatenate back to s.
func splitKeep(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := (len(s) + n - 1) / n
	var out []string
	for len(s) > 0 {
		k := min(size, len(s))
		for k < len(s) && !utf8Start(s[k]) {
			k++
		}
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validate applies the request rules of the real API and returns its error
// message for the first rule broken, or "".
func validate(req ChatRequest) string {
	if len(req.Messages) == 0 {
		return "[] is too short - 'messages'"
	}
	if len(req.Tools) > 128 {
		return fmt.Sprintf("Invalid 'tools': array too long. Expected an array with maximum length 128, but got an array with length %d instead.", len(req.Tools))
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			return fmt.Sprintf("Invalid value for 'tools[%d].type': expected 'function'.", i)
		}
		if !toolName.MatchString(t.Function.Name) {
			return fmt.Sprintf("Invalid 'tools[%d].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", i)
		}
		if len(t.Function.Parameters) > 0 {
			var schema struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(t.Function.Parameters, &schema); err != nil || schema.Type != "object" {
				return fmt.Sprintf("Invalid schema for function '%s': schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%s\"'.", t.Function.Name, schema.Type)
			}
		}
	}
	if len(req.ToolChoice) > 0 && len(req.Tools) == 0 {
		return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
	}
	if req.StreamOptions != nil && !req.Stream {
		return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
	}
	if req.MaxTokens < 0 || req.MaxCompletionTokens < 0 {
		return "Invalid 'max_tokens': integer below minimum value."
	}
	var pending []string // tool_call_ids awaiting a tool message
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user":
			if len(pending) > 0 {
				return pendingMsg(pending)
			}
			if len(m.Content) == 0 || string(m.Content) == "null" {
				return fmt.Sprintf("Invalid value for 'messages[%d].content': expected a string, got null.", i)
			}
		case "assistant":
			if len(pending) > 0 {
				return pendingMsg(pending)
			}
			if (len(m.Content) == 0 || string(m.Content) == "null") && len(m.ToolCalls) == 0 {
				return fmt.Sprintf("Invalid value for 'messages[%d].content': expected a string, got null.", i)
			}
			for _, c := range m.ToolCalls {
				if c.ID == "" || c.Function.Name == "" {
					return fmt.Sprintf("Missing required parameter: 'messages[%d].tool_calls[0].id'.", i)
				}
				pending = append(pending, c.ID)
			}
		case "tool":
			if m.ToolCallID == "" {
				return fmt.Sprintf("Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'. (messages[%d])", i)
			}
			k := slices.Index(pending, m.ToolCallID)
			if k < 0 {
				return fmt.Sprintf("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[%d])", i)
			}
			pending = append(pending[:k], pending[k+1:]...)
			if len(m.Content) == 0 || string(m.Content) == "null" {
				return fmt.Sprintf("Invalid value for 'messages[%d].content': expected a string, got null.", i)
			}
		default:
			return fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'. (messages[%d].role)", m.Role, i)
		}
	}
	if len(pending) > 0 {
		return pendingMsg(pending)
	}
	return ""
}

func pendingMsg(ids []string) string {
	return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(ids, ", ")
}
