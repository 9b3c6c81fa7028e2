package cli_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/cli"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// With Slack tokens configured, the demo runs in Slack too: slash commands
// answer from the sandbox's metrics and mentions are answered by the agent
// in a thread, while the terminal chat stays open.
func TestDemoInSlack(t *testing.T) {
	home := isolate(t)
	fake := slackfake.New(slackfake.Options{PostBurst: 100})
	defer fake.Close()
	fake.AddChannel("CDEMO", "demo", true, "UALICE")
	script := filepath.Join(home, "script.yaml")
	if err := os.WriteFile(script, []byte(`turns:
  - expect_input: which service is busiest
    tool_calls:
      - name: prom_query_range
        args: {query: "sum by (service) (rate(http_requests_total[5m]))", start: "30m ago"}
  - expect_tool_result: "frontend"
    text: "frontend serves the most requests."
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"WATCHKEEPER_SANDBOX_LISTEN=" + freeAddr(t), "WATCHKEEPER_SANDBOX_HISTORY=1h", "WATCHKEEPER_SERVER_LISTEN=" + freeAddr(t),
		"SLACK_BOT_TOKEN=" + slackfake.BotToken, "SLACK_APP_TOKEN=" + slackfake.AppToken, "WATCHKEEPER_SLACK_API_URL=" + fake.URL,
		"WATCHKEEPER_LLM_PROVIDER=scripted", "WATCHKEEPER_LLM_SCRIPT=" + script}
	stdin, feed := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"demo"}, cli.IO{In: stdin, Out: &out, Err: &errOut, Environ: env})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for fake.OpenConnections() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not connect to Slack:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A slash command, no model needed: real numbers from the sandbox.
	cmd := fake.Command("CDEMO", "UALICE", "metrics sum by (service) (rate(http_requests_total[5m])) 30m")
	if _, err := fake.SendCommand(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, p := range fake.ResponsePosts() {
				t.Logf("POST %s %v %s", p.URL, p.Body["text"], blocksOf(p.Body))
			}
			t.Log(errOut.String())
		}
	}()
	waitFor(t, "the metrics response", func() bool {
		for _, p := range fake.ResponsePosts() {
			if strings.HasSuffix(cmd["response_url"], p.URL) && p.Body["response_type"] == "in_channel" &&
				strings.Contains(blocksOf(p.Body), "checkout") {
				return true
			}
		}
		return false
	})
	// A mention, answered by the agent in a thread with the sandbox's tools.
	ts := fake.UserMessage("CDEMO", "UALICE", "<@UWATCHBOT> which service is busiest?", "")
	if _, err := fake.SendEvent(slackfake.Mention("CDEMO", "UALICE", ts, "", "which service is busiest?")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the threaded answer", func() bool {
		for _, m := range fake.BotMessages("CDEMO", ts) {
			if strings.Contains(string(m.Blocks), "frontend serves the most requests.") {
				return true
			}
		}
		return false
	})
	feed.Close() // end of input ends the terminal chat and the demo
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop")
	}
	if !strings.Contains(out.String()+errOut.String(), "Slack: connected (socket mode)") {
		t.Errorf("the banner does not mention Slack:\n%s", out.String())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, 60*time.Second, what, cond)
}

func blocksOf(body map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	walk(body["blocks"])
	return b.String()
}
