package langchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/watchkeeper/watchkeeper/agent"
)

// The Gemini API's JSON shapes (v1beta), as much of them as is used.
type (
	gmRequest struct {
		SystemInstruction *gmContent          `json:"systemInstruction,omitempty"`
		Contents          []gmContent         `json:"contents"`
		Tools             []gmTool            `json:"tools,omitempty"`
		GenerationConfig  *gmGenerationConfig `json:"generationConfig,omitempty"`
	}
	gmContent struct {
		Role  string   `json:"role,omitempty"`
		Parts []gmPart `json:"parts"`
	}
	gmPart struct {
		Text             string              `json:"text,omitempty"`
		Thought          bool                `json:"thought,omitempty"`
		FunctionCall     *gmFunctionCall     `json:"functionCall,omitempty"`
		FunctionResponse *gmFunctionResponse `json:"functionResponse,omitempty"`
		ThoughtSignature string              `json:"thoughtSignature,omitempty"`
	}
	gmFunctionCall struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args,omitempty"`
	}
	gmFunctionResponse struct {
		ID       string         `json:"id,omitempty"`
		Name     string         `json:"name"`
		Response map[string]any `json:"response"`
	}
	gmTool struct {
		FunctionDeclarations []gmFunctionDecl `json:"functionDeclarations"`
	}
	gmFunctionDecl struct {
		Name        string    `json:"name"`
		Description string    `json:"description,omitempty"`
		Parameters  *gmSchema `json:"parameters,omitempty"`
	}
	gmSchema struct {
		Type        string               `json:"type,omitempty"`
		Description string               `json:"description,omitempty"`
		Enum        []string             `json:"enum,omitempty"`
		Properties  map[string]*gmSchema `json:"properties,omitempty"`
		Required    []string             `json:"required,omitempty"`
		Items       *gmSchema            `json:"items,omitempty"`
		Minimum     *float64             `json:"minimum,omitempty"`
		Maximum     *float64             `json:"maximum,omitempty"`
	}
	gmGenerationConfig struct {
		MaxOutputTokens int      `json:"maxOutputTokens,omitempty"`
		Temperature     *float64 `json:"temperature,omitempty"`
		StopSequences   []string `json:"stopSequences,omitempty"`
	}
	gmResponse struct {
		Candidates []struct {
			Content      gmContent `json:"content"`
			FinishReason string    `json:"finishReason"`
		} `json:"candidates"`
		PromptFeedback *struct {
			BlockReason string `json:"blockReason"`
		} `json:"promptFeedback"`
		UsageMetadata *struct {
			PromptTokenCount     int `json:"promptTokenCount"`
			CandidatesTokenCount int `json:"candidatesTokenCount"`
			ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
		} `json:"usageMetadata"`
		ModelVersion string `json:"modelVersion"`
		// Error arrives in place of a chunk when a stream fails midway.
		Error *gmError `json:"error"`
	}
	gmError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	}
)

func (e *gmError) err(status int) *GeminiError {
	out := &GeminiError{StatusCode: status, Status: e.Status, Message: e.Message}
	if out.StatusCode == 0 {
		out.StatusCode = e.Code
	}
	for _, d := range e.Details {
		if d.Reason != "" {
			out.Reason = d.Reason
		}
		if d.RetryDelay != "" {
			out.RetryDelay = d.RetryDelay
		}
	}
	return out
}

// GeminiError is an error status from the Gemini API.
type GeminiError struct {
	StatusCode int
	// Status is Google's canonical code: INVALID_ARGUMENT, RESOURCE_EXHAUSTED…
	Status  string
	Message string
	// Reason is the ErrorInfo reason, such as API_KEY_INVALID.
	Reason string
	// RetryDelay is RetryInfo's suggested wait, such as "32s".
	RetryDelay string
}

func (e *GeminiError) Error() string {
	s := fmt.Sprint(e.StatusCode)
	if e.Status != "" {
		s += " " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// readError decodes Google's error body; a proxy's HTML page is kept as
// text, shortened.
func (g *GeminiModel) readError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error *gmError `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		e := body.Error.err(resp.StatusCode)
		e.Message = g.redact(e.Message)
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		msg = "redirect to " + loc
	}
	return &GeminiError{StatusCode: resp.StatusCode, Message: g.redact(msg)}
}

// redact keeps the key out of anything a server echoes back.
func (g *GeminiModel) redact(s string) string {
	if g.key == "" {
		return s
	}
	return strings.ReplaceAll(s, g.key, "<api key>")
}

// geminiOverflow matches Gemini's "The input token count (N) exceeds the
// maximum number of tokens allowed (M)."
var geminiOverflow = regexp.MustCompile(`(?i)(exceeds the maximum number of tokens|input token count|too many tokens|context (window|length))`)

// explain turns an error into one that says what to change.
func (g *GeminiModel) explain(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		return cause
	}
	where := g.base
	var ge *GeminiError
	if errors.As(err, &ge) {
		switch code := ge.StatusCode; {
		case ge.Reason == "API_KEY_INVALID" || code == http.StatusUnauthorized || code == http.StatusForbidden:
			return fmt.Errorf("the Gemini API at %s rejected the API key (%w); check llm.api_key or WATCHKEEPER_LLM_API_KEY, and that the key's project may use the Generative Language API", where, ge)
		case code == http.StatusNotFound:
			return fmt.Errorf("the Gemini API at %s does not know model %q (%w); check llm.model (e.g. gemini-2.5-flash) and llm.base_url", where, g.model, ge)
		case code == http.StatusTooManyRequests:
			wait := ""
			if ge.RetryDelay != "" {
				wait = "; it asks to wait " + ge.RetryDelay
			}
			return fmt.Errorf("the Gemini API at %s is rate limiting us (%w) after %d retries%s; wait and ask again, or raise the project's quota", where, ge, g.retries, wait)
		case code >= 500:
			return fmt.Errorf("the Gemini API at %s failed (%w) after %d retries; try again later", where, ge, g.retries)
		case code == http.StatusBadRequest && geminiOverflow.MatchString(ge.Message):
			return fmt.Errorf("model %q at %s: the request is longer than its context window (%v): %w", g.model, where, ge, agent.ErrContextLength)
		case code >= 300 && code < 400:
			return fmt.Errorf("the Gemini API at %s answered with a redirect (%w); set llm.base_url to the address it redirects to", where, ge)
		case code >= 400:
			return fmt.Errorf("the Gemini API at %s rejected the request (%w)", where, ge)
		}
	}
	if errors.Is(err, agent.ErrIncompleteReply) {
		return err
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Errorf("the Gemini API at %s did not answer within llm.timeout (%s); try again, or raise llm.timeout: %w", where, g.timeout, err)
	}
	if errors.As(err, &urlErr) || errors.As(err, &netErr) {
		return fmt.Errorf("cannot reach Gemini at %s; check llm.base_url and the network: %w", where, err)
	}
	return fmt.Errorf("gemini %s at %s: %w", g.model, where, err)
}
