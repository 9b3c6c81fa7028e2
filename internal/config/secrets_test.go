package config

import (
	"slices"
	"strings"
	"testing"
)

// TestSecurityConfigCheckHidesHeaders: header values carry API keys as
// often as not, so `config check` (YAML) must print none of them, and the
// redactor (fed by Secrets) must hide all of them — in every section that
// has headers.
func TestSecurityConfigCheckHidesHeaders(t *testing.T) {
	sections := []struct {
		name string
		set  func(c *Config, h map[string]string)
	}{
		{"telemetry.tracing", func(c *Config, h map[string]string) { c.Telemetry.Tracing.Headers = h }},
		{"llm", func(c *Config, h map[string]string) { c.LLM.Headers = h }},
		{"prometheus", func(c *Config, h map[string]string) { c.Prometheus.Headers = h }},
		{"logs", func(c *Config, h map[string]string) { c.Logs.Headers = h }},
		{"traces", func(c *Config, h map[string]string) { c.Traces.Headers = h }},
		{"alertmanager", func(c *Config, h map[string]string) { c.Alertmanager.Headers = h }},
		{"eval.judge", func(c *Config, h map[string]string) { c.Eval.Judge.Headers = h }},
	}
	c := Default()
	var values []string
	for _, s := range sections {
		v := "hdr-value-of-" + s.name
		values = append(values, v)
		s.set(&c, map[string]string{"X-Api-Key": v})
	}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	secrets := c.Secrets()
	for i, s := range sections {
		if strings.Contains(out, values[i]) {
			t.Errorf("%s: YAML prints the header value %q", s.name, values[i])
		}
		if !slices.Contains(secrets, values[i]) {
			t.Errorf("%s: Secrets lacks the header value %q", s.name, values[i])
		}
	}
	if got := strings.Count(out, "X-Api-Key: <secret>"); got != len(sections) {
		t.Errorf("YAML shows %d hidden headers, want %d:\n%s", got, len(sections), out)
	}
	// Rendering hides values in a copy: the configuration in use keeps them.
	if c.Alertmanager.Headers["X-Api-Key"] != "hdr-value-of-alertmanager" || c.LLM.Headers["X-Api-Key"] != "hdr-value-of-llm" {
		t.Errorf("YAML changed the configuration: %v %v", c.Alertmanager.Headers, c.LLM.Headers)
	}
}
