package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/langchain"
	"github.com/watchkeeper/watchkeeper/agent/llm/openai"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
)

// BuildModel returns the model a section (llm, eval.judge) configures, or
// nil when it configures none.
func BuildModel(ctx context.Context, l config.LLM, logger *slog.Logger) (agent.Model, error) {
	switch l.Provider {
	case "", config.ProviderNone:
		return nil, nil
	case config.ProviderScripted:
		return scripted.Load(l.Script)
	case config.ProviderOpenAI, config.ProviderAzure, config.ProviderCompatible:
		kind := map[string]openai.Kind{
			config.ProviderOpenAI: openai.KindOpenAI, config.ProviderAzure: openai.KindAzure, config.ProviderCompatible: openai.KindCompatible,
		}[l.Provider]
		return openai.New(openai.Config{
			Kind: kind, BaseURL: l.BaseURL, APIKey: l.APIKey.Reveal(), Model: l.Model,
			Organization: l.Organization, APIVersion: l.APIVersion, Deployment: l.Deployment,
			Timeout: l.Timeout.D(), MaxRetries: retries(l.MaxRetries), Stream: l.Stream,
			NoToolCalling: l.ToolCalling == "react", Headers: l.Headers,
		}, openai.WithLogger(logger))
	case config.ProviderAnthropic, config.ProviderGemini, config.ProviderBedrock, config.ProviderOllama:
		provider := map[string]langchain.Provider{
			config.ProviderAnthropic: langchain.Anthropic, config.ProviderGemini: langchain.Gemini,
			config.ProviderBedrock: langchain.Bedrock, config.ProviderOllama: langchain.Ollama,
		}[l.Provider]
		return langchain.New(ctx, langchain.Config{
			Provider: provider, Model: l.Model, APIKey: l.APIKey.Reveal(), BaseURL: l.BaseURL, Region: l.Region,
			Timeout: l.Timeout.D(), MaxRetries: retries(l.MaxRetries), Stream: l.Stream, Logger: logger,
		})
	}
	return nil, fmt.Errorf("unknown provider %q", l.Provider)
}

// retries maps the config's "0 means no retries" onto the clients' "0
// means the default".
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
