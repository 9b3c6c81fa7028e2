package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/tools"
)

// command sends a slash command and returns the ack's text.
func (h *harness) command(ch, user, text string) (ack string, responseURL string) {
	h.t.Helper()
	cmd := h.fake.Command(ch, user, text)
	id, err := h.fake.SendCommand(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	if d, err := h.fake.WaitAck(id, 3*time.Second); err != nil || d > time.Second {
		h.t.Fatalf("command ack: %s, %v", d, err)
	}
	return string(h.fake.AckPayload(id)), cmd["response_url"]
}

// response waits for a post to responseURL containing want.
func (h *harness) response(responseURL, want string) slackfake.ResponsePost {
	h.t.Helper()
	var got slackfake.ResponsePost
	eventually(h.t, "a response containing "+want, func() bool {
		for _, p := range h.fake.ResponsePosts() {
			if strings.HasSuffix(responseURL, p.URL) && (strings.Contains(p.Body["text"].(string), want) || strings.Contains(blocksOf(p), want)) {
				got = p
				return true
			}
		}
		return false
	})
	return got
}

func blocksOf(p slackfake.ResponsePost) string {
	if b, ok := p.Body["blocks"]; ok {
		raw, _ := jsonMarshal(b)
		return blocksText(raw)
	}
	return ""
}

func TestSlashCommands(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true})

	ack, _ := h.command(chOps, alice, "help")
	if !strings.Contains(ack, "/watchkeeper rca SERVICE") || !strings.Contains(ack, `"ephemeral"`) {
		t.Errorf("help ack = %s", ack)
	}
	ack, _ = h.command(chOps, alice, "frobnicate now")
	if !strings.Contains(ack, "I do not know `frobnicate`") {
		t.Errorf("unknown command ack = %s", ack)
	}
	// Without a model, ask is answered by the investigation that fits
	// the question (in the channel, like a mention).
	ack, _ = h.command(chOps, alice, "ask why?")
	if strings.Contains(ack, "No language model is configured") {
		t.Errorf("ask without a model = %s", ack)
	}
	ack, _ = h.command(chOps, alice, "metrics")
	if !strings.Contains(ack, "Usage: `/watchkeeper metrics PROMQL [RANGE]`") {
		t.Errorf("metrics without a query = %s", ack)
	}

	// metrics runs the tool without a model and posts in the channel.
	ack, url := h.command(chOps, alice, "metrics histogram_quantile(0.99, checkout) 2h")
	if !strings.Contains(ack, "Working on") {
		t.Errorf("metrics ack = %s", ack)
	}
	p := h.response(url, "checkout p99 2.31s")
	text := blocksOf(p)
	if p.Body["response_type"] != "in_channel" || !strings.Contains(text, "&lt;script&gt;") ||
		!strings.Contains(text, "`prom_query_range` `histogram_quantile(0.99, checkout)`") {
		t.Errorf("metrics response = %v\n%s", p.Body["response_type"], text)
	}
	if got := h.rng.lastStart.Load(); got != "2h ago" {
		t.Errorf("the range reached the tool as %q, want \"2h ago\"", got)
	}
	eventually(t, "the chart in the channel", func() bool {
		for _, f := range h.fake.Files() {
			if f.Channel == chOps && f.Name == "chart.png" {
				return true
			}
		}
		return false
	})

	// A bad query is the person's to fix: an ephemeral message says what.
	_, url = h.command(chOps, alice, "metrics rate((x 5m")
	p = h.response(url, "That did not work: parse error")
	if p.Body["response_type"] != "ephemeral" {
		t.Errorf("error response type = %v", p.Body["response_type"])
	}
	// A tool that is not configured is named, with the setting.
	_, url = h.command(chOps, alice, "logs service=checkout level=error timeout")
	h.response(url, "needs the logs_search tool, which is not configured here (set prometheus.url and logs.backend")

	// runbook finds the shipped runbooks without a model.
	_, url = h.command(chOps, alice, "runbook HighErrorRate")
	h.response(url, "high-error-rate.md — High error rate")

	// status lists pending approvals.
	prop, err := h.app.Approvals().Propose(context.Background(), "conv", tools.Proposal{Tool: "restart_deployment", Summary: "Restart deployment cart"})
	if err != nil {
		t.Fatal(err)
	}
	_, url = h.command(chOps, bob, "status")
	p = h.response(url, prop.ID)
	if !strings.Contains(blocksOf(p), "Open incidents:* none") || !strings.Contains(blocksOf(p), "Restart deployment cart") {
		t.Errorf("status = %s", blocksOf(p))
	}
}

func TestSlashCommandAskPostsAThread(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, url := h.command(chOut, alice, "ask why is the bot not here?")
	h.response(url, "I could not post in this channel (not_in_channel). Invite me with `/invite @watchkeeper`")
}

func TestSlashCommandsRespectChannelScope(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, tweak: func(c *config.Config) {
		c.Slack.Default = config.SlackScope{Tools: []string{"logs_search"}}
	}})
	_, url := h.command(chOps, alice, "metrics up")
	h.response(url, "`metrics` is not allowed in this channel")
	if h.rng.calls.Load() != 0 {
		t.Error("the tool ran despite the scope")
	}
	// In the shop channel the namespace is checked.
	_, url = h.command(chShop, alice, "metrics up")
	h.response(url, "checkout p99")
	// The command ran on the path every surface's calls take
	// (tools.Invoker): limited to the channel's namespace, and measured.
	if q, _ := h.rng.lastQuery.Load().(string); !strings.Contains(q, `namespace=~"shop"`) {
		t.Errorf("the query ran as %q, not limited to shop", q)
	}
	if got := toolCalls(t, h.app.Metrics().Registry, "prom_query_range", "ok"); got != 1 {
		t.Errorf("%v prom_query_range calls counted, want 1", got)
	}
}

// toolCalls reads watchkeeper_tool_calls_total for a tool and outcome.
func toolCalls(t *testing.T, reg *prometheus.Registry, tool, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "watchkeeper_tool_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["tool"] == tool && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
