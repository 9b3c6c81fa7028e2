// Package forgefake is a fake GitHub or GitLab for tests and the sandbox:
// the REST endpoints Watchkeeper uses to open pull (merge) requests and
// read their state, answering as the real APIs do — their status codes,
// error bodies and rate-limit headers — over pull requests whose branches
// live in real bare git repositories on disk. Merge merges with the real
// git, so a merged pull request's commit is on the base branch.
//
// Pull request numbers are unique across the fake (the real forges number
// per repository), so Merge and Close need only the number.
package forgefake

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PR is a pull (merge) request as the fake holds it.
type PR struct {
	Repo   string // "owner/repo" or "group/sub/project"
	Number int
	Title  string
	Body   string
	Head   string
	Base   string
	// State is "open", "closed" or "merged".
	State string
	// MergeCommit and MergedAt are set by Merge.
	MergeCommit string
	MergedAt    time.Time
	URL         string
}

// Fake is a fake forge; it implements http.Handler. It is safe for
// concurrent use.
type Fake struct {
	kind  string
	token string
	repos map[string]string

	mu     sync.Mutex
	prs    []*PR
	limit  int
	window time.Duration
	start  time.Time
	used   int
	now    func() time.Time
}

// New is a fake "github" or "gitlab" that accepts token and serves repos
// (name → path of a bare repository: "owner/repo" for GitHub,
// "group/sub/project" for GitLab).
func New(kind, token string, repos map[string]string) *Fake {
	if kind != "github" && kind != "gitlab" {
		panic(fmt.Sprintf("forgefake: kind %q is neither github nor gitlab", kind))
	}
	return &Fake{kind: kind, token: token, repos: repos, now: time.Now}
}

// SetRateLimit lets requests requests through per window; past that,
// GitHub answers 403 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset,
// GitLab 429 with Retry-After. Zero requests removes the limit.
func (f *Fake) SetRateLimit(requests int, window time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit, f.window, f.start, f.used = requests, window, f.now(), 0
}

// PRs is a copy of every pull request, by number.
func (f *Fake) PRs() []PR {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]PR, 0, len(f.prs))
	for _, p := range f.prs {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// Close closes an open pull request without merging it.
func (f *Fake) Close(number int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.find(number)
	if p == nil || p.State != "open" {
		return fmt.Errorf("forgefake: no open pull request %d", number)
	}
	p.State = "closed"
	return nil
}

// Merge merges an open pull request's head into its base in the bare
// repository, with a merge commit made by the real git (as GitHub's and
// GitLab's default merge method does), marks it merged and returns the
// merge commit. A conflict is an error and leaves everything as it was.
func (f *Fake) Merge(number int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.find(number)
	if p == nil || p.State != "open" {
		return "", fmt.Errorf("forgefake: no open pull request %d", number)
	}
	bare := f.repos[p.Repo]
	dir, err := os.MkdirTemp("", "forgefake-merge-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	msg := fmt.Sprintf("Merge pull request #%d from %s\n\n%s", p.Number, p.Head, p.Title)
	if f.kind == "gitlab" {
		msg = fmt.Sprintf("Merge branch '%s' into '%s'\n\n%s\n\nSee merge request %s!%d", p.Head, p.Base, p.Title, p.Repo, p.Number)
	}
	steps := [][]string{
		{"clone", "-q", "--no-checkout", bare, dir},
		{"-C", dir, "checkout", "-q", "-B", p.Base, "origin/" + p.Base},
		{"-C", dir, "merge", "-q", "--no-ff", "-m", msg, "origin/" + p.Head},
		// Not forced: if base moved meanwhile, the merge is refused.
		{"-C", dir, "push", "-q", "origin", p.Base + ":" + p.Base},
	}
	for _, args := range steps {
		if _, err := git(args...); err != nil {
			return "", fmt.Errorf("forgefake: merge pull request %d: %w", number, err)
		}
	}
	sha, err := git("-C", dir, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	p.State, p.MergeCommit, p.MergedAt = "merged", sha, time.Now().UTC()
	return sha, nil
}

// git runs the real git, with an identity of its own and no user config.
func git(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Forge Fake", "-c", "user.email=forge@fake.invalid"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// branchExists asks the bare repository.
func branchExists(bare, branch string) bool {
	_, err := git("--git-dir", bare, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	return err == nil
}

func (f *Fake) find(number int) *PR {
	for _, p := range f.prs {
		if p.Number == number {
			return p
		}
	}
	return nil
}

// ServeHTTP answers GitHub's
//
//	POST /repos/{owner}/{repo}/pulls, GET /repos/{owner}/{repo}/pulls/{number}
//
// (also under /api/v3, as GitHub Enterprise serves them), or GitLab's
//
//	POST /api/v4/projects/{id}/merge_requests, GET /api/v4/projects/{id}/merge_requests/{iid}
//
// where id is the URL-encoded path (or the project's number: its index
// among the sorted names, from 1).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if !f.allow(w) {
		return
	}
	if f.kind == "github" {
		f.github(w, r)
		return
	}
	f.gitlab(w, r)
}

// allow counts a request against the rate limit, and answers it when the
// limit is spent.
func (f *Fake) allow(w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit <= 0 {
		return true
	}
	now := f.now()
	if now.Sub(f.start) >= f.window {
		f.start, f.used = now, 0
	}
	reset := f.start.Add(f.window)
	f.used++
	remaining := max(f.limit-f.used, 0)
	if f.kind == "github" {
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(f.limit))
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.Header().Set("X-RateLimit-Used", strconv.Itoa(min(f.used, f.limit)))
		w.Header().Set("X-RateLimit-Resource", "core")
		if f.used > f.limit {
			w.Header().Set("X-RateLimit-Remaining", "0")
			writeJSON(w, http.StatusForbidden, map[string]any{
				"message":           "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
			})
			return false
		}
		return true
	}
	w.Header().Set("RateLimit-Limit", strconv.Itoa(f.limit))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if f.used > f.limit {
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("Retry-After", strconv.Itoa(int(max(reset.Sub(now).Round(time.Second)/time.Second, 1))))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, "Retry later\n")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// isJSON says whether a request says its body is JSON.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// number reads a path segment as a pull request number.
func number(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// unescape undoes one segment's escaping (group%2Fproject).
func unescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// repoNames is the repositories' names, sorted (GitLab's numeric ids).
func (f *Fake) repoNames() []string {
	names := make([]string, 0, len(f.repos))
	for n := range f.repos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// open records a new pull request.
func (f *Fake) open(p *PR, webBase string) *PR {
	p.Number = len(f.prs) + 1
	p.State = "open"
	if f.kind == "github" {
		p.URL = fmt.Sprintf("%s/%s/pull/%d", webBase, p.Repo, p.Number)
	} else {
		p.URL = fmt.Sprintf("%s/%s/-/merge_requests/%d", webBase, p.Repo, p.Number)
	}
	f.prs = append(f.prs, p)
	return p
}

// webBase is where the fake's pull requests are shown: the forge's own
// host, as the links a person follows.
func webBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (f *Fake) bare(name string) (string, bool) {
	p, ok := f.repos[name]
	if !ok {
		return "", false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p, true
	}
	return abs, true
}

// tokenOK compares tokens in constant time.
func tokenOK(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
