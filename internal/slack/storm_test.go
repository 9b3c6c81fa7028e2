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
	h.app.Incidents().SetSurface(h.bot)
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
	h.app.Incidents().SetSurface(h.bot)
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
