package langchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/ollama"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/retry"
)

// Provider names a backend.
type Provider string

// Supported providers.
const (
	Anthropic Provider = "anthropic"
	Gemini    Provider = "gemini"
	Bedrock   Provider = "bedrock"
	Ollama    Provider = "ollama"
)

// Config selects and configures a provider.
type Config struct {
	Provider Provider
	Model    string
	APIKey   string
	// BaseURL overrides the provider's endpoint: a proxy, a gateway or,
	// for Bedrock, a VPC endpoint. Gemini's may end in the API version
	// (…/v1beta); without one, v1beta is used.
	BaseURL string
	// Region is the AWS region for Bedrock (AWS_REGION when empty); the
	// default AWS credential chain supplies credentials.
	Region string
	// Timeout bounds one request, retries included (default 2m).
	Timeout time.Duration
	// MaxRetries is the number of retries on 408, 409, 429, 5xx and
	// connection errors (default 3; negative disables retries). Every
	// provider retries through the same policy, honouring Retry-After.
	MaxRetries int
	// RetryBaseDelay is the first backoff (default 500ms).
	RetryBaseDelay time.Duration
	// Stream passes text on as the model writes it. Bedrock does not
	// stream: it is called through Converse, not ConverseStream.
	Stream bool
	Logger *slog.Logger
}

// New builds the provider's model. The model is safe for concurrent use.
// It fails when the configuration lacks what the provider needs (a model,
// an API key, an AWS region), saying which setting to add.
func New(ctx context.Context, cfg Config) (agent.ToolCallingModel, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("%s: no model configured; set llm.model", cfg.Provider)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	rt := &retry.Transport{MaxRetries: cfg.MaxRetries, BaseDelay: cfg.RetryBaseDelay, Logger: cfg.Logger}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: rt}
	var (
		m     llms.Model
		err   error
		style = Grouped
	)
	switch cfg.Provider {
	case Anthropic:
		if cfg.APIKey == "" {
			return nil, fmt.Errorf("anthropic: no API key; set llm.api_key or WATCHKEEPER_LLM_API_KEY")
		}
		opts := []anthropic.Option{anthropic.WithToken(cfg.APIKey), anthropic.WithModel(cfg.Model), anthropic.WithHTTPClient(hc)}
		if cfg.BaseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(strings.TrimRight(cfg.BaseURL, "/")))
		}
		if m, err = anthropic.New(opts...); err != nil {
			return nil, fmt.Errorf("anthropic: %w", err)
		}
		w := Wrap(m, cfg.Model, OnePartPerMessage, cfg.Stream)
		w.explain = explainAnthropicStream
		return w, nil
	case Gemini:
		if cfg.APIKey == "" {
			return nil, fmt.Errorf("gemini: no API key; set llm.api_key or WATCHKEEPER_LLM_API_KEY")
		}
		return newGemini(cfg, hc, rt.Retries()), nil
	case Bedrock:
		b, err := newBedrock(ctx, cfg, hc, rt.Retries())
		if err != nil {
			return nil, err
		}
		return b, nil
	case Ollama:
		opts := []ollama.Option{ollama.WithModel(cfg.Model), ollama.WithHTTPClient(hc)}
		if cfg.BaseURL != "" {
			opts = append(opts, ollama.WithServerURL(cfg.BaseURL))
		}
		m, err = ollama.New(opts...)
		style = TextOnly
	default:
		return nil, fmt.Errorf("unknown langchaingo provider %q; use anthropic, gemini, bedrock or ollama", cfg.Provider)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Provider, err)
	}
	return Wrap(m, cfg.Model, style, cfg.Stream), nil
}

// explainAnthropicStream recognises a stream cut mid-message: langchaingo
// reports a connection that broke off as an unexpected EOF, and a stream
// that ended without message_stop as an empty response.
func explainAnthropicStream(err error, streamed bool) error {
	if streamed && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, anthropic.ErrEmptyResponse)) {
		return fmt.Errorf("the stream ended before the reply was complete (no message_stop); the connection may have dropped: %w (%v)", agent.ErrIncompleteReply, err)
	}
	return err
}

// replayable gives a request whose body cannot be read twice a GetBody,
// so that retry.Transport below it can send the body again. The AWS SDK
// builds requests without one.
type replayable struct{ next http.RoundTripper }

func (t replayable) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		return t.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return t.next.RoundTrip(r)
}

func isJSONObject(s string) bool {
	var m map[string]any
	return json.Unmarshal([]byte(s), &m) == nil
}
