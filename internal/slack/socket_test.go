package slack_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

func TestMentionBecomesThreadedAnswerWithProgress(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ExpectInput: "why is checkout slow since 14:00?",
			ToolCalls: []scripted.Call{{Name: "prom_query_range", Args: map[string]any{"query": "histogram_quantile(0.99, checkout)"}}}},
		{ExpectToolResult: "checkout p99 2.31s", Text: "Checkout p99 rose to **2.31s** at 14:02 <!channel>; see [the graph](http://prom.example/g?a=1&b=2)."},
		{ExpectInput: "and is it still slow?", Text: "Still elevated at 2.2s."},
	}})
	ts := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> why is checkout slow since 14:00?", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "why is checkout slow since 14:00?"))

	ans := h.answered(chOps, ts, "Checkout p99 rose to")
	text := blocksText(ans.Blocks)
	for _, want := range []string{
		"*2.31s*",          // Markdown bold became mrkdwn
		"&lt;!channel&gt;", // model text cannot ping the channel
		"the graph (<http://prom.example/g?a=1&amp;b=2>)",                  // links survive, escaped, destination shown
		"`prom_query_range` `histogram_quantile(0.99, checkout)`",          // evidence: the exact query
		"<http://prometheus.example/graph?g0.expr=x&amp;g0.range=1h|open>", // with its link
		"Show my work",
		"1 tool call", // footer
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
	if ans.Updates < 2 {
		t.Errorf("the progress message was updated %d times; want progress updates and then the answer", ans.Updates)
	}
	if problem := slackfake.BlocksProblem(string(ans.Blocks)); problem != "" {
		t.Errorf("answer blocks break Slack's rules: %s", problem)
	}
	// Reactions on the question: 👀 while working, ✅ when done.
	eventually(t, "the ✅ reaction", func() bool {
		m, _ := h.fake.Message(chOps, ts)
		return slices.Equal(m.Reactions, []string{"white_check_mark"})
	})
	// The chart was uploaded into the thread (files upload v2).
	eventually(t, "the chart upload", func() bool {
		for _, f := range h.fake.Files() {
			if f.Channel == chOps && f.ThreadTS == ts && f.Name == "chart.png" && string(f.Data) == "\x89PNG fake chart" {
				return true
			}
		}
		return false
	})

	// A reply in the thread without a mention continues the conversation.
	reply := h.fake.UserMessage(chOps, alice, "and is it still slow?", ts)
	h.send(slackfake.ChannelMessage(chOps, "channel", alice, reply, ts, "and is it still slow?"))
	h.answered(chOps, ts, "Still elevated at 2.2s.")
	if got := h.model.Requests(); len(got) < 3 || !strings.Contains(got[2].Messages[len(got[2].Messages)-2].Content, "Checkout p99 rose") {
		t.Error("the follow-up did not carry the thread's memory")
	}

	// Other bots, the bot itself and people chatting in unrelated threads
	// are ignored; the scripted model would fail on an extra call.
	other := h.fake.UserMessage(chOps, bob, "unrelated", "")
	botMsg := slackfake.ChannelMessage(chOps, "channel", eveBot, h.fake.UserMessage(chOps, eveBot, "I am a bot", ts), ts, "I am a bot")
	botMsg["bot_id"] = "BEVE"
	h.send(botMsg)
	h.send(slackfake.ChannelMessage(chOps, "channel", "UWATCHBOT", h.fake.UserMessage(chOps, "UWATCHBOT", "me", ts), ts, "me"))
	h.send(slackfake.ChannelMessage(chOps, "channel", bob, h.fake.UserMessage(chOps, bob, "lunch?", other), other, "lunch?"))
	time.Sleep(200 * time.Millisecond)
	if n := h.model.Remaining(); n != 0 {
		t.Errorf("%d scripted turns left", n)
	}
	if len(h.model.Requests()) != 3 {
		t.Errorf("model called %d times; ignored messages reached it", len(h.model.Requests()))
	}
}

func TestRedeliveredEventIsHandledOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{{Text: "Once."}}})
	ts := h.fake.UserMessage(chOps, alice, "hi", "")
	ev := slackfake.EventCallback(slackfake.Mention(chOps, alice, ts, "", "hi"))
	for range 3 {
		id, err := h.fake.SendEventCallback(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.fake.WaitAck(id, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	h.answered(chOps, ts, "Once.")
	time.Sleep(200 * time.Millisecond)
	if n := len(h.model.Requests()); n != 1 {
		t.Errorf("a redelivered event was answered %d times", n)
	}
}

func TestDirectMessageAndAssistantThread(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ExpectInput: "what is firing?", ToolCalls: []scripted.Call{{Name: "prom_query_range", Args: map[string]any{"query": "ALERTS"}}}},
		{Text: "Nothing is firing."},
	}})
	const dm = "DALICE"
	thread := h.fake.UserMessage(dm, alice, "(assistant thread)", "")
	h.send(map[string]any{"type": "assistant_thread_started", "event_ts": thread,
		"assistant_thread": map[string]any{"user_id": alice, "channel_id": dm, "thread_ts": thread}})
	eventually(t, "suggested prompts", func() bool { return len(h.fake.SuggestedPrompts()) == 1 })
	ts := h.fake.UserMessage(dm, alice, "what is firing?", thread)
	h.send(slackfake.ChannelMessage(dm, "im", alice, ts, thread, "what is firing?"))
	h.answered(dm, thread, "Nothing is firing.")
	var statuses []string
	for _, s := range h.fake.Statuses() {
		statuses = append(statuses, s.Status)
	}
	if !slices.Contains(statuses, "is querying Prometheus…") || statuses[len(statuses)-1] != "" {
		t.Errorf("assistant status lines = %q; want a Prometheus status and a final clear", statuses)
	}
}

// Without a model a question is still answered: routed to the
// investigation that fits it, with a note on what a model would add.
func TestNoModelStillAnswers(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true})
	ts := h.fake.UserMessage(chOps, alice, "hi", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "why is it slow?"))
	m := h.answered(chOps, ts, "Answered without a language model")
	if !strings.Contains(blocksText(m.Blocks), "What the evidence says") {
		t.Errorf("answer: %s", blocksText(m.Blocks))
	}
}

func TestReconnectsAfterDisconnect(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{{Text: "Back."}}})
	before := h.fake.Connections()
	h.fake.Disconnect()
	eventually(t, "new connections", func() bool { return h.fake.Connections() >= before+2 && h.fake.OpenConnections() == 2 })
	ts := h.fake.UserMessage(chOps, alice, "there?", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "there?"))
	h.answered(chOps, ts, "Back.")
}

// Broken and unknown envelopes are acknowledged when they carry an ID (so
// Slack does not retry them), logged, and change nothing; the connection
// stays up and the next question is answered.
func TestHostileEnvelopesAreAcknowledgedAndIgnored(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{{Text: "Still here."}}})
	before := h.fake.Connections()
	for _, raw := range []struct{ id, data string }{
		{"", `not json at all`},
		{"", `{"type":"events_api","envelope_id":"cut`},
		{"bad-payload", `{"type":"events_api","envelope_id":"bad-payload","payload":"a string, not an event"}`},
		{"bad-event", `{"type":"events_api","envelope_id":"bad-event","payload":{"type":"event_callback","event":[1,2]}}`},
		{"bad-click", `{"type":"interactive","envelope_id":"bad-click","payload":{"type":7}}`},
		{"bad-command", `{"type":"slash_commands","envelope_id":"bad-command","payload":["x"]}`},
	} {
		if err := h.fake.SendRaw(raw.id, []byte(raw.data)); err != nil {
			t.Fatal(err)
		}
		if raw.id != "" {
			if _, err := h.fake.WaitAck(raw.id, 3*time.Second); err != nil {
				t.Errorf("%s: %v", raw.id, err)
			}
		}
	}
	id, err := h.fake.SendEnvelope("a_type_from_the_future", map[string]any{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.WaitAck(id, 3*time.Second); err != nil {
		t.Errorf("unknown envelope type: %v", err)
	}
	ts := h.fake.UserMessage(chOps, alice, "still there?", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "still there?"))
	h.answered(chOps, ts, "Still here.")
	if n := h.fake.Connections(); n != before {
		t.Errorf("hostile envelopes cost a reconnect: %d connections opened, %d before", n, before)
	}
	if n := len(h.model.Requests()); n != 1 {
		t.Errorf("the model was asked %d times, want once (for the real question)", n)
	}
}

func TestScopedChannelRefusesOtherNamespaces(t *testing.T) {
	h := newHarness(t, harnessOpts{turns: []scripted.Turn{
		{ToolCalls: []scripted.Call{{Name: "restart_deployment", Args: map[string]any{"name": "x"}}}},
		{ExpectToolResult: "not allowed in this conversation",
			ToolCalls: []scripted.Call{{Name: "prom_query_range", Args: map[string]any{"query": `up{namespace="kube-system"}`}}}},
		{ExpectToolResult: `namespace "kube-system" is outside this conversation's scope`, Text: "I may only look at shop."},
	}})
	ts := h.fake.UserMessage(chShop, alice, "restart x", "")
	h.send(slackfake.Mention(chShop, alice, ts, "", "restart x in kube-system"))
	h.answered(chShop, ts, "I may only look at shop.")
	if h.restart.applied.Load() != 0 || h.rng.calls.Load() != 0 {
		t.Error("a tool ran outside the channel's scope")
	}
	if !strings.Contains(h.model.Requests()[0].Messages[0].Content, "only look at these Kubernetes namespaces: shop") {
		t.Error("the scope is not in the system prompt")
	}
}
