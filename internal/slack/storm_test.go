package slack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

// A storm of 1,000 alerts becomes a bounded number of incident threads;
// the parent messages end up showing every alert, posted within Slack's
// rate limit (the fake answers 429 beyond a burst of 3 per channel).
func TestAlertStormInSlack(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, fake: slackfake.Options{PostBurst: 3}, tweak: func(c *config.Config) {
		c.Slack.Alerts = []config.AlertRoute{{Channel: chOps}}
		c.Incidents.Investigate = false
	}})
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	names := []string{"PodCrashLooping", "HighErrorRate", "KubeNodeNotReady"}
	for i := range 1000 {
		name := names[i%3]
		m := incident.Message{Version: "4", GroupKey: fmt.Sprintf("{}:{alertname=%q, pod=\"p-%d\"}", name, i), Status: "firing",
			GroupLabels: map[string]string{"alertname": name}, CommonLabels: map[string]string{"alertname": name, "severity": "warning"},
			Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": name, "pod": fmt.Sprintf("p-%d", i)},
				StartsAt: t0, Fingerprint: fmt.Sprintf("fp%04d", i)}}}
		if _, err := h.app.Incidents().Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"PodCrashLooping": 334, "HighErrorRate": 333, "KubeNodeNotReady": 333}
	eventually(t, "every alert on the parent messages", func() bool {
		parents := 0
		ok := 0
		for _, m := range h.fake.BotMessages(chOps, "") {
			if m.ThreadTS != "" {
				continue
			}
			parents++
			text := blocksText(m.Blocks)
			for name, n := range want {
				if strings.Contains(text, name) && strings.Contains(text, fmt.Sprintf("%d of %d alerts firing", n, n)) {
					ok++
				}
			}
		}
		return parents == 3 && ok == 3
	})
	if n := len(h.fake.BotMessages(chOps, "")); n != 3 {
		t.Errorf("%d messages for a 3-alert storm", n)
	}
}

// Work done in an incident's thread lands on its timeline: people's
// messages and the bot's answers with the tools it used.
func TestThreadWorkIsOnTheIncidentTimeline(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ToolCalls: []scripted.Call{{Name: "prom_query_range", Args: map[string]any{"query": "up"}}}},
		{Text: "The exporter is down since 14:00."},
	}, tweak: func(c *config.Config) {
		c.Slack.Alerts = []config.AlertRoute{{Channel: chOps}}
		c.Incidents.Investigate = false
	}})
	ctx := context.Background()
	m := incident.Message{Version: "4", GroupKey: "g", Status: "firing", CommonLabels: map[string]string{"alertname": "ExporterDown"},
		Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": "ExporterDown"}, StartsAt: time.Now(), Fingerprint: "fp"}}}
	out, err := h.app.Incidents().Handle(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := h.app.Incidents().Get(ctx, out.Incident)
	ts := h.fake.UserMessage(chOps, alice, "what is down?", in.ThreadTS)
	h.send(slackfake.Mention(chOps, alice, ts, in.ThreadTS, "what is down?"))
	h.answered(chOps, in.ThreadTS, "The exporter is down since 14:00.")
	var last string
	defer func() {
		if t.Failed() {
			t.Log(last)
		}
	}()
	eventually(t, "the timeline", func() bool {
		in, _ = h.app.Incidents().Get(ctx, out.Incident)
		var got []string
		for _, e := range in.Data.Timeline {
			got = append(got, e.Kind+": "+e.Text)
		}
		all := strings.Join(got, "\n")
		if !strings.Contains(all, "message: UALICE: what is down?") || !strings.Contains(all, "answer: The exporter is down since 14:00. (tools: prom_query_range") {
			last = all
			return false
		}
		return true
	})
}

// When Slack is slow, an alert notification does not wait for its parent
// message: the message stays queued, is linked to the incident when it is
// delivered, shows what changed meanwhile, and the investigation waits for
// the thread to report in it.
func TestSlowSlackDoesNotHoldAlertmanager(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, incidentPostWait: 200 * time.Millisecond, tweak: func(c *config.Config) {
		c.Slack.Alerts = []config.AlertRoute{{Channel: chOps}}
		c.Incidents.Investigate = false
	}})
	svc := h.app.Incidents()
	ctx := context.Background()
	alert := func(fp string) incident.Alert {
		return incident.Alert{Status: "firing", Labels: map[string]string{"alertname": "HighErrorRate", "pod": fp},
			StartsAt: time.Now().Add(-time.Minute), Fingerprint: fp}
	}
	msg := func(alerts ...incident.Alert) incident.Message {
		return incident.Message{Version: "4", GroupKey: "{}:{alertname=\"HighErrorRate\"}", Status: "firing",
			GroupLabels: map[string]string{"alertname": "HighErrorRate"}, CommonLabels: map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
			Alerts: alerts}
	}
	// Slack fails the first attempt; the outbox retries a second later.
	h.fake.FailNext("chat.postMessage", "service_unavailable")
	start := time.Now()
	out, err := svc.Handle(ctx, msg(alert("a")))
	if err != nil || !out.Opened {
		t.Fatalf("%+v %v", out, err)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("the notification waited %s for Slack", took)
	}
	in, _ := svc.Get(ctx, out.Incident)
	if in.ThreadTS != "" {
		t.Fatal("linked before delivery")
	}
	// A second alert joins while the message is still queued.
	if _, err := svc.Handle(ctx, msg(alert("a"), alert("b"))); err != nil {
		t.Fatal(err)
	}
	reported := make(chan error, 1)
	go func() { reported <- h.bot.ReportFindings(ctx, in, nil) }() // holds the stale copy, as the playbook does
	eventually(t, "the incident linked to its delivered message", func() bool {
		cur, _ := svc.Get(ctx, out.Incident)
		return cur.ThreadTS != ""
	})
	cur, _ := svc.Get(ctx, out.Incident)
	eventually(t, "the parent message shows both alerts", func() bool {
		m, ok := h.fake.Message(chOps, cur.ThreadTS)
		return ok && strings.Contains(blocksText(m.Blocks), "2 of 2 alerts firing")
	})
	if err := <-reported; err != nil {
		t.Fatal(err)
	}
	if replies := h.fake.BotMessages(chOps, cur.ThreadTS); len(replies) != 1 || !strings.Contains(blocksText(replies[0].Blocks), "Automatic investigation") {
		t.Errorf("thread replies: %+v", replies)
	}
	parents := 0
	for _, m := range h.fake.BotMessages(chOps, "") {
		if m.ThreadTS == "" {
			parents++
		}
	}
	if parents != 1 {
		t.Errorf("%d parent messages", parents)
	}
}
