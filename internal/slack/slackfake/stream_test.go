package slackfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

// The streaming methods as Slack serves them, through slack-go: a stream
// is a thread reply to a person, takes text while it streams and refuses
// it once stopped.
func TestFakeStreamsLikeSlack(t *testing.T) {
	f := slackfake.New(slackfake.Options{StreamIdle: time.Minute})
	defer f.Close()
	f.AddChannel("C1", "one", true, "U1")
	api := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(f.URL))
	ctx := context.Background()
	parent := f.UserMessage("C1", "U1", "question", "")
	to := []slackapi.MsgOption{slackapi.MsgOptionTS(parent), slackapi.MsgOptionRecipientTeamID(slackfake.TeamID),
		slackapi.MsgOptionRecipientUserID("U1")}

	_, ts, err := api.StartStreamContext(ctx, "C1", append(to, slackapi.MsgOptionMarkdownText("Checkout "))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.AppendStreamContext(ctx, "C1", ts, slackapi.MsgOptionMarkdownText("is slow")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.StopStreamContext(ctx, "C1", ts, slackapi.MsgOptionMarkdownText(".")); err != nil {
		t.Fatal(err)
	}
	m, _ := f.Message("C1", ts)
	if m.Text != "Checkout is slow." || m.Streaming || !m.Streamed || m.ThreadTS != parent || m.Recipient != "U1/"+slackfake.TeamID {
		t.Errorf("the streamed message: %+v", m)
	}
	var seen []string
	for _, e := range f.Edits("C1", ts) {
		seen = append(seen, e.Method+"="+e.Text)
	}
	if want := "chat.startStream=Checkout |chat.appendStream=Checkout is slow|chat.stopStream=Checkout is slow."; strings.Join(seen, "|") != want {
		t.Errorf("edits %q, want %q", strings.Join(seen, "|"), want)
	}

	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"append to a stopped stream", func() error {
			_, _, err := api.AppendStreamContext(ctx, "C1", ts, slackapi.MsgOptionMarkdownText("more"))
			return err
		}, "message_not_in_streaming_state"},
		{"stop a stopped stream", func() error { _, _, err := api.StopStreamContext(ctx, "C1", ts); return err }, "message_not_in_streaming_state"},
		{"append to no message", func() error {
			_, _, err := api.AppendStreamContext(ctx, "C1", "1.000001", slackapi.MsgOptionMarkdownText("x"))
			return err
		}, "message_not_found"},
		{"no thread", func() error {
			_, _, err := api.StartStreamContext(ctx, "C1", slackapi.MsgOptionRecipientTeamID(slackfake.TeamID), slackapi.MsgOptionRecipientUserID("U1"))
			return err
		}, "invalid_arguments"},
		{"a channel without the recipient's team", func() error {
			_, _, err := api.StartStreamContext(ctx, "C1", slackapi.MsgOptionTS(parent), slackapi.MsgOptionRecipientUserID("U1"))
			return err
		}, "missing_recipient_team_id"},
		{"a channel without the recipient", func() error {
			_, _, err := api.StartStreamContext(ctx, "C1", slackapi.MsgOptionTS(parent), slackapi.MsgOptionRecipientTeamID(slackfake.TeamID))
			return err
		}, "missing_recipient_user_id"},
		{"text over 12000", func() error {
			_, _, err := api.StartStreamContext(ctx, "C1", append(to, slackapi.MsgOptionMarkdownText(strings.Repeat("x", 12001)))...)
			return err
		}, "msg_too_long"},
		{"no token", func() error {
			_, _, err := slackapi.New("", slackapi.OptionAPIURL(f.URL)).StartStreamContext(ctx, "C1", to...)
			return err
		}, "not_authed"},
		{"bad token", func() error {
			_, _, err := slackapi.New("xoxb-wrong", slackapi.OptionAPIURL(f.URL)).StartStreamContext(ctx, "C1", to...)
			return err
		}, "invalid_auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}

	// An empty append is refused; a DM needs no recipient.
	_, dm, err := api.StartStreamContext(ctx, "D1", slackapi.MsgOptionTS(f.UserMessage("D1", "U1", "hi", "")))
	if err != nil {
		t.Fatalf("stream in a DM: %v", err)
	}
	if _, _, err := api.AppendStreamContext(ctx, "D1", dm); err == nil || !strings.Contains(err.Error(), "no_text") {
		t.Errorf("empty append: %v", err)
	}
}

// A stream nothing was appended to for a while is no longer streaming.
func TestFakeStreamIdles(t *testing.T) {
	f := slackfake.New(slackfake.Options{StreamIdle: 50 * time.Millisecond})
	defer f.Close()
	api := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(f.URL))
	ctx := context.Background()
	_, ts, err := api.StartStreamContext(ctx, "D1", slackapi.MsgOptionTS(f.UserMessage("D1", "U1", "hi", "")), slackapi.MsgOptionMarkdownText("a"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if _, _, err := api.AppendStreamContext(ctx, "D1", ts, slackapi.MsgOptionMarkdownText("b")); err == nil || !strings.Contains(err.Error(), "message_not_in_streaming_state") {
		t.Errorf("append after idling: %v", err)
	}
}

// Tiers: the default is Slack's; a configured tier is enforced with 429
// and Retry-After; without streaming the methods are unknown.
func TestFakeStreamTiers(t *testing.T) {
	ctx := context.Background()
	f := slackfake.New(slackfake.Options{Tiers: map[string]slackfake.Tier{"chat.appendStream": {Every: time.Hour, Burst: 2}}})
	defer f.Close()
	api := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(f.URL))
	_, ts, err := api.StartStreamContext(ctx, "D1", slackapi.MsgOptionTS(f.UserMessage("D1", "U1", "hi", "")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, _, err := api.AppendStreamContext(ctx, "D1", ts, slackapi.MsgOptionMarkdownText("x")); err != nil {
			t.Fatalf("append %d within the burst: %v", i, err)
		}
	}
	_, _, err = api.AppendStreamContext(ctx, "D1", ts, slackapi.MsgOptionMarkdownText("too fast"))
	var rl *slackapi.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter < time.Hour-time.Second || f.RateLimited("chat.appendStream") != 1 {
		t.Errorf("append past the tier: %v (%d refused)", err, f.RateLimited("chat.appendStream"))
	}
	if m, _ := f.Message("D1", ts); m.Text != "xx" {
		t.Errorf("a refused append changed the message: %q", m.Text)
	}
	if got := slackfake.DefaultTiers()["chat.startStream"]; got.Burst != 20 || got.Every != 3*time.Second {
		t.Errorf("chat.startStream's default tier: %+v, want Tier 2", got)
	}

	none := slackfake.New(slackfake.Options{NoStreaming: true})
	defer none.Close()
	_, _, err = slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(none.URL)).StartStreamContext(ctx, "D1",
		slackapi.MsgOptionTS(none.UserMessage("D1", "U1", "hi", "")))
	if err == nil || !strings.Contains(err.Error(), "unknown_method") {
		t.Errorf("without streaming: %v", err)
	}
}
