package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/tools"
)

// HelpText lists the slash commands.
const HelpText = "*Watchkeeper* — your on-call teammate. Mention me (`@watchkeeper why is checkout slow?`), DM me, or use:\n" +
	"• `/watchkeeper ask QUESTION` — investigate with the agent; the answer is posted in a thread here\n" +
	"• `/watchkeeper metrics PROMQL [RANGE]` — run a PromQL range query (RANGE like `1h`, default 1h) with a chart\n" +
	"• `/watchkeeper logs [service=S] [namespace=N] [level=error] [WORDS…] [RANGE]` — log patterns, new and surging\n" +
	"• `/watchkeeper anomalies [SERVICE|namespace=N]` — scan the golden signals for what is abnormal\n" +
	"• `/watchkeeper rca SERVICE [ONSET]` — rank likely root causes of trouble seen at SERVICE (ONSET like `14:05` or `20m ago`)\n" +
	"• `/watchkeeper runbook ALERT|WORDS` — find the team's runbook\n" +
	"• `/watchkeeper status` — open incidents and pending approvals\n" +
	"• `/watchkeeper help` — this list\n" +
	"Only `ask` needs a language model. Changes are only ever proposed: an authorised person approves them with a button."

// commandAck is what a slash command's HTTP answer or Socket Mode ack
// carries: shown at once, only to the person who typed it.
type commandAck struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(text string) commandAck { return commandAck{ResponseType: "ephemeral", Text: text} }

// HandleCommand acknowledges a slash command at once and does the work in
// the pool, answering through the command's response_url.
func (b *Bot) HandleCommand(cmd slackapi.SlashCommand) commandAck {
	sub, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	sub, rest = strings.ToLower(sub), strings.TrimSpace(rest)
	if label := sub; contains([]string{"", "help", "ask", "metrics", "logs", "anomalies", "rca", "status", "runbook"}, label) {
		b.count("command", label)
	} else {
		b.count("command", "unknown")
	}
	switch sub {
	case "", "help":
		return ephemeral(HelpText)
	case "ask":
		if rest == "" {
			return ephemeral("Usage: `/watchkeeper ask QUESTION`, e.g. `/watchkeeper ask why is checkout slow since 14:00?`")
		}
		if b.opts.Asker == nil {
			return ephemeral(noModelText)
		}
	case "metrics":
		if rest == "" {
			return ephemeral("Usage: `/watchkeeper metrics PROMQL [RANGE]`, e.g. `/watchkeeper metrics sum by (service) (rate(http_requests_total[5m])) 2h`")
		}
	case "logs", "anomalies", "status":
	case "runbook":
		if rest == "" {
			return ephemeral("Usage: `/watchkeeper runbook ALERT|WORDS`, e.g. `/watchkeeper runbook HighErrorRate`")
		}
	case "rca":
		if rest == "" {
			return ephemeral("Usage: `/watchkeeper rca SERVICE [ONSET]`, e.g. `/watchkeeper rca checkout 20m ago`")
		}
	default:
		return ephemeral(fmt.Sprintf("I do not know `%s`. %s", Escape(sub), HelpText))
	}
	if !b.submit("command "+sub, func(ctx context.Context) { b.runCommand(ctx, cmd, sub, rest) }) {
		return ephemeral(busyText)
	}
	return ephemeral(fmt.Sprintf("Working on `/watchkeeper %s`…", Escape(truncate(cmd.Text, 200))))
}

func (b *Bot) runCommand(ctx context.Context, cmd slackapi.SlashCommand, sub, rest string) {
	fail := func(format string, a ...any) {
		b.respond(ctx, cmd.ResponseURL, "ephemeral", fmt.Sprintf(format, a...), nil)
	}
	switch sub {
	case "ask":
		ts, err := b.out.Post(ctx, newMsg(cmd.ChannelID, "", "<@"+cmd.UserID+"> asked: "+Escape(rest),
			[]slackapi.Block{section("<@" + cmd.UserID + "> asked: " + Escape(rest))}))
		if err != nil {
			fail("I could not post in this channel (%s). Invite me with `/invite @watchkeeper`, or DM me the question.", slackError(err))
			return
		}
		b.answer(ctx, request{channel: cmd.ChannelID, user: cmd.UserID, ts: ts, root: ts, thread: ts, text: rest})
	case "status":
		b.respond(ctx, cmd.ResponseURL, "ephemeral", "", b.statusBlocks(ctx, cmd.ChannelID))
	default:
		tool, args, title, err := b.commandCall(cmd.ChannelID, sub, rest)
		if err != nil {
			fail("%s", err.Error())
			return
		}
		b.runToolCommand(ctx, cmd, tool, args, title)
	}
}

// commandCall turns a command into a tool call, within the channel's scope.
func (b *Bot) commandCall(channel, sub, rest string) (string, map[string]any, string, error) {
	scope := b.scopes.of(channel)
	words := strings.Fields(rest)
	rangeArg := func() string {
		if n := len(words); n > 0 {
			if d, err := time.ParseDuration(words[n-1]); err == nil && d > 0 {
				w := words[n-1]
				words = words[:n-1]
				// As written ("2h ago"): the tools' time parser reads
				// that, not Go's "2h0m0s".
				return w + " ago"
			}
		}
		return ""
	}
	var tool, title string
	args := map[string]any{}
	switch sub {
	case "metrics":
		tool = "prom_query_range"
		if start := rangeArg(); start != "" {
			args["start"] = start
		}
		args["query"] = strings.Join(words, " ")
		title = "metrics"
	case "logs":
		tool = "logs_search"
		if start := rangeArg(); start != "" {
			args["start"] = start
		}
		var contains []string
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			switch {
			case ok && (k == "service" || k == "namespace" || k == "pod" || k == "level" || k == "container"):
				args[k] = v
			case ok && k == "ns":
				args["namespace"] = v
			case ok && k == "regex":
				args["regex"] = v
			default:
				contains = append(contains, w)
			}
		}
		if len(contains) > 0 {
			args["contains"] = contains
		}
		title = "logs"
	case "anomalies":
		tool = "anomaly_scan"
		if len(words) > 0 {
			w := words[0]
			if k, v, ok := strings.Cut(w, "="); ok && (k == "ns" || k == "namespace") {
				args["namespace"] = v
			} else if len(scope.Namespaces) > 0 && contains(scope.Namespaces, w) {
				args["namespace"] = w
			} else {
				args["services"] = []string{w}
			}
		}
		title = "anomalies"
	case "runbook":
		tool = "runbook_find"
		args["alert"] = words[0]
		args["text"] = strings.Join(words, " ")
		title = "runbooks"
	case "rca":
		tool = "rca_rank"
		onset := "30m ago"
		if len(words) > 1 {
			onset = strings.Join(words[1:], " ")
		}
		args["onset"] = onset
		title = "root causes of trouble at " + words[0]
	}
	t, ok := b.opts.Tools.Get(tool)
	if !ok {
		return "", nil, "", fmt.Errorf("`%s` needs the %s tool, which is not configured here (set prometheus.url%s in the configuration)",
			sub, tool, map[bool]string{true: " and logs.backend", false: ""}[tool == "logs_search"])
	}
	if !scope.AllowsTool(tool) {
		return "", nil, "", fmt.Errorf("`%s` is not allowed in this channel (its tools are limited by slack.channels)", sub)
	}
	// The channel's namespaces hold whatever the command left out: an
	// omitted namespace is filled in or asked for, PromQL is limited.
	raw, _ := json.Marshal(args)
	limited, err := scope.Limit(t.Spec(), raw)
	if err != nil {
		return "", nil, "", err
	}
	args = map[string]any{}
	if err := json.Unmarshal(limited, &args); err != nil {
		return "", nil, "", err
	}
	return tool, args, title, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runToolCommand runs a tool directly and posts its result in the channel.
func (b *Bot) runToolCommand(ctx context.Context, cmd slackapi.SlashCommand, name string, args map[string]any, title string) {
	raw, _ := json.Marshal(args)
	start := time.Now()
	inv := b.invoke(ctx, cmd.ChannelID, name, raw)
	took := time.Since(start)
	switch {
	case inv.Outcome == tools.OutcomeToolError && inv.Result == nil:
		b.respond(ctx, cmd.ResponseURL, "ephemeral", "That does not work as a "+name+" call: "+Escape(inv.Reason), nil)
		return
	case inv.Outcome == tools.OutcomeToolError:
		b.respond(ctx, cmd.ResponseURL, "ephemeral", "That did not work: "+Escape(inv.Reason)+
			"\nFix the command and try again (`/watchkeeper help`).", nil)
		return
	case inv.Outcome == tools.OutcomeRefused:
		b.respond(ctx, cmd.ResponseURL, "ephemeral", "That is not allowed in this channel: "+Escape(inv.Reason), nil)
		return
	case inv.Outcome != tools.OutcomeOK:
		b.respond(ctx, cmd.ResponseURL, "ephemeral", "The "+name+" call failed: "+Escape(inv.Reason)+
			". The system behind it may be down; try again, or check `watchkeeper config check`.", nil)
		return
	}
	res := *inv.Result
	// People get the tool's people-facing form: no untrusted-data
	// markers, no hints meant for the model, units they read. (The
	// outbox and upload redact it like everything else that leaves.)
	text := res.ForPeople()
	head := fmt.Sprintf("<@%s> ran `/watchkeeper %s` — %s", cmd.UserID, Escape(truncate(cmd.Text, 300)), title)
	blocks := []slackapi.Block{section(head)}
	pieces := split(CodeBlock(text), maxSectionText)
	overflow := len(pieces) > 10
	if overflow {
		pieces = pieces[:10]
	}
	for _, p := range pieces {
		blocks = append(blocks, section(p))
	}
	ev := Evidence{Tool: name, Query: mainArg(raw), Duration: took, Outcome: "ok", Link: linkOf(res.Data)}
	blocks = append(blocks, contextBlock(ev.line()))
	if overflow {
		blocks = append(blocks, contextBlock("The result is longer than a message allows; the full text is in the attached file."))
	}
	b.respond(ctx, cmd.ResponseURL, "in_channel", truncate(head, maxFallback), blocks)
	if overflow {
		b.upload(ctx, cmd.ChannelID, "", name+".txt", title, []byte(text))
	}
	for i, a := range res.Attachments {
		if i == maxCharts {
			break
		}
		if strings.HasPrefix(a.MIMEType, "image/") {
			b.upload(ctx, cmd.ChannelID, "", a.Name, a.Title, a.Data)
		}
	}
}

// invoke runs a tool for a command or a button in channel, within the
// channel's scope, the way the agent runs its calls (tools.Invoker).
func (b *Bot) invoke(ctx context.Context, channel, name string, args json.RawMessage) tools.Invoked {
	return b.opts.Invoker.Invoke(ctx, tools.Invocation{Tool: name, Args: args, Policy: b.scopes.of(channel), Source: "slack"})
}

// invokeErr is an invocation's failure as an error, nil when it produced
// a result.
func invokeErr(inv tools.Invoked) error {
	if inv.Outcome == tools.OutcomeOK {
		return nil
	}
	return errors.New(inv.Reason)
}

// respond answers through a response_url (via the outbox).
func (b *Bot) respond(ctx context.Context, url, typ, text string, blocks []slackapi.Block) {
	if text == "" {
		text = "Watchkeeper"
	}
	m := outMsg{ResponseURL: url, ResponseType: typ, Text: truncate(text, maxFallback), Channel: "response:" + url}
	if len(blocks) > 0 {
		m.Blocks, _ = json.Marshal(blocks)
	}
	if err := b.out.Respond(ctx, m); err != nil {
		b.logger.Error("queue a command response", "err", err)
	}
}

// statusBlocks lists open incidents and pending approvals — in a channel
// limited to some namespaces, only those of its namespaces or its own.
func (b *Bot) statusBlocks(ctx context.Context, channel string) []slackapi.Block {
	sc := b.scopes.of(channel)
	const show = 10
	var blocks []slackapi.Block
	var incs []incident.Incident
	err := errors.New("incidents are not handled by this Watchkeeper")
	if b.opts.Incidents != nil {
		incs, err = b.opts.Incidents.List(ctx, incident.Open, 500)
	}
	var inScope []incident.Incident
	for _, in := range incs {
		if sc.Namespaces == nil || in.Channel == channel || contains(sc.Namespaces, incidentNamespace(in)) {
			inScope = append(inScope, in)
		}
	}
	switch {
	case err != nil:
		blocks = append(blocks, section("Open incidents: could not be read ("+Escape(err.Error())+")."))
	case len(inScope) == 0:
		blocks = append(blocks, section("*Open incidents:* none."))
	default:
		var lines []string
		for i, in := range inScope {
			if i == show {
				lines = append(lines, fmt.Sprintf("…and %d more", len(inScope)-show))
				break
			}
			lines = append(lines, fmt.Sprintf("• `%s` %s — %s since %s", in.ID, Escape(in.Title), Escape(in.Severity),
				in.StartedAt.UTC().Format("Jan 2 15:04 UTC")))
		}
		blocks = append(blocks, section("*Open incidents:*\n"+strings.Join(lines, "\n")))
	}
	var props []approval.Proposal
	err = errors.New("approvals are not handled by this Watchkeeper")
	if b.opts.Approvals != nil {
		props, err = b.opts.Approvals.List(ctx, approval.Pending, 500)
	}
	var pending []approval.Proposal
	for _, p := range props {
		if sc.Namespaces == nil || strings.HasPrefix(p.Location, "slack:"+channel+":") || contains(sc.Namespaces, proposalNamespace(p)) {
			pending = append(pending, p)
		}
	}
	switch {
	case err != nil:
		blocks = append(blocks, section("Pending approvals: could not be read ("+Escape(err.Error())+")."))
	case len(pending) == 0:
		blocks = append(blocks, section("*Pending approvals:* none."))
	default:
		var lines []string
		for i, p := range pending {
			if i == show {
				lines = append(lines, fmt.Sprintf("…and %d more", len(pending)-show))
				break
			}
			line := fmt.Sprintf("• `%s` %s (asked %s)", p.ID, Escape(p.Summary), p.CreatedAt.UTC().Format("15:04 UTC"))
			if p.RequestedBy != "" {
				line += " by " + person(p.RequestedBy)
			}
			lines = append(lines, line)
		}
		blocks = append(blocks, section("*Pending approvals:*\n"+strings.Join(lines, "\n")))
	}
	if sc.Namespaces != nil {
		blocks = append(blocks, contextBlock("This channel sees namespaces "+Escape(strings.Join(sc.Namespaces, ", "))+" (slack.channels)."))
	}
	return blocks
}

// incidentNamespace is the namespace label common to an incident's alerts.
func incidentNamespace(in incident.Incident) string {
	return in.Data.CommonLabels["namespace"]
}

// proposalNamespace is the namespace a proposal acts in, from its
// arguments.
func proposalNamespace(p approval.Proposal) string {
	var a struct {
		Namespace string `json:"namespace"`
	}
	_ = json.Unmarshal(p.Args, &a)
	return a.Namespace
}

// slackUserID matches Slack user IDs, which mention as <@U123>.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// person renders who asked or decided: a Slack user as a mention, anyone
// else (the webhook's sender, a terminal user) as escaped text.
func person(who string) string {
	if slackUserID.MatchString(who) {
		return "<@" + who + ">"
	}
	return Escape(who)
}
