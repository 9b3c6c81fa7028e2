package config

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		want    map[string]string // section → a part of its line
		secrets []string          // must not appear
	}{
		{"defaults", func(*Config) {}, map[string]string{
			"llm":             "none: chat and demo run tools only",
			"store":           "sqlite ",
			"prometheus":      "none",
			"logs":            "none",
			"traces":          "none: no trace tools",
			"kubernetes":      "verify off (needs prometheus.url)",
			"slack":           "off (no slack.bot_token)",
			"incidents":       "no authentication (loopback only)",
			"alertmanager":    "none: no silences",
			"approval":        "no approvers",
			"leader_election": "off (one replica)",
			"runbooks":        "the shipped examples",
		}, nil},
		{"a production setup", func(c *Config) {
			c.LLM.LLM = LLM{Provider: ProviderCompatible, Model: "llama3.1:8b", BaseURL: "http://ollama:11434/v1", APIKey: "sk-model-secret"}
			c.LLM.Fast = FastLLM{Model: "llama3.2:1b", APIKey: "sk-fast-secret"}
			c.LLM.Budget.IncidentUSD = 0
			c.Store = Store{Driver: "postgres", DSN: "postgres://wk:db-password@db:5432/watchkeeper?sslmode=require"}
			c.Server.Listen = "0.0.0.0:8080"
			c.Prometheus.URL = "http://prometheus:9090"
			c.Logs = Logs{Backend: "loki", URL: "http://loki:3100"}
			c.Traces = Traces{Backend: "jaeger", URL: "http://jaeger-query:16686"}
			c.Kubernetes.Namespace, c.Kubernetes.Context = "shop", "prod"
			c.Slack.BotToken, c.Slack.AppToken = "xoxb-slack-secret", "xapp-1"
			c.Slack.Alerts = []AlertRoute{{Channel: "C1"}, {Channel: "C2"}}
			c.Incidents.BearerToken = "hook-secret"
			c.Alertmanager.URL = "http://alertmanager:9093"
			c.Approval.Approvers = []string{"U1", "U2", "U3"}
			c.LeaderElection.Enabled, c.LeaderElection.Namespace = true, "watchkeeper"
			c.Runbooks.URL = "https://git.example/runbooks.git"
		}, map[string]string{
			"llm":             "openai-compatible llama3.1:8b at http://ollama:11434/v1; fast llama3.2:1b; budget $1/question, $50/day",
			"store":           "postgres db:5432/watchkeeper",
			"prometheus":      "http://prometheus:9090; links: prometheus",
			"logs":            "loki http://loki:3100",
			"traces":          "jaeger http://jaeger-query:16686; links: jaeger",
			"kubernetes":      "context prod, namespace shop; actions on, verify on",
			"slack":           "socket mode; 0 channel scopes, 2 alert routes",
			"incidents":       "/webhooks/alertmanager on 0.0.0.0:8080, bearer token",
			"alertmanager":    "http://alertmanager:9093",
			"approval":        "3 approvers, self-approval off; proposals expire after 15m0s",
			"leader_election": "on: Lease watchkeeper in watchkeeper",
			"runbooks":        "git https://git.example/runbooks.git (branch main)",
		}, []string{"sk-model-secret", "sk-fast-secret", "db-password", "xoxb-slack-secret", "hook-secret"}},
		{"approval rules and an open webhook", func(c *Config) {
			c.Approval.Rules = []ApprovalRule{{Users: []string{"U1"}}, {Users: []string{"U2"}}}
			c.Server.Listen = "0.0.0.0:8080"
			c.Incidents.AllowUnauthenticated = true
			c.Slack.BotToken, c.Slack.Mode = "xoxb-1", "http"
		}, map[string]string{
			"approval":  "2 rules (they replace approval.approvers)",
			"incidents": "no authentication (allowed by incidents.allow_unauthenticated)",
			"slack":     "http mode (/slack/* on 0.0.0.0:8080)",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(&c)
			lines := c.Summary()
			got := map[string]string{}
			var all strings.Builder
			for _, l := range lines {
				got[l.Section] = l.Value
				all.WriteString(l.Section + " " + l.Value + "\n")
			}
			if len(lines) < 10 || len(lines) > 16 {
				t.Errorf("%d lines; a summary is about a dozen:\n%s", len(lines), all.String())
			}
			for section, want := range tt.want {
				if !strings.Contains(got[section], want) {
					t.Errorf("%s = %q, want it to contain %q", section, got[section], want)
				}
			}
			for _, s := range tt.secrets {
				if strings.Contains(all.String(), s) {
					t.Errorf("the summary shows the secret %q:\n%s", s, all.String())
				}
			}
		})
	}
}

// TestSummaryNamesSectionsAsTheReferenceDoes: each line is named by a
// section `watchkeeper config reference` documents.
func TestSummaryNamesSectionsAsTheReferenceDoes(t *testing.T) {
	entries, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, e := range entries {
		top, _, _ := strings.Cut(e.Key, ".")
		sections[top] = true
	}
	for _, l := range Default().Summary() {
		if !sections[l.Section] {
			t.Errorf("summary section %q is not a section of the configuration reference", l.Section)
		}
	}
}
