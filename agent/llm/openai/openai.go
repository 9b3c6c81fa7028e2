// Package openai is the agent.Model for OpenAI, Azure OpenAI and every
// server that speaks the OpenAI chat completions API (Ollama, vLLM,
// llama.cpp, LM Studio, LiteLLM), built on github.com/sashabaranov/go-openai.
// It adds what go-openai leaves to its callers: retries with backoff that
// honour Retry-After, a per-request timeout, streaming with tool-call
// assembly, and errors that say what to change.
package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/retry"
)

// Kind selects the flavour of the API.
type Kind string

// Kinds of server.
const (
	// KindOpenAI is api.openai.com (or a proxy in front of it).
	KindOpenAI Kind = "openai"
	// KindAzure is Azure OpenAI: deployments in the URL, api-key header,
	// api-version parameter.
	KindAzure Kind = "azure"
	// KindCompatible is any other server with the OpenAI API.
	KindCompatible Kind = "compatible"
)

// Config configures a Client. Model is required; BaseURL is required for
// Azure and compatible servers.
type Config struct {
	Kind    Kind
	BaseURL string
	APIKey  string
	Model   string
	// Organization is sent as OpenAI-Organization when set.
	Organization string
	// APIVersion is Azure's api-version (default 2024-10-21).
	APIVersion string
	// Deployment is the Azure deployment name (default: Model).
	Deployment string
	// Timeout bounds one request including retries' waits (default 2m).
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt
	// (default 3; negative disables retries).
	MaxRetries int
	// RetryBaseDelay is the first backoff (default 500ms).
	RetryBaseDelay time.Duration
	// MaxRetryWait caps one wait, including a server's Retry-After
	// (default 30s). A longer Retry-After fails the call at once.
	MaxRetryWait time.Duration
	// Stream asks for server-sent events when the agent wants text as it
	// is written.
	Stream bool
	// NoToolCalling declares that the server has no native tool calling,
	// so the agent uses text ReAct.
	NoToolCalling bool
	// Headers are added to every request.
	Headers map[string]string
}

// Client is an agent.Model. It is safe for concurrent use.
type Client struct {
	cfg     Config
	retries int
	api     *goopenai.Client
	logger  *slog.Logger
}

// Option configures optional parts of a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	logger     *slog.Logger
	sleep      func(context.Context, time.Duration) error
}

// WithHTTPClient sets the HTTP client (for TLS settings or proxies).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithLogger sets the logger for retries.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSleep replaces the wait between retries; tests use it to observe
// waits without waiting.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// New returns a client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := options{httpClient: &http.Client{}, logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	if cfg.Kind == "" {
		cfg.Kind = KindOpenAI
	}
	if cfg.Model == "" && cfg.Deployment == "" {
		return nil, errors.New("openai: no model configured; set llm.model")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}

	var c goopenai.ClientConfig
	switch cfg.Kind {
	case KindAzure:
		if cfg.BaseURL == "" {
			return nil, errors.New("openai: Azure needs llm.base_url, e.g. https://NAME.openai.azure.com")
		}
		c = goopenai.DefaultAzureConfig(cfg.APIKey, cfg.BaseURL)
		c.APIVersion = cfg.APIVersion
		if c.APIVersion == "" {
			c.APIVersion = "2024-10-21"
		}
		deployment := cfg.Deployment
		if deployment == "" {
			deployment = cfg.Model
		}
		c.AzureModelMapperFunc = func(string) string { return deployment }
	case KindOpenAI, KindCompatible:
		c = goopenai.DefaultConfig(cfg.APIKey)
		if cfg.BaseURL != "" {
			c.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
		} else if cfg.Kind == KindCompatible {
			return nil, errors.New("openai: an OpenAI-compatible server needs llm.base_url, e.g. http://localhost:11434/v1 for Ollama")
		}
		c.OrgID = cfg.Organization
	default:
		return nil, fmt.Errorf("openai: unknown kind %q; use openai, azure or compatible", cfg.Kind)
	}
	hc := *o.httpClient
	var next http.RoundTripper = transportOf(&hc)
	if len(cfg.Headers) > 0 {
		next = headerTransport{next: next, headers: cfg.Headers}
	}
	rt := &retry.Transport{Next: next, MaxRetries: cfg.MaxRetries, BaseDelay: cfg.RetryBaseDelay,
		MaxWait: cfg.MaxRetryWait, Sleep: o.sleep, Logger: o.logger}
	hc.Transport = rt
	c.HTTPClient = &hc
	return &Client{cfg: cfg, retries: rt.Retries(), api: goopenai.NewClientWithConfig(c), logger: o.logger}, nil
}

// NativeToolCalling reports whether tool schemas are sent natively.
func (c *Client) NativeToolCalling() bool { return !c.cfg.NoToolCalling }

// Generate sends req and returns the model's reply.
func (c *Client) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout,
		fmt.Errorf("the model did not answer within %s (llm.timeout)", c.cfg.Timeout))
	defer cancel()
	creq := c.request(req)
	var (
		resp agent.Response
		err  error
	)
	if c.cfg.Stream && req.OnText != nil {
		resp, err = c.stream(ctx, creq, req.OnText)
	} else {
		resp, err = c.complete(ctx, creq)
	}
	if err != nil {
		return agent.Response{}, c.explain(ctx, err)
	}
	return resp, nil
}

func (c *Client) request(req agent.Request) goopenai.ChatCompletionRequest {
	cr := goopenai.ChatCompletionRequest{
		Model:       c.cfg.Model,
		Messages:    toWire(req.Messages),
		Stop:        req.Stop,
		Temperature: float32OrZero(req.Temperature),
	}
	if req.MaxTokens > 0 {
		if c.cfg.Kind == KindOpenAI {
			cr.MaxCompletionTokens = req.MaxTokens
		} else {
			cr.MaxTokens = req.MaxTokens
		}
	}
	for _, s := range req.Tools {
		params := any(s.Parameters)
		if s.Parameters == nil {
			params = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		cr.Tools = append(cr.Tools, goopenai.Tool{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{
			Name: s.Name, Description: s.Description, Parameters: params,
		}})
	}
	return cr
}

func toWire(msgs []agent.Message) []goopenai.ChatCompletionMessage {
	out := make([]goopenai.ChatCompletionMessage, 0, len(msgs))
	for _, m := range msgs {
		w := goopenai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content}
		switch m.Role {
		case agent.RoleAssistant:
			for _, tc := range m.ToolCalls {
				w.ToolCalls = append(w.ToolCalls, goopenai.ToolCall{ID: tc.ID, Type: goopenai.ToolTypeFunction,
					Function: goopenai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
			}
		case agent.RoleTool:
			w.ToolCallID = m.ToolCallID
			if w.Content == "" {
				// The API rejects a tool message without content.
				w.Content = "(no output)"
			}
		}
		out = append(out, w)
	}
	return out
}

func (c *Client) complete(ctx context.Context, creq goopenai.ChatCompletionRequest) (agent.Response, error) {
	r, err := c.api.CreateChatCompletion(ctx, creq)
	if err != nil {
		return agent.Response{}, err
	}
	if len(r.Choices) == 0 {
		return agent.Response{}, errors.New("the model returned no choices")
	}
	ch := r.Choices[0]
	msg := agent.Message{Role: agent.RoleAssistant, Content: ch.Message.Content}
	for _, tc := range ch.Message.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, agent.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return agent.Response{
		Message:      msg,
		Model:        r.Model,
		FinishReason: string(ch.FinishReason),
		Usage:        agent.Usage{InputTokens: r.Usage.PromptTokens, OutputTokens: r.Usage.CompletionTokens},
	}, nil
}

// stream reads server-sent chunks, passing text on as it arrives and
// assembling tool calls from their fragments (keyed by index; the id and
// name arrive in the first fragment, the arguments across many).
func (c *Client) stream(ctx context.Context, creq goopenai.ChatCompletionRequest, onText func(string)) (agent.Response, error) {
	creq.Stream = true
	creq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	s, err := c.api.CreateChatCompletionStream(ctx, creq)
	if err != nil {
		return agent.Response{}, err
	}
	defer s.Close()
	var (
		text   strings.Builder
		calls  []agent.ToolCall
		resp   agent.Response
		finish bool
	)
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return agent.Response{}, fmt.Errorf("reading the model's stream: %w", err)
		}
		if chunk.Model != "" {
			resp.Model = chunk.Model
		}
		if chunk.Usage != nil {
			resp.Usage = agent.Usage{InputTokens: chunk.Usage.PromptTokens, OutputTokens: chunk.Usage.CompletionTokens}
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				continue
			}
			if d := ch.Delta.Content; d != "" {
				text.WriteString(d)
				onText(d)
			}
			for pos, tc := range ch.Delta.ToolCalls {
				i := pos
				if tc.Index != nil {
					i = *tc.Index
				}
				for len(calls) <= i {
					calls = append(calls, agent.ToolCall{})
				}
				if tc.ID != "" {
					calls[i].ID = tc.ID
				}
				if tc.Function.Name != "" && calls[i].Name == "" {
					calls[i].Name = tc.Function.Name
				}
				calls[i].Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != "" {
				resp.FinishReason = string(ch.FinishReason)
				finish = true
			}
		}
	}
	if !finish {
		return agent.Response{}, fmt.Errorf("the model's stream ended before the reply was complete (no finish_reason); the connection may have dropped: %w", agent.ErrIncompleteReply)
	}
	resp.Message = agent.Message{Role: agent.RoleAssistant, Content: text.String()}
	for _, tc := range calls {
		if tc.Name != "" {
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, tc)
		}
	}
	return resp, nil
}

// explain turns transport and API errors into messages that say what to do.
func (c *Client) explain(ctx context.Context, err error) error {
	where := c.endpoint()
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		// Our own timeout's cause says "llm.timeout"; a caller's deadline
		// or cancellation comes through as it was.
		return cause
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	code, msg := 0, ""
	switch {
	case errors.As(err, &apiErr):
		code, msg = apiErr.HTTPStatusCode, apiErr.Message
	case errors.As(err, &reqErr):
		code, msg = reqErr.HTTPStatusCode, strings.TrimSpace(string(reqErr.Body))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("the model provider at %s rejected the credentials (%d: %s); check llm.api_key or WATCHKEEPER_LLM_API_KEY: %w", where, code, msg, err)
	case code == http.StatusNotFound:
		return fmt.Errorf("the model provider at %s does not know model %q (404: %s); check llm.model, llm.base_url and, on Azure, llm.deployment: %w", where, c.cfg.Model, msg, err)
	case code == http.StatusTooManyRequests:
		return fmt.Errorf("the model provider at %s is rate limiting us (429: %s) after %d retries; wait and ask again, or raise the provider's limits: %w", where, msg, c.retries, err)
	case code >= 500:
		return fmt.Errorf("the model provider at %s failed (%d: %s) after %d retries; try again later: %w", where, code, msg, c.retries, err)
	case code == http.StatusBadRequest && contextExceeded(apiErr, msg):
		return fmt.Errorf("model %q at %s: the request is longer than its context window (400: %s): %w", c.cfg.Model, where, msg, agent.ErrContextLength)
	case code == http.StatusBadRequest && toolsRefused(msg):
		return fmt.Errorf("model %q at %s takes no tools (400: %s): %w", c.cfg.Model, where, msg, agent.ErrToolsUnsupported)
	case code >= 400:
		return fmt.Errorf("the model provider at %s rejected the request (%d: %s): %w", where, code, msg, err)
	}
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || (errors.As(err, &urlErr) && errors.As(err, &netErr)) {
		return fmt.Errorf("cannot reach the model at %s; check llm.base_url and that the server is running: %w", where, err)
	}
	return fmt.Errorf("model %s at %s: %w", c.cfg.Model, where, err)
}

// toolsRefusal matches how OpenAI-compatible servers refuse tools for a
// model that has none: Ollama's "does not support tools", vLLM's "tool
// choice requires --enable-auto-tool-choice", llama.cpp's and others'
// "tools are not supported".
var toolsRefusal = regexp.MustCompile(`(?i)(does not support tools|tools? (are |is )?not supported|not support(ed)? (function|tool)|` +
	`enable-auto-tool-choice|tool[_ ]choice .*(not supported|requires)|function calling is not (supported|enabled))`)

func toolsRefused(msg string) bool { return toolsRefusal.MatchString(msg) }

// contextOverflow matches how servers say a prompt is too long: OpenAI's
// code context_length_exceeded and "maximum context length", vLLM's and
// llama.cpp's wordings.
var contextOverflow = regexp.MustCompile(`(?i)(maximum context length|context[_ ]length[_ ]exceeded|context window|prompt is too long|` +
	`exceeds the (available )?context|too many tokens)`)

func contextExceeded(apiErr *goopenai.APIError, msg string) bool {
	if apiErr != nil {
		if code, ok := apiErr.Code.(string); ok && code == "context_length_exceeded" {
			return true
		}
	}
	return contextOverflow.MatchString(msg)
}

func (c *Client) endpoint() string {
	if c.cfg.BaseURL != "" {
		return c.cfg.BaseURL
	}
	return "https://api.openai.com/v1"
}

func float32OrZero(f *float64) float32 {
	if f == nil {
		return 0
	}
	return float32(*f)
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	next    http.RoundTripper
	headers map[string]string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header.Set(k, v)
	}
	return t.next.RoundTrip(r)
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
