package testserver

import (
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitHTTPOptions configures GitHTTP.
type GitHTTPOptions struct {
	// Username and Password, when Password is set, are required as HTTP
	// basic auth on every request (a forge's token over HTTPS); a request
	// without them, or with others, gets 401 and a WWW-Authenticate
	// challenge, as GitHub and GitLab answer.
	Username, Password string
}

// GitHTTP serves bare repositories (name → path of a bare repository; a
// name may hold slashes, "team/apps.git") over git's smart HTTP protocol,
// with the real `git http-backend` run through net/http/cgi on an
// httptest server at 127.0.0.1, and returns the server's base URL: a
// repository is cloned from baseURL+"/"+name. Pushes are allowed (the
// backend enables receive-pack for an authenticated user, and every user
// the server lets through counts as one). The server stops when the test
// ends.
func GitHTTP(t testing.TB, bareRepos map[string]string, opts GitHTTPOptions) (baseURL string) {
	t.Helper()
	gitBin := need(t, "git", "/usr/bin/git")
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git-http-backend is not where git says its helpers are: %v", err)
	}
	// The backend serves one project root; the repositories live wherever
	// the test made them, so the root is a directory of symlinks to them.
	root := t.TempDir()
	for name, bare := range bareRepos {
		abs, err := filepath.Abs(bare)
		if err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, link); err != nil {
			t.Fatal(err)
		}
	}
	// The backend's complaints (a bad pack, a refused ref) are shown only
	// when the test fails.
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("git http-backend said:\n%s", logs)
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := "anonymous"
		if opts.Password != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(opts.Username)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(opts.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "Authentication failed", http.StatusUnauthorized)
				return
			}
			user = u
		}
		h := &cgi.Handler{
			Path:   backend,
			Stderr: logs,
			Dir:    root,
			Env: []string{
				"GIT_PROJECT_ROOT=" + root,
				"GIT_HTTP_EXPORT_ALL=1",
				// http-backend allows receive-pack only to an
				// authenticated user, which it learns from REMOTE_USER.
				"REMOTE_USER=" + user,
				"HOME=" + root,
			},
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
