package langchain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeGemini serves the Gemini API's v1beta generateContent and
// streamGenerateContent?alt=sse, and refuses what the real API refuses:
// a missing or wrong API key, an unknown model, fields it does not know,
// turns that do not alternate between user and model, empty parts,
// function responses that do not answer the calls of the turn before,
// OBJECT schemas without properties, more than five stop sequences. With
// signs set it acts as Gemini 3: it signs the first function call of each
// reply and refuses a request that sends a call of the current turn back
// without that signature.
type fakeGemini struct {
	key   string
	model string
	signs bool

	mu       sync.Mutex
	replies  []gemReply
	bodies   []gemRequest
	paths    []string // path?query of each request
	keyInURL bool
	rejected []string
	issued   map[string]string // signature → the call it was issued for
}

// gemReply is one scripted answer: an error status, or a candidate.
type gemReply struct {
	status     int
	errStatus  string // RESOURCE_EXHAUSTED…
	message    string
	reason     string // ErrorInfo reason
	retryDelay string

	parts  []map[string]any
	finish string // STOP when empty
	usage  [3]int // prompt, candidates, thoughts
	// cut stops a stream after its first chunk: "end" closes it cleanly,
	// "abort" breaks the connection.
	cut string
	// delay holds the answer back, for timeouts.
	delay time.Duration
}

type gemPart struct {
	Text             *string `json:"text"`
	Thought          bool    `json:"thought"`
	ThoughtSignature string  `json:"thoughtSignature"`
	FunctionCall     *struct {
		ID   string         `json:"id"`
		Name string         `json:"name"`
		Args map[string]any `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string         `json:"id"`
		Name     string         `json:"name"`
		Response map[string]any `json:"response"`
	} `json:"functionResponse"`
}

type gemContent struct {
	Role  string    `json:"role"`
	Parts []gemPart `json:"parts"`
}

type gemSchema struct {
	Type        string                `json:"type"`
	Format      string                `json:"format"`
	Description string                `json:"description"`
	Nullable    bool                  `json:"nullable"`
	Enum        []string              `json:"enum"`
	Properties  map[string]*gemSchema `json:"properties"`
	Required    []string              `json:"required"`
	Items       *gemSchema            `json:"items"`
	Minimum     *float64              `json:"minimum"`
	Maximum     *float64              `json:"maximum"`
}

type gemRequest struct {
	Contents          []gemContent `json:"contents"`
	SystemInstruction *gemContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []struct {
			Name        string     `json:"name"`
			Description string     `json:"description"`
			Parameters  *gemSchema `json:"parameters"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig *struct {
		MaxOutputTokens int      `json:"maxOutputTokens"`
		Temperature     *float64 `json:"temperature"`
		StopSequences   []string `json:"stopSequences"`
	} `json:"generationConfig"`
}

func (f *fakeGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, status, msg string, details ...map[string]any) {
		f.mu.Lock()
		f.rejected = append(f.rejected, msg)
		f.mu.Unlock()
		writeGeminiError(w, code, status, msg, details...)
	}
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.RequestURI())
	f.mu.Unlock()
	key := r.Header.Get("x-goog-api-key")
	if q := r.URL.Query().Get("key"); q != "" {
		key = q
		f.mu.Lock()
		f.keyInURL = true
		f.mu.Unlock()
	}
	switch {
	case key == "":
		fail(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	case key != f.key:
		fail(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", map[string]any{
			"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]any{"service": "generativelanguage.googleapis.com"}})
		return
	}
	model, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":")
	if r.Method != http.MethodPost || !ok || !strings.HasPrefix(r.URL.Path, "/v1beta/models/") ||
		(method != "generateContent" && method != "streamGenerateContent") {
		fail(404, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	stream := method == "streamGenerateContent"
	if stream && r.URL.Query().Get("alt") != "sse" {
		fail(400, "INVALID_ARGUMENT", "fake: only alt=sse streams are served")
		return
	}
	if model != f.model {
		fail(404, "NOT_FOUND", fmt.Sprintf("models/%s is not found for API version v1beta, or is not supported for %s. Call ListModels to see the list of available models and their supported methods.", model, method))
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Content-Type "+ct)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req gemRequest
	if err := dec.Decode(&req); err != nil {
		msg := err.Error()
		if m := regexp.MustCompile(`unknown field "([^"]+)"`).FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("Unknown name %q: Cannot find field.", m[1])
		}
		fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+msg)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, req)
	f.mu.Unlock()
	if msg := f.check(req); msg != "" {
		fail(400, "INVALID_ARGUMENT", msg)
		return
	}
	f.mu.Lock()
	if len(f.replies) == 0 {
		f.mu.Unlock()
		fail(500, "INTERNAL", "fake: no scripted reply left")
		return
	}
	reply := f.replies[0]
	f.replies = f.replies[1:]
	f.mu.Unlock()
	select {
	case <-time.After(reply.delay):
	case <-r.Context().Done():
		return
	}
	if reply.status != 0 {
		var details []map[string]any
		if reply.reason != "" {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reply.reason})
		}
		if reply.retryDelay != "" {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": reply.retryDelay})
		}
		writeGeminiError(w, reply.status, reply.errStatus, reply.message, details...)
		return
	}
	f.sign(reply.parts)
	if !stream {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(f.chunk(reply.parts, reply.finishReason(), reply.usage))
		return
	}
	f.serveStream(w, reply)
}

func (r gemReply) finishReason() string {
	if r.finish == "" {
		return "STOP"
	}
	return r.finish
}

// serveStream sends the reply as Gemini does: text in pieces, each
// function call whole, the finish reason and final usage on the last
// chunk; each chunk a data: line ending in a blank line.
func (f *fakeGemini) serveStream(w http.ResponseWriter, reply gemReply) {
	var chunks [][]map[string]any
	for _, p := range reply.parts {
		if text, ok := p["text"].(string); ok && len(text) > 4 {
			half := len(text) / 2
			chunks = append(chunks, []map[string]any{{"text": text[:half]}}, []map[string]any{{"text": text[half:]}})
			continue
		}
		chunks = append(chunks, []map[string]any{p})
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i, parts := range chunks {
		finish := ""
		if i == len(chunks)-1 {
			finish = reply.finishReason()
		}
		usage := reply.usage
		if finish == "" {
			usage[1], usage[2] = 0, 0
		}
		b, _ := json.Marshal(f.chunk(parts, finish, usage))
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		fl.Flush()
		if reply.cut != "" {
			if reply.cut == "abort" {
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

func (f *fakeGemini) chunk(parts []map[string]any, finish string, usage [3]int) map[string]any {
	cand := map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "index": 0}
	if finish != "" {
		cand["finishReason"] = finish
	}
	u := map[string]any{"promptTokenCount": usage[0], "candidatesTokenCount": usage[1], "totalTokenCount": usage[0] + usage[1] + usage[2]}
	if usage[2] > 0 {
		u["thoughtsTokenCount"] = usage[2]
	}
	return map[string]any{"candidates": []any{cand}, "usageMetadata": u, "modelVersion": f.model, "responseId": "resp-1"}
}

// sign gives the first function call of a reply a thought signature, as
// Gemini 3 does, and remembers which call it was issued for.
func (f *fakeGemini) sign(parts []map[string]any) {
	if !f.signs {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.issued == nil {
		f.issued = map[string]string{}
	}
	for _, p := range parts {
		if fc, ok := p["functionCall"].(map[string]any); ok {
			sig := fmt.Sprintf("c2lnLSVk%d", len(f.issued)+1)
			p["thoughtSignature"] = sig
			f.issued[sig] = callKey(fc["name"], fc["args"])
			return
		}
	}
}

func callKey(name, args any) string {
	b, _ := json.Marshal(args)
	return fmt.Sprint(name, string(b))
}

func writeGeminiError(w http.ResponseWriter, code int, status, msg string, details ...map[string]any) {
	body := map[string]any{"code": code, "message": msg, "status": status}
	if len(details) > 0 {
		body["details"] = details
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

var geminiTypes = []string{"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}

// check applies the API's rules to a decoded request; it returns the
// API's message for the first rule broken.
func (f *fakeGemini) check(req gemRequest) string {
	if len(req.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	if g := req.GenerationConfig; g != nil && len(g.StopSequences) > 5 {
		return "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are supported"
	}
	for i, t := range req.Tools {
		for j, d := range t.FunctionDeclarations {
			if !regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$`).MatchString(d.Name) {
				return fmt.Sprintf("* GenerateContentRequest.tools[%d].function_declarations[%d].name: Invalid function name.", i, j)
			}
			if msg := checkGeminiSchema(d.Parameters, fmt.Sprintf("tools[%d].function_declarations[%d].parameters", i, j)); msg != "" {
				return msg
			}
		}
	}
	if si := req.SystemInstruction; si != nil {
		for j, p := range si.Parts {
			if p.Text == nil || *p.Text == "" {
				return fmt.Sprintf("* GenerateContentRequest.system_instruction.parts[%d].data: required oneof field 'data' must have one initialized field", j)
			}
		}
	}
	for i, c := range req.Contents {
		if c.Role != "user" && c.Role != "model" {
			return "Please use a valid role: user, model."
		}
		if len(c.Parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		for j, p := range c.Parts {
			n := 0
			if p.Text != nil && *p.Text != "" {
				n++
			}
			if p.FunctionCall != nil {
				n++
			}
			if p.FunctionResponse != nil {
				n++
			}
			if n != 1 {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field", i, j)
			}
			if (p.FunctionCall != nil && c.Role != "model") || (p.FunctionResponse != nil && c.Role != "user") {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d]: function calls come from the model and responses from the user", i)
			}
		}
		if i > 0 && req.Contents[i-1].Role == c.Role {
			return "Please ensure that multiturn requests alternate between user and model."
		}
		calls := names(c.Parts, true)
		if len(calls) > 0 && i == 0 {
			return "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
		}
		if len(calls) > 0 && i+1 < len(req.Contents) {
			responses := names(req.Contents[i+1].Parts, false)
			slices.Sort(calls)
			slices.Sort(responses)
			if !slices.Equal(calls, responses) {
				return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
			}
		}
		if responses := names(c.Parts, false); len(responses) > 0 && (i == 0 || len(names(req.Contents[i-1].Parts, true)) == 0) {
			return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
		}
	}
	return f.checkSignatures(req.Contents)
}

// checkSignatures applies Gemini 3's rule: in the current turn (from the
// last user message with text), the first function call of every model
// step carries the signature it was given.
func (f *fakeGemini) checkSignatures(contents []gemContent) string {
	if !f.signs {
		return ""
	}
	start := 0
	for i, c := range contents {
		if c.Role == "user" && slices.ContainsFunc(c.Parts, func(p gemPart) bool { return p.Text != nil }) {
			start = i
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := start; i < len(contents); i++ {
		for j, p := range contents[i].Parts {
			if p.FunctionCall == nil {
				continue
			}
			if p.ThoughtSignature == "" {
				return fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.FunctionCall.Name, j+1)
			}
			if f.issued[p.ThoughtSignature] != callKey(p.FunctionCall.Name, p.FunctionCall.Args) {
				return "Corrupted thought signature."
			}
			break // only the first call of a step is signed
		}
	}
	return ""
}

func names(parts []gemPart, calls bool) []string {
	var out []string
	for _, p := range parts {
		switch {
		case calls && p.FunctionCall != nil:
			out = append(out, p.FunctionCall.Name)
		case !calls && p.FunctionResponse != nil:
			out = append(out, p.FunctionResponse.Name)
		}
	}
	return out
}

func checkGeminiSchema(s *gemSchema, path string) string {
	if s == nil {
		return ""
	}
	if !slices.Contains(geminiTypes, s.Type) {
		return fmt.Sprintf("Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %q", path, s.Type)
	}
	if s.Type == "OBJECT" && len(s.Properties) == 0 {
		return fmt.Sprintf("* GenerateContentRequest.%s.properties: should be non-empty for OBJECT type", path)
	}
	for i, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			return fmt.Sprintf("* GenerateContentRequest.%s.required[%d]: property is not defined", path, i)
		}
	}
	for name, p := range s.Properties {
		if msg := checkGeminiSchema(p, path+".properties["+name+"]"); msg != "" {
			return msg
		}
	}
	return checkGeminiSchema(s.Items, path+".items")
}
