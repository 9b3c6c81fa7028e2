package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

func openStore(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeSlack is a fake Slack with channel C1, the bot a member, taking ten
// posts at once.
func fakeSlack(t *testing.T) *slackfake.Fake {
	t.Helper()
	fake := slackfake.New(slackfake.Options{PostBurst: 10})
	t.Cleanup(fake.Close)
	fake.AddChannel("C1", "one", true)
	return fake
}

func newAPI(url string) *slackapi.Client {
	return slackapi.New(slackfake.BotToken, slackapi.OptionAPIURL(url))
}

// The outbox keeps to one message per channel per interval by itself, and
// when Slack still answers 429 it waits the Retry-After and delivers
// everything, in order.
func TestOutboxHonoursRateLimits(t *testing.T) {
	fake := slackfake.New(slackfake.Options{PostBurst: 1, PostEvery: 300 * time.Millisecond})
	defer fake.Close()
	fake.AddChannel("C1", "one", true)
	s := openStore(t, filepath.Join(t.TempDir(), "o.db"))
	// An interval shorter than Slack's rate, so Slack has to say 429.
	o := NewOutbox(s, newAPI(fake.URL), nil, nil, 10*time.Millisecond, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	start := time.Now()
	var tss []string
	for i := range 4 {
		ts, err := o.Post(ctx, newMsg("C1", "", fmt.Sprintf("message %d", i), nil))
		if err != nil {
			t.Fatal(err)
		}
		tss = append(tss, ts)
	}
	msgs := fake.BotMessages("C1", "")
	if len(msgs) != 4 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	for i, m := range msgs {
		if m.Text != fmt.Sprintf("message %d", i) || m.TS != tss[i] {
			t.Errorf("message %d = %q (%s)", i, m.Text, m.TS)
		}
	}
	// Slack's Retry-After is whole seconds: three refusals cost ≥ 3 s.
	if fake.Calls("chat.postMessage") <= 4 {
		t.Errorf("Slack never refused (%d calls); the test did not exercise 429", fake.Calls("chat.postMessage"))
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("delivered in %s: Retry-After was not honoured", took)
	}
}

// Messages accepted while Slack is unreachable survive a restart and are
// delivered by the next process.
func TestOutboxSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s := openStore(t, path)
	down := NewOutbox(s, newAPI("http://127.0.0.1:1/"), nil, nil, time.Millisecond, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	go down.Run(ctx)
	for i := range 3 {
		if _, _, err := down.enqueue(ctx, kindPost, "", newMsg("C1", "", fmt.Sprintf("kept %d", i), nil), false); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a failed attempt or two
	cancel()
	s.Close()

	fake := fakeSlack(t)
	s2 := openStore(t, path)
	up := NewOutbox(s2, newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	// The transport failures above scheduled retries with backoff; the
	// new process delivers them when they are due.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go up.Run(ctx2)
	deadline := time.Now().Add(10 * time.Second)
	for len(fake.BotMessages("C1", "")) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	msgs := fake.BotMessages("C1", "")
	if len(msgs) != 3 || msgs[0].Text != "kept 0" || msgs[2].Text != "kept 2" {
		t.Fatalf("after restart: %+v", msgs)
	}
}

// Slack refusing a message is final: it is recorded, not retried forever,
// and the waiting caller gets the reason.
func TestOutboxPermanentErrors(t *testing.T) {
	fake := slackfake.New(slackfake.Options{PostBurst: 10})
	defer fake.Close()
	fake.AddChannel("COUT", "out", false)
	s := openStore(t, filepath.Join(t.TempDir(), "o.db"))
	o := NewOutbox(s, newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	var failed []string
	o.onFailure = func(kind, reason string) { failed = append(failed, kind+":"+reason) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	_, err := o.Post(ctx, newMsg("COUT", "", "hello", nil))
	var se slackapi.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "not_in_channel" {
		t.Fatalf("err = %v", err)
	}
	if fake.Calls("chat.postMessage") != 1 {
		t.Errorf("a permanent error was retried (%d calls)", fake.Calls("chat.postMessage"))
	}
	if len(failed) != 1 || failed[0] != "post:not_in_channel" {
		t.Errorf("failures counted: %v", failed)
	}
	// A 5xx is transient and retried.
	fake.AddChannel("C1", "one", true)
	fake.FailNext("chat.postMessage", "internal_error")
	if _, err := o.Post(ctx, newMsg("C1", "", "after a hiccup", nil)); err != nil {
		t.Fatalf("not retried: %v", err)
	}
	pending, _ := s.PendingOutbox(ctx, 10)
	if len(pending) != 0 {
		t.Errorf("%d messages left pending", len(pending))
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestReplayCache(t *testing.T) {
	var c replayCache
	t0 := time.Unix(1_800_000_000, 0)
	if !c.first("v0=a", t0) || c.first("v0=a", t0.Add(time.Minute)) {
		t.Fatal("a signature was not remembered")
	}
	if !c.first("v0=b", t0) {
		t.Error("another signature was refused")
	}
	// After the window the entry is dropped (the request would be stale
	// anyway), so memory does not grow without bound.
	if !c.first("v0=a", t0.Add(replayWindow+3*time.Minute)) || len(c.seen) != 1 {
		t.Errorf("expired entries kept: %d", len(c.seen))
	}
	for i := range maxReplayEntries + 10 {
		c.first(fmt.Sprint(i), t0.Add(10*time.Minute))
	}
	if len(c.seen) > maxReplayEntries {
		t.Errorf("%d entries; the cache is unbounded", len(c.seen))
	}
}

// With several replicas only the leader delivers: a replica that is not
// leading queues a post and gets its ts from the store once the leader
// delivered it; a permanent refusal reaches it too.
func TestOutboxSharedBetweenReplicas(t *testing.T) {
	fake := fakeSlack(t)
	path := filepath.Join(t.TempDir(), "o.db")
	follower := NewOutbox(openStore(t, path), newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	leader := NewOutbox(openStore(t, path), newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	follower.shared, leader.shared = true, true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go follower.watch(ctx) // the follower never delivers
	go leader.Run(ctx)

	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	ts, err := follower.Post(pctx, newMsg("C1", "", "queued by the follower", nil))
	if err != nil {
		t.Fatal(err)
	}
	msgs := fake.BotMessages("C1", "")
	if len(msgs) != 1 || msgs[0].TS != ts || msgs[0].Text != "queued by the follower" {
		t.Fatalf("delivered %+v, ts %q", msgs, ts)
	}
	_, err = follower.Post(pctx, newMsg("C404", "", "to a channel that does not exist", nil))
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("a refusal delivered by the leader: err = %v", err)
	}
}

// A post whose answer was lost after Slack accepted it is not posted again:
// the retry finds it by its metadata, in a channel and in a thread.
func TestOutboxLostAnswerIsNotPostedTwice(t *testing.T) {
	fake := fakeSlack(t)
	s := openStore(t, filepath.Join(t.TempDir(), "o.db"))
	o := NewOutbox(s, newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	parent, err := o.Post(ctx, newMsg("C1", "", "parent", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, thread := range []string{"", parent} {
		fake.LoseNextAnswer("chat.postMessage")
		text := "once in " + map[bool]string{true: "the channel", false: "a thread"}[thread == ""]
		ts, err := o.Post(ctx, newMsg("C1", thread, text, nil))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		var same []string
		for _, m := range fake.BotMessages("C1", thread) {
			if m.Text == text {
				same = append(same, m.TS)
			}
		}
		if len(same) != 1 || same[0] != ts {
			t.Errorf("%s: posted as %v, Post returned %s; want once", text, same, ts)
		}
	}
	if n := fake.Calls("chat.postMessage"); n != 3 {
		t.Errorf("chat.postMessage called %d times, want 3 (no second post of a lost answer)", n)
	}
}

// A post another process was sending when it died is looked for before it
// is sent: found, it is recorded with Slack's ts; not found, it is posted;
// when the history cannot be read, it is posted rather than lost.
func TestOutboxTakesOverInFlightPosts(t *testing.T) {
	fake := fakeSlack(t)
	s := openStore(t, filepath.Join(t.TempDir(), "o.db"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dead := NewOutbox(s, newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	queue := func(text string) (int64, outMsg) {
		id, _, err := dead.enqueue(ctx, kindPost, "", newMsg("C1", "", text, nil), false)
		if err != nil {
			t.Fatal(err)
		}
		row, err := s.GetOutbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var msg outMsg
		if err := json.Unmarshal(row.Payload, &msg); err != nil || msg.Nonce == "" {
			t.Fatalf("queued post has no nonce: %s %v", row.Payload, err)
		}
		if err := s.UpdateOutbox(ctx, id, store.OutboxPending, 0, time.Now(), inFlight); err != nil {
			t.Fatal(err)
		}
		return id, msg
	}
	// The first is checked without the scope to read history (delivery
	// goes in queue order).
	blindID, _ := queue("checked without history")
	fake.FailNext("conversations.history", "missing_scope")
	// The dead process had sent this one; Slack has it.
	sentID, sent := queue("sent before the crash")
	if _, err := dead.send(ctx, store.OutboxMessage{ID: sentID, Kind: kindPost, Payload: mustJSON(t, sent)}); err != nil {
		t.Fatal(err)
	}
	// It died before this one left.
	unsentID, _ := queue("not sent before the crash")

	up := NewOutbox(s, newAPI(fake.URL), nil, nil, time.Millisecond, testLogger(t))
	go up.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p, _ := s.PendingOutbox(ctx, 10); len(p) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	count := map[string]int{}
	tsOf := map[string]string{}
	for _, m := range fake.BotMessages("C1", "") {
		count[m.Text]++
		tsOf[m.Text] = m.TS
	}
	for id, text := range map[int64]string{sentID: "sent before the crash", unsentID: "not sent before the crash", blindID: "checked without history"} {
		row, err := s.GetOutbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if count[text] != 1 || row.Status != store.OutboxSent || row.Result != tsOf[text] {
			t.Errorf("%q: in Slack %d times, row %s %q (Slack ts %s)", text, count[text], row.Status, row.Result, tsOf[text])
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
