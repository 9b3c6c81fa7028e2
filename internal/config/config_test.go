package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// isolate points the default search paths at an empty directory so a
// developer's own ~/.config/watchkeeper does not leak into tests.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_STATE_HOME", dir)
	t.Chdir(dir)
}

func wantErrs(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// testdataDir is resolved before any test changes directory.
var testdataDir, _ = filepath.Abs("testdata")

func testdata(name string) string { return filepath.Join(testdataDir, name) }

func TestDefaultsWithoutAnyFile(t *testing.T) {
	isolate(t)
	l, err := Load("", nil)
	if err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	if l.Path != "" || l.HasModel() || l.Agent.MaxSteps != 12 || l.Agent.ToolOutputTokens != 4000 {
		t.Errorf("defaults = %+v", l)
	}
	if !strings.HasSuffix(l.Store.Path, filepath.Join("watchkeeper", "watchkeeper.db")) {
		t.Errorf("store path = %s", l.Store.Path)
	}
}

func TestSearchPathAndEnvPath(t *testing.T) {
	isolate(t)
	if err := os.WriteFile("watchkeeper.yaml", []byte("agent: {max_steps: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Load("", nil)
	if err != nil || l.Agent.MaxSteps != 5 || l.Path != "watchkeeper.yaml" {
		t.Fatalf("search path: err=%v steps=%d path=%s", err, l.Agent.MaxSteps, l.Path)
	}
	l, err = Load("", []string{"WATCHKEEPER_CONFIG=" + testdata("minimal.yaml")})
	if err != nil || l.Agent.MaxSteps != 8 {
		t.Fatalf("WATCHKEEPER_CONFIG: err=%v steps=%d", err, l.Agent.MaxSteps)
	}
	_, err = Load("/nonexistent/watchkeeper.yaml", nil)
	wantErrs(t, err, "config file /nonexistent/watchkeeper.yaml does not exist", "deploy/examples/config.yaml")
}

func TestStrictParsing(t *testing.T) {
	isolate(t)
	tests := []struct {
		file  string
		wants []string
	}{
		{"unknown_keys.yaml", []string{
			`unknown_keys.yaml: line 4: unknown key "max_step" in agent; did you mean "max_steps"?`,
			`line 7: unknown key "modle" in llm; did you mean "model"?`,
			`line 9: unknown key "outptu_per_mtok" in llm.prices.gpt-4o; did you mean "output_per_mtok"?`,
			`line 10: unknown key "tracing"; valid keys are agent, alertmanager, anomaly, approval, eval, gitops, incidents, kubernetes, leader_election, llm, log, logs, mcp, memory, prometheus, runbooks, sandbox, server, slack, store, telemetry, traces`,
		}},
		{"bad_types.yaml", []string{"line 2: cannot unmarshal !!str `twelve` into int"}},
		{"bad_duration.yaml", []string{`line 2: "5 minutes" is not a duration; write it like 30s, 5m or 1h`}},
		{"not_a_mapping.yaml", []string{"line 1: the configuration must be a mapping"}},
		{"dup.yaml", []string{`"max_steps" already defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(testdata(tt.file), nil)
			wantErrs(t, err, tt.wants...)
		})
	}
	if _, err := Load(testdata("empty.yaml"), nil); err != nil {
		t.Errorf("an empty file should mean defaults: %v", err)
	}
}

func TestValidateNamesEverySetting(t *testing.T) {
	isolate(t)
	_, err := Load(testdata("invalid_values.yaml"), nil)
	wantErrs(t, err,
		`log.level: "verbose" is not one of debug, info, warn, error`,
		`server.listen: "8080" is not host:port`,
		`llm.base_url: "localhost:11434" is not an http(s) URL`,
		`llm.tool_calling: "sometimes" is not one of auto, native, react`,
		`llm.model: is required for provider openai-compatible`,
		`agent.max_steps: 0 is outside 1..100`,
		`agent.max_parallel_tools: 500 is outside 1..64`,
		`telemetry.tracing.endpoint: "otel:4318" is not an http(s) URL`,
		`telemetry.tracing.sample_ratio: 2 is outside 0..1`,
	)
}

func TestProviderRequirements(t *testing.T) {
	isolate(t)
	tests := []struct {
		env   []string
		wants []string
	}{
		{[]string{"WATCHKEEPER_LLM_PROVIDER=openai", "WATCHKEEPER_LLM_MODEL=gpt-4o"},
			[]string{"llm.api_key: is required for provider openai; set WATCHKEEPER_LLM_API_KEY, llm.api_key_file or llm.api_key, or OPENAI_API_KEY"}},
		{[]string{"WATCHKEEPER_LLM_PROVIDER=azure"},
			[]string{"llm.base_url: is required for provider azure", "llm.deployment: is required", "llm.api_key: is required for provider azure"}},
		{[]string{"WATCHKEEPER_LLM_PROVIDER=anthropic"},
			[]string{"llm.model: is required for provider anthropic", "ANTHROPIC_API_KEY"}},
		{[]string{"WATCHKEEPER_LLM_PROVIDER=bedrock", "WATCHKEEPER_LLM_MODEL=m"},
			[]string{"llm.region: is required for provider bedrock"}},
		{[]string{"WATCHKEEPER_LLM_PROVIDER=scripted", "WATCHKEEPER_LLM_SCRIPT=/nope.yaml"},
			[]string{"llm.script: stat /nope.yaml: no such file or directory"}},
		{[]string{"WATCHKEEPER_LLM_PROVIDER=gpt"},
			[]string{`llm.provider: "gpt" is not one of none, scripted, openai`}},
		{[]string{"SLACK_BOT_TOKEN=xoxp-user-token"},
			[]string{"slack.bot_token: is not a bot token (xoxb-…)", "slack.app_token: socket mode needs an app-level token (xapp-…)"}},
		{[]string{"SLACK_BOT_TOKEN=xoxb-1", "WATCHKEEPER_SLACK_MODE=http"},
			[]string{"slack.signing_secret: http mode needs the signing secret"}},
		{[]string{"SLACK_BOT_TOKEN=xoxb-1", "SLACK_APP_TOKEN=xapp-1", "WATCHKEEPER_SLACK_MODE=webhook", "WATCHKEEPER_SLACK_WORKERS=0"},
			[]string{`slack.mode: "webhook" is not one of socket, http`, "slack.workers: must be at least 1"}},
		{[]string{"SLACK_BOT_TOKEN=xoxb-1", "SLACK_APP_TOKEN=xapp-1", "WATCHKEEPER_SLACK_STREAM=always"},
			[]string{`slack.stream: "always" is not one of auto, updates, off`}},
		{[]string{"WATCHKEEPER_STORE_DRIVER=postgres"},
			[]string{"store.dsn: is required for driver postgres: set WATCHKEEPER_STORE_DSN or store.dsn_file"}},
		{[]string{"WATCHKEEPER_STORE_DRIVER=mysql"},
			[]string{`store.driver: "mysql" is not one of sqlite, postgres`}},
		{[]string{"WATCHKEEPER_EVAL_JUDGE_PROVIDER=anthropic"},
			[]string{"eval.judge.model: is required for provider anthropic", "eval.judge.api_key: is required for provider anthropic; set eval.judge.api_key_file or eval.judge.api_key"}},
		{[]string{"WATCHKEEPER_SLACK_API_URL=http://127.0.0.1:1/api", "SLACK_BOT_TOKEN=xoxb-1", "SLACK_APP_TOKEN=xapp-1"},
			[]string{`slack.api_url: "http://127.0.0.1:1/api" is not an http(s) URL ending in /`}},
	}
	for _, tt := range tests {
		_, err := Load("", tt.env)
		wantErrs(t, err, tt.wants...)
	}
	// Slack's conventional variables fill the tokens.
	sl, err := Load("", []string{"SLACK_BOT_TOKEN=xoxb-1", "SLACK_APP_TOKEN=xapp-1"})
	if err != nil || !sl.SlackEnabled() || sl.Slack.AppToken.Reveal() != "xapp-1" || sl.Slack.Mode != "socket" || sl.Slack.Stream != "auto" {
		t.Errorf("slack from SLACK_* variables: %+v, %v", sl.Slack, err)
	}
	// The PostgreSQL DSN is a secret.
	pg, err := Load("", []string{"WATCHKEEPER_STORE_DRIVER=postgres", "WATCHKEEPER_STORE_DSN=postgres://wk:pg-pass-2468@db/wk"})
	if err != nil || pg.Store.DSN.Reveal() != "postgres://wk:pg-pass-2468@db/wk" || !slices.Contains(pg.Secrets(), "postgres://wk:pg-pass-2468@db/wk") {
		t.Errorf("store.dsn: %v %+v", err, pg.Store)
	}
	if out, _ := pg.YAML(); strings.Contains(out, "pg-pass-2468") {
		t.Errorf("the DSN is printed:\n%s", out)
	}
	// A compatible server needs no key; the provider's own variable is used
	// when no key is configured.
	l, err := Load("", []string{"WATCHKEEPER_LLM_PROVIDER=openai", "WATCHKEEPER_LLM_MODEL=gpt-4o", "OPENAI_API_KEY=sk-from-openai-env"})
	if err != nil || l.LLM.APIKey.Reveal() != "sk-from-openai-env" {
		t.Errorf("OPENAI_API_KEY fallback: err=%v", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	isolate(t)
	l, err := Load(testdata("minimal.yaml"), []string{
		"WATCHKEEPER_AGENT_MAX_STEPS=20",
		"WATCHKEEPER_AGENT_RUN_TIMEOUT=90s",
		"WATCHKEEPER_LLM_STREAM=false",
		"WATCHKEEPER_LLM_TEMPERATURE=0.3",
		"WATCHKEEPER_LLM_HEADERS=X-Team=sre, X-Env=prod",
		"WATCHKEEPER_LLM_API_KEY=sk-env-key-123456",
		"WATCHKEEPER_TELEMETRY_TRACING_SAMPLE_RATIO=0.5",
		"HOME=/irrelevant",
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Agent.MaxSteps != 20 || l.Agent.RunTimeout.D() != 90*time.Second || l.LLM.Stream ||
		*l.LLM.Temperature != 0.3 || l.LLM.Headers["X-Env"] != "prod" || l.LLM.APIKey.Reveal() != "sk-env-key-123456" ||
		l.Telemetry.Tracing.SampleRatio != 0.5 {
		t.Errorf("overrides not applied: %+v", l.Config)
	}
	if len(l.EnvKeys) != 7 {
		t.Errorf("EnvKeys = %v", l.EnvKeys)
	}
	_, err = Load("", []string{"WATCHKEEPER_AGENT_MAX_STEP=3", "WATCHKEEPER_AGENT_RUN_TIMEOUT=soon", "WATCHKEEPER_LLM_PRICES=x"})
	wantErrs(t, err,
		"unknown environment variable WATCHKEEPER_AGENT_MAX_STEP; did you mean WATCHKEEPER_AGENT_MAX_STEPS?",
		`WATCHKEEPER_AGENT_RUN_TIMEOUT (agent.run_timeout): "soon" is not a duration`,
		"WATCHKEEPER_LLM_PRICES (llm.prices): cannot be set from the environment",
	)
}

func TestSecretsFromFiles(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("sk-file-key-abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"WATCHKEEPER_LLM_PROVIDER=anthropic", "WATCHKEEPER_LLM_MODEL=claude"}
	l, err := Load("", append(base, "WATCHKEEPER_LLM_API_KEY_FILE="+keyFile))
	if err != nil || l.LLM.APIKey.Reveal() != "sk-file-key-abcdef" {
		t.Fatalf("key file: err=%v key=%q", err, l.LLM.APIKey.Reveal())
	}
	_, err = Load("", append(base, "WATCHKEEPER_LLM_API_KEY_FILE="+filepath.Join(dir, "missing")))
	wantErrs(t, err, "llm.api_key_file: open "+filepath.Join(dir, "missing"), "create the file or unset llm.api_key_file")
	_, err = Load("", append(base, "WATCHKEEPER_LLM_API_KEY_FILE="+keyFile, "WATCHKEEPER_LLM_API_KEY=inline"))
	wantErrs(t, err, "llm.api_key and llm.api_key_file are both set; keep one")
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	_, err = Load("", append(base, "WATCHKEEPER_LLM_API_KEY_FILE="+empty))
	wantErrs(t, err, "is empty")
}

func TestRenderedConfigHidesSecrets(t *testing.T) {
	isolate(t)
	l, err := Load(testdata("minimal.yaml"), []string{
		"WATCHKEEPER_LLM_API_KEY=sk-very-secret-value",
		"WATCHKEEPER_LLM_HEADERS=Authorization=Bearer sk-header-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "sk-very-secret-value") || strings.Contains(out, "sk-header-secret") {
		t.Fatalf("secret in rendered config:\n%s", out)
	}
	for _, want := range []string{"api_key: <secret>", "Authorization: <secret>", "run_timeout: 5m0s", "max_steps: 8"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered config lacks %q:\n%s", want, out)
		}
	}
	// Header values are secrets too: the redactor hides them.
	secrets := l.Secrets()
	if len(secrets) != 2 || !slices.Contains(secrets, "sk-very-secret-value") || !slices.Contains(secrets, "Bearer sk-header-secret") {
		t.Errorf("Secrets() = %v", secrets)
	}
	if s := l.LLM.APIKey.String(); s != "<secret>" {
		t.Errorf("Secret.String() = %q", s)
	}
}

func TestShippedExampleIsValid(t *testing.T) {
	example, _ := filepath.Abs(filepath.Join("..", "..", "deploy", "examples", "config.yaml"))
	isolate(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	_ = os.WriteFile(keyFile, []byte("sk-example"), 0o600)
	// The example points at /run/secrets; redirect the file and the store.
	_, err := Load(example, nil)
	wantErrs(t, err, "llm.api_key_file: open /run/secrets/openai-api-key")
	l, err := Load(example, []string{"WATCHKEEPER_LLM_API_KEY_FILE=" + keyFile})
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if l.LLM.Prices["gpt-4o-mini"].OutputPerMTok != 0.60 {
		t.Errorf("prices = %v", l.LLM.Prices)
	}
}

func TestSandboxSettings(t *testing.T) {
	isolate(t)
	l, err := Load("", []string{"WATCHKEEPER_SANDBOX_SCENARIO=slow-db", "WATCHKEEPER_SANDBOX_SEED=99",
		"WATCHKEEPER_SANDBOX_SPEED=10", "WATCHKEEPER_SANDBOX_WEBHOOK_URLS=http://127.0.0.1:1/hook, http://127.0.0.1:2/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Sandbox.Scenario != "slow-db" || l.Sandbox.Seed != 99 || l.Sandbox.Speed != 10 || len(l.Sandbox.WebhookURLs) != 2 {
		t.Errorf("sandbox = %+v", l.Sandbox)
	}
	_, err = Load("", []string{"WATCHKEEPER_SANDBOX_SPEED=0", "WATCHKEEPER_SANDBOX_HISTORY=5m",
		"WATCHKEEPER_SANDBOX_LISTEN=9095", "WATCHKEEPER_SANDBOX_WEBHOOK_URLS=ftp://x", "WATCHKEEPER_SANDBOX_SEED=-1"})
	wantErrs(t, err, `WATCHKEEPER_SANDBOX_SEED (sandbox.seed): "-1" is not a whole non-negative number`)
	_, err = Load("", []string{"WATCHKEEPER_SANDBOX_SPEED=0", "WATCHKEEPER_SANDBOX_HISTORY=5m",
		"WATCHKEEPER_SANDBOX_LISTEN=9095", "WATCHKEEPER_SANDBOX_WEBHOOK_URLS=ftp://x"})
	wantErrs(t, err, "sandbox.speed: 0 is outside (0, 1000]", "sandbox.history: 5m0s is outside 30m..168h",
		`sandbox.listen: "9095" is not host:port`, `sandbox.webhook_urls[0]: "ftp://x" is not an http(s) URL`)
}

func TestBackendSettings(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	_ = os.WriteFile(tokenFile, []byte("prom-token-123456\n"), 0o600)
	cfgFile := filepath.Join(dir, "wk.yaml")
	_ = os.WriteFile(cfgFile, []byte(`prometheus:
  url: https://thanos.example.com
  bearer_token_file: `+tokenFile+`
  tls:
    ca_file: /etc/ssl/ca.pem
  headers: {X-Org: sre}
  link: {kind: grafana, url: https://grafana.example.com, datasource: prom-uid}
logs:
  backend: loki
  url: http://loki:3100
  basic_auth: {username: wk}
  tenant: team-a
  labels: {service: app}
`), 0o600)
	l, err := Load(cfgFile, []string{"WATCHKEEPER_LOGS_BASIC_AUTH_PASSWORD=loki-pass-654321", "WATCHKEEPER_PROMETHEUS_TIMEOUT=45s"})
	if err != nil {
		t.Fatal(err)
	}
	p := l.Prometheus
	if p.BearerToken.Reveal() != "prom-token-123456" || p.TLS.CAFile != "/etc/ssl/ca.pem" || p.Headers["X-Org"] != "sre" ||
		p.Timeout.D() != 45*time.Second || p.Link.Kind != "grafana" {
		t.Errorf("prometheus = %+v", p)
	}
	if l.Logs.BasicAuth.Password.Reveal() != "loki-pass-654321" || l.Logs.Labels.Service != "app" || l.Logs.Labels.Pod != "pod" {
		t.Errorf("logs = %+v", l.Logs)
	}
	out, _ := l.YAML()
	for _, secret := range []string{"prom-token-123456", "loki-pass-654321"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s printed", secret)
		}
	}
	if !strings.Contains(out, "bearer_token: <secret>") || !strings.Contains(out, "X-Org: <secret>") {
		t.Errorf("rendered:\n%s", out)
	}
	_, err = Load("", []string{"WATCHKEEPER_PROMETHEUS_URL=prometheus:9090", "WATCHKEEPER_LOGS_BACKEND=splunk",
		"WATCHKEEPER_PROMETHEUS_TLS_CERT_FILE=/x.pem", "WATCHKEEPER_PROMETHEUS_LINK_KIND=kibana",
		"WATCHKEEPER_PROMETHEUS_BEARER_TOKEN=a", "WATCHKEEPER_PROMETHEUS_BASIC_AUTH_USERNAME=u"})
	wantErrs(t, err,
		`prometheus.url: "prometheus:9090" is not an http(s) URL`,
		`logs.backend: "splunk" is not one of none, loki, victorialogs, kubernetes`,
		"prometheus.tls: cert_file and key_file go together",
		`prometheus.link.kind: "kibana" is not one of prometheus, grafana`,
		"prometheus: bearer_token and basic_auth are both set; keep one")
	_, err = Load("", []string{"WATCHKEEPER_LOGS_BACKEND=loki"})
	wantErrs(t, err, "logs.url: is required for backend loki")
}

// The settings the security review added refuse what would make them
// unsafe or meaningless.
func TestSecuritySettingsAreValidated(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(`kubernetes:
  min_replicas: 60
  verify: {objective: -0.5, saturation: {objective: 0}}
  impersonate:
    users: {U1: "system:admin"}
    groups: [sre, "system:masters"]
incidents:
  rate_limit: {per_second: 0, burst: 0}
  max_investigations: 0
  trusted_generator_urls: ["prometheus:9090"]
server:
  metrics:
    bearer_token: t
    basic_auth: {username: u, password: p}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	wantErrs(t, err,
		`kubernetes.min_replicas: 60 must be between 0 and kubernetes.max_replicas (50)`,
		`kubernetes.verify.objective: -0.5 must be a level of the verify query at or above 0`,
		`kubernetes.verify.saturation.objective: 0 must be above 0`,
		`kubernetes.impersonate.users: U1 maps to "system:admin"`,
		`kubernetes.impersonate.groups: "system:masters" is a system: group`,
		`incidents.rate_limit: per_second (0) must be positive and burst (0) at least 1`,
		`incidents.max_investigations: 0 is outside 1..64`,
		`incidents.trusted_generator_urls[0]: "prometheus:9090" is not an http(s) URL`,
		`server.metrics: set bearer_token or basic_auth, not both`,
	)
}

func TestCheckWebhookExposure(t *testing.T) {
	for _, tt := range []struct {
		name       string
		adjust     func(*Config)
		warn, fail bool
	}{
		{"loopback", func(c *Config) {}, false, false},
		{"all interfaces", func(c *Config) { c.Server.Listen = "0.0.0.0:8080" }, false, true},
		{"ipv6 any", func(c *Config) { c.Server.Listen = "[::]:8080" }, false, true},
		{"ipv6 loopback", func(c *Config) { c.Server.Listen = "[::1]:8080" }, false, false},
		{"a token", func(c *Config) { c.Server.Listen, c.Incidents.BearerToken = ":8080", "t0k3n-123" }, false, false},
		{"allowed", func(c *Config) { c.Server.Listen, c.Incidents.AllowUnauthenticated = ":8080", true }, true, false},
		{"no webhook", func(c *Config) { c.Server.Listen, c.Incidents.Webhook = ":8080", false }, false, false},
		{"loopback behind Slack's HTTP mode", func(c *Config) {
			c.Slack.Mode, c.Slack.BotToken, c.Slack.SigningSecret = "http", "xoxb-1", "s"
		}, true, false},
	} {
		c := Default()
		tt.adjust(&c)
		warn, err := c.CheckWebhookExposure()
		if warn != tt.warn || (err != nil) != tt.fail || (err != nil && !errors.Is(err, ErrUnauthenticatedWebhook)) {
			t.Errorf("%s: warn %v, err %v; want warn %v, fail %v", tt.name, warn, err, tt.warn, tt.fail)
		}
	}
}

func TestSharedStoreWithoutLeader(t *testing.T) {
	for _, tt := range []struct {
		driver string
		leader bool
		want   bool
	}{
		{"sqlite", false, false},
		{"postgres", true, false},
		{"postgres", false, true},
		{"", false, false},
	} {
		c := Default()
		c.Store.Driver, c.LeaderElection.Enabled = tt.driver, tt.leader
		if got := c.SharedStoreWithoutLeader(); got != tt.want {
			t.Errorf("driver %q, leader election %v: %v, want %v", tt.driver, tt.leader, got, tt.want)
		}
	}
}

// The MCP settings refuse what would fail later or mean nothing.
func TestMCPSettingsAreValidated(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(`mcp:
  serve:
    listen: nowhere
    rate_limit: {per_second: 0, burst: 0}
    approvals_channel: ops
  servers:
    - name: Grafana
      url: grafana:8000
    - name: tickets
      command: ticket-mcp
      url: http://tickets/mcp
    - name: tickets
      allow_tools: [a]
      deny_tools: [a]
      headers: {X: y}
      timeout: -1s
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	wantErrs(t, err,
		`mcp.serve.listen: "nowhere" is not host:port`,
		`mcp.serve.rate_limit: per_second (0) must be positive and burst (0) at least 1`,
		`mcp.serve.approvals_channel: needs Slack (slack.bot_token)`,
		`mcp.servers[0].name: "Grafana" must be 1-24 lower-case letters`,
		`mcp.servers[0].url: "grafana:8000" is not an http(s) URL`,
		`mcp.servers[1]: command and url are both set; keep one`,
		`mcp.servers[2].name: "tickets" is used twice`,
		`mcp.servers[2]: give command (a server started over stdio) or url (streamable HTTP)`,
		`mcp.servers[2].headers: are sent over HTTP; this server is a command`,
		`mcp.servers[2]: "a" is in both allow_tools and deny_tools`,
		`mcp.servers[2].timeout: is negative`,
	)
	ok := Default()
	ok.MCP.Servers = []MCPServer{{Name: "grafana", URL: "http://grafana-mcp:8000/mcp", ReadOnly: true}, {Name: "tickets", Command: "ticket-mcp"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a valid MCP configuration: %v", err)
	}
}
