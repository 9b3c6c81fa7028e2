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

// The fake refuses what Slack refuses, with Slack's error codes, as seen
// through slack-go.
func TestFakeEnforcesSlackRules(t *testing.T) {
	f := slackfake.New(slackfake.Options{PostBurst: 100})
	defer f.Close()
	f.AddChannel("C1", "one", true, "U1")
	f.AddChannel("C2", "two", false)
	api := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(f.URL))
	ctx := context.Background()
	many := make([]slackapi.Block, 51)
	for i := range many {
		many[i] = slackapi.NewDividerBlock()
	}
	long := slackapi.NewSectionBlock(slackapi.NewTextBlockObject("mrkdwn", strings.Repeat("x", 3001), false, false), nil, nil)
	for _, tt := range []struct {
		name string
		api  *slackapi.Client
		ch   string
		opts []slackapi.MsgOption
		want string
	}{
		{"51 blocks", api, "C1", []slackapi.MsgOption{slackapi.MsgOptionBlocks(many...)}, "invalid_blocks"},
		{"section over 3000", api, "C1", []slackapi.MsgOption{slackapi.MsgOptionBlocks(long)}, "invalid_blocks"},
		{"text over 40000", api, "C1", []slackapi.MsgOption{slackapi.MsgOptionText(strings.Repeat("y", 40001), false)}, "msg_too_long"},
		{"empty", api, "C1", nil, "no_text"},
		{"not a member", api, "C2", []slackapi.MsgOption{slackapi.MsgOptionText("hi", false)}, "not_in_channel"},
		{"unknown channel", api, "C9", []slackapi.MsgOption{slackapi.MsgOptionText("hi", false)}, "channel_not_found"},
		{"app token on a bot method", slackapi.New(slackfake.AppToken, slackapi.OptionAPIURL(f.URL)), "C1",
			[]slackapi.MsgOption{slackapi.MsgOptionText("hi", false)}, "not_allowed_token_type"},
		{"bad token", slackapi.New("xoxb-wrong", slackapi.OptionAPIURL(f.URL)), "C1",
			[]slackapi.MsgOption{slackapi.MsgOptionText("hi", false)}, "invalid_auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.api.PostMessageContext(ctx, tt.ch, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
		})
	}
	// The per-channel rate: a burst, then 429 with Retry-After.
	slow := slackfake.New(slackfake.Options{PostBurst: 2, PostEvery: time.Minute})
	defer slow.Close()
	slow.AddChannel("C1", "one", true)
	slowAPI := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(slow.URL))
	for i := range 2 {
		if _, _, err := slowAPI.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("ok", false)); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	_, _, err := slowAPI.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("too fast", false))
	var rl *slackapi.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter < time.Minute-time.Second {
		t.Errorf("third post: %v", err)
	}
	// Updating a message that does not exist, and reactions twice.
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.2", slackapi.MsgOptionText("x", false)); err == nil || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("update unknown: %v", err)
	}
	ts := f.UserMessage("C1", "U1", "hello", "")
	ref := slackapi.NewRefToMessage("C1", ts)
	if err := api.AddReactionContext(ctx, "eyes", ref); err != nil {
		t.Fatal(err)
	}
	if err := api.AddReactionContext(ctx, "eyes", ref); err == nil || !strings.Contains(err.Error(), "already_reacted") {
		t.Errorf("second reaction: %v", err)
	}
	// A person's message cannot be edited by the bot.
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, slackapi.MsgOptionText("x", false)); err == nil || !strings.Contains(err.Error(), "cant_update_message") {
		t.Errorf("update a person's message: %v", err)
	}
	// Trigger IDs expire after three seconds; unknown ones are invalid.
	view := slackapi.ModalViewRequest{Type: slackapi.VTModal, Title: slackapi.NewTextBlockObject("plain_text", "t", false, false),
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{slackapi.NewDividerBlock()}}}
	if _, err := api.OpenViewContext(ctx, "nope", view); err == nil || !strings.Contains(err.Error(), "invalid_trigger_id") {
		t.Errorf("unknown trigger: %v", err)
	}
	if _, err := api.OpenViewContext(ctx, f.NewTrigger(), view); err != nil {
		t.Errorf("fresh trigger: %v", err)
	}
	// Files upload v2, with the declared length enforced.
	sum, err := api.UploadFileContext(ctx, slackapi.UploadFileParameters{Channel: "C1", Filename: "a.png", FileSize: 3,
		Reader: strings.NewReader("PNG"), Title: "chart"})
	if err != nil || sum.ID == "" || len(f.Files()) != 1 || string(f.Files()[0].Data) != "PNG" {
		t.Errorf("upload: %+v, %v, %+v", sum, err, f.Files())
	}
	if _, err := api.UploadFileContext(ctx, slackapi.UploadFileParameters{Channel: "C1", Filename: "b.png", FileSize: 10,
		Reader: strings.NewReader("short")}); err == nil {
		t.Error("an upload shorter than its declared length was accepted")
	}
}
