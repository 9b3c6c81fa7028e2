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

// slackApp builds an App serving Slack in mode against the Slack API at
// apiURL, with signing secret "secret", after adjust changed the config.
func slackApp(t *testing.T, mode, apiURL string, adjust ...func(*config.Config)) (*App, config.Config) {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	cfg.Server.Listen = freeAddr(t)
	cfg.Slack.Mode = mode
	cfg.Slack.BotToken, cfg.Slack.AppToken, cfg.Slack.SigningSecret = slackfake.BotToken, slackfake.AppToken, "secret"
	cfg.Slack.APIURL = apiURL
	for _, f := range adjust {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, cfg
}

// postChallenge sends a signed url_verification to the app at base.
func postChallenge(t *testing.T, base, challenge string) (int, string, http.Header) {
	t.Helper()
	body := []byte(`{"type":"url_verification","challenge":"` + challenge + `"}`)
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/events", strings.NewReader(string(body)))
	now := time.Now().Unix()
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now, 10))
	req.Header.Set("X-Slack-Signature", slackfake.Sign("secret", now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// slowAuth is a Slack API whose auth.test answers only when release is
// closed (or the caller gives up); checking receives once it is asked.
func slowAuth(t *testing.T) (srv *httptest.Server, checking <-chan struct{}, release chan struct{}) {
	t.Helper()
	asked, release := make(chan struct{}, 1), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/auth.test" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
			return
		}
		select {
		case asked <- struct{}{}:
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
	// The server does not notice a client that gave up while the body is
	// unread, so release it before closing.
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv, asked, release
}

// serveWhileChecking starts a.Serve and returns once its bot token check
// has reached Slack; done receives Serve's result.
func serveWhileChecking(t *testing.T, a *App, checking <-chan struct{}) (cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- a.Serve(ctx) }()
	select {
	case <-checking:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("auth.test was never called")
	}
	return cancel, result
}

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
			a, cfg := slackApp(t, mode, fake.URL)
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
				if code, body, _ := postChallenge(t, base, "abc"); code != 200 || body != "abc" {
					t.Errorf("challenge = %d %q", code, body)
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
	// So does a refused app token in socket mode, instead of reconnecting
	// for ever.
	t.Run("refused app token", func(t *testing.T) {
		a, _ := slackApp(t, "socket", fake.URL, func(c *config.Config) { c.Slack.AppToken = "xapp-revoked" })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := a.Serve(ctx)
		if err == nil || !strings.Contains(err.Error(), "check slack.app_token") || !strings.Contains(err.Error(), "invalid_auth") {
			t.Errorf("Serve with a refused app token = %v", err)
		}
		if ctx.Err() != nil {
			t.Error("Serve returned only when the test gave up, not when Slack refused the app token")
		}
	})
}

// A stop that arrives while the bot token is still being checked is a
// clean stop, not a refused token (CI once saw the slow auth.test lose
// this race).
func TestServeStoppedDuringTokenCheck(t *testing.T) {
	slow, checking, _ := slowAuth(t)
	a, _ := slackApp(t, "http", slow.URL+"/")
	cancel, done := serveWhileChecking(t, a, checking)
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
	slow, checking, release := slowAuth(t)
	a, cfg := slackApp(t, "http", slow.URL+"/")
	cancel, done := serveWhileChecking(t, a, checking)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://" + cfg.Server.Listen
	// Still checking after the wait: 503 with Retry-After, a reason, and
	// the health check unaffected.
	code, body, hdr := postChallenge(t, base, "first")
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
		c, b, _ := postChallenge(t, base, "second")
		got <- answer{c, b}
	}()
	time.Sleep(200 * time.Millisecond)
	close(release)
	if a := <-got; a.code != 200 || a.body != "second" {
		t.Errorf("request waiting for the token check = %d %q, want 200 second", a.code, a.body)
	}
}
