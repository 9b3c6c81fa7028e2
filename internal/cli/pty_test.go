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
	cmd := exec.Command(os.Args[0], "-test.run=^TestPTYChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WK_PTY_CHILD=1", "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	defer f.Close()

	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(s string, count int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := strings.Count(screen.String(), s)
			mu.Unlock()
			if n >= count {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("timed out waiting for %q (x%d); screen:\n%s", s, count, screen.String())
	}
	waitFor("/help for commands", 1)
	waitFor("> ", 1)
	io.WriteString(f, "/tools\r")
	waitFor("current_time", 2)    // banner + tool list
	io.WriteString(f, "\x1b[A\r") // up arrow: the previous line again
	waitFor("Returns the current time", 2)
	io.WriteString(f, "\x03") // Ctrl-C at the prompt
	waitFor("/quit or press Ctrl-D", 1)
	io.WriteString(f, "\x04") // Ctrl-D
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chat exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("chat did not exit on Ctrl-D")
	}
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestPTYChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WK_PTY_CHILD=demo", "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "TERM=xterm",
		"WATCHKEEPER_SANDBOX_SPEED=100", "WATCHKEEPER_SANDBOX_HISTORY=1h", "WATCHKEEPER_SANDBOX_LISTEN="+freeAddr(t))
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	defer f.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(s string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := strings.Contains(screen.String(), s)
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("timed out waiting for %q; screen:\n%s", s, screen.String())
	}
	waitFor(`Watchkeeper demo — sandbox scenario "default"`, 60*time.Second)
	waitFor("> ", 10*time.Second)
	// Three simulated minutes to the deploy, two for the alert: about
	// three seconds at 100x.
	waitFor("🔔 [FIRING] HighErrorRate {namespace=shop, service=checkout} — checkout:", 60*time.Second)
	io.WriteString(f, "/sandbox status\r")
	waitFor("fault bad_deploy on checkout: active", 10*time.Second)
	io.WriteString(f, "/quit\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("demo did not exit on /quit")
	}
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
