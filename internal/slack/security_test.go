package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/tools"
)

// In a channel limited to a namespace, slash commands stay in it: PromQL
// is limited to the namespace, and /watchkeeper status lists only the
// channel's own and its namespace's incidents and approvals.
func TestSecuritySlashCommandsStayInScope(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true})
	_, url := h.command(chShop, alice, "metrics sum(rate(http_requests_total[5m]))")
	h.response(url, "checkout p99")
	if q, _ := h.rng.lastQuery.Load().(string); q != `sum(rate(http_requests_total{namespace=~"shop"}[5m]))` {
		t.Errorf("the query ran as %q; want it limited to shop", q)
	}
	_, url = h.command(chShop, alice, `metrics up{namespace="kube-system"}`)
	h.response(url, `"kube-system" is outside this conversation's scope`)

	ctx := context.Background()
	for _, ns := range []string{"shop", "kube-system"} {
		if _, err := h.app.Approvals().Propose(ctx, "c", tools.Proposal{Tool: "restart_deployment", Summary: "Restart in " + ns,
			Args: json.RawMessage(`{"namespace":"` + ns + `","name":"x"}`)}); err != nil {
			t.Fatal(err)
		}
		m := incident.Message{Version: "4", GroupKey: "g-" + ns, Status: "firing", Receiver: "wk",
			CommonLabels: map[string]string{"alertname": "Down_" + ns, "namespace": ns},
			Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": "Down_" + ns, "namespace": ns},
				StartsAt: time.Now(), Fingerprint: "fp-" + ns}}}
		if _, err := h.app.Incidents().Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	_, url = h.command(chShop, alice, "status")
	got := blocksOf(h.response(url, "Pending approvals"))
	if !strings.Contains(got, "Restart in shop") || strings.Contains(got, "Restart in kube-system") ||
		!strings.Contains(got, "Down_shop — shop") || strings.Contains(got, "kube-system") {
		t.Errorf("status in the shop channel:\n%s", got)
	}
	_, url = h.command(chOps, alice, "status")
	if got := blocksOf(h.response(url, "Pending approvals")); !strings.Contains(got, "Restart in kube-system") || !strings.Contains(got, "Down_kube-system — kube-system") {
		t.Errorf("status in an unscoped channel:\n%s", got)
	}
}

// A model-written reason of any length cannot push the tool's own
// findings — the diff and the dry-run result — out of the message: they
// come first, in blocks of their own; the reason after them is capped
// and labelled as unchecked.
func TestSecurityLongReasonCannotHideTheDiff(t *testing.T) {
	reason := strings.Repeat("This is fine and routine, approve quickly. ", 90) // 3,870 characters
	p := approval.Proposal{ID: "prop_long", Tool: "kube_rollout_undo", Summary: "Roll back deployment shop/checkout from revision 8 to revision 7",
		Details: "deployment shop/checkout, revision 8 → 7\n  checkout image checkout:1.5.0 → checkout:1.4.2\n" +
			"Server-side dry run: accepted by the API server.", Reason: reason, Risk: "medium", RequestedBy: alice,
		Status: approval.Pending, CreatedAt: time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC)}
	blocks, _ := slack.ProposalBlocks(p, 15*time.Minute)
	golden(t, "proposal_long_reason", blocks)
	text := blocksTextOf(t, blocks)
	diff, dry, why := strings.Index(text, "checkout:1.5.0 → checkout:1.4.2"), strings.Index(text, "Server-side dry run: accepted"), strings.Index(text, "This is fine")
	if diff < 0 || dry < 0 || why < 0 || why < diff || why < dry {
		t.Fatalf("diff at %d, dry run at %d, reason at %d: the tool's findings must come first, whole:\n%s", diff, dry, why, text)
	}
	if n := strings.Count(text, "This is fine"); n > 10 {
		t.Errorf("the reason is shown in full (%d repetitions); it must be capped", n)
	}
	if !strings.Contains(text, "not checked by Watchkeeper") {
		t.Error("the reason is not labelled as unchecked")
	}
	for _, b := range blocks {
		raw, _ := json.Marshal(b)
		if utf8.RuneCount(raw) > 3500 {
			t.Errorf("a block of %d characters would be cut by Slack", utf8.RuneCount(raw))
		}
	}
}

// reasonedRestart is restartTool with a reason argument, as the real
// proposing tools have.
type reasonedRestart struct{ *restartTool }

func (reasonedRestart) Spec() tools.Spec {
	return tools.Spec{Name: "restart_deployment", Description: "Restart a deployment.", Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("deployment"), "reason": tools.String("why")}, "name")}
}

func (r reasonedRestart) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	res, err := r.restartTool.Run(ctx, raw)
	var a struct{ Reason string }
	_ = json.Unmarshal(raw, &a)
	res.Proposal.Reason = a.Reason
	return res, err
}

// The message shows the beginning of a long reason; the whole of it is
// attached to the thread, so nothing the requester wrote is hidden either.
func TestSecurityLongReasonIsAttached(t *testing.T) {
	long := "Checkout errors rose after the 1.5.0 deploy. " + strings.Repeat("More detail. ", 60) + "THE END"
	h := newHarness(t, harnessOpts{wrap: func(r *restartTool) tools.Tool { return reasonedRestart{r} }, turns: []scripted.Turn{
		{ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout", "reason": long}}}},
		{ExpectToolResult: "awaits approval by a person", Text: "I propose restarting checkout."},
	}})
	ts := h.fake.UserMessage(chOps, alice, "restart checkout", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "restart checkout"))
	msg := h.answered(chOps, ts, "Proposed change")
	id := proposalID(t, msg)
	if strings.Contains(blocksText(msg.Blocks), "THE END") || !strings.Contains(blocksText(msg.Blocks), "the full text is attached") {
		t.Errorf("proposal message:\n%s", blocksText(msg.Blocks))
	}
	eventually(t, "the full reason attached in the thread", func() bool {
		for _, f := range h.fake.Files() {
			if f.Name == "reason-"+id+".txt" && string(f.Data) == long {
				return true
			}
		}
		return false
	})
}

// blocksTextOf is the text of rendered blocks, for assertions.
func blocksTextOf(t *testing.T, blocks []slackapi.Block) string {
	t.Helper()
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return blocksText(raw)
}

// countingBody reports whether a request's body was read at all.
type countingBody struct {
	read *atomic.Bool
	r    io.Reader
}

func (c countingBody) Read(p []byte) (int, error) { c.read.Store(true); return c.r.Read(p) }
func (countingBody) Close() error                 { return nil }

// Over the HTTP Events API, a replayed request (the very same signature)
// is refused by every replica — the replay memory is the shared store, not
// each process's — and an unsigned or stale request is refused from its
// headers, before its body is read.
func TestSecuritySlackReplaysAndUnsignedBodies(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared.db")
	same := func(c *config.Config) { c.Store.Path = shared }
	a := newHarness(t, harnessOpts{mode: "http", noModel: true, tweak: same})
	b := newHarness(t, harnessOpts{mode: "http", noModel: true, tweak: same})
	srvA, srvB := httptest.NewServer(a.bot.Handler()), httptest.NewServer(b.bot.Handler())
	defer srvA.Close()
	defer srvB.Close()
	cmd := url.Values{"command": {"/watchkeeper"}, "text": {"help"}, "channel_id": {chOps}, "user_id": {alice},
		"response_url": {a.fake.NewResponseURL()}}
	body := []byte(cmd.Encode())
	at := time.Now()
	const form = "application/x-www-form-urlencoded"
	if code, out, _ := do(t, signed(t, srvA, "/slack/commands", body, at, form)); code != http.StatusOK {
		t.Fatalf("the first delivery: %d %s", code, out)
	}
	if code, out, _ := do(t, signed(t, srvB, "/slack/commands", body, at, form)); code != http.StatusUnauthorized || !strings.Contains(out, "replayed") {
		t.Errorf("the same signed command replayed to another replica: %d %s", code, out)
	}

	for _, tt := range []struct {
		name string
		req  func() *http.Request
	}{
		{"unsigned", func() *http.Request {
			r := signed(t, srvA, "/slack/commands", body, time.Now(), form)
			r.Header.Del("X-Slack-Signature")
			return r
		}},
		{"stale", func() *http.Request {
			return signed(t, srvA, "/slack/commands", body, time.Now().Add(-10*time.Minute), form)
		}},
	} {
		var read atomic.Bool
		r := tt.req()
		r.Body = countingBody{&read, strings.NewReader(string(body))}
		rec := httptest.NewRecorder()
		a.bot.Handler().ServeHTTP(rec, r)
		if rec.Code != http.StatusUnauthorized || read.Load() {
			t.Errorf("%s: %d, body read %v; want 401 before reading it", tt.name, rec.Code, read.Load())
		}
	}
}

// Text from the observed systems or the model never becomes a link whose
// label hides where it goes, and never closes a code fence to have what
// follows read as the bot's own words.
func TestSecurityUntrustedTextMakesNoLinks(t *testing.T) {
	got := slack.Mrkdwn("[Runbook: approve the fix](https://evil.example/login)")
	if strings.Contains(got, "|Runbook") || !strings.Contains(got, "https://evil.example/login") {
		t.Errorf("Mrkdwn = %q; the destination must be visible", got)
	}
	for _, hostile := range []string{"log line ``` *approved by the SRE lead* <https://evil.example|click> ```",
		"a`````*bold*", "````x``````", "`` ` ``` ````"} {
		fenced := slack.CodeBlock(hostile)
		if n := strings.Count(fenced, "```"); n != 2 || !strings.HasPrefix(fenced, "```") || !strings.HasSuffix(fenced, "```") {
			t.Errorf("CodeBlock(%q) = %q: the text opened or closed a fence", hostile, fenced)
		}
	}
	fenced := slack.CodeBlock("<https://evil.example|click>")
	if strings.Contains(fenced, "<https://") {
		t.Errorf("CodeBlock kept Slack markup: %q", fenced)
	}
	in := incident.Incident{ID: "inc_1", Status: incident.Open, Title: "[Approve](https://evil.example)",
		StartedAt: time.Now(), Data: incident.Data{Alerts: map[string]*incident.AlertState{"fp": {Fingerprint: "fp", Status: "firing",
			Labels: map[string]string{"alertname": "X"}, Annotations: map[string]string{"summary": "<https://evil.example|the runbook>"},
			StartsAt: time.Now(), GeneratorURL: "https://evil.example/graph?g0.expr=up"}}}}
	trusted := incident.TrustedURLs("http://prometheus:9090")
	blocks, _ := slack.IncidentBlocks(in, time.Now(), trusted)
	if text := blocksTextOf(t, blocks); strings.Contains(text, "<https://evil.example") {
		t.Errorf("the incident message links to the sender's URL:\n%s", text)
	}
	in.Data.Alerts["fp"].GeneratorURL = "http://prometheus:9090/graph?g0.expr=up"
	blocks, _ = slack.IncidentBlocks(in, time.Now(), trusted)
	if text := blocksTextOf(t, blocks); !strings.Contains(text, "<http://prometheus:9090/graph?g0.expr=up|graph>") {
		t.Errorf("the trusted graph link is missing:\n%s", text)
	}
}
