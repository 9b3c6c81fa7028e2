package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent/llm/langchain"
	"github.com/watchkeeper/watchkeeper/agent/llm/openai"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/triage"
)

func TestBuildModelPerProvider(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.yaml")
	_ = os.WriteFile(script, []byte("turns:\n  - text: hi\n"), 0o600)
	tests := []struct {
		llm    config.LLM
		check  func(any) bool
		native bool
	}{
		{config.LLM{Provider: "none"}, func(m any) bool { return m == nil }, false},
		{config.LLM{Provider: "scripted", Script: script}, func(m any) bool { _, ok := m.(*scripted.Model); return ok }, true},
		{config.LLM{Provider: "openai", Model: "gpt-4o-mini", APIKey: "sk-x"}, func(m any) bool { _, ok := m.(*openai.Client); return ok }, true},
		{config.LLM{Provider: "azure", Deployment: "d", BaseURL: "https://x.openai.azure.com", APIKey: "k"}, func(m any) bool { _, ok := m.(*openai.Client); return ok }, true},
		{config.LLM{Provider: "openai-compatible", Model: "llama3", BaseURL: "http://127.0.0.1:11434/v1", ToolCalling: "react"}, func(m any) bool { _, ok := m.(*openai.Client); return ok }, false},
		{config.LLM{Provider: "anthropic", Model: "claude", APIKey: "k"}, func(m any) bool { _, ok := m.(*langchain.Model); return ok }, true},
		{config.LLM{Provider: "ollama", Model: "llama3", BaseURL: "http://127.0.0.1:11434"}, func(m any) bool { _, ok := m.(*langchain.Model); return ok }, false},
	}
	for _, tt := range tests {
		m, err := BuildModel(context.Background(), tt.llm, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.llm.Provider, err)
			continue
		}
		if !tt.check(m) {
			t.Errorf("%s: built %T", tt.llm.Provider, m)
			continue
		}
		if tc, ok := m.(interface{ NativeToolCalling() bool }); ok && tc.NativeToolCalling() != tt.native {
			t.Errorf("%s: native tool calling = %v", tt.llm.Provider, tc.NativeToolCalling())
		}
	}
}

func TestNewFailsCleanly(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(blocker, nil, 0o600)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(blocker, "wk.db")
	if _, err := New(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "store:") {
		t.Fatalf("err = %v", err)
	}
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.HasModel() {
		t.Error("no model configured, yet HasModel")
	}
	// Without a model a question is routed to an investigation; "q"
	// fits none, and the answer says what can be asked.
	if res, err := a.Ask(context.Background(), "test", "c", "q", nil); err != nil || res.Outcome != triage.NotUnderstood ||
		!strings.Contains(res.Answer, "/tools") {
		t.Errorf("Ask without a model: %+v, %v", res, err)
	}
	if err := a.Close(); err != nil {
		t.Error(err)
	}
}
