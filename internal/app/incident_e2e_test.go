package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// Real parts end to end: a Prometheus rule fires on a target that is down
// → Alertmanager → the bot's webhook → an incident thread in (fake) Slack
// with the automatic investigation → the target comes up, the alert
// resolves → the same message says RESOLVED.
func TestAlertToIncidentThread(t *testing.T) {
	fake := slackfake.New(slackfake.Options{PostBurst: 100})
	defer fake.Close()
	fake.AddChannel("CINC", "incidents", true, "UALICE")

	listen := freeAddr(t)
	const token = "am-webhook-token-1234"
	am := testserver.StartAlertmanager(t, "http://"+listen+"/webhooks/alertmanager", token)
	down := freeAddr(t)
	prom := testserver.StartPrometheus(t, testserver.PrometheusOptions{ScrapeDown: true, DownAddr: down, Alertmanager: am.URL,
		Rules: `groups:
  - name: shop
    interval: 1s
    rules:
      - alert: ExporterDown
        expr: up{job="payments-exporter"} == 0
        labels: {severity: critical}
        annotations: {summary: "the payments exporter is down"}
`})

	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = listen
	cfg.Prometheus.URL = prom.URL
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.APIURL = slackfake.BotToken, slackfake.AppToken, fake.URL
	cfg.Slack.Alerts = []config.AlertRoute{{Channel: "CINC", Match: map[string]string{"severity": "critical"}}}
	cfg.Incidents.BearerToken = token
	cfg.Incidents.StormWindow = config.Duration(10 * time.Minute)
	cfg.Alertmanager.URL = am.URL
	bare := testserver.GitRemote(t, map[string]string{"README.md": "# Runbooks\n"})
	cfg.Runbooks.URL = bare
	cfg.Runbooks.PRLink = "https://git.example/runbooks/compare/{branch}"
	cfg.Approval.Approvers = []string{"UADMIN"}
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	waitUntil := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var parent slackfake.Message
	waitUntil("the incident's parent message", 60*time.Second, func() bool {
		for _, m := range fake.BotMessages("CINC", "") {
			if m.ThreadTS == "" && strings.Contains(string(m.Blocks), "FIRING") && strings.Contains(string(m.Blocks), "ExporterDown") {
				parent = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(string(parent.Blocks), "the payments exporter is down") || !strings.Contains(string(parent.Blocks), "Acknowledge") {
		t.Errorf("parent message: %s", parent.Blocks)
	}
	defer func() {
		if t.Failed() {
			for _, m := range fake.Messages("CINC") {
				t.Logf("MSG %s thread=%s %.600s", m.TS, m.ThreadTS, m.Blocks)
			}
			incs, _ := a.Store().ListIncidents(context.Background(), "", 10)
			for _, raw := range incs {
				in, _ := a.Incidents().Get(context.Background(), raw.ID)
				t.Logf("INC %s %s thread=%s timeline=%+v", in.ID, in.Status, in.ThreadTS, in.Data.Timeline)
			}
		}
	}()
	waitUntil("the investigation in the thread", 60*time.Second, func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Automatic investigation") && strings.Contains(string(m.Blocks), `up{job=\"payments-exporter\"} == 0`) {
				return true
			}
		}
		return false
	})

	// The target comes up: the alert resolves and the same message says so.
	ln, err := net.Listen("tcp", down)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("# TYPE payments_up gauge\npayments_up 1\n"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	waitUntil("the resolved update", 90*time.Second, func() bool {
		m, _ := fake.Message("CINC", parent.TS)
		return strings.Contains(string(m.Blocks), "RESOLVED")
	})
	if n := len(fake.BotMessages("CINC", "")); n < 2 {
		t.Errorf("%d bot messages", n)
	}
	// One parent message only: updates, not new posts.
	parents := 0
	for _, m := range fake.BotMessages("CINC", "") {
		if m.ThreadTS == "" {
			parents++
		}
	}
	if parents != 1 {
		t.Errorf("%d parent messages for one incident", parents)
	}
	incs, _ := a.Store().ListIncidents(context.Background(), store.IncidentResolved, 10)
	if len(incs) != 1 {
		t.Fatalf("%d resolved incidents", len(incs))
	}
	// Resolved: "Draft postmortem" posts the draft from the record.
	if !strings.Contains(string(func() []byte { m, _ := fake.Message("CINC", parent.TS); return m.Blocks }()), "Draft postmortem") {
		t.Error("the resolved message offers no postmortem")
	}
	if _, err := fake.SendInteraction(fake.Click("CINC", "UALICE", parent.TS, "incident_postmortem", incs[0].ID)); err != nil {
		t.Fatal(err)
	}
	waitUntil("the postmortem file", 30*time.Second, func() bool {
		for _, f := range fake.Files() {
			if f.ThreadTS == parent.TS && strings.HasPrefix(string(f.Data), "# Postmortem: ExporterDown — shop/payments") &&
				strings.Contains(string(f.Data), "## Root cause") {
				return true
			}
		}
		return false
	})
	// Its commit is a proposal (anyone may draft; only an approver writes):
	// approved, it is committed and pushed on the incident's branch.
	branch := "watchkeeper/" + incs[0].ID
	var pmMsg slackfake.Message
	waitUntil("the postmortem proposal", 30*time.Second, func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Commit the postmortem of "+incs[0].ID) && strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
				pmMsg = m
				return true
			}
		}
		return false
	})
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", pmMsg.TS, "approve", firstButtonValue(t, pmMsg))); err != nil {
		t.Fatal(err)
	}
	pmPath := branch + ":postmortems/" + incs[0].StartedAt.UTC().Format("2006-01-02") + "-exporterdown-shop-payments.md"
	waitUntil("the postmortem on the branch", 30*time.Second, func() bool {
		return exec.Command("git", "-C", bare, "show", pmPath).Run() == nil
	})
	pm := testserver.Git(t, bare, "show", pmPath)
	if !strings.HasPrefix(pm, "# Postmortem: ExporterDown — shop/payments") {
		t.Errorf("pushed postmortem:\n%s", pm)
	}
	// The runbook lesson is proposed (no runbook covers the alert yet: a
	// new one); approved, it is pushed to the same branch.
	var rbMsg slackfake.Message
	waitUntil("the runbook proposal", 30*time.Second, func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Add runbook exporterdown.md") {
				rbMsg = m
				return true
			}
		}
		return false
	})
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", rbMsg.TS, "approve", firstButtonValue(t, rbMsg))); err != nil {
		t.Fatal(err)
	}
	waitUntil("the runbook on the branch", 30*time.Second, func() bool {
		out, err := exec.Command("git", "-C", bare, "show", branch+":exporterdown.md").CombinedOutput()
		return err == nil && strings.Contains(string(out), "## Learned from "+incs[0].ID)
	})
	if main := testserver.Git(t, bare, "ls-tree", "--name-only", "main"); strings.Contains(main, "exporterdown.md") || strings.Contains(main, "postmortems") {
		t.Errorf("main was changed: %s", main)
	}
	// Silence: a proposal in the thread; an approver's click creates it in
	// the real Alertmanager.
	if _, err := fake.SendInteraction(fake.Click("CINC", "UALICE", parent.TS, "incident_silence", incs[0].ID)); err != nil {
		t.Fatal(err)
	}
	var propMsg slackfake.Message
	waitUntil("the silence proposal", 30*time.Second, func() bool {
		for _, m := range fake.BotMessages("CINC", parent.TS) {
			if strings.Contains(string(m.Blocks), "Silence {alertname") && strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
				propMsg = m
				return true
			}
		}
		return false
	})
	if _, err := fake.SendInteraction(fake.Click("CINC", "UADMIN", propMsg.TS, "approve", firstButtonValue(t, propMsg))); err != nil {
		t.Fatal(err)
	}
	waitUntil("the silence in Alertmanager", 30*time.Second, func() bool {
		r, err := http.Get(am.URL + "/api/v2/silences")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var silences []struct {
			CreatedBy string `json:"createdBy"`
		}
		_ = json.NewDecoder(r.Body).Decode(&silences)
		return len(silences) == 1 && silences[0].CreatedBy == "UADMIN"
	})
	// The approval's record lands just after the silence exists.
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, _ := a.Incidents().Get(context.Background(), incs[0].ID)
		var kinds []string
		for _, e := range in.Data.Timeline {
			kinds = append(kinds, e.Kind)
		}
		got = strings.Join(kinds, ",")
		// An approval's record and the next proposal's may land in either
		// order (the record follows the push the test waits for): three
		// proposals (postmortem, runbook, silence) and three approved
		// actions, a proposal first.
		_, rest, ok := strings.Cut(got, "resolved,resolved,postmortem,")
		tail := strings.Split(rest, ",")
		slices.Sort(tail)
		if ok && strings.HasPrefix(got, "opened,firing") && strings.Contains(got, "investigation") &&
			strings.HasPrefix(rest, "proposal,") && strings.Join(tail, ",") == "action,action,action,proposal,proposal,proposal" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline %s", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// firstButtonValue is the value of the first button of a message's
// actions block (a proposal's Approve carries its ID).
func firstButtonValue(t *testing.T, m slackfake.Message) string {
	t.Helper()
	var blocks []map[string]any
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		if b["type"] == "actions" {
			return b["elements"].([]any)[0].(map[string]any)["value"].(string)
		}
	}
	t.Fatalf("no buttons in %s", m.Blocks)
	return ""
}
