package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/cli"
)

// redactCorpus reads a corpus of internal/redact's tests; it is resolved
// before isolate changes directory.
func redactCorpus(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "redact", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRedactCommand(t *testing.T) {
	leaks, clean := redactCorpus(t, "leaks.txt"), redactCorpus(t, "clean.txt")
	home := isolate(t)

	// The leaks corpus: a secret, a tab, a text holding it (\n is a line
	// break). Piped in as text, none of the secrets may come out.
	var in strings.Builder
	var secrets []string
	for _, line := range strings.Split(leaks, "\n") {
		secret, text, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		secrets = append(secrets, secret)
		in.WriteString(strings.ReplaceAll(text, `\n`, "\n") + "\n")
	}
	r := run(t, home, in.String(), nil, "redact", "--count")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.err)
	}
	for _, s := range secrets {
		if strings.Contains(r.out, s) {
			t.Errorf("secret %q survived", s)
		}
	}
	if strings.Count(r.out, "\n") < len(secrets) || !strings.HasSuffix(r.err, " secrets masked\n") {
		t.Errorf("stdout %d lines for %d texts; stderr %q", strings.Count(r.out, "\n"), len(secrets), r.err)
	}

	// Benign text comes through byte for byte, and nothing is counted.
	r = run(t, home, clean, nil, "redact", "--count")
	if r.code != 0 || r.out != clean || r.err != "0 secrets masked\n" {
		t.Errorf("clean corpus: exit %d, stderr %q, changed: %v", r.code, r.err, r.out != clean)
	}

	// Without --count, standard error stays empty: the output can be
	// diffed against the input.
	if r = run(t, home, "password=hunter2x\n", nil, "redact"); r.code != 0 || r.out != "password=[REDACTED]\n" || r.err != "" {
		t.Errorf("got %+v", r)
	}
}

func TestRedactCommandUsesTheConfiguredSecrets(t *testing.T) {
	home := isolate(t)
	cfg := filepath.Join(home, "wk.yaml")
	if err := os.WriteFile(cfg, []byte("prometheus:\n  url: http://prometheus:9090\n  headers:\n    X-Scope-OrgID: tenant-alpha-7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No built-in rule knows this header; the configuration does.
	in := "querying as tenant-alpha-7 now\n"
	if r := run(t, home, in, nil, "redact"); r.code != 0 || r.out != in {
		t.Fatalf("without the configuration: %+v", r)
	}
	r := run(t, home, in, nil, "redact", "--count", "--config", cfg)
	if r.code != 0 || r.out != "querying as [REDACTED] now\n" || r.err != "1 secret masked\n" {
		t.Errorf("got %+v", r)
	}
}

func TestRedactCommandStreamsLongLines(t *testing.T) {
	home := isolate(t)
	// Longer than bufio.Scanner's default limit of 64 KiB, with a key on
	// one line and its value on the next.
	long := strings.Repeat("x", 3<<20)
	in := long + " token=abc123def456\n{\"password\":\n  \"hunter2-long\"}\n" + long
	r := run(t, home, in, nil, "redact")
	want := long + " token=[REDACTED]\n{\"password\":\n  \"[REDACTED]\"}\n" + long
	if r.code != 0 || r.out != want {
		t.Errorf("exit %d, stderr %q, output right: %v", r.code, r.err, r.out == want)
	}
}

type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.sent {
		f.sent = true
		return copy(p, "password=hunter2x\n"), nil
	}
	return 0, errors.New("connection reset by peer")
}

func TestRedactCommandReadError(t *testing.T) {
	home := isolate(t)
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), []string{"redact"}, cli.IO{In: &failingReader{}, Out: &out, Err: &errOut,
		Environ: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_STATE_HOME=" + filepath.Join(home, "state")}})
	if code != cli.ExitFailure || !strings.Contains(errOut.String(), "error: redact standard input: read input: connection reset by peer") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	// What was read before the error is written, redacted.
	if out.String() != "password=[REDACTED]\n" {
		t.Errorf("stdout %q", out.String())
	}
}

func TestRedactCommandHelp(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "redact", "--help")
	if r.code != 0 || !strings.Contains(r.out, "language model or Slack") || !strings.Contains(r.out, "--count") {
		t.Errorf("help: %+v", r)
	}
}
