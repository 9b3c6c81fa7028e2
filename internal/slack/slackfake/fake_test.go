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
		{"metadata without an event type", api, "C1", []slackapi.MsgOption{slackapi.MsgOptionText("hi", false),
			slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventPayload: map[string]any{"a": 1}})}, "invalid_metadata_format"},
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

// conversations.history and .replies page as Slack does, return metadata
// only when asked, and a lost answer still leaves the message posted.
func TestFakeHistoryMetadataAndLostAnswers(t *testing.T) {
	f := slackfake.New(slackfake.Options{PostBurst: 100})
	defer f.Close()
	f.AddChannel("C1", "one", true)
	f.AddChannel("C2", "two", false)
	api := slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(f.URL))
	ctx := context.Background()
	meta := func(n string) slackapi.MsgOption {
		return slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventType: "test_event", EventPayload: map[string]any{"n": n}})
	}
	var tss []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		_, ts, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText(n, false), meta(n))
		if err != nil {
			t.Fatal(err)
		}
		tss = append(tss, ts)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("reply", false), slackapi.MsgOptionTS(tss[0]), meta("r")); err != nil {
		t.Fatal(err)
	}
	// Newest first, replies left out, two per page.
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		h, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
			ChannelID: "C1", Limit: 2, Cursor: cursor, IncludeAllMetadata: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			got = append(got, m.Text+"="+m.Metadata.EventType+":"+m.Metadata.EventPayload["n"].(string))
		}
		if !h.HasMore {
			break
		}
		if page > 5 {
			t.Fatal("history never ends")
		}
		cursor = h.ResponseMetaData.NextCursor
	}
	if strings.Join(got, " ") != "e=test_event:e d=test_event:d c=test_event:c b=test_event:b a=test_event:a" {
		t.Errorf("history = %v", got)
	}
	// oldest is exclusive; no metadata unless asked.
	h, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: "C1", Oldest: tss[2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 2 || h.Messages[0].Text != "e" || h.Messages[1].Text != "d" || h.Messages[0].Metadata.EventType != "" {
		t.Errorf("history after c without metadata = %+v", h.Messages)
	}
	msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
		ChannelID: "C1", Timestamp: tss[0], IncludeAllMetadata: true})
	if err != nil || len(msgs) != 2 || msgs[1].Text != "reply" || msgs[1].Metadata.EventPayload["n"] != "r" {
		t.Errorf("replies = %+v, %v", msgs, err)
	}
	for _, tt := range []struct{ ch, cursor, want string }{
		{"C9", "", "channel_not_found"}, {"C2", "", "not_in_channel"}, {"C1", "garbage", "invalid_cursor"}} {
		_, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: tt.ch, Cursor: tt.cursor})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("history %s %q: %v, want %s", tt.ch, tt.cursor, err, tt.want)
		}
	}
	// A lost answer: the caller sees a transport error, Slack has the message.
	f.LoseNextAnswer("chat.postMessage")
	if _, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("lost", false)); err == nil {
		t.Error("a lost answer reached the caller")
	}
	if m := f.BotMessages("C1", ""); m[len(m)-1].Text != "lost" {
		t.Errorf("the message whose answer was lost was not posted: last is %q", m[len(m)-1].Text)
	}
}
