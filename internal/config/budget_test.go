package config

import (
	"slices"
	"testing"
)

func TestBudgetsAndFastModel(t *testing.T) {
	isolate(t)
	d, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.LLM.Budget != (Budget{QuestionUSD: 1, IncidentUSD: 5, DayUSD: 50}) || d.LLM.Fast.Enabled() {
		t.Errorf("defaults: budget %+v, fast %+v", d.LLM.Budget, d.LLM.Fast)
	}
	main := []string{"WATCHKEEPER_LLM_PROVIDER=openai", "WATCHKEEPER_LLM_MODEL=gpt-4o", "OPENAI_API_KEY=sk-main-1357"}
	for _, tt := range []struct {
		env   []string
		wants []string
	}{
		{[]string{"WATCHKEEPER_LLM_BUDGET_DAY_USD=-1"}, []string{"llm.budget.day_usd: -1 is negative; use 0 for no limit"}},
		{[]string{"WATCHKEEPER_LLM_FAST_MODEL=gpt-4o-mini"}, []string{"llm.fast: needs a main model (llm.provider)"}},
		{[]string{"WATCHKEEPER_LLM_FAST_PROVIDER=anthropic"}, []string{"llm.fast.model: is required when llm.fast.provider is set"}},
		{append(slices.Clone(main), "WATCHKEEPER_LLM_FAST_PROVIDER=anthropic", "WATCHKEEPER_LLM_FAST_MODEL=claude-haiku-4-5"),
			[]string{"llm.fast.api_key: is required for provider anthropic; set llm.fast.api_key_file or llm.fast.api_key"}},
		{append(slices.Clone(main), "WATCHKEEPER_LLM_FAST_MODEL=gpt-4o-mini", "WATCHKEEPER_LLM_FAST_BASE_URL=ollama:11434"),
			[]string{`llm.fast.base_url: "ollama:11434" is not an http(s) URL`}},
	} {
		_, err := Load("", tt.env)
		wantErrs(t, err, tt.wants...)
	}

	// The same provider: only the model differs, the key is shared.
	c, err := Load("", append(slices.Clone(main), "WATCHKEEPER_LLM_FAST_MODEL=gpt-4o-mini", "WATCHKEEPER_LLM_BUDGET_QUESTION_USD=0.25"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.LLM.FastLLM()
	if f.Provider != "openai" || f.Model != "gpt-4o-mini" || f.APIKey.Reveal() != "sk-main-1357" || f.Timeout != c.LLM.Timeout || c.LLM.Budget.QuestionUSD != 0.25 {
		t.Errorf("fast section = %+v (budget %+v)", f, c.LLM.Budget)
	}
	// Another provider shares nothing with llm; its key is a secret.
	c, err = Load("", append(slices.Clone(main), "WATCHKEEPER_LLM_FAST_PROVIDER=openai-compatible", "WATCHKEEPER_LLM_FAST_MODEL=llama3.1:8b",
		"WATCHKEEPER_LLM_FAST_BASE_URL=http://ollama:11434/v1", "WATCHKEEPER_LLM_FAST_API_KEY=sk-fast-2468"))
	if err != nil {
		t.Fatal(err)
	}
	f = c.LLM.FastLLM()
	if f.Provider != "openai-compatible" || f.BaseURL != "http://ollama:11434/v1" || f.APIKey.Reveal() != "sk-fast-2468" {
		t.Errorf("fast section = %+v", f)
	}
	if !slices.Contains(c.Secrets(), "sk-fast-2468") {
		t.Error("the fast model's key is not among the secrets to redact")
	}
}
