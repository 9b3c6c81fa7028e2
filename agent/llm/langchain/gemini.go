package langchain

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// GeminiModel speaks the Gemini API (v1beta generateContent, and
// streamGenerateContent?alt=sse when streaming) over plain HTTP.
//
// It does not go through langchaingo's googleai, which wraps the deprecated
// github.com/google/generative-ai-go: that client drops the
// thoughtSignature Gemini 3 attaches to function calls and then demands
// back (a 400 on the next step), stops sending the API key once given an
// HTTP client of ours (for llm.timeout and retries), takes tool parameters
// only as a map[string]any and drops their enums and bounds. Gemini's REST
// API is small enough to speak directly.
//
// A GeminiModel is safe for concurrent use.
type GeminiModel struct {
	base    string // up to and including the API version: https://host/v1beta
	model   string
	key     string
	hc      *http.Client
	stream  bool
	retries int
	timeout time.Duration

	// Gemini names no function calls, so ids are made here; prefix keeps
	// them apart from ids a previous process made.
	prefix string
	seq    atomic.Uint64
	sigs   signatures
}

const geminiDefaultBase = "https://generativelanguage.googleapis.com"

// apiVersion matches a base URL's last segment that already names the
// API version (v1, v1beta, v1alpha2).
var apiVersion = regexp.MustCompile(`^v\d+((alpha|beta)\d*)?$`)

func newGemini(cfg Config, hc *http.Client, retries int) *GeminiModel {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = geminiDefaultBase
	}
	if !apiVersion.MatchString(base[strings.LastIndex(base, "/")+1:]) {
		base += "/v1beta"
	}
	// The key travels in a header on every request; a redirect would
	// carry it to wherever the redirect points, so none is followed.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return &GeminiModel{
		base: base, model: strings.TrimPrefix(cfg.Model, "models/"), key: cfg.APIKey, hc: &noRedirect,
		stream: cfg.Stream, retries: retries, timeout: cfg.Timeout, prefix: "call_" + hex.EncodeToString(b) + "_",
		sigs: signatures{max: 4096},
	}
}

// NativeToolCalling reports true: every Gemini model in the API takes
// function declarations.
func (g *GeminiModel) NativeToolCalling() bool { return true }

// Generate sends req and returns Gemini's reply. A stream that ends before
// Gemini gave a finish reason is agent.ErrIncompleteReply.
func (g *GeminiModel) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	body, err := json.Marshal(g.request(req))
	if err != nil {
		return agent.Response{}, fmt.Errorf("gemini: encode the request: %w", err)
	}
	stream := g.stream && req.OnText != nil
	endpoint := g.base + "/models/" + url.PathEscape(g.model) + ":generateContent"
	if stream {
		endpoint = g.base + "/models/" + url.PathEscape(g.model) + ":streamGenerateContent?alt=sse"
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return agent.Response{}, fmt.Errorf("gemini: llm.base_url %q: %w", g.base, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	// A header, not the documented ?key= parameter: URLs end up in
	// errors, proxy logs and traces; headers do not.
	hreq.Header.Set("x-goog-api-key", g.key)
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	resp, err := g.hc.Do(hreq)
	if err != nil {
		return agent.Response{}, g.explain(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return agent.Response{}, g.explain(ctx, g.readError(resp))
	}
	b := replyBuilder{g: g, model: g.model}
	if stream {
		err = b.readStream(resp.Body, req.OnText)
	} else {
		var r gmResponse
		if err = json.NewDecoder(resp.Body).Decode(&r); err == nil {
			err = b.add(r, nil)
		} else {
			err = fmt.Errorf("decode the reply: %w", err)
		}
	}
	if err != nil {
		return agent.Response{}, g.explain(ctx, err)
	}
	if stream && b.finish == "" {
		return agent.Response{}, fmt.Errorf("gemini %s: the stream ended before the reply was complete (no finishReason); the connection may have dropped: %w", g.model, agent.ErrIncompleteReply)
	}
	return b.response()
}

// request lays the conversation out as Gemini wants it: system messages
// as the systemInstruction, turns alternating between user and model
// (tool results are user turns of functionResponse parts), the results of
// one step together right after the turn that called them.
func (g *GeminiModel) request(req agent.Request) gmRequest {
	native := len(req.Tools) > 0
	var out gmRequest
	add := func(role string, parts ...gmPart) {
		if len(parts) == 0 {
			return
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			return
		}
		out.Contents = append(out.Contents, gmContent{Role: role, Parts: parts})
	}
	text := func(s string) []gmPart {
		if s == "" {
			return nil
		}
		return []gmPart{{Text: s}}
	}
	for _, msg := range req.Messages {
		switch msg.Role {
		case agent.RoleSystem:
			if msg.Content == "" {
				continue
			}
			if out.SystemInstruction == nil {
				out.SystemInstruction = &gmContent{}
			}
			out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, gmPart{Text: msg.Content})
		case agent.RoleUser:
			add("user", text(msg.Content)...)
		case agent.RoleAssistant:
			if !native {
				add("model", text(assistantText(msg))...)
				continue
			}
			parts := text(msg.Content)
			for _, tc := range msg.ToolCalls {
				parts = append(parts, gmPart{
					FunctionCall:     &gmFunctionCall{ID: g.apiID(tc.ID), Name: tc.Name, Args: json.RawMessage(validArgs(tc.Arguments))},
					ThoughtSignature: g.sigs.get(tc.ID),
				})
			}
			add("model", parts...)
		case agent.RoleTool:
			if !native {
				add("user", gmPart{Text: fmt.Sprintf("Result of tool %s (%s):\n%s", msg.Name, msg.ToolCallID, msg.Content)})
				continue
			}
			add("user", gmPart{FunctionResponse: &gmFunctionResponse{ID: g.apiID(msg.ToolCallID), Name: msg.Name,
				Response: map[string]any{"result": msg.Content}}})
		}
	}
	if native {
		decls := make([]gmFunctionDecl, 0, len(req.Tools))
		for _, s := range req.Tools {
			d := gmFunctionDecl{Name: s.Name, Description: s.Description}
			// Gemini refuses an OBJECT without properties: a tool that
			// takes nothing declares no parameters at all.
			if s.Parameters != nil && (s.Parameters.Type != "object" || len(s.Parameters.Properties) > 0) {
				d.Parameters = geminiSchema(s.Parameters)
			}
			decls = append(decls, d)
		}
		out.Tools = []gmTool{{FunctionDeclarations: decls}}
	}
	gc := gmGenerationConfig{MaxOutputTokens: req.MaxTokens, Temperature: req.Temperature, StopSequences: req.Stop}
	// Gemini takes at most five stop sequences and refuses the request
	// otherwise; the first ones are the ones that matter (ReAct's).
	if len(gc.StopSequences) > 5 {
		gc.StopSequences = gc.StopSequences[:5]
	}
	if gc.MaxOutputTokens > 0 || gc.Temperature != nil || len(gc.StopSequences) > 0 {
		out.GenerationConfig = &gc
	}
	return out
}

// geminiSchema converts a JSON schema into the OpenAPI subset Gemini's
// parameters take. additionalProperties and default are left out: Gemini
// refuses fields it does not know ("Unknown name ... Cannot find field").
func geminiSchema(s *tools.Schema) *gmSchema {
	if s == nil {
		return nil
	}
	out := &gmSchema{Type: strings.ToUpper(s.Type), Description: s.Description, Enum: s.Enum, Required: s.Required,
		Minimum: s.Minimum, Maximum: s.Maximum, Items: geminiSchema(s.Items)}
	if out.Type == "" && len(s.Properties) > 0 {
		out.Type = "OBJECT"
	}
	if len(s.Properties) > 0 {
		out.Properties = make(map[string]*gmSchema, len(s.Properties))
		for name, p := range s.Properties {
			out.Properties[name] = geminiSchema(p)
		}
	}
	return out
}

// apiID returns the id to send back for a call: Gemini's own id, or none
// for an id made here (Gemini would not know it).
func (g *GeminiModel) apiID(id string) string {
	if strings.HasPrefix(id, g.prefix) {
		return ""
	}
	return id
}

// replyBuilder assembles a reply from one response or a stream of them.
type replyBuilder struct {
	g       *GeminiModel
	text    strings.Builder
	calls   []agent.ToolCall
	finish  string
	usage   agent.Usage
	model   string
	blocked string
}

func (b *replyBuilder) add(r gmResponse, onText func(string)) error {
	if r.Error != nil {
		return r.Error.err(0)
	}
	if r.ModelVersion != "" {
		b.model = r.ModelVersion
	}
	if u := r.UsageMetadata; u != nil {
		// Thinking is billed as output; the agent's budget should see it.
		b.usage = agent.Usage{InputTokens: u.PromptTokenCount, OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount}
	}
	if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		b.blocked = r.PromptFeedback.BlockReason
	}
	if len(r.Candidates) == 0 {
		return nil
	}
	c := r.Candidates[0]
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			id := p.FunctionCall.ID
			if id == "" {
				id = fmt.Sprint(b.g.prefix, b.g.seq.Add(1))
			}
			b.g.sigs.put(id, p.ThoughtSignature)
			args := string(p.FunctionCall.Args)
			if args == "" || args == "null" {
				args = "{}"
			}
			b.calls = append(b.calls, agent.ToolCall{ID: id, Name: p.FunctionCall.Name, Arguments: args})
		case p.Thought:
			// A thought summary is not the answer.
		case p.Text != "":
			b.text.WriteString(p.Text)
			if onText != nil {
				onText(p.Text)
			}
		}
	}
	if c.FinishReason != "" {
		b.finish = c.FinishReason
	}
	return nil
}

// readStream reads server-sent events, each a GenerateContentResponse.
func (b *replyBuilder) readStream(body io.Reader, onText func(string)) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var data strings.Builder
	flush := func() error {
		if data.Len() == 0 {
			return nil
		}
		defer data.Reset()
		var r gmResponse
		if err := json.Unmarshal([]byte(data.String()), &r); err != nil {
			return fmt.Errorf("decode a streamed chunk: %w", err)
		}
		return b.add(r, onText)
	}
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if err := flush(); err != nil {
				return err
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("gemini %s: the stream broke off before the reply was complete (%v); the connection may have dropped: %w", b.g.model, err, agent.ErrIncompleteReply)
	}
	return flush()
}

func (b *replyBuilder) response() (agent.Response, error) {
	if b.blocked != "" && b.text.Len() == 0 && len(b.calls) == 0 {
		return agent.Response{}, fmt.Errorf("gemini %s blocked the prompt (blockReason %s); rephrase the question or review the model's safety settings", b.g.model, b.blocked)
	}
	return agent.Response{
		Message:      agent.Message{Role: agent.RoleAssistant, Content: b.text.String(), ToolCalls: b.calls},
		Usage:        b.usage,
		Model:        b.model,
		FinishReason: b.finish,
	}, nil
}

// signatures remembers the thoughtSignature Gemini attached to each
// function call until the call is sent back. Gemini 3 refuses a step whose
// earlier calls come back without theirs. The oldest are forgotten first.
type signatures struct {
	mu    sync.Mutex
	max   int
	m     map[string]string
	order []string
}

func (s *signatures) put(id, sig string) {
	if sig == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	if _, ok := s.m[id]; !ok {
		s.order = append(s.order, id)
	}
	s.m[id] = sig
	for len(s.order) > s.max {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *signatures) get(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}
