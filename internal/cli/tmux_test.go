package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestDemoWalkthroughInTmux walks the demo as a newcomer does, in a real
// terminal multiplexer, with no model configured, and reads the screen:
// the alert fires and its investigation prints; a question in plain words
// is investigated with tool calls and ends in a proposed rollback; "y"
// applies it; the check of the change prints when it lands (issue 18).
func TestDemoWalkthroughInTmux(t *testing.T) {
	if os.Getenv("WK_PTY_CHILD") != "" {
		t.Skip("helper process")
	}
	tmux := testserver.Need(t, "tmux")
	home := isolate(t)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	env := []string{"WK_PTY_CHILD=demo", "TERM=xterm", "HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "WATCHKEEPER_SANDBOX_SPEED=100",
		"WATCHKEEPER_SANDBOX_HISTORY=1h", "WATCHKEEPER_SANDBOX_LISTEN=" + freeAddr(t)}
	command := fmt.Sprintf("env %s %s -test.run=^TestPTYChild$ -test.count=1", strings.Join(env, " "), os.Args[0])
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tm("new-session", "-d", "-s", "demo", "-x", "220", "-y", "100", command)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })
	screen := func() string { return tm("capture-pane", "-p", "-J", "-t", "demo", "-S", "-2000") }
	waitFor := func(what string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(testserver.Scale(within))
		for time.Now().Before(deadline) {
			if strings.Contains(screen(), what) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the screen never showed %q:\n%s", what, screen())
	}
	waitFor(`Watchkeeper demo — sandbox scenario "default"`, 60*time.Second)
	// The deploy lands three simulated minutes in and the alert fires two
	// later: seconds at 100x. The investigation follows it.
	waitFor("🔔 [FIRING] HighErrorRate {namespace=shop, service=checkout}", 60*time.Second)
	waitFor("🔎 Investigation of HighErrorRate", 60*time.Second)
	waitFor("registry.example.com/shop/checkout:1.5.0", 30*time.Second)
	tm("send-keys", "-t", "demo", "why is checkout failing?", "Enter")
	waitFor("→ rca_rank", 30*time.Second)
	waitFor("What the evidence says about `checkout`", 60*time.Second)
	waitFor("Approve? [y/N]", 30*time.Second)
	if !strings.Contains(screen(), "Roll back deployment shop/checkout from revision 4 to revision 3") {
		t.Fatalf("the proposal is not the rollback:\n%s", screen())
	}
	tm("send-keys", "-t", "demo", "y", "Enter")
	waitFor("Applied prop_", 30*time.Second)
	// The check of the rollback: five simulated minutes later.
	waitFor("🔎 Checked prop_", 60*time.Second)
	final := screen()
	if !strings.Contains(final, "in the 5m0s before") || strings.Contains(final, "⚠️ Checked") {
		t.Errorf("the rollback's check did not find it better:\n%s", final)
	}
	if strings.Contains(final, "untrusted-data") || strings.Contains(final, "panic") {
		t.Errorf("the screen shows the model's markers or a panic:\n%s", final)
	}
	tm("send-keys", "-t", "demo", "/quit", "Enter")
	deadline := time.Now().Add(testserver.Scale(20 * time.Second))
	for exec.Command(tmux, "-S", sock, "has-session", "-t", "demo").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not exit after /quit:\n%s", screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
