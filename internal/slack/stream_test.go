package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

// writing is a model turn that streams its answer a line at a time, gap
// apart, as a streaming provider does.
func writing(gap time.Duration, lines ...string) scripted.Turn {
	return scripted.Turn{Respond: func(ctx context.Context, req agent.Request) (agent.Response, error) {
		for _, l := range lines {
			if req.OnText != nil {
				req.OnText(l + "\n")
			}
			select {
			case <-ctx.Done():
				return agent.Response{}, ctx.Err()
			case <-time.After(gap):
			}
		}
		return agent.Response{Message: agent.Message{Role: agent.RoleAssistant, Content: strings.Join(lines, "\n")},
			Model: "scripted", FinishReason: "stop"}, nil
	}}
}

// wordRedactor is a Redactor that also hides one word.
type wordRedactor struct {
	slack.Redactor
	word string
}

func (r wordRedactor) Redact(s string) string {
	return strings.ReplaceAll(r.Redactor.Redact(s), r.word, "[REDACTED]")
}

// numbered returns n lines of an answer.
func numbered(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "Line " + string(rune('A'+i%26)) + strings.Repeat("x", i%7) + " of the answer."
	}
	return lines
}

// streamedReplies returns the replies in thread that were streamed.
func streamedReplies(h *harness, ch, thread string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.fake.Messages(ch) {
		if m.Streamed && m.ThreadTS == thread {
			out = append(out, m)
		}
	}
	return out
}

// The answer's text streams into the thread with Slack's streaming
// methods while the model writes it, a little at a time, to the person
// who asked; then the rendered answer takes the progress message's place
// and the streamed reply goes.
func TestStreamAnswerWithStreamingMethods(t *testing.T) {
	lines := []string{
		"Checkout p99 rose to **2.31s** at 14:02.",
		"The deploy at 14:01 is the likely cause.",
		"The secret " + signingSecret + " must not show, nor hunter2.",
		"Error rates did not change.",
		"Roll back if it does not recover.",
		"Nothing else looks abnormal.",
	}
	h := newHarness(t, harnessOpts{
		turns: []scripted.Turn{
			{ExpectInput: "why is checkout slow?", ToolCalls: []scripted.Call{{Name: "prom_query_range", Args: map[string]any{"query": "checkout_p99"}}}},
			writing(80*time.Millisecond, lines...),
		},
		// The bot's redactor knows a secret the agent's does not: the
		// stream must pass through the bot's own.
		slack: func(o *slack.Options) {
			o.StreamEvery, o.Redactor = 50*time.Millisecond, wordRedactor{o.Redactor, "hunter2"}
		},
	})
	ts := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> why is checkout slow?", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "why is checkout slow?"))

	ans := h.answered(chOps, ts, "Roll back if it does not recover.")
	var reply slackfake.Message
	eventually(t, "the streamed reply deleted once the answer is in place", func() bool {
		rs := streamedReplies(h, chOps, ts)
		if len(rs) == 1 && rs[0].Deleted {
			reply = rs[0]
			return true
		}
		return false
	})
	if reply.Recipient != alice+"/"+slackfake.TeamID {
		t.Errorf("streamed to %q, want the asker in the workspace", reply.Recipient)
	}

	edits := h.fake.Edits(chOps, reply.TS)
	var methods []string
	for _, e := range edits {
		methods = append(methods, e.Method)
	}
	if len(edits) < 4 || methods[0] != "chat.startStream" || methods[len(methods)-2] != "chat.stopStream" || methods[len(methods)-1] != "chat.delete" {
		t.Fatalf("stream calls %v; want start, appends, stop, delete", methods)
	}
	full := edits[len(edits)-2].Text
	redacted := "The secret [REDACTED] must not show, nor [REDACTED]."
	if want := strings.Join(append(append(append([]string{}, lines[:2]...), redacted), lines[3:]...), "\n") + "\n"; full != want {
		t.Errorf("the stream ended with %q, want %q: every line, in order, redacted", full, want)
	}
	for _, e := range edits {
		if strings.Contains(e.Text, signingSecret) || strings.Contains(e.Text, "hunter2") {
			t.Errorf("a secret was streamed to Slack: %q", e.Text)
		}
	}
	// Partial text was visible before the answer replaced it.
	var answerAt time.Time
	for _, e := range h.fake.Edits(chOps, ans.TS) {
		if !inProgress(blocksText(e.Blocks)) {
			answerAt = e.At
		}
	}
	partial := false
	for _, e := range edits[:len(edits)-2] {
		if e.Text != "" && len(e.Text) < len(full) && strings.HasPrefix(full, e.Text) && e.At.Before(answerAt) {
			partial = true
		}
	}
	if !partial {
		t.Errorf("no partial text was streamed before the answer: %v", methods)
	}
	if del := edits[len(edits)-1].At; del.Before(answerAt) {
		t.Error("the streamed reply was deleted before the answer was in place")
	}
	// The text appeared once: the progress message showed tool calls only.
	for _, e := range h.fake.Edits(chOps, ans.TS) {
		if text := blocksText(e.Blocks); inProgress(text) && strings.Contains(text, "deploy at 14:01") {
			t.Errorf("the progress message repeated the streamed text: %s", text)
		}
	}
	// The answer is the normal rendered answer.
	text := blocksText(ans.Blocks)
	for _, w := range []string{"*2.31s*", "`prom_query_range` `checkout_p99`", "Show my work"} {
		if !strings.Contains(text, w) {
			t.Errorf("the answer lacks %q:\n%s", w, text)
		}
	}
	if n := h.fake.RateLimited("chat.appendStream") + h.fake.RateLimited("chat.startStream"); n != 0 {
		t.Errorf("%d streaming calls were rate limited", n)
	}
}

// Where Slack refuses to stream, the answer shows its text by updating
// the progress message instead, and the refusal is remembered as widely
// as it holds: for the workspace, the channel, or this answer alone.
func TestStreamFallsBack(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fake   slackfake.Options
		fail   [2]string // method, Slack error for its next call
		stream string    // slack.stream
		// starts is how many chat.startStream calls two answers make.
		starts  int
		updates bool // the text shows in the progress message
	}{
		{name: "no streaming methods", fake: slackfake.Options{NoStreaming: true}, starts: 1, updates: true},
		{name: "missing scope", fail: [2]string{"chat.startStream", "missing_scope"}, starts: 1, updates: true},
		{name: "not authed", fail: [2]string{"chat.startStream", "not_authed"}, starts: 1, updates: true},
		{name: "channel type", fail: [2]string{"chat.startStream", "method_not_supported_for_channel_type"}, starts: 1, updates: true},
		{name: "stream ended", fail: [2]string{"chat.appendStream", "message_not_in_streaming_state"}, starts: 2, updates: true},
		{name: "updates", stream: "updates", starts: 0, updates: true},
		{name: "off", stream: "off", starts: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first, second := numbered(8), numbered(3)
			h := newHarness(t, harnessOpts{fake: tt.fake,
				turns: []scripted.Turn{writing(60*time.Millisecond, first...), writing(20*time.Millisecond, second...)},
				tweak: func(c *config.Config) { c.Slack.Stream = tt.stream },
				slack: func(o *slack.Options) { o.StreamEvery = 50 * time.Millisecond },
			})
			if tt.fail[0] != "" {
				h.fake.FailNext(tt.fail[0], tt.fail[1])
			}
			ts := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> first", "")
			h.send(slackfake.Mention(chOps, alice, ts, "", "first"))
			ans := h.answered(chOps, ts, first[len(first)-1])
			if !strings.Contains(blocksText(ans.Blocks), "Show my work") {
				t.Errorf("the answer is not the rendered answer:\n%s", blocksText(ans.Blocks))
			}
			// Partial text — its beginning, not yet its end — showed in
			// the progress message before the answer.
			shown := false
			for _, e := range h.fake.Edits(chOps, ans.TS) {
				text := blocksText(e.Blocks)
				shown = shown || inProgress(text) && strings.Contains(text, first[0]) && !strings.Contains(text, first[len(first)-1])
			}
			if shown != tt.updates {
				t.Errorf("partial text shown in the progress message: %v, want %v", shown, tt.updates)
			}

			ts2 := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> second", "")
			h.send(slackfake.Mention(chOps, alice, ts2, "", "second"))
			h.answered(chOps, ts2, second[len(second)-1])
			if got := h.fake.Calls("chat.startStream"); got != tt.starts {
				t.Errorf("chat.startStream called %d times over two answers, want %d", got, tt.starts)
			}
			eventually(t, "no streamed reply left beside an answer", func() bool {
				for _, m := range h.fake.Messages(chOps) {
					if m.Streamed && !m.Deleted {
						return false
					}
				}
				return true
			})
		})
	}
}

// A model writing fast does not make the bot call Slack faster than its
// tier: text is coalesced, and what is left when the run ends goes with
// chat.stopStream.
func TestStreamStaysWithinTier(t *testing.T) {
	lines := numbered(40)
	h := newHarness(t, harnessOpts{
		fake:  slackfake.Options{Tiers: map[string]slackfake.Tier{"chat.appendStream": {Every: 150 * time.Millisecond, Burst: 2}}},
		turns: []scripted.Turn{writing(10*time.Millisecond, lines...)},
		slack: func(o *slack.Options) { o.StreamEvery = 200 * time.Millisecond },
	})
	ts := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> go", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "go"))
	h.answered(chOps, ts, lines[len(lines)-1])
	reply := waitStreamed(t, h, ts)
	if n := h.fake.RateLimited("chat.appendStream"); n != 0 {
		t.Errorf("%d appends were rate limited", n)
	}
	calls := h.fake.Calls("chat.appendStream")
	if calls == 0 || calls > 4 {
		t.Errorf("%d appends for 40 lines written in ~0.4s; want a few, coalesced", calls)
	}
	if want := strings.Join(lines, "\n") + "\n"; reply != want {
		t.Errorf("streamed %q, want every line", reply)
	}
}

// Past the tier Slack answers 429: the bot waits as told and loses
// nothing.
func TestStreamHonoursRetryAfter(t *testing.T) {
	lines := numbered(40)
	h := newHarness(t, harnessOpts{
		fake:  slackfake.Options{Tiers: map[string]slackfake.Tier{"chat.appendStream": {Every: 800 * time.Millisecond, Burst: 1}}},
		turns: []scripted.Turn{writing(30*time.Millisecond, lines...)},
		slack: func(o *slack.Options) { o.StreamEvery = 10 * time.Millisecond },
	})
	ts := h.fake.UserMessage(chOps, alice, "<@UWATCHBOT> go", "")
	h.send(slackfake.Mention(chOps, alice, ts, "", "go"))
	h.answered(chOps, ts, lines[len(lines)-1])
	reply := waitStreamed(t, h, ts)
	// Refused, the bot waited as told (a second) rather than trying
	// again at its own pace, every 10ms.
	switch n := h.fake.RateLimited("chat.appendStream"); {
	case n == 0:
		t.Fatal("Slack never refused an append; the test did not exercise 429")
	case n > 3:
		t.Errorf("%d appends refused in about a second; Retry-After was not honoured", n)
	}
	if want := strings.Join(lines, "\n") + "\n"; reply != want {
		t.Errorf("streamed %q, want every line once, in order", reply)
	}
}

// waitStreamed waits for the thread's streamed reply to be deleted and
// returns the text it ended with.
func waitStreamed(t *testing.T, h *harness, thread string) string {
	t.Helper()
	var reply slackfake.Message
	eventually(t, "the streamed reply deleted", func() bool {
		rs := streamedReplies(h, chOps, thread)
		if len(rs) == 1 && rs[0].Deleted {
			reply = rs[0]
			return true
		}
		return false
	})
	text := ""
	for _, e := range h.fake.Edits(chOps, reply.TS) {
		if e.Method != "chat.delete" {
			text = e.Text
		}
	}
	return text
}
