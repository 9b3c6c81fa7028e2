package config

import (
	"fmt"
	"net/url"
	"strings"
)

// SummaryLine is one line of a Summary: a section of the configuration,
// named as in the configuration reference, and what it is set to.
type SummaryLine struct {
	Section string
	Value   string
}

// Summary says what is enabled and where, one line per part that matters
// to someone checking a deployment: the model, the store, the backends,
// Slack, the Alertmanager webhook, approvals, leader election. It names
// settings as the configuration reference does and shows no secret, only
// whether one is set. `watchkeeper config check` prints it; the whole
// configuration is `config check --full`.
func (c Config) Summary() []SummaryLine {
	on := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	var out []SummaryLine
	add := func(section, format string, a ...any) {
		out = append(out, SummaryLine{section, fmt.Sprintf(format, a...)})
	}

	if c.HasModel() {
		m := c.LLM.Provider + " " + c.LLM.Model
		if c.LLM.Deployment != "" {
			m += " (deployment " + c.LLM.Deployment + ")"
		}
		if c.LLM.BaseURL != "" {
			m += " at " + c.LLM.BaseURL
		}
		if f := c.LLM.Fast; f.Enabled() {
			m += "; fast " + strings.TrimSpace(f.Provider+" "+f.Model+f.Deployment)
		}
		if b := c.LLM.Budget; b != (Budget{}) {
			m += "; budget " + budgetText(b)
		}
		add("llm", "%s", m)
	} else {
		add("llm", "none: chat and demo run tools only (set llm.provider and llm.model)")
	}

	switch c.Store.Driver {
	case "postgres":
		add("store", "postgres %s", dsnWhere(c.Store.DSN.Reveal(), c.Store.DSNFile))
	default:
		add("store", "sqlite %s", c.Store.Path)
	}

	metrics := "open"
	if c.Server.Metrics.BearerToken != "" || c.Server.Metrics.BearerTokenFile != "" || c.Server.Metrics.BasicAuth.Username != "" {
		metrics = "need credentials"
	}
	add("server", "%s (/metrics %s, /healthz, /readyz); log %s %s", c.Server.Listen, metrics, c.Log.Level, c.Log.Format)

	if c.Prometheus.URL != "" {
		add("prometheus", "%s; links: %s", c.Prometheus.URL, orNone(c.Prometheus.Link.Kind))
	} else {
		add("prometheus", "none: no metrics tools (the demo uses its sandbox)")
	}

	switch c.Logs.Backend {
	case "", "none":
		add("logs", "none: no log search (the demo uses its sandbox)")
	case "kubernetes":
		add("logs", "kubernetes: pod logs through the Kubernetes API")
	default:
		add("logs", "%s %s", c.Logs.Backend, c.Logs.URL)
	}

	switch tr := c.Traces; tr.Backend {
	case "", "none":
		add("traces", "none: no trace tools")
	default:
		s := tr.Backend + " " + tr.URL
		if tr.Tenant != "" {
			s += ", tenant " + tr.Tenant
		}
		switch {
		case tr.Link.Kind == "grafana":
			s += "; links: grafana " + tr.Link.URL
		case tr.Backend == "jaeger" && tr.Link.Kind != "none":
			s += "; links: jaeger"
		default:
			s += "; links: none"
		}
		add("traces", "%s", s)
	}

	k := c.Kubernetes
	where := "kubeconfig " + k.Kubeconfig
	if k.Kubeconfig == "" {
		where = "in-cluster in a pod, else $KUBECONFIG or ~/.kube/config"
	}
	if k.Context != "" {
		where += ", context " + k.Context
	}
	if k.Namespace != "" {
		where += ", namespace " + k.Namespace
	}
	verify := on(k.Verify.Query != "")
	if k.Verify.Query != "" && c.Prometheus.URL == "" {
		verify = "off (needs prometheus.url)"
	}
	add("kubernetes", "%s; actions %s, verify %s", where, on(k.Actions), verify)

	if c.SlackEnabled() {
		s := fmt.Sprintf("%s mode", c.Slack.Mode)
		if c.Slack.Mode == "http" {
			s += " (/slack/* on " + c.Server.Listen + ")"
		}
		s += fmt.Sprintf("; %d channel scopes, %d alert routes", len(c.Slack.Channels), len(c.Slack.Alerts))
		add("slack", "%s", s)
	} else {
		add("slack", "off (no slack.bot_token)")
	}

	add("incidents", "%s", c.webhookSummary())

	if c.Alertmanager.URL != "" {
		add("alertmanager", "%s (silences)", c.Alertmanager.URL)
	} else {
		add("alertmanager", "none: no silences")
	}

	a := c.Approval
	switch {
	case len(a.Rules) > 0:
		add("approval", "%d rules (they replace approval.approvers); proposals expire after %s", len(a.Rules), a.Expiry)
	case len(a.Approvers) > 0:
		add("approval", "%d approvers, self-approval %s; proposals expire after %s", len(a.Approvers), on(a.SelfApproval), a.Expiry)
	default:
		add("approval", "no approvers: Slack shows proposals but nobody may approve them (the terminal approves its own)")
	}

	if c.LeaderElection.Enabled {
		ns := c.LeaderElection.Namespace
		if ns == "" {
			ns = "the pod's namespace"
		}
		add("leader_election", "on: Lease %s in %s", c.LeaderElection.LeaseName, ns)
	} else {
		add("leader_election", "off (one replica)")
	}

	switch {
	case c.Runbooks.URL != "":
		add("runbooks", "git %s (branch %s)", c.Runbooks.URL, orDefault(c.Runbooks.Branch, "main"))
	case c.Runbooks.Dir != "":
		add("runbooks", "%s", c.Runbooks.Dir)
	default:
		add("runbooks", "the shipped examples")
	}

	if c.Telemetry.Tracing.Endpoint != "" {
		add("telemetry", "tracing to %s, %.0f%% of runs", c.Telemetry.Tracing.Endpoint, c.Telemetry.Tracing.SampleRatio*100)
	} else {
		add("telemetry", "tracing off")
	}

	tok := "no bearer token: HTTP refused"
	if c.MCP.Serve.BearerToken != "" || c.MCP.Serve.BearerTokenFile != "" {
		tok = "bearer token"
	}
	servers := "no MCP servers' tools"
	if n := len(c.MCP.Servers); n > 0 {
		var names []string
		for _, s := range c.MCP.Servers {
			mode := "read-only"
			if !s.ReadOnly {
				mode = "each call approved"
			}
			names = append(names, fmt.Sprintf("%s (%s)", s.Name, mode))
		}
		servers = fmt.Sprintf("tools of %d MCP servers: %s", n, strings.Join(names, ", "))
	}
	add("mcp", "mcp serve: stdio, or HTTP on %s/mcp with %s; %s", c.MCP.Serve.Listen, tok, servers)
	return out
}

// webhookSummary says whether /webhooks/alertmanager is served and how it
// checks senders.
func (c Config) webhookSummary() string {
	ic := c.Incidents
	if !ic.Webhook {
		return "Alertmanager webhook off"
	}
	auth := "no authentication"
	switch {
	case ic.BearerToken != "" || ic.BearerTokenFile != "":
		auth = "bearer token"
	case ic.BasicAuth.Username != "":
		auth = "basic auth"
	case ic.AllowUnauthenticated:
		auth = "no authentication (allowed by incidents.allow_unauthenticated)"
	case Loopback(c.Server.Listen):
		auth = "no authentication (loopback only)"
	}
	inv := "investigated"
	if !ic.Investigate {
		inv = "not investigated"
	}
	return fmt.Sprintf("Alertmanager webhook /webhooks/alertmanager on %s, %s; incidents %s", c.Server.Listen, auth, inv)
}

// dsnWhere is where a PostgreSQL DSN points, without its password.
func dsnWhere(dsn, file string) string {
	if dsn == "" {
		if file != "" {
			return "(dsn from " + file + ")"
		}
		return "(no dsn)"
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(dsn set)"
	}
	return u.Host + strings.TrimRight(u.Path, "/")
}

func orNone(s string) string { return orDefault(s, "none") }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// budgetText is "$1/question, $5/incident, $50/day", leaving out what is
// unlimited.
func budgetText(b Budget) string {
	var parts []string
	for _, p := range []struct {
		v    float64
		unit string
	}{{b.QuestionUSD, "question"}, {b.IncidentUSD, "incident"}, {b.DayUSD, "day"}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("$%g/%s", p.v, p.unit))
		}
	}
	return strings.Join(parts, ", ")
}
