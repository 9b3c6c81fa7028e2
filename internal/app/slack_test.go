package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Serve starts the Slack surface with the server: socket mode connects,
// http mode serves /slack/* on server.listen beside /healthz.
func TestServeStartsSlack(t *testing.T) {
	fake := slackfake.New(slackfake.Options{PostBurst: 100})
	defer fake.Close()
	fake.AddChannel("C1", "ops", true, "U1")
	for _, mode := range []string{"socket", "http"} {
		t.Run(mode, func(t *testing.T) {
			cfg := config.Default()
			cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
			cfg.Server.Listen = freeAddr(t)
			cfg.Slack.Mode = mode
			cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.SigningSecret = slackfake.BotToken, slackfake.AppToken, "secret"
			cfg.Slack.APIURL = fake.URL
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := New(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			before := fake.Connections()
			go func() { done <- a.Serve(ctx) }()
			base := "http://" + cfg.Server.Listen
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp, err := http.Get(base + "/healthz")
				if err == nil {
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("server did not start")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if mode == "socket" {
				for fake.Connections() < before+2 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if fake.Connections() < before+2 {
					t.Error("socket mode did not connect")
				}
			} else {
				body := []byte(`{"type":"url_verification","challenge":"abc"}`)
				req, _ := http.NewRequest(http.MethodPost, base+"/slack/events", strings.NewReader(string(body)))
				now := time.Now().Unix()
				req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now, 10))
				req.Header.Set("X-Slack-Signature", slackfake.Sign("secret", now, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var b [16]byte
				n, _ := resp.Body.Read(b[:])
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b[:n]) != "abc" {
					t.Errorf("challenge = %d %q", resp.StatusCode, b[:n])
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	// A refused bot token stops Serve with an actionable error.
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = freeAddr(t)
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.APIURL = "xoxb-revoked", slackfake.AppToken, fake.URL
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = a.Serve(ctx)
	if err == nil || !strings.Contains(err.Error(), "the bot token was refused") || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("Serve with a bad token = %v", err)
	}
}

// A stop that arrives while the bot token is still being checked is a
// clean stop, not a refused token (CI once saw the slow auth.test lose
// this race).
func TestServeStoppedDuringTokenCheck(t *testing.T) {
	checking, stop := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case checking <- struct{}{}:
		default:
		}
		select { // Slack never answers before the stop
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer slow.Close()
	defer close(stop)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = freeAddr(t)
	cfg.Slack.Mode = "http"
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.SigningSecret = slackfake.BotToken, slackfake.AppToken, "secret"
	cfg.Slack.APIURL = slow.URL + "/"
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	select {
	case <-checking:
	case <-time.After(10 * time.Second):
		t.Fatal("auth.test was never called")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve stopped during the token check = %v, want a clean stop", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

// Slack requests that arrive while the token is still being checked wait
// for it (the bot's own messages cannot be told apart before), and are
// told to retry if it takes longer than a Slack ack can wait.
func TestSlackRequestsWaitForTheTokenCheck(t *testing.T) {
	release := make(chan struct{})
	checking := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth.test" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
			return
		}
		select {
		case checking <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"user_id":"UBOT","bot_id":"BBOT","team_id":"T1"}`))
	}))
	defer slow.Close()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = freeAddr(t)
	cfg.Slack.Mode = "http"
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.SigningSecret = slackfake.BotToken, slackfake.AppToken, "secret"
	cfg.Slack.APIURL = slow.URL + "/"
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	select {
	case <-checking:
	case <-time.After(10 * time.Second):
		t.Fatal("auth.test was never called")
	}
	base := "http://" + cfg.Server.Listen
	challenge := func(nonce string) (int, string, http.Header) {
		body := []byte(`{"type":"url_verification","challenge":"` + nonce + `"}`)
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/events", strings.NewReader(string(body)))
		now := time.Now().Unix()
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("X-Slack-Signature", slackfake.Sign("secret", now, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
	}
	// Still checking after the wait: 503 with Retry-After, a reason, and
	// the health check unaffected.
	code, body, hdr := challenge("first")
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "still starting") {
		t.Errorf("during the token check = %d %q Retry-After=%q, want 503 with Retry-After", code, body, hdr.Get("Retry-After"))
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz during the token check: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A request that arrives just before the check ends is served.
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		c, b, _ := challenge("second")
		got <- answer{c, b}
	}()
	time.Sleep(200 * time.Millisecond)
	close(release)
	if a := <-got; a.code != 200 || a.body != "second" {
		t.Errorf("request waiting for the token check = %d %q, want 200 second", a.code, a.body)
	}
}
