package slack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/tools"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// Channel and people of the fake workspace.
const (
	chOps   = "COPS"     // the bot is a member
	chOut   = "COUTSIDE" // the bot is not
	chShop  = "CSHOP"    // scoped to namespace shop and two tools
	alice   = "UALICE"   // asks questions
	bob     = "UBOB"     // a bystander
	admin   = "UADMIN"   // an approver
	eveBot  = "UEVEBOT"  // another bot
	slowCap = 10 * time.Second
)

// rangeTool stands in for prom_query_range: a result with a link and a chart.
type rangeTool struct {
	calls     atomic.Int32
	lastStart atomic.Value
	lastQuery atomic.Value
}

func (*rangeTool) Spec() tools.Spec {
	return tools.Spec{Name: "prom_query_range", Description: "Range query.", PromQL: []string{"query"}, Parameters: tools.Object(map[string]*tools.Schema{
		"query": tools.String("PromQL"), "start": tools.String("start")}, "query")}
}

func (r *rangeTool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	r.calls.Add(1)
	// Long enough for a progress update to reach Slack before the answer.
	time.Sleep(150 * time.Millisecond)
	var a struct{ Query, Start string }
	_ = json.Unmarshal(raw, &a)
	r.lastStart.Store(a.Start)
	r.lastQuery.Store(a.Query)
	if strings.Contains(a.Query, "((") {
		return tools.Errorf("parse error: unexpected ( in %s", a.Query), nil
	}
	return tools.Result{Text: "checkout p99 2.31s since 14:02 (was 0.21s) <script>",
		Data:        map[string]any{"link": "http://prometheus.example/graph?g0.expr=x&g0.range=1h"},
		Attachments: []tools.Attachment{{Name: "chart.png", MIMEType: "image/png", Title: a.Query, Data: []byte("\x89PNG fake chart")}}}, nil
}

// restartTool proposes restarts and applies them.
type restartTool struct{ applied atomic.Int32 }

func (*restartTool) Spec() tools.Spec {
	return tools.Spec{Name: "restart_deployment", Description: "Restart a deployment.", Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("deployment")}, "name")}
}

func (*restartTool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Name string }
	_ = json.Unmarshal(raw, &a)
	return tools.Result{Proposal: &tools.Proposal{Tool: "restart_deployment", Summary: "Restart deployment " + a.Name,
		Details: "kubectl rollout restart deployment/" + a.Name, Risk: "medium", Args: raw}}, nil
}

func (r *restartTool) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	r.applied.Add(1)
	return tools.Text("deployment restarted; 3/3 pods ready"), nil
}

type harness struct {
	t       testing.TB
	fake    *slackfake.Fake
	app     *app.App
	bot     *slack.Bot
	model   *scripted.Model
	rng     *rangeTool
	restart *restartTool
	cancel  context.CancelFunc
	done    chan error
}

type harnessOpts struct {
	mode    string // socket (default) or http
	noModel bool
	fake    slackfake.Options
	turns   []scripted.Turn
	tweak   func(*config.Config)
	expiry  time.Duration
	quiet   bool
	// wrap replaces the restart tool (e.g. with one that verifies).
	wrap func(*restartTool) tools.Tool
	// incidentPostWait is slack.Options.IncidentPostWait.
	incidentPostWait time.Duration
	// slack tunes the surface's options after the harness's own.
	slack func(*slack.Options)
}

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.fake.PostBurst == 0 {
		o.fake.PostBurst = 100
	}
	fake := slackfake.New(o.fake)
	t.Cleanup(fake.Close)
	fake.AddChannel(chOps, "ops", true, alice, bob, admin)
	fake.AddChannel(chOut, "elsewhere", false, alice)
	fake.AddChannel(chShop, "shop-oncall", true, alice, admin)

	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Slack = config.Slack{Mode: "socket", BotToken: slackfake.BotToken, AppToken: slackfake.AppToken,
		SigningSecret: signingSecret, APIURL: fake.URL, Workers: 4, Queue: 64, Connections: 2,
		Channels: []config.SlackChannel{{ID: chShop, SlackScope: config.SlackScope{Namespaces: []string{"shop"},
			Tools: []string{"prom_query_range", "logs_search"}}}}}
	if o.mode != "" {
		cfg.Slack.Mode = o.mode
	}
	cfg.Approval = config.Approval{Approvers: []string{admin, alice}, Expiry: config.Duration(15 * time.Minute)}
	if o.expiry != 0 {
		cfg.Approval.Expiry = config.Duration(o.expiry)
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	h := &harness{t: t, fake: fake, rng: &rangeTool{}, restart: &restartTool{}}
	var restart tools.Tool = h.restart
	if o.wrap != nil {
		restart = o.wrap(h.restart)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.quiet {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := app.Options{Tools: []tools.Tool{h.rng, restart}, Slack: func(so *slack.Options) {
		so.PostInterval, so.IncidentPostWait, so.ProgressEvery, so.Logger = 20*time.Millisecond, o.incidentPostWait, time.Millisecond, logger
		if o.slack != nil {
			o.slack(so)
		}
	}}
	if !o.noModel {
		h.model = scripted.New(o.turns...)
		opts.Model = h.model
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.app = a
	bot, err := a.Slack()
	if err != nil {
		t.Fatal(err)
	}
	h.bot, h.cancel, h.done = bot, cancel, make(chan error, 1)
	// As App.Serve runs them: the surface, and the checks of the changes
	// approved through it.
	ran := make(chan struct{})
	go func() { a.Approvals().Run(ctx, bot); close(ran) }()
	go func() { err := bot.Serve(ctx); <-ran; h.done <- err }()
	t.Cleanup(h.stop)
	if cfg.Slack.Mode == "socket" {
		eventually(t, "both Socket Mode connections", func() bool { return fake.OpenConnections() == 2 })
	}
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("bot stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("bot did not stop within 10s")
	}
	h.cancel = nil
	h.app.Close()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, slowCap, what, cond)
}

// send delivers an event over Socket Mode and checks it was acknowledged
// within Slack's three seconds (far sooner, in fact).
func (h *harness) send(event map[string]any) {
	h.t.Helper()
	id, err := h.fake.SendEvent(event)
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := h.fake.WaitAck(id, 3*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	if d > time.Second {
		h.t.Errorf("ack took %s", d)
	}
}

// blocksText is every text in a message's blocks, joined.
func blocksText(raw json.RawMessage) string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if (k == "text" || k == "value") && isString(x) {
					out = append(out, x.(string))
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	walk(v)
	return strings.Join(out, "\n")
}

func isString(v any) bool { _, ok := v.(string); return ok }

// inProgress reports whether a message's text is a progress message's.
func inProgress(text string) bool { return strings.Contains(text, "⏳ Working on it") }

// answered waits for the bot's message in a thread whose blocks contain
// want. A progress message showing the text as it is written is not the
// answer yet.
func (h *harness) answered(ch, thread, want string) slackfake.Message {
	h.t.Helper()
	var got slackfake.Message
	eventually(h.t, "a message containing "+want, func() bool {
		for _, m := range h.fake.BotMessages(ch, thread) {
			if text := blocksText(m.Blocks); strings.Contains(text, want) && !inProgress(text) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

var _ = agent.EventFinal

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func jsonMarshal(v any) (json.RawMessage, error) { return json.Marshal(v) }

// newBenchHarness is a harness without a model whose logs stay quiet.
func newBenchHarness(b *testing.B) *harness {
	return newHarness(b, harnessOpts{noModel: true, quiet: true})
}
