package slack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

// signed builds a request as Slack sends it, signed at ts.
func signed(t *testing.T, srv *httptest.Server, path string, body []byte, ts time.Time, contentType string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", slackfake.Sign(signingSecret, ts.Unix(), body))
	return req
}

func do(t *testing.T, req *http.Request) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start)
}

func TestHTTPEventsVerifySignaturesAndDedupe(t *testing.T) {
	h := newHarness(t, harnessOpts{mode: "http", turns: []scripted.Turn{{ExpectInput: "over http", Text: "Answered over HTTP."}}})
	srv := httptest.NewServer(h.bot.Handler())
	defer srv.Close()
	const jsonType = "application/json"

	// url_verification answers the challenge.
	challenge := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	code, body, _ := do(t, signed(t, srv, "/slack/events", challenge, time.Now(), jsonType))
	if code != 200 || body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification = %d %q", code, body)
	}

	ts := h.fake.UserMessage(chOps, alice, "over http", "")
	cb := slackfake.EventCallback(slackfake.Mention(chOps, alice, ts, "", "over http"))
	event, _ := json.Marshal(cb)

	for _, tt := range []struct {
		name string
		req  func() *http.Request
		code int
		want string
	}{
		{"bad signature", func() *http.Request {
			r := signed(t, srv, "/slack/events", event, time.Now(), jsonType)
			r.Header.Set("X-Slack-Signature", "v0=deadbeef")
			return r
		}, 401, "invalid Slack signature"},
		{"no signature headers", func() *http.Request {
			r := signed(t, srv, "/slack/events", event, time.Now(), jsonType)
			r.Header.Del("X-Slack-Signature")
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, 401, "missing Slack signature headers"},
		{"stale timestamp (6 minutes old)", func() *http.Request {
			return signed(t, srv, "/slack/events", event, time.Now().Add(-6*time.Minute), jsonType)
		}, 401, "stale Slack request"},
		{"signed with another secret", func() *http.Request {
			r := signed(t, srv, "/slack/events", event, time.Now(), jsonType)
			r.Header.Set("X-Slack-Signature", slackfake.Sign("other-secret", time.Now().Unix(), event))
			return r
		}, 401, "invalid Slack signature"},
		{"malformed JSON", func() *http.Request {
			return signed(t, srv, "/slack/events", []byte(`{"type":`), time.Now(), jsonType)
		}, 400, "malformed Events API payload"},
		{"body too large", func() *http.Request {
			return signed(t, srv, "/slack/events", make([]byte, 2<<20), time.Now(), jsonType)
		}, 413, "too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, took := do(t, tt.req())
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("= %d %q, want %d %q", code, body, tt.code, tt.want)
			}
			if took > time.Second {
				t.Errorf("answered in %s", took)
			}
		})
	}

	// The valid delivery is acknowledged at once and answered.
	now := time.Now()
	first := signed(t, srv, "/slack/events", event, now, jsonType)
	replay := signed(t, srv, "/slack/events", event, now, jsonType)
	code, _, took := do(t, first)
	if code != 200 || took > time.Second {
		t.Fatalf("valid event = %d in %s", code, took)
	}
	// The identical request again is a replay and refused.
	if code, body, _ := do(t, replay); code != 401 || !strings.Contains(body, "replayed") {
		t.Errorf("replay = %d %q", code, body)
	}
	// Slack's own retry is signed anew and carries X-Slack-Retry-Num: it is
	// acknowledged but not handled again.
	retry := signed(t, srv, "/slack/events", event, now.Add(time.Second), jsonType)
	retry.Header.Set("X-Slack-Retry-Num", "1")
	retry.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	if code, _, _ := do(t, retry); code != 200 {
		t.Errorf("retry = %d", code)
	}
	h.answered(chOps, ts, "Answered over HTTP.")
	time.Sleep(200 * time.Millisecond)
	if n := len(h.model.Requests()); n != 1 {
		t.Errorf("the event was handled %d times", n)
	}
}

func TestHTTPCommandsAndInteractions(t *testing.T) {
	h := newHarness(t, harnessOpts{mode: "http"})
	srv := httptest.NewServer(h.bot.Handler())
	defer srv.Close()
	form := url.Values{}
	for k, v := range h.fake.Command(chOps, alice, "help") {
		form.Set(k, v)
	}
	code, body, _ := do(t, signed(t, srv, "/slack/commands", []byte(form.Encode()), time.Now(), "application/x-www-form-urlencoded"))
	if code != 200 || !strings.Contains(body, `"response_type":"ephemeral"`) || !strings.Contains(body, "/watchkeeper metrics PROMQL") {
		t.Errorf("help = %d %s", code, body)
	}
	code, body, _ = do(t, signed(t, srv, "/slack/commands", []byte("text=help"), time.Now(), "application/x-www-form-urlencoded"))
	if code != 400 || !strings.Contains(body, "malformed slash command") {
		t.Errorf("malformed command = %d %s", code, body)
	}
	click, _ := json.Marshal(h.fake.Click(chOps, bob, "1.0", "approve", "prop_unknown"))
	payload := url.Values{"payload": {string(click)}}.Encode()
	code, _, _ = do(t, signed(t, srv, "/slack/interactions", []byte(payload), time.Now(), "application/x-www-form-urlencoded"))
	if code != 200 {
		t.Fatalf("interaction = %d", code)
	}
	eventually(t, "the refusal", func() bool {
		for _, p := range h.fake.ResponsePosts() {
			if strings.Contains(p.Body["text"].(string), "does not exist") && p.Body["response_type"] == "ephemeral" {
				return true
			}
		}
		return false
	})
	code, body, _ = do(t, signed(t, srv, "/slack/interactions", []byte("payload=%7Bnot"), time.Now(), "application/x-www-form-urlencoded"))
	if code != 400 || !strings.Contains(body, "malformed interaction") {
		t.Errorf("malformed interaction = %d %s", code, body)
	}
}
