package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate reports every problem in c, each naming the setting and what to
// do about it.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	oneOf := func(field, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "text")
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "%q is not host:port (for example 127.0.0.1:8080 or :8080)", c.Server.Listen)
	}
	oneOf("store.driver", c.Store.Driver, "sqlite", "postgres")
	switch {
	case c.Store.Driver == "sqlite" && c.Store.Path == "":
		bad("store.path", "is empty; give the SQLite file to use, e.g. /var/lib/watchkeeper/watchkeeper.db")
	case c.Store.Driver == "postgres" && c.Store.DSN == "":
		bad("store.dsn", "is required for driver postgres: set WATCHKEEPER_STORE_DSN or store.dsn_file to a URL such as postgres://watchkeeper@db:5432/watchkeeper?sslmode=require")
	}

	if le := c.LeaderElection; le.Enabled {
		if c.Store.Driver != "postgres" {
			bad("leader_election.enabled", "needs store.driver postgres: replicas must share one store")
		}
		if le.LeaseName == "" {
			bad("leader_election.lease_name", "is empty")
		}
		if !(le.LeaseDuration > le.RenewDeadline && le.RenewDeadline > le.RetryPeriod && le.RetryPeriod > 0) {
			bad("leader_election", "lease_duration (%s) must exceed renew_deadline (%s), which must exceed retry_period (%s) > 0",
				le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
		}
	}
	c.validateSlack(bad, oneOf)
	if c.Kubernetes.MaxReplicas < 1 {
		bad("kubernetes.max_replicas", "must be at least 1")
	}
	// system: identities are the cluster's own (system:masters bypasses
	// RBAC altogether): acting as one would make an approval unlimited.
	for approver, user := range c.Kubernetes.Impersonate.Users {
		if strings.HasPrefix(user, "system:") {
			bad("kubernetes.impersonate.users", "%s maps to %q: Watchkeeper never acts as a system: identity; map them to a person's user", approver, user)
		}
	}
	for _, g := range c.Kubernetes.Impersonate.Groups {
		if strings.HasPrefix(g, "system:") {
			bad("kubernetes.impersonate.groups", "%q is a system: group (system:masters bypasses RBAC); list ordinary groups only", g)
		}
	}
	if c.Kubernetes.MinReplicas < 0 || c.Kubernetes.MinReplicas > c.Kubernetes.MaxReplicas {
		bad("kubernetes.min_replicas", "%d must be between 0 and kubernetes.max_replicas (%d)", c.Kubernetes.MinReplicas, c.Kubernetes.MaxReplicas)
	}
	if o := c.Kubernetes.Verify.Objective; o < 0 || math.IsNaN(o) || math.IsInf(o, 0) {
		bad("kubernetes.verify.objective", "%v must be a level of the verify query at or above 0, e.g. 0.01 for a 1%% error ratio (0: none)", o)
	}
	if sat := c.Kubernetes.Verify.Saturation; sat.Query != "" && (!(sat.Objective > 0) || math.IsInf(sat.Objective, 0)) {
		bad("kubernetes.verify.saturation.objective", "%v must be above 0, e.g. 0.8 for 80%% of the CPU limit", sat.Objective)
	}
	if rl := c.Incidents.RateLimit; rl.PerSecond <= 0 || rl.Burst < 1 {
		bad("incidents.rate_limit", "per_second (%g) must be positive and burst (%d) at least 1", rl.PerSecond, rl.Burst)
	}
	if n := c.Incidents.MaxInvestigations; n < 1 || n > 64 {
		bad("incidents.max_investigations", "%d is outside 1..64", n)
	}
	for i, u := range c.Incidents.TrustedGeneratorURLs {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(fmt.Sprintf("incidents.trusted_generator_urls[%d]", i), "%q is not an http(s) URL such as https://prometheus.example.com", u)
		}
	}
	if m := c.Server.Metrics; m.BearerToken != "" && m.BasicAuth.Username != "" {
		bad("server.metrics", "set bearer_token or basic_auth, not both")
	}

	validateLLM("llm", c.LLM.LLM, bad, oneOf)
	for field, v := range map[string]float64{"question_usd": c.LLM.Budget.QuestionUSD, "incident_usd": c.LLM.Budget.IncidentUSD, "day_usd": c.LLM.Budget.DayUSD} {
		if v < 0 {
			bad("llm.budget."+field, "%g is negative; use 0 for no limit", v)
		}
	}
	if c.LLM.Fast.Enabled() {
		if p := c.LLM.Provider; p == "" || p == ProviderNone || p == ProviderScripted {
			bad("llm.fast", "needs a main model (llm.provider) to work beside; it only summarises and triages")
		} else {
			validateLLM("llm.fast", c.LLM.FastLLM(), bad, oneOf)
		}
	} else if c.LLM.Fast.Provider != "" {
		bad("llm.fast.model", "is required when llm.fast.provider is set, e.g. gpt-4o-mini")
	}
	for i, a := range c.GitOps.AcceptDrift {
		oneOf(fmt.Sprintf("gitops.accept_drift[%d]", i), a, "restart", "scale", "rollback")
	}
	if c.GitOps.PollInterval.D() < time.Second {
		bad("gitops.poll_interval", "must be at least 1s, e.g. 1m")
	}
	if c.GitOps.SyncTimeout <= 0 {
		bad("gitops.sync_timeout", "must be positive, e.g. 10m")
	}
	for i, r := range c.GitOps.Repositories {
		field := fmt.Sprintf("gitops.repositories[%d]", i)
		if !gitURL(r.URL) {
			bad(field+".url", "%q is not a git URL (https://…, ssh://…, git@host:…)", r.URL)
		}
		if r.Forge != "" { // empty: from the URL's host (github.com, gitlab.*), else none
			oneOf(field+".forge", r.Forge, "github", "gitlab", "none")
		}
		if r.APIURL != "" {
			if u, err := url.Parse(r.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(field+".api_url", "%q is not an http(s) URL, e.g. https://api.github.com", r.APIURL)
			}
		}
		switch {
		case r.Forge != "none" && r.Token == "":
			bad(field+".token_file", "is required to open pull requests (and to push over HTTPS); with only an SSH key set forge: none, and people open the pull requests")
		case r.Forge == "none" && r.Token == "" && r.SSHKeyFile == "":
			bad(field+".ssh_key_file", "or token_file is required to push")
		}
	}
	if j := c.Eval.Judge; j.Provider != "" && j.Provider != ProviderNone {
		validateLLM("eval.judge", j, bad, oneOf)
	}

	a := c.Agent
	inRange := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(field, "%d is outside %d..%d", v, lo, hi)
		}
	}
	inRange("agent.max_steps", a.MaxSteps, 1, 100)
	inRange("agent.max_parallel_tools", a.MaxParallelTools, 1, 64)
	inRange("agent.tool_output_tokens", a.ToolOutputTokens, 100, 1_000_000)
	inRange("agent.max_run_tokens", a.MaxRunTokens, 1_000, 100_000_000)
	if a.RunTimeout <= 0 {
		bad("agent.run_timeout", "must be positive, e.g. 5m")
	}
	if a.ToolTimeout <= 0 {
		bad("agent.tool_timeout", "must be positive, e.g. 2m")
	}
	inRange("memory.context_tokens", c.Memory.ContextTokens, 1_000, 10_000_000)

	t := c.Telemetry.Tracing
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("telemetry.tracing.endpoint", "%q is not an http(s) URL, e.g. http://otel-collector:4318", t.Endpoint)
		}
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		bad("telemetry.tracing.sample_ratio", "%v is outside 0..1", t.SampleRatio)
	}
	checkURL := func(field, u string) {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(field, "%q is not an http(s) URL", u)
		}
	}
	checkClient := func(section string, h HTTPClient) {
		if h.BearerToken != "" && (h.BasicAuth.Username != "" || h.BasicAuth.Password != "") {
			bad(section, "bearer_token and basic_auth are both set; keep one")
		}
		if h.BasicAuth.Password != "" && h.BasicAuth.Username == "" {
			bad(section+".basic_auth", "password without username")
		}
		if (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
			bad(section+".tls", "cert_file and key_file go together")
		}
		if h.Timeout < 0 {
			bad(section+".timeout", "must not be negative")
		}
	}
	if c.Prometheus.URL != "" {
		checkURL("prometheus.url", c.Prometheus.URL)
	}
	checkClient("prometheus", c.Prometheus.HTTPClient)
	oneOf("prometheus.link.kind", c.Prometheus.Link.Kind, "prometheus", "grafana", "none")
	if c.Prometheus.Link.URL != "" {
		checkURL("prometheus.link.url", c.Prometheus.Link.URL)
	}
	oneOf("logs.backend", c.Logs.Backend, "none", "loki", "victorialogs", "kubernetes")
	switch c.Logs.Backend {
	case "loki", "victorialogs":
		if c.Logs.URL == "" {
			bad("logs.url", "is required for backend %s, e.g. http://loki:3100 or http://victorialogs:9428", c.Logs.Backend)
		}
	}
	if c.Logs.URL != "" {
		checkURL("logs.url", c.Logs.URL)
	}
	checkClient("logs", c.Logs.HTTPClient)
	if c.Logs.Link.Kind != "" {
		oneOf("logs.link.kind", c.Logs.Link.Kind, "grafana", "victorialogs")
	}
	if c.Logs.Link.URL != "" {
		checkURL("logs.link.url", c.Logs.Link.URL)
	}
	if c.Logs.MaxLines < 0 || c.Logs.MaxLines > 10_000_000 {
		bad("logs.max_lines", "%d is outside 0..10000000", c.Logs.MaxLines)
	}

	tr := c.Traces
	oneOf("traces.backend", tr.Backend, "none", "jaeger", "tempo")
	switch tr.Backend {
	case "jaeger", "tempo":
		if tr.URL == "" {
			bad("traces.url", "is required for backend %s, e.g. http://jaeger-query:16686 or http://tempo:3200", tr.Backend)
		}
	}
	if tr.URL != "" {
		checkURL("traces.url", tr.URL)
	}
	checkClient("traces", tr.HTTPClient)
	if tr.Tenant != "" && tr.Backend == "jaeger" {
		bad("traces.tenant", "is sent as X-Scope-OrgID to Tempo only; for a Jaeger behind a gateway use traces.headers")
	}
	switch tr.Link.Kind {
	case "", "none":
	case "jaeger":
		if tr.Backend == "tempo" {
			bad("traces.link.kind", "jaeger links need the jaeger backend; for Tempo use grafana")
		}
	case "grafana":
		if tr.Link.URL == "" || tr.Link.Datasource == "" {
			bad("traces.link", "kind grafana needs url (Grafana's base URL) and datasource (the Tempo data source's UID)")
		}
		if tr.Backend == "jaeger" {
			bad("traces.link.kind", "grafana links are built for Tempo; for Jaeger use kind jaeger (its own UI)")
		}
	default:
		oneOf("traces.link.kind", tr.Link.Kind, "jaeger", "grafana", "none")
	}
	if tr.Link.URL != "" {
		checkURL("traces.link.url", tr.Link.URL)
	}
	if tr.MaxSpans < 0 || tr.MaxSpans > 10_000_000 {
		bad("traces.max_spans", "%d is outside 0..10000000", tr.MaxSpans)
	}

	if t := c.Anomaly.Threshold; t < 0 || t >= 1 {
		bad("anomaly.threshold", "%v is outside [0, 1)", t)
	}
	for i, sig := range c.Anomaly.Signals {
		if sig.Name == "" || sig.Query == "" {
			bad(fmt.Sprintf("anomaly.signals[%d]", i), "needs a name and a query")
		}
	}

	sb := c.Sandbox
	if sb.Speed <= 0 || sb.Speed > 1000 {
		bad("sandbox.speed", "%v is outside (0, 1000]", sb.Speed)
	}
	if sb.History != 0 && (sb.History.D() < 30*time.Minute || sb.History.D() > 7*24*time.Hour) {
		bad("sandbox.history", "%s is outside 30m..168h", sb.History)
	}
	if _, _, err := net.SplitHostPort(sb.Listen); err != nil {
		bad("sandbox.listen", "%q is not host:port (for example 127.0.0.1:9095)", sb.Listen)
	}
	for i, u := range sb.WebhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(fmt.Sprintf("sandbox.webhook_urls[%d]", i), "%q is not an http(s) URL", u)
		}
	}
	c.validateMCP(bad)
	return errors.Join(errs...)
}

// mcpName is what a server's name may be: it prefixes tool names, which
// the model APIs hold to ^[a-zA-Z0-9_-]{1,64}$ and Watchkeeper to its
// lower-case subset.
var mcpName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,23}$`)

func (c Config) validateMCP(bad func(field, format string, a ...any)) {
	sv := c.MCP.Serve
	if _, _, err := net.SplitHostPort(sv.Listen); err != nil {
		bad("mcp.serve.listen", "%q is not host:port (for example 127.0.0.1:8091)", sv.Listen)
	}
	if rl := sv.RateLimit; rl.PerSecond <= 0 || rl.Burst < 1 {
		bad("mcp.serve.rate_limit", "per_second (%g) must be positive and burst (%d) at least 1", rl.PerSecond, rl.Burst)
	}
	if ch := sv.ApprovalsChannel; ch != "" {
		switch {
		case !c.SlackEnabled():
			bad("mcp.serve.approvals_channel", "needs Slack (slack.bot_token): proposals are posted there with their buttons")
		case !strings.HasPrefix(ch, "C") && !strings.HasPrefix(ch, "G"):
			bad("mcp.serve.approvals_channel", "%q is not a Slack channel ID (C0123ABCD: the channel's details, at the bottom)", ch)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.MCP.Servers {
		field := fmt.Sprintf("mcp.servers[%d]", i)
		switch {
		case !mcpName.MatchString(s.Name) || strings.Contains(s.Name, "__"):
			bad(field+".name", "%q must be 1-24 lower-case letters, digits or _ (never two together), a letter first (it prefixes the tools' names: NAME__TOOL)", s.Name)
		case seen[s.Name]:
			bad(field+".name", "%q is used twice; each server needs its own name", s.Name)
		}
		seen[s.Name] = true
		switch {
		case s.Command == "" && s.URL == "":
			bad(field, "give command (a server started over stdio) or url (streamable HTTP)")
		case s.Command != "" && s.URL != "":
			bad(field, "command and url are both set; keep one")
		case s.URL != "":
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(field+".url", "%q is not an http(s) URL, e.g. http://grafana-mcp:8000/mcp", s.URL)
			}
		}
		if s.Command == "" && (len(s.Args) > 0 || len(s.Env) > 0) {
			bad(field, "args and env are for a command; this server has a url")
		}
		if s.URL == "" && len(s.Headers) > 0 {
			bad(field+".headers", "are sent over HTTP; this server is a command")
		}
		for _, t := range s.AllowTools {
			if slices.Contains(s.DenyTools, t) {
				bad(field, "%q is in both allow_tools and deny_tools", t)
			}
		}
		if s.Timeout.D() < 0 {
			bad(field+".timeout", "is negative")
		}
	}
}

// HasModel reports whether a language model is configured.
func (c Config) HasModel() bool {
	return c.LLM.Provider != "" && c.LLM.Provider != ProviderNone
}

// SlackEnabled reports whether a Slack bot token is configured.
func (c Config) SlackEnabled() bool { return c.Slack.BotToken != "" }

func (c Config) validateSlack(bad func(field, format string, a ...any), oneOf func(field, v string, allowed ...string)) {
	s := c.Slack
	if c.Approval.Expiry.D() < 0 {
		bad("approval.expiry", "is negative")
	}
	for i, u := range c.Approval.Approvers {
		if !strings.HasPrefix(u, "U") && !strings.HasPrefix(u, "W") {
			bad(fmt.Sprintf("approval.approvers[%d]", i), "%q is not a Slack user ID (U0123ABCD; find it under Profile → Copy member ID)", u)
		}
	}
	for i, r := range c.Approval.Rules {
		if len(r.Users) == 0 && len(r.Groups) == 0 {
			bad(fmt.Sprintf("approval.rules[%d]", i), "names no users or groups, so nobody could approve what it covers")
		}
		for _, g := range r.Groups {
			if !strings.HasPrefix(g, "S") {
				bad(fmt.Sprintf("approval.rules[%d].groups", i), "%q is not a Slack user group ID (S0123ABCD)", g)
			}
		}
	}
	for i, r := range s.Alerts {
		if r.Channel == "" {
			bad(fmt.Sprintf("slack.alerts[%d].channel", i), "is empty; give a channel ID such as C0123ABCD")
		}
		for k, v := range r.Match {
			if strings.HasPrefix(v, "~") {
				if _, err := regexp.Compile("^(?:" + v[1:] + ")$"); err != nil {
					bad(fmt.Sprintf("slack.alerts[%d].match.%s", i, k), "bad regular expression: %v", err)
				}
			}
		}
	}
	for i, ch := range s.Channels {
		if ch.ID == "" {
			bad(fmt.Sprintf("slack.channels[%d].id", i), "is empty; give the channel ID (C0123ABCD), not its name")
		}
	}
	if !c.SlackEnabled() {
		return
	}
	oneOf("slack.mode", s.Mode, "socket", "http")
	if !strings.HasPrefix(s.BotToken.Reveal(), "xoxb-") {
		bad("slack.bot_token", "is not a bot token (xoxb-…); copy it from OAuth & Permissions in the Slack app settings")
	}
	switch s.Mode {
	case "socket":
		if !strings.HasPrefix(s.AppToken.Reveal(), "xapp-") {
			bad("slack.app_token", "socket mode needs an app-level token (xapp-…) with connections:write; create one under Basic Information → App-Level Tokens, or set slack.mode: http")
		}
	case "http":
		if s.SigningSecret == "" {
			bad("slack.signing_secret", "http mode needs the signing secret (Basic Information → App Credentials) to verify requests")
		}
	}
	if s.Workers < 1 {
		bad("slack.workers", "must be at least 1")
	}
	if s.Connections < 1 || s.Connections > 10 {
		bad("slack.connections", "must be between 1 and 10 (Slack allows ten Socket Mode connections per app)")
	}
	if s.Queue < 0 {
		bad("slack.queue", "is negative")
	}
	if s.Stream != "" {
		oneOf("slack.stream", s.Stream, "auto", "updates", "off")
	}
	if s.APIURL != "" {
		if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasSuffix(s.APIURL, "/") {
			bad("slack.api_url", "%q is not an http(s) URL ending in /", s.APIURL)
		}
	}
}

// validateLLM checks a model section (llm, eval.judge); fields are named
// under prefix.
func validateLLM(prefix string, l LLM, bad func(field, format string, a ...any), oneOf func(field, v string, allowed ...string)) {
	provider := l.Provider
	if provider == "" {
		provider = ProviderNone
	}
	oneOf(prefix+".provider", provider, Providers()...)
	oneOf(prefix+".tool_calling", l.ToolCalling, "auto", "native", "react")
	if l.BaseURL != "" {
		if u, err := url.Parse(l.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(prefix+".base_url", "%q is not an http(s) URL, e.g. http://localhost:11434/v1", l.BaseURL)
		}
	}
	keyHint := "set " + prefix + ".api_key_file or " + prefix + ".api_key"
	if prefix == "llm" {
		keyHint = "set WATCHKEEPER_LLM_API_KEY, llm.api_key_file or llm.api_key"
	}
	needKey := func(extra string) {
		if l.APIKey == "" {
			msg := "is required for provider " + provider + "; " + keyHint
			if extra != "" {
				msg += ", or " + extra
			}
			bad(prefix+".api_key", "%s", msg)
		}
	}
	needModel := func(example string) {
		if l.Model == "" {
			bad(prefix+".model", "is required for provider %s, e.g. %s", provider, example)
		}
	}
	switch provider {
	case ProviderScripted:
		if l.Script == "" {
			bad(prefix+".script", "is required for provider scripted: the YAML file of turns to replay")
		} else if _, err := os.Stat(l.Script); err != nil {
			bad(prefix+".script", "%v", err)
		}
	case ProviderOpenAI:
		needModel("gpt-4o-mini")
		if l.BaseURL == "" {
			needKey("OPENAI_API_KEY")
		}
	case ProviderAzure:
		if l.BaseURL == "" {
			bad(prefix+".base_url", "is required for provider azure: https://RESOURCE.openai.azure.com")
		}
		if l.Model == "" && l.Deployment == "" {
			bad(prefix+".deployment", "is required for provider azure: the deployment name of your model")
		}
		needKey("AZURE_OPENAI_API_KEY")
	case ProviderCompatible:
		needModel("llama3.1:8b")
		if l.BaseURL == "" {
			bad(prefix+".base_url", "is required for provider openai-compatible, e.g. http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 (vLLM)")
		}
	case ProviderAnthropic:
		needModel("claude-sonnet-4-5")
		needKey("ANTHROPIC_API_KEY")
	case ProviderGemini:
		needModel("gemini-2.5-flash")
		needKey("GEMINI_API_KEY")
	case ProviderBedrock:
		needModel("anthropic.claude-3-5-sonnet-20240620-v1:0")
		if l.Region == "" {
			bad(prefix+".region", "is required for provider bedrock, e.g. us-east-1; credentials come from the AWS default chain")
		}
	case ProviderOllama:
		needModel("llama3.1:8b")
	}
	if l.Timeout <= 0 {
		bad(prefix+".timeout", "must be positive, e.g. 2m")
	}
	if l.MaxRetries < 0 || l.MaxRetries > 10 {
		bad(prefix+".max_retries", "%d is outside 0..10", l.MaxRetries)
	}
	if l.Temperature != nil && (*l.Temperature < 0 || *l.Temperature > 2) {
		bad(prefix+".temperature", "%v is outside 0..2", *l.Temperature)
	}
	for m, p := range l.Prices {
		if p.InputPerMTok < 0 || p.OutputPerMTok < 0 {
			bad(prefix+".prices."+m, "prices cannot be negative")
		}
	}
}

// ErrUnauthenticatedWebhook is returned by CheckWebhookExposure when the
// webhook would take notifications from anyone.
var ErrUnauthenticatedWebhook = errors.New("the Alertmanager webhook has no credentials")

// CheckWebhookExposure refuses to expose /webhooks/alertmanager without
// credentials on an address other than loopback: anyone reaching it could
// open, merge and resolve incidents, post in the routed channels and start
// investigations. incidents.allow_unauthenticated accepts that risk
// (warn is then true, for a logged warning); warn is true too when the
// listener is loopback but Slack's HTTP mode says something forwards to
// it. incidents.webhook: false serves no webhook at all.
func (c Config) CheckWebhookExposure() (warn bool, err error) {
	ic := c.Incidents
	if !ic.Webhook || ic.BearerToken != "" || ic.BasicAuth.Username != "" {
		return false, nil
	}
	if Loopback(c.Server.Listen) {
		// Loopback, but Slack's HTTP mode means something forwards the
		// internet to this listener (a proxy, an ingress): the webhook
		// is reachable through it too.
		return c.SlackEnabled() && c.Slack.Mode == "http", nil
	}
	if ic.AllowUnauthenticated {
		return true, nil
	}
	return false, fmt.Errorf("%w, yet server.listen %q is reachable from other machines: set incidents.bearer_token "+
		"(or bearer_token_file, or basic_auth) and the same credentials in the Alertmanager receiver's http_config, "+
		"listen on 127.0.0.1, or — only on a network where every sender is trusted — set incidents.allow_unauthenticated: true",
		ErrUnauthenticatedWebhook, c.Server.Listen)
}

// SharedStoreWithoutLeader reports a store that several replicas can share
// (PostgreSQL) without leader election: if more than one replica runs, each
// believes it is alone, delivers the Slack outbox and runs the scheduled
// work itself, and a message can go out twice. serve logs it as a warning
// (one replica on PostgreSQL is fine).
func (c Config) SharedStoreWithoutLeader() bool {
	return c.Store.Driver == "postgres" && !c.LeaderElection.Enabled
}

// Loopback reports whether a host:port listens on a loopback address only
// ("localhost", 127.0.0.0/8, ::1). An empty host, 0.0.0.0 and [::] are
// every interface.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// gitURL accepts what Argo CD and Flux accept as a repository URL.
func gitURL(s string) bool {
	if strings.HasPrefix(s, "git@") && strings.Contains(s, ":") {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" || u.Scheme == "ssh")
}
