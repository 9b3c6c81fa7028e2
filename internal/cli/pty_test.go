package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/watchkeeper/watchkeeper/internal/cli"
)

// TestTerminalLineEditing runs the interactive chat on a real
// pseudo-terminal: the banner appears, a command runs, the up arrow recalls
// it from history, Ctrl-C at the prompt does not quit, and Ctrl-D does.
func TestTerminalLineEditing(t *testing.T) {
	if os.Getenv("WK_PTY_CHILD") != "" {
		t.Skip("helper process")
	}
	home := isolate(t)
	term := startTerminal(t, "chat", "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	term.waitFor("/help for commands", 1, 20*time.Second)
	term.waitFor("> ", 1, 20*time.Second)
	term.send("/tools\r")
	term.waitFor("current_time", 2, 20*time.Second) // banner + tool list
	term.send("\x1b[A\r")                           // up arrow: the previous line again
	term.waitFor("Returns the current time", 2, 20*time.Second)
	term.send("\x03") // Ctrl-C at the prompt
	term.waitFor("/quit or press Ctrl-D", 1, 20*time.Second)
	term.send("\x04") // Ctrl-D
	term.exit(20 * time.Second)
	hist, err := os.ReadFile(filepath.Join(home, "state", "watchkeeper", "chat_history"))
	if err != nil || !strings.Contains(string(hist), "/tools") {
		t.Errorf("history file: %q, %v", hist, err)
	}
}

// TestDemoOnATerminal runs the demo at 100x speed on a pseudo-terminal:
// the bad deploy lands, its alert fires and is printed while the prompt
// is waiting, and the prompt still works afterwards.
func TestDemoOnATerminal(t *testing.T) {
	if os.Getenv("WK_PTY_CHILD") != "" {
		t.Skip("helper process")
	}
	home := isolate(t)
	term := startTerminal(t, "demo", "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "WATCHKEEPER_SANDBOX_SPEED=100",
		"WATCHKEEPER_SANDBOX_HISTORY=1h", "WATCHKEEPER_SANDBOX_LISTEN="+freeAddr(t))
	term.waitFor(`Watchkeeper demo — sandbox scenario "default"`, 1, 60*time.Second)
	term.waitFor("> ", 1, 10*time.Second)
	// Three simulated minutes to the deploy, two for the alert: about
	// three seconds at 100x.
	term.waitFor("🔔 [FIRING] HighErrorRate {namespace=shop, service=checkout} — checkout:", 1, 60*time.Second)
	term.send("/sandbox status\r")
	term.waitFor("fault bad_deploy on checkout: active", 1, 10*time.Second)
	term.send("/quit\r")
	term.exit(20 * time.Second)
}

// TestPTYChild is the process of the terminal tests.
func TestPTYChild(t *testing.T) {
	mode := os.Getenv("WK_PTY_CHILD")
	if mode == "" {
		t.Skip("only runs as the helper of the terminal tests")
	}
	args := []string{"chat"}
	if mode == "demo" {
		args = []string{"demo"}
	}
	code := cli.Run(context.Background(), args, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Environ: os.Environ()})
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// terminal is a process on a pseudo-terminal and what it has printed.
type terminal struct {
	t      *testing.T
	f      *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	screen bytes.Buffer
}

// startTerminal runs the PTY child in mode with env on a pseudo-terminal,
// or skips the test when the machine has none.
func startTerminal(t *testing.T, mode string, env ...string) *terminal {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPTYChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "WK_PTY_CHILD="+mode, "TERM=xterm"), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	term := &terminal{t: t, f: f, cmd: cmd}
	t.Cleanup(func() { f.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			term.mu.Lock()
			term.screen.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

func (term *terminal) count(s string) int {
	term.mu.Lock()
	defer term.mu.Unlock()
	return strings.Count(term.screen.String(), s)
}

// waitFor waits until s has appeared n times.
func (term *terminal) waitFor(s string, n int, within time.Duration) {
	term.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if term.count(s) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("timed out waiting for %q (x%d); screen:\n%s", s, n, term.screen.String())
}

func (term *terminal) send(s string) { _, _ = io.WriteString(term.f, s) }

// exit waits for the process to end by itself.
func (term *terminal) exit(within time.Duration) {
	term.t.Helper()
	done := make(chan error, 1)
	go func() { done <- term.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			term.t.Fatalf("exited with %v", err)
		}
	case <-time.After(within):
		_ = term.cmd.Process.Kill()
		term.t.Fatal("did not exit")
	}
}
