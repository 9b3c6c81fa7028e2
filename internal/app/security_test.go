package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
)

// serve refuses to expose the Alertmanager webhook without credentials on
// an address other than loopback, unless the configuration accepts the
// risk; on loopback, or with credentials, it serves.
func TestSecurityUnauthenticatedWebhookRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		adjust func(*config.Config)
		refuse bool
	}{
		{"every interface, no credentials", func(c *config.Config) { c.Server.Listen = "0.0.0.0:0" }, true},
		{"empty host, no credentials", func(c *config.Config) { c.Server.Listen = ":0" }, true},
		{"every interface, allowed explicitly", func(c *config.Config) {
			c.Server.Listen, c.Incidents.AllowUnauthenticated = "0.0.0.0:0", true
		}, false},
		{"every interface, bearer token", func(c *config.Config) { c.Server.Listen, c.Incidents.BearerToken = "0.0.0.0:0", "tok-123456" }, false},
		{"every interface, basic auth", func(c *config.Config) {
			c.Server.Listen, c.Incidents.BasicAuth = "0.0.0.0:0", config.BasicAuth{Username: "am", Password: "pw-123456"}
		}, false},
		{"loopback, no credentials", func(c *config.Config) { c.Server.Listen = "127.0.0.1:0" }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
			tt.adjust(&cfg)
			a, err := New(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Serve(ctx) }()
			select {
			case err := <-done:
				cancel()
				if !tt.refuse || !errors.Is(err, config.ErrUnauthenticatedWebhook) || !strings.Contains(err.Error(), "incidents.bearer_token") {
					t.Errorf("Serve = %v; refuse %v", err, tt.refuse)
				}
			case <-time.After(time.Second):
				cancel()
				if err := <-done; err != nil || tt.refuse {
					t.Errorf("Serve served (then %v); refuse %v", err, tt.refuse)
				}
			}
		})
	}
}

// restartTool proposes restarts (for the assessment to propose).
type restartTool struct{}

func (restartTool) Spec() tools.Spec {
	return tools.Spec{Name: "restart_deployment", Description: "Restart a deployment.", Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("deployment")}, "name")}
}

func (restartTool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	return tools.Result{Proposal: &tools.Proposal{Tool: "restart_deployment", Summary: "Restart deployment checkout", Risk: "medium", Args: raw}}, nil
}

func (restartTool) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	return tools.Text("restarted"), nil
}

// Nobody writes alone. A resolve notification (anyone with the webhook
// token, or anyone at all if it is open) and any channel member clicking
// "Draft postmortem" get a draft and a proposal to commit it — nothing is
// pushed until an approver approves. A proposal the assessment makes is
// requested by whoever started it (the clicker of Investigate, else the
// notification's sender), so an approver cannot approve their own.
func TestSecurityWritesNeedAnAuthorisedPerson(t *testing.T) {
	fake := slackfake.New(slackfake.Options{PostBurst: 100})
	defer fake.Close()
	fake.AddChannel("CINC", "incidents", true, "UALICE", "UADMIN", "UGUEST")
	bare := testserver.GitRemote(t, map[string]string{"README.md": "# Runbooks\n"})
	const token = "am-webhook-token-1234"
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = freeAddr(t)
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.APIURL = slackfake.BotToken, slackfake.AppToken, fake.URL
	cfg.Slack.Alerts = []config.AlertRoute{{Channel: "CINC", Match: map[string]string{"severity": "critical"}}}
	cfg.Incidents.BearerToken = token
	cfg.Incidents.PostmortemOnResolve = true
	cfg.Runbooks.URL = bare
	cfg.Approval.Approvers = []string{"UADMIN"}
	model := scripted.New(
		// The automatic assessment, then the one of the Investigate click,
		// each propose a restart.
		scripted.Turn{ExpectInput: "opened incident", ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		scripted.Turn{ExpectToolResult: "awaits approval", Text: "Restart checkout."},
		scripted.Turn{ExpectInput: "opened incident", ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "checkout"}}}},
		scripted.Turn{ExpectToolResult: "awaits approval", Text: "Restart checkout."},
		// The postmortem on resolve, and on the click.
		scripted.Turn{ExpectInput: "postmortem", Text: "# Postmortem (automatic)\nfacts"},
		scripted.Turn{ExpectInput: "postmortem", Text: "# Postmortem (clicked)\nfacts"},
	)
	a, err := New(context.Background(), cfg, Options{Model: model, Tools: []tools.Tool{restartTool{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	eventually := func(what string, cond func() bool) { t.Helper(); testserver.Eventually(t, 60*time.Second, what, cond) }
	notify := func(status string) {
		t.Helper()
		alert := map[string]any{"status": status, "labels": map[string]string{"alertname": "CheckoutDown", "severity": "critical", "namespace": "shop"},
			"startsAt": time.Now().Add(-time.Minute).Format(time.RFC3339), "fingerprint": "fp1"}
		if status == "resolved" {
			alert["endsAt"] = time.Now().Format(time.RFC3339)
		}
		body, _ := json.Marshal(map[string]any{"version": "4", "groupKey": "g1", "status": status, "receiver": "wk",
			"commonLabels": alert["labels"], "alerts": []any{alert}})
		var resp *http.Response
		eventually("the webhook", func() bool {
			req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.Server.Listen+"/webhooks/alertmanager", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			r, err := http.DefaultClient.Do(req)
			if err == nil && r.StatusCode == http.StatusOK {
				resp = r
				return true
			}
			if r != nil {
				r.Body.Close()
			}
			return false
		})
		resp.Body.Close()
	}
	notify("firing")
	var parent slackfake.Message
	eventually("the incident's message", func() bool {
		for _, m := range fake.BotMessages("CINC", "") {
			if strings.Contains(string(m.Blocks), "CheckoutDown") {
				parent = m
				return true
			}
		}
		return false
	})
	incs, _ := a.Store().ListIncidents(ctx, "", 5)
	if len(incs) != 1 {
		t.Fatalf("%d incidents", len(incs))
	}
	id := incs[0].ID
	proposalIn := func(summary string) (string, string) {
		var pid, ts string
		eventually("the proposal "+summary, func() bool {
			for _, m := range fake.BotMessages("CINC", parent.TS) {
				if strings.Contains(string(m.Blocks), summary) && strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
					pid, ts = firstButtonValue(t, m), m.TS
					return true
				}
			}
			return false
		})
		return pid, ts
	}

	// The automatic assessment's proposal is the notification sender's.
	autoRestart, _ := proposalIn("Restart deployment checkout")
	if p, _ := a.Approvals().Get(ctx, autoRestart); p.RequestedBy != "alertmanager (bearer token) at 127.0.0.1" {
		t.Errorf("the automatic assessment's proposal is requested by %q; want the notification's sender", p.RequestedBy)
	}
	// UADMIN, an approver, asks for an investigation; its proposal is theirs.
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", parent.TS, "incident_investigate", id)); err != nil {
		t.Fatal(err)
	}
	var restartID, restartTS string
	eventually("the clicked assessment's proposal", func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Restart deployment checkout") && strings.Contains(string(m.Blocks), `"action_id":"approve"`) &&
				firstButtonValue(t, m) != autoRestart {
				restartID, restartTS = firstButtonValue(t, m), m.TS
				return true
			}
		}
		return false
	})
	if p, _ := a.Approvals().Get(ctx, restartID); p.RequestedBy != "UADMIN" {
		t.Errorf("the clicked assessment's proposal is requested by %q; want the clicker UADMIN", p.RequestedBy)
	}
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", restartTS, "approve", restartID)); err != nil {
		t.Fatal(err)
	}
	eventually("the refusal", func() bool {
		for _, r := range fake.ResponsePosts() {
			if text, _ := r.Body["text"].(string); strings.Contains(text, "you asked for this change") {
				return true
			}
		}
		return false
	})
	if p, _ := a.Approvals().Get(ctx, restartID); p.Status != "pending" {
		t.Errorf("the requester approved their own proposal: %s", p.Status)
	}

	// A resolve drafts the postmortem and proposes its commit: nothing pushed.
	notify("resolved")
	autoID, _ := proposalIn("Commit the postmortem of " + id)
	if p, _ := a.Approvals().Get(ctx, autoID); !strings.HasPrefix(p.RequestedBy, "alertmanager") {
		t.Errorf("the postmortem on resolve is requested by %q; want the notification's sender", p.RequestedBy)
	}
	branch := "watchkeeper/" + id
	pushed := func() bool {
		return exec.Command("git", "-C", bare, "rev-parse", "--verify", "-q", branch).Run() == nil
	}
	if pushed() {
		t.Fatal("a resolve notification pushed to the runbooks repository")
	}
	// A guest's click: a draft and a proposal; the guest cannot approve it.
	if _, err := fake.SendInteraction(fake.Click("CINC", "UGUEST", parent.TS, "incident_postmortem", id)); err != nil {
		t.Fatal(err)
	}
	var clickID, clickTS string
	eventually("the guest's postmortem proposal", func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Commit the postmortem of "+id) && strings.Contains(string(m.Blocks), "UGUEST") {
				clickID, clickTS = firstButtonValue(t, m), m.TS
				return true
			}
		}
		return false
	})
	if _, err := fake.SendInteraction(fake.Click("CINC", "UGUEST", clickTS, "approve", clickID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if pushed() {
		t.Fatal("a guest's click pushed to the runbooks repository")
	}
	// The approver approves: now it is committed and pushed.
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", clickTS, "approve", clickID)); err != nil {
		t.Fatal(err)
	}
	eventually("the approved postmortem on its branch", pushed)
	msg := testserver.Git(t, bare, "log", "-1", "--format=%s", branch)
	if !strings.Contains(msg, fmt.Sprintf("approved by %s", "UADMIN")) {
		t.Errorf("commit message %q", msg)
	}
}
