package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Git runs the real git in dir and returns its trimmed output; a failure
// ends the test with git's output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@localhost",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// GitRemote creates a bare repository (a team's runbooks remote) whose
// main branch holds files (path → content), and returns its path.
func GitRemote(t testing.TB, files map[string]string) string {
	t.Helper()
	need(t, "git", "/usr/bin/git")
	dir := t.TempDir()
	bare := filepath.Join(dir, "runbooks.git")
	Git(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	seed := filepath.Join(dir, "seed")
	Git(t, dir, "clone", "-q", bare, seed)
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(seed, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(seed, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, seed, "add", ".")
	Git(t, seed, "commit", "-q", "-m", "start")
	Git(t, seed, "push", "-q", "origin", "HEAD:main")
	return bare
}
