// Package config loads Watchkeeper's configuration: built-in defaults, then
// one YAML file, then WATCHKEEPER_* environment variables, then secrets
// read from *_file paths, then Validate. Parsing is strict: an unknown key
// is an error naming its line, because a misspelt setting that is silently
// ignored is worse than one that stops the start.
package config

import (
	"os"
	"path/filepath"
	"time"
)

// Config is the whole configuration. The zero value is not meaningful;
// start from Default.
type Config struct {
	Log        Log        `yaml:"log"`
	Server     Server     `yaml:"server"`
	Store      Store      `yaml:"store"`
	LLM        MainLLM    `yaml:"llm"`
	Agent      Agent      `yaml:"agent"`
	Memory     Memory     `yaml:"memory"`
	Telemetry  Telemetry  `yaml:"telemetry"`
	Sandbox    Sandbox    `yaml:"sandbox"`
	Prometheus Prometheus `yaml:"prometheus"`
	Logs       Logs       `yaml:"logs"`
	Traces     Traces     `yaml:"traces"`
	Kubernetes Kubernetes `yaml:"kubernetes"`
	// GitOps says how changes to objects Argo CD or Flux own are made: as
	// pull requests to the repository the owner follows.
	GitOps    GitOps    `yaml:"gitops"`
	Anomaly   Anomaly   `yaml:"anomaly"`
	Slack     Slack     `yaml:"slack"`
	Approval  Approval  `yaml:"approval"`
	Incidents Incidents `yaml:"incidents"`
	// Alertmanager is where approved silences are created.
	Alertmanager Alertmanager `yaml:"alertmanager"`
	Runbooks     Runbooks     `yaml:"runbooks"`
	// LeaderElection lets several replicas share one PostgreSQL store.
	LeaderElection LeaderElection `yaml:"leader_election"`
	// Eval configures `watchkeeper eval`.
	Eval Eval `yaml:"eval"`
	// MCP configures the Model Context Protocol: what `watchkeeper mcp
	// serve` offers other agents, and other MCP servers whose tools the
	// agent may use.
	MCP MCP `yaml:"mcp"`
}

// MCP configures both directions of the Model Context Protocol.
type MCP struct {
	// Serve is `watchkeeper mcp serve`.
	Serve MCPServe `yaml:"serve"`
	// Servers are MCP servers whose tools join the agent's, named
	// SERVER__TOOL.
	Servers []MCPServer `yaml:"servers"`
}

// MCPServe configures `watchkeeper mcp serve --http`.
type MCPServe struct {
	// Listen is host:port of the streamable HTTP endpoint (/mcp).
	Listen string `yaml:"listen"`
	// BearerToken every HTTP request must carry (Authorization: Bearer);
	// required over HTTP. stdio needs none: whoever starts the process
	// already has its configuration.
	BearerToken     Secret `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// RateLimit bounds requests per client address; more are answered
	// 429 with Retry-After.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Scope limits what MCP clients may see and change, as a Slack
	// channel's scope does: the namespaces and clusters of every call, and
	// the tools offered (empty: everything the configuration reaches).
	Scope SlackScope `yaml:"scope"`
	// ApprovalsChannel, with Slack configured, is the Slack channel ID
	// (C0123…) where proposals made over MCP are posted with their
	// Approve and Reject buttons; `serve` delivers them. Empty: they are
	// approved in the terminal only.
	ApprovalsChannel string `yaml:"approvals_channel"`
}

// MCPServer is one MCP server whose tools the agent may use: a command
// started over stdio, or a streamable HTTP URL.
type MCPServer struct {
	// Name prefixes its tools (NAME__TOOL): lower-case letters, digits
	// and single underscores, a letter first.
	Name string `yaml:"name"`
	// Command and Args start the server over stdio (no shell).
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
	// Env is added to the command's environment.
	Env map[string]string `yaml:"env"`
	// URL is a streamable HTTP endpoint, e.g. https://grafana-mcp:8000/mcp.
	URL string `yaml:"url"`
	// Headers are sent with every HTTP request; values of the form
	// ${NAME} are read from the environment, so tokens stay out of the
	// file.
	Headers map[string]string `yaml:"headers"`
	// AllowTools, when set, are the only tools used; DenyTools are never
	// used. Both are names as the server gives them, without the prefix.
	AllowTools []string `yaml:"allow_tools"`
	DenyTools  []string `yaml:"deny_tools"`
	// ReadOnly declares every allowed tool free of side effects, so it
	// runs when called. Otherwise each call is a proposal a person
	// approves, as for Kubernetes changes.
	ReadOnly bool `yaml:"read_only"`
	// Timeout bounds starting the server and each call (default 30s).
	Timeout Duration `yaml:"timeout"`
}

// LeaderElection elects one replica, with a Kubernetes Lease, for what one
// replica does at a time (delivering Slack messages). Every replica serves
// Slack and the webhooks; the shared store makes their work happen once.
type LeaderElection struct {
	// Enabled needs store.driver postgres and a Kubernetes API (in-cluster
	// or kubernetes.kubeconfig).
	Enabled bool `yaml:"enabled"`
	// Namespace of the Lease; default kubernetes.namespace, else the pod's
	// own namespace, else "default".
	Namespace string `yaml:"namespace"`
	// LeaseName is the Lease's name.
	LeaseName string `yaml:"lease_name"`
	// Identity names this replica; the hostname (the pod's name) by default.
	Identity string `yaml:"identity"`
	// LeaseDuration is how long a dead leader's duties can pause before a
	// follower takes over.
	LeaseDuration Duration `yaml:"lease_duration"`
	// RenewDeadline is how long the leader tries to renew before it stops
	// leading.
	RenewDeadline Duration `yaml:"renew_deadline"`
	// RetryPeriod is how often replicas try to take or renew the Lease.
	RetryPeriod Duration `yaml:"retry_period"`
}

// Eval configures the evaluation harness.
type Eval struct {
	// Judge is the model asked whether each expected fact is in an
	// answer; none (the default) judges with the deterministic checks only.
	Judge LLM `yaml:"judge"`
}

// Anomaly tunes the anomaly tools.
type Anomaly struct {
	// Signals replace the golden-signal queries of anomaly_scan. A query
	// may use $namespace and $service (regular expressions).
	Signals []AnomalySignal `yaml:"signals"`
	// Threshold is the anomaly score that counts as an anomaly (default
	// 0.83, the detector's NAB-optimised threshold).
	Threshold float64 `yaml:"threshold"`
}

// AnomalySignal is one golden-signal query.
type AnomalySignal struct {
	// Name labels the signal in results (errors, latency_p99).
	Name string `yaml:"name"`
	// Query is PromQL returning one series per service; $namespace and
	// $service are replaced by regular expressions.
	Query string `yaml:"query"`
	// Up: only rises matter (errors, latency, saturation).
	Up bool `yaml:"up"`
}

// HTTPClient is how to reach an HTTP backend: credentials, TLS, extra
// headers and a timeout. It is inlined in each backend's section, as
// Prometheus's own configuration does.
type HTTPClient struct {
	// BearerToken is sent as Authorization: Bearer.
	BearerToken     Secret `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BasicAuth is HTTP basic authentication (instead of a bearer token).
	BasicAuth BasicAuth `yaml:"basic_auth"`
	// TLS verifies the server and presents a client certificate.
	TLS TLS `yaml:"tls"`
	// Headers are added to every request (a tenant header, an API key);
	// their values are treated as secrets.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request.
	Timeout Duration `yaml:"timeout"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	// Username for basic authentication.
	Username string `yaml:"username"`
	// Password for basic authentication.
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLS configures server verification and client certificates.
type TLS struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Prometheus is the metrics backend: Prometheus, Thanos, Mimir or
// VictoriaMetrics through the standard HTTP API.
type Prometheus struct {
	// URL is the API's base (http://prometheus:9090). Empty: no metrics
	// tools, except in the demo, which uses the sandbox.
	URL        string `yaml:"url"`
	HTTPClient `yaml:",inline"`
	// Link is where "open in UI" links point.
	Link Link `yaml:"link"`
}

// Link builds links to a query in a UI.
type Link struct {
	// Kind is prometheus (the Prometheus graph page) or grafana (Explore).
	Kind string `yaml:"kind"`
	// URL is the UI's base URL; the API URL is used when empty.
	URL string `yaml:"url"`
	// Datasource is Grafana's data source UID.
	Datasource string `yaml:"datasource"`
}

// Logs is the log backend.
type Logs struct {
	// Backend is none, loki, victorialogs or kubernetes.
	Backend string `yaml:"backend"`
	// URL is the log store's base URL (http://loki:3100,
	// http://victorialogs:9428); unused by the kubernetes backend.
	URL        string `yaml:"url"`
	HTTPClient `yaml:",inline"`
	// Tenant is sent as X-Scope-OrgID (Loki) or AccountID (VictoriaLogs).
	Tenant string `yaml:"tenant"`
	// Labels name the stream labels (or fields) that hold the service,
	// namespace and pod. For the kubernetes backend, labels.service is
	// the pod label tried first to find a service's pods.
	Labels LogLabels `yaml:"labels"`
	// Link is where "open in UI" links point: grafana (Explore, for Loki)
	// or, for VictoriaLogs, its own UI (the default).
	Link Link `yaml:"link"`
	// MaxLines is the most lines a search reads per window (default
	// 100000); past it the answer says it stopped early.
	MaxLines int `yaml:"max_lines"`
}

// Traces is the trace store that traces_search and trace_get read, and
// the incident investigation's trace step.
type Traces struct {
	// Backend is none, jaeger or tempo.
	Backend string `yaml:"backend"`
	// URL is the store's query API: Jaeger's query service
	// (http://jaeger-query:16686) or Tempo's HTTP API (http://tempo:3200).
	URL        string `yaml:"url"`
	HTTPClient `yaml:",inline"`
	// Tenant is sent as X-Scope-OrgID to a multi-tenant Tempo.
	Tenant string `yaml:"tenant"`
	// Link is where trace links point. Jaeger: its UI (kind jaeger, the
	// default; url defaults to traces.url) or none. Tempo: grafana
	// (Explore; url is Grafana's, datasource the Tempo data source's UID)
	// or none (the default).
	Link Link `yaml:"link"`
	// MaxSpans is the most spans traces_search reads per window (default
	// 200000); past it the answer says it is partial.
	MaxSpans int `yaml:"max_spans"`
	// KeepWithIncidents keeps the sampled traces an incident's
	// investigation read with the incident in the store (default true),
	// so the trace IDs its thread cites outlive the trace store's
	// retention: every error trace, the slow and anomalous ones, new
	// paths and a share of the rest (docs/traces.md).
	KeepWithIncidents bool `yaml:"keep_with_incidents"`
}

// LogLabels are label names in the log backend.
type LogLabels struct {
	// Service is the label holding the service's name.
	Service string `yaml:"service"`
	// Namespace is the label holding the Kubernetes namespace.
	Namespace string `yaml:"namespace"`
	// Pod is the label holding the pod's name.
	Pod string `yaml:"pod"`
}

// Kubernetes says how to reach the cluster.
type Kubernetes struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster when running
	// in a pod, else $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context selects a kubeconfig context.
	Context string `yaml:"context"`
	// Namespace is used when a question names none (default: the
	// kubeconfig context's namespace, else "default").
	Namespace string `yaml:"namespace"`
	// Actions offers the proposing tools (restart, scale, undo, delete
	// pod, cordon, suspend); each proposal still needs an approval.
	Actions bool `yaml:"actions"`
	// MinReplicas is the fewest replicas a scale proposal may ask for
	// (default 1: scaling to zero is an outage, so it must be allowed
	// explicitly with 0).
	MinReplicas int `yaml:"min_replicas"`
	// MaxReplicas bounds scale proposals.
	MaxReplicas int `yaml:"max_replicas"`
	// Impersonate, when users are listed, applies approved changes as the
	// approving person's Kubernetes user, so the cluster's RBAC decides.
	Impersonate Impersonate `yaml:"impersonate"`
	// Verify checks restarts, rollbacks and scaling a while after they
	// were applied, comparing a key metric before and after (needs
	// prometheus.url; empty query: off).
	Verify Verify `yaml:"verify"`
}

// Verify configures the check after an applied change.
type Verify struct {
	// Name of the metric in reports ("error ratio").
	Name string `yaml:"name"`
	// Query is PromQL with $namespace and $name (the deployment); lower
	// is better.
	Query string `yaml:"query"`
	// Window is how long to wait, and the span compared on each side.
	Window Duration `yaml:"window"`
	// Objective is the level at or below which the metric is healthy
	// (0: none). A change that made it better but left it above the
	// objective at the end of the window has not fixed the fault, and
	// the plan's next step is proposed.
	Objective float64 `yaml:"objective"`
	// Saturation also holds a step of the CPU-saturation plan to the CPU
	// it leaves in use (empty query: off).
	Saturation Saturation `yaml:"saturation"`
}

// Saturation is a deployment's CPU use over its limit, checked at the end
// of the verify window after a step of the CPU-saturation plan.
type Saturation struct {
	// Name of the metric in reports ("CPU use of the limit").
	Name string `yaml:"name"`
	// Query is PromQL with $namespace and $name (the deployment): its
	// CPU use over its CPU limit.
	Query string `yaml:"query"`
	// Objective is the level under which the service is not saturated
	// (the autoscaler's target); above it, the plan's next step is
	// proposed.
	Objective float64 `yaml:"objective"`
}

// Impersonate maps approvers to Kubernetes identities.
type Impersonate struct {
	// Users maps an approver (Slack user ID, or "terminal:NAME") to a
	// Kubernetes user name.
	Users map[string]string `yaml:"users"`
	// Groups are added to every impersonated request.
	Groups []string `yaml:"groups"`
}

// Sandbox configures the embedded simulated shop used by `watchkeeper demo`
// and `watchkeeper sandbox serve`.
type Sandbox struct {
	// Scenario is a built-in scenario name or a path to a scenario file.
	Scenario string `yaml:"scenario"`
	// Seed overrides the scenario's seed when not zero.
	Seed uint64 `yaml:"seed"`
	// Speed is simulated seconds per real second.
	Speed float64 `yaml:"speed"`
	// History overrides the scenario's length of generated history.
	History Duration `yaml:"history"`
	// Listen is where the sandbox serves its Prometheus, Loki and admin
	// APIs.
	Listen string `yaml:"listen"`
	// WebhookURLs receive its alerts as Alertmanager webhooks.
	WebhookURLs []string `yaml:"webhook_urls"`
}

// Log configures the process's own logs.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
}

// Server is the HTTP listener for /metrics, /healthz and /readyz.
type Server struct {
	// Listen is host:port for /metrics, /healthz, /readyz, the
	// Alertmanager webhook and Slack's HTTP mode.
	Listen string `yaml:"listen"`
	// Metrics, when credentials are set, requires them on /metrics (a
	// bearer token or basic auth, as Prometheus's scrape_config sends).
	// /healthz and /readyz stay open for the kubelet's probes.
	Metrics MetricsAuth `yaml:"metrics"`
}

// MetricsAuth is what a scrape of /metrics must carry.
type MetricsAuth struct {
	// BearerToken is the Authorization: Bearer a scrape must send.
	BearerToken     Secret `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BasicAuth is the user and password a scrape must send instead.
	BasicAuth BasicAuth `yaml:"basic_auth"`
}

// Store is where conversations, runs, proposals and the audit log live.
type Store struct {
	// Driver is sqlite (embedded, one replica; the default) or postgres
	// (several replicas share it).
	Driver string `yaml:"driver"`
	// Path is the SQLite database file.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection URL, e.g.
	// postgres://watchkeeper@db:5432/watchkeeper?sslmode=require; its
	// password is a secret (prefer dsn_file or WATCHKEEPER_STORE_DSN).
	DSN     Secret `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
}

// Provider names.
const (
	ProviderNone       = "none"
	ProviderScripted   = "scripted"
	ProviderOpenAI     = "openai"
	ProviderAzure      = "azure"
	ProviderCompatible = "openai-compatible"
	ProviderAnthropic  = "anthropic"
	ProviderGemini     = "gemini"
	ProviderBedrock    = "bedrock"
	ProviderOllama     = "ollama"
)

// Providers returns every accepted llm.provider.
func Providers() []string {
	return []string{ProviderNone, ProviderScripted, ProviderOpenAI, ProviderAzure, ProviderCompatible,
		ProviderAnthropic, ProviderGemini, ProviderBedrock, ProviderOllama}
}

// LLM selects and configures the language model.
type LLM struct {
	// Provider is one of Providers; none (or empty) runs without a model.
	Provider string `yaml:"provider"`
	// Model is the provider's model name (gpt-4o-mini, claude-sonnet-4-5,
	// llama3.1:8b).
	Model string `yaml:"model"`
	// BaseURL is the API endpoint: required for azure and
	// openai-compatible, optional elsewhere.
	BaseURL string `yaml:"base_url"`
	// APIKey is the provider's key; for llm also WATCHKEEPER_LLM_API_KEY
	// or the provider's own variable (OPENAI_API_KEY, ANTHROPIC_API_KEY…).
	APIKey     Secret `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// Organization is OpenAI's organization header.
	Organization string `yaml:"organization"`
	// APIVersion and Deployment are Azure OpenAI's.
	APIVersion string `yaml:"api_version"`
	Deployment string `yaml:"deployment"`
	// Region is the AWS region for bedrock.
	Region string `yaml:"region"`
	// Script is the YAML script replayed by the scripted provider.
	Script string `yaml:"script"`
	// Timeout bounds one model request.
	Timeout Duration `yaml:"timeout"`
	// MaxRetries on 429, 5xx and connection errors.
	MaxRetries int `yaml:"max_retries"`
	// Stream asks for streamed replies so surfaces show progress.
	Stream bool `yaml:"stream"`
	// ToolCalling is auto, native or react.
	ToolCalling string `yaml:"tool_calling"`
	// Temperature is sent when set.
	Temperature *float64 `yaml:"temperature"`
	// MaxOutputTokens caps each reply; 0 leaves it to the provider.
	MaxOutputTokens int `yaml:"max_output_tokens"`
	// Headers are added to every request (openai providers).
	Headers map[string]string `yaml:"headers"`
	// Prices per model name, in USD per million tokens, for the cost line
	// and the budgets; they override or add to the built-in list prices
	// of well-known models (agent.DefaultPrices).
	Prices map[string]Price `yaml:"prices"`
}

// MainLLM is the llm section: the model that answers, what models may
// cost, and an optional fast model beside it.
type MainLLM struct {
	LLM `yaml:",inline"`
	// Budget caps what the models cost, per question, per incident and
	// per day.
	Budget Budget `yaml:"budget"`
	// Fast is an optional cheaper model that summarises long tool outputs
	// and writes incidents' first assessments; the main model answers
	// people.
	Fast FastLLM `yaml:"fast"`
}

// Budget caps model spending in US dollars; 0 is no limit. A run is held
// to the smallest of what is left: of its question's budget, of its
// incident's (every run in an incident's thread counts), and of the day's
// (UTC, every run of every replica sharing the store). When one runs out
// the run answers from the evidence so far with a note; with the day's or
// the incident's spent, questions are answered without the model.
type Budget struct {
	// QuestionUSD caps one question's run (an answer, an assessment).
	QuestionUSD float64 `yaml:"question_usd"`
	// IncidentUSD caps all runs in one incident's thread together.
	IncidentUSD float64 `yaml:"incident_usd"`
	// DayUSD caps all runs of a UTC day together.
	DayUSD float64 `yaml:"day_usd"`
}

// FastLLM is the fast model. A field left empty is taken from llm when
// the provider is the same (or empty), so usually only model is set.
type FastLLM struct {
	// Provider is one of Providers; empty means llm.provider.
	Provider string `yaml:"provider"`
	// Model is the fast model's name (gpt-4o-mini, claude-haiku-4-5);
	// setting it turns the fast model on.
	Model string `yaml:"model"`
	// BaseURL is the fast model's endpoint when it differs from llm's.
	BaseURL string `yaml:"base_url"`
	// APIKey is the fast model's key when it differs from llm's.
	APIKey     Secret `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// Deployment is the Azure deployment of the fast model.
	Deployment string `yaml:"deployment"`
	// Region is the AWS region for bedrock when it differs from llm's.
	Region string `yaml:"region"`
	// Headers replace llm.headers for the fast model when set.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one fast request; llm.timeout when 0.
	Timeout Duration `yaml:"timeout"`
}

// Enabled reports whether a fast model is configured.
func (f FastLLM) Enabled() bool { return f.Model != "" || f.Deployment != "" }

// FastLLM returns the fast model's section as a full model section: its
// own fields over llm's, when its provider is llm's; on its own
// otherwise (another provider shares no endpoint or key).
func (l MainLLM) FastLLM() LLM {
	f := l.Fast
	out := LLM{Provider: l.Provider, Timeout: l.Timeout, MaxRetries: l.MaxRetries, ToolCalling: "native", Prices: l.Prices}
	if f.Provider == "" || f.Provider == l.Provider {
		out.BaseURL, out.APIKey, out.Organization, out.APIVersion, out.Region, out.Headers =
			l.BaseURL, l.APIKey, l.Organization, l.APIVersion, l.Region, l.Headers
	} else {
		out.Provider = f.Provider
	}
	out.Model, out.Deployment = f.Model, f.Deployment
	for dst, src := range map[*string]string{&out.BaseURL: f.BaseURL, &out.Region: f.Region} {
		if src != "" {
			*dst = src
		}
	}
	if f.APIKey != "" {
		out.APIKey = f.APIKey
	}
	if f.Headers != nil {
		out.Headers = f.Headers
	}
	if f.Timeout > 0 {
		out.Timeout = f.Timeout
	}
	return out
}

// Price is a model's price in USD per million tokens.
type Price struct {
	InputPerMTok  float64 `yaml:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok"`
}

// Agent bounds every run.
type Agent struct {
	// MaxSteps is the number of model calls in one run; on the last the
	// tools are withdrawn so the model must answer.
	MaxSteps int `yaml:"max_steps"`
	// MaxParallelTools bounds the tool calls of one step run at once.
	MaxParallelTools int `yaml:"max_parallel_tools"`
	// ToolOutputTokens is the most one tool result may put before the
	// model; longer output is cut with a note to narrow the query.
	ToolOutputTokens int `yaml:"tool_output_tokens"`
	// MaxRunTokens bounds input plus output tokens over a run.
	MaxRunTokens int `yaml:"max_run_tokens"`
	// RunTimeout bounds the wall-clock time of a run.
	RunTimeout Duration `yaml:"run_timeout"`
	// ToolTimeout bounds one tool call.
	ToolTimeout Duration `yaml:"tool_timeout"`
}

// Memory bounds conversation history.
type Memory struct {
	// ContextTokens is the most history sent with a question; older tool
	// output is dropped first, then older turns are summarised.
	ContextTokens int `yaml:"context_tokens"`
}

// Telemetry configures tracing; metrics are always served.
type Telemetry struct {
	Tracing Tracing `yaml:"tracing"`
}

// Tracing exports OpenTelemetry traces over OTLP/HTTP when Endpoint is set.
type Tracing struct {
	// Endpoint is the OTLP/HTTP base URL, e.g. http://otel-collector:4318.
	// Empty disables tracing.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of runs traced (0..1).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `yaml:"service_name"`
}

// Slack connects Watchkeeper to a Slack workspace. It is off until a bot
// token is set (slack.bot_token, WATCHKEEPER_SLACK_BOT_TOKEN or
// SLACK_BOT_TOKEN).
type Slack struct {
	// Mode is socket (default; needs an app-level token, no public URL)
	// or http (the Events API at /slack/events, /slack/commands and
	// /slack/interactions on server.listen; needs the signing secret).
	Mode string `yaml:"mode"`
	// BotToken is the bot's OAuth token (xoxb-…); also SLACK_BOT_TOKEN.
	BotToken     Secret `yaml:"bot_token"`
	BotTokenFile string `yaml:"bot_token_file"`
	// AppToken is the app-level token for Socket Mode (xapp-…); also
	// SLACK_APP_TOKEN.
	AppToken     Secret `yaml:"app_token"`
	AppTokenFile string `yaml:"app_token_file"`
	// SigningSecret checks the signatures of HTTP-mode requests; also
	// SLACK_SIGNING_SECRET.
	SigningSecret     Secret `yaml:"signing_secret"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// APIURL overrides https://slack.com/api/ (a proxy, or tests).
	APIURL string `yaml:"api_url"`
	// Connections is how many Socket Mode connections to keep open (1–10);
	// Slack spreads envelopes across them, so bursts are acknowledged in
	// parallel.
	Connections int `yaml:"connections"`
	// Workers bound how many requests are worked on at once; Queue how
	// many more wait. Beyond that people are told to try again.
	Workers int `yaml:"workers"`
	Queue   int `yaml:"queue"`
	// AllowBots answers messages from other bots (off: only people).
	AllowBots bool `yaml:"allow_bots"`
	// Stream is how an answer's text appears while the model writes it:
	// auto (Slack's streaming methods for AI apps where the workspace
	// allows them, else updates), updates (edits of the progress message,
	// one every second or two) or off (only the finished answer).
	Stream string `yaml:"stream"`
	// Channels scope what each channel may see and do; channels not
	// listed get Default.
	Channels []SlackChannel `yaml:"channels"`
	Default  SlackScope     `yaml:"default"`
	// Alerts route alert notifications to channels; the first matching
	// route wins.
	Alerts []AlertRoute `yaml:"alerts"`
}

// SlackScope is what a channel may look at. Empty lists allow everything.
type SlackScope struct {
	// Namespaces the channel may look at and change.
	Namespaces []string `yaml:"namespaces"`
	// Clusters the channel may look at and change.
	Clusters []string `yaml:"clusters"`
	// Tools the channel may use, by name (prom_query, kube_get…).
	Tools []string `yaml:"tools"`
}

// SlackChannel scopes one channel by ID (C0123…).
type SlackChannel struct {
	// ID is the channel's ID (C0123…), not its name.
	ID         string `yaml:"id"`
	SlackScope `yaml:",inline"`
}

// AlertRoute sends alerts whose labels match every matcher to Channel.
type AlertRoute struct {
	// Channel is the channel's ID (C0123…) incidents are posted in.
	Channel string `yaml:"channel"`
	// Match is label → value (exact) or "~regex".
	Match map[string]string `yaml:"match"`
}

// Runbooks says where the team's Markdown runbooks are.
type Runbooks struct {
	// Dir is a directory of runbooks; with URL, where the repository's
	// working copy is kept (default: beside the store). Empty and no URL:
	// the examples shipped with Watchkeeper.
	Dir string `yaml:"dir"`
	// URL of the runbooks git repository (HTTPS or SSH); postmortems and
	// approved runbook changes are committed there on branches and pushed.
	URL string `yaml:"url"`
	// Branch the repository's runbooks are read from (default main).
	Branch string `yaml:"branch"`
	// Token for HTTPS (sent as basic-auth password), or SSHKeyFile.
	Token      Secret `yaml:"token"`
	TokenFile  string `yaml:"token_file"`
	SSHKeyFile string `yaml:"ssh_key_file"`
	// PRLink is a pull-request link template with {branch}, e.g.
	// https://github.com/acme/runbooks/compare/{branch}?expand=1
	PRLink string `yaml:"pr_link"`
}

// GitOps configures changes to GitOps-owned objects. A workload whose
// labels or annotations name an Argo CD Application or a Flux
// Kustomization or HelmRelease is not changed directly: a rollback, a
// scale or a restart is proposed as a commit to the owner's repository,
// and approving it pushes a watchkeeper/… branch and opens a pull (or
// merge) request, which is followed until merged and synced.
type GitOps struct {
	// ArgoCDNamespace is where Argo CD's Applications live.
	ArgoCDNamespace string `yaml:"argocd_namespace"`
	// AcceptDrift lists the actions (restart, scale, rollback) still made
	// directly on a GitOps-owned object: the team accepts that its owner
	// reverts them at the next sync, or leaves the cluster apart from git.
	// Empty: every change to such an object is a pull request.
	AcceptDrift []string `yaml:"accept_drift"`
	// Repositories give the credentials and forge of the repositories
	// owners follow; an owner whose repository matches none gets a
	// proposal that says what is missing.
	Repositories []GitOpsRepository `yaml:"repositories"`
	// PollInterval is how often an open pull request is looked at.
	PollInterval Duration `yaml:"poll_interval"`
	// SyncTimeout bounds the wait, after a merge, for the owner to apply
	// the change before it is reported as not synced.
	SyncTimeout Duration `yaml:"sync_timeout"`
	// WorkDir keeps the working copies (default: beside the store).
	WorkDir string `yaml:"work_dir"`
}

// GitOpsRepository is one repository (or every repository under a URL
// prefix) that GitOps owners follow.
type GitOpsRepository struct {
	// URL is the repository's URL, or a prefix of several
	// (https://github.com/acme/), as the owners write it.
	URL string `yaml:"url"`
	// Token authenticates git over HTTPS and the forge's API.
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// SSHKeyFile authenticates git over SSH instead.
	SSHKeyFile string `yaml:"ssh_key_file"`
	// Forge is github, gitlab, or none (the branch is pushed and the pull
	// request left to a person, with a link); empty: github for
	// github.com, gitlab for a gitlab.* host, else none.
	Forge string `yaml:"forge"`
	// APIURL is the forge's API: https://api.github.com,
	// https://HOST/api/v3 (GitHub Enterprise), https://gitlab.com/api/v4.
	APIURL string `yaml:"api_url"`
}

// Alertmanager is the Alertmanager the Silence button proposes silences in.
type Alertmanager struct {
	// URL is its base URL, e.g. http://alertmanager:9093; empty: no silences.
	URL        string `yaml:"url"`
	HTTPClient `yaml:",inline"`
}

// Incidents configures the Alertmanager receiver (POST
// /webhooks/alertmanager on server.listen) and incident handling.
type Incidents struct {
	// Webhook serves /webhooks/alertmanager on server.listen; false
	// serves no webhook (Slack without Alertmanager).
	Webhook bool `yaml:"webhook"`
	// Webhook credentials Alertmanager's receiver http_config sends: a
	// bearer token, or basic auth. Empty: no authentication (only on a
	// trusted network).
	BearerToken     Secret    `yaml:"bearer_token"`
	BearerTokenFile string    `yaml:"bearer_token_file"`
	BasicAuth       BasicAuth `yaml:"basic_auth"`
	// AllowUnauthenticated lets serve expose the webhook without
	// credentials on an address other than loopback. Without credentials
	// anyone who reaches the port can open, resolve and merge incidents
	// and post what they like in your channels; only set it on a network
	// where every sender is trusted.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// TrustedGeneratorURLs are URL prefixes of the Prometheus servers whose
	// alert expressions (generatorURL's g0.expr) the investigation may run;
	// an alert from anywhere else has its expression ignored. Default:
	// prometheus.url and prometheus.link.url.
	TrustedGeneratorURLs []string `yaml:"trusted_generator_urls"`
	// RateLimit bounds notifications per sender (client address); more
	// are answered 429 with Retry-After, and Alertmanager retries.
	RateLimit RateLimit `yaml:"rate_limit"`
	// MaxInvestigations is how many automatic investigations run at once;
	// the rest are taken up as slots free (nothing is dropped).
	MaxInvestigations int `yaml:"max_investigations"`
	// StormWindow merges new groups of the same alert in the same channel
	// into an incident opened this recently.
	StormWindow Duration `yaml:"storm_window"`
	// Investigate runs the automatic investigation when an incident opens.
	Investigate bool `yaml:"investigate"`
	// ProposeRemediation ends the investigation with the remediation
	// plan's first step for the likely cause (a rollback, a restart, a
	// scale-out), proposed in the thread for a person to approve, or an
	// escalation when no change in the cluster fits the cause (default
	// true; needs kubernetes.actions). Nothing changes without approval.
	ProposeRemediation bool `yaml:"propose_remediation"`
	// PostmortemOnResolve drafts the postmortem as soon as an incident
	// resolves, instead of waiting for the Draft postmortem button.
	PostmortemOnResolve bool `yaml:"postmortem_on_resolve"`
}

// RateLimit is a token bucket per sender.
type RateLimit struct {
	// PerSecond is the sustained rate of notifications a sender may send.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many it may send at once.
	Burst int `yaml:"burst"`
}

// Approval is the approval policy. Until the full policy engine lands,
// Approvers are the only people who may approve changes to a system;
// without any, proposals can be shown but not approved from Slack.
type Approval struct {
	// Approvers are Slack user IDs (U0123…) allowed to approve writes.
	Approvers []string `yaml:"approvers"`
	// Expiry is how long a proposal can be approved (default 15m).
	Expiry Duration `yaml:"expiry"`
	// SelfApproval lets the person who asked approve their own proposal.
	SelfApproval bool `yaml:"self_approval"`
	// Rules, when set, replace Approvers: the first rule that covers a
	// proposal's action and namespace says who may approve it.
	Rules []ApprovalRule `yaml:"rules"`
}

// ApprovalRule says who may approve which actions where.
type ApprovalRule struct {
	// Actions are tool names (kube_scale, kube_rollout_undo, …); empty: all.
	Actions []string `yaml:"actions"`
	// Namespaces the rule covers; empty: all.
	Namespaces []string `yaml:"namespaces"`
	// Clusters the rule covers; empty: all.
	Clusters []string `yaml:"clusters"`
	// Users are Slack user IDs; Groups Slack user group IDs (S0123…).
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
	// TwoPerson needs two different approvers (e.g. for prod).
	TwoPerson bool `yaml:"two_person"`
	// SelfApproval lets the person who asked approve their own proposal.
	SelfApproval bool `yaml:"self_approval"`
}

// Default returns the built-in defaults: no model, the embedded SQLite
// store in the user's state directory, metrics on localhost.
func Default() Config {
	return Config{
		Log:    Log{Level: "info", Format: "json"},
		Server: Server{Listen: "127.0.0.1:8080"},
		Store:  Store{Driver: "sqlite", Path: filepath.Join(stateDir(), "watchkeeper.db")},
		LLM: MainLLM{LLM: LLM{
			Provider:    ProviderNone,
			Timeout:     Duration(2 * time.Minute),
			MaxRetries:  3,
			Stream:      true,
			ToolCalling: "auto",
		}, Budget: Budget{QuestionUSD: 1, IncidentUSD: 5, DayUSD: 50}},
		Agent: Agent{
			MaxSteps:         12,
			MaxParallelTools: 4,
			ToolOutputTokens: 4000,
			MaxRunTokens:     200_000,
			RunTimeout:       Duration(5 * time.Minute),
			ToolTimeout:      Duration(2 * time.Minute),
		},
		Memory:     Memory{ContextTokens: 24_000},
		Sandbox:    Sandbox{Scenario: "default", Speed: 1, Listen: "127.0.0.1:9095"},
		Prometheus: Prometheus{HTTPClient: HTTPClient{Timeout: Duration(30 * time.Second)}, Link: Link{Kind: "prometheus"}},
		Logs: Logs{Backend: "none", HTTPClient: HTTPClient{Timeout: Duration(30 * time.Second)},
			Labels: LogLabels{Service: "service", Namespace: "namespace", Pod: "pod"}, MaxLines: 100_000},
		Traces:    Traces{Backend: "none", HTTPClient: HTTPClient{Timeout: Duration(30 * time.Second)}, MaxSpans: 200_000, KeepWithIncidents: true},
		Telemetry: Telemetry{Tracing: Tracing{SampleRatio: 1, ServiceName: "watchkeeper"}},
		Kubernetes: Kubernetes{Actions: true, MinReplicas: 1, MaxReplicas: 50, Verify: Verify{Name: "error ratio", Window: Duration(5 * time.Minute), Objective: 0.01,
			Query: `sum(rate(http_requests_total{namespace="$namespace", service="$name", code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="$namespace", service="$name"}[1m]))`,
			// A deployment's pods are named <deployment>-<hash>-<suffix>.
			Saturation: Saturation{Name: "CPU use of the limit", Objective: 0.8,
				Query: `sum(rate(container_cpu_usage_seconds_total{namespace="$namespace", pod=~"$name-[a-z0-9]+-[a-z0-9]+", container!="", container!="POD"}[1m])) / sum(kube_pod_container_resource_limits{namespace="$namespace", pod=~"$name-[a-z0-9]+-[a-z0-9]+", resource="cpu"})`}}},
		Slack:    Slack{Mode: "socket", Workers: 8, Queue: 256, Connections: 2, Stream: "auto"},
		Approval: Approval{Expiry: Duration(15 * time.Minute)},
		Incidents: Incidents{Webhook: true, StormWindow: Duration(10 * time.Minute), Investigate: true, ProposeRemediation: true,
			RateLimit: RateLimit{PerSecond: 20, Burst: 200}, MaxInvestigations: 4},
		GitOps: GitOps{ArgoCDNamespace: "argocd", PollInterval: Duration(time.Minute), SyncTimeout: Duration(10 * time.Minute)},
		LeaderElection: LeaderElection{LeaseName: "watchkeeper", LeaseDuration: Duration(15 * time.Second),
			RenewDeadline: Duration(10 * time.Second), RetryPeriod: Duration(2 * time.Second)},
		MCP:  MCP{Serve: MCPServe{Listen: "127.0.0.1:8091", RateLimit: RateLimit{PerSecond: 20, Burst: 100}}},
		Eval: Eval{Judge: LLM{Provider: ProviderNone, Timeout: Duration(2 * time.Minute), MaxRetries: 3, ToolCalling: "auto"}},
	}
}

// stateDir is $XDG_STATE_HOME/watchkeeper, ~/.local/state/watchkeeper, or
// the working directory when there is no home.
func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "watchkeeper")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "watchkeeper")
	}
	return "."
}

// SearchPaths are the files tried, in order, when no --config is given.
func SearchPaths() []string {
	paths := []string{"watchkeeper.yaml"}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		paths = append(paths, filepath.Join(d, "watchkeeper", "config.yaml"))
	} else if h, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(h, ".config", "watchkeeper", "config.yaml"))
	}
	return append(paths, "/etc/watchkeeper/config.yaml")
}
