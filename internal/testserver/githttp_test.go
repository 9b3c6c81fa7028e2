package testserver

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The real git clones from and pushes to GitHTTP, with and without the
// credentials it asks for.
func TestGitHTTPCloneAndPush(t *testing.T) {
	bare := GitRemote(t, map[string]string{"README.md": "hello\n"})
	base := GitHTTP(t, map[string]string{"team/apps.git": bare}, GitHTTPOptions{Username: "x-access-token", Password: "s3cret"})

	u, err := url.Parse(base + "/team/apps.git")
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x-access-token", "s3cret")
	work := filepath.Join(t.TempDir(), "wc")
	Git(t, filepath.Dir(work), "clone", "-q", u.String(), work)
	if b, err := os.ReadFile(filepath.Join(work, "README.md")); err != nil || string(b) != "hello\n" {
		t.Fatalf("cloned README.md: %q, %v", b, err)
	}
	os.WriteFile(filepath.Join(work, "new.txt"), []byte("pushed\n"), 0o644)
	Git(t, work, "add", ".")
	Git(t, work, "commit", "-q", "-m", "over http")
	Git(t, work, "push", "-q", "origin", "HEAD:refs/heads/feature")
	if got := Git(t, bare, "show", "feature:new.txt"); got != "pushed" {
		t.Errorf("the bare repository has %q on feature", got)
	}

	for _, tc := range []struct {
		name string
		user *url.Userinfo
		want string // what git says
	}{
		{"no credentials", nil, "could not read Username"},
		{"wrong password", url.UserPassword("x-access-token", "nope"), "Authentication failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u.User = tc.user
			cmd := exec.Command("git", "ls-remote", u.String())
			cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("git ls-remote without the right credentials: %v\n%s", err, out)
			}
			resp, err := http.Get(base + "/team/apps.git/info/refs?service=git-upload-pack")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("unauthenticated request: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
