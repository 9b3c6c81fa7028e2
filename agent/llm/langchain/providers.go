package langchain

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/bedrock"
	"github.com/tmc/langchaingo/llms/googleai"
	"github.com/tmc/langchaingo/llms/ollama"

	"github.com/watchkeeper/watchkeeper/internal/retry"
)

// Provider names a langchaingo backend.
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
	// BaseURL overrides the provider's endpoint (Anthropic, Ollama).
	BaseURL string
	// Region is the AWS region for Bedrock; the default AWS credential
	// chain supplies credentials.
	Region string
	// Timeout bounds one request (default 2m).
	Timeout time.Duration
	// MaxRetries is the number of retries on 429/5xx and connection
	// errors for Anthropic and Ollama (default 3); the Google and AWS SDKs
	// retry on their own.
	MaxRetries int
	Stream     bool
	Logger     *slog.Logger
}

// New builds the provider's model and wraps it.
func New(ctx context.Context, cfg Config) (*Model, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("%s: no model configured; set llm.model", cfg.Provider)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: &retry.Transport{MaxRetries: cfg.MaxRetries, Logger: cfg.Logger}}
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
		m, err = anthropic.New(opts...)
		style = OnePartPerMessage
	case Gemini:
		if cfg.APIKey == "" {
			return nil, fmt.Errorf("gemini: no API key; set llm.api_key or WATCHKEEPER_LLM_API_KEY")
		}
		m, err = googleai.New(ctx, googleai.WithAPIKey(cfg.APIKey), googleai.WithDefaultModel(cfg.Model))
	case Bedrock:
		var awsCfg aws.Config
		awsCfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
		if err != nil {
			return nil, fmt.Errorf("bedrock: load AWS credentials: %w", err)
		}
		m, err = bedrock.New(bedrock.WithClient(bedrockruntime.NewFromConfig(awsCfg)), bedrock.WithModel(cfg.Model))
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

func isJSONObject(s string) bool {
	var m map[string]any
	return json.Unmarshal([]byte(s), &m) == nil
}
