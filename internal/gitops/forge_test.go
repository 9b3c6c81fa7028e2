package gitops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/gitops/forgefake"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

const forgeToken = "glpat-forge-secret-42"

// forgeCase is one forge: a client on the fake, for a repository.
type forgeCase struct {
	kind   string
	name   string // the fake's repository name
	repo   string // the repository's URL as an owner gives it
	exists string // how the forge words an existing pull request
	client func(apiURL, token, repo string) Forge
}

var forgeCases = []forgeCase{
	{kind: "github", name: "acme/apps", repo: "https://github.com/acme/apps.git", exists: "A pull request already exists for acme:watchkeeper/inc-1.",
		client: func(apiURL, token, repo string) Forge {
			return &GitHub{APIURL: apiURL, Token: token, Repo: repo, sleep: noSleep}
		}},
	{kind: "gitlab", name: "platform/team/apps", repo: "git@gitlab.example.com:platform/team/apps.git", exists: "Another open merge request already exists for this source branch",
		client: func(apiURL, token, repo string) Forge {
			return &GitLab{APIURL: apiURL + "/api/v4", Token: token, Repo: repo, sleep: noSleep}
		}},
}

func noSleep(context.Context, time.Duration) error { return nil }

// forgeRepo is a repository on a real git server with two proposal
// branches pushed by Repo.Push, and one with no commits of its own.
func forgeRepo(t *testing.T) (bare, repoURL string) {
	bare, repoURL = gitServed(t)
	r := gitWorkingCopy(t, repoURL)
	for _, b := range []string{"watchkeeper/inc-1", "watchkeeper/inc-2"} {
		if _, err := r.Push(context.Background(), "main", b, map[string][]byte{"apps/" + b[12:] + ".yaml": []byte(b + "\n")}, b); err != nil {
			t.Fatal(err)
		}
	}
	testserver.Git(t, bare, "branch", "watchkeeper/empty", "main")
	return bare, repoURL
}

func TestForgeOpenMergeClose(t *testing.T) {
	for _, fc := range forgeCases {
		t.Run(fc.kind, func(t *testing.T) {
			bare, repoURL := forgeRepo(t)
			fake := forgefake.New(fc.kind, forgeToken, map[string]string{fc.name: bare})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			f := fc.client(srv.URL, forgeToken, fc.repo)
			ctx := context.Background()

			pr := PullRequest{Repo: fc.repo, Base: "main", Head: "watchkeeper/inc-1", Title: "Scale checkout", Body: "Because inc-1."}
			opened, err := f.Open(ctx, pr)
			if err != nil {
				t.Fatal(err)
			}
			if opened.Number != 1 || !strings.HasPrefix(opened.URL, srv.URL+"/"+fc.name+"/") {
				t.Errorf("opened %+v", opened)
			}
			if got := fake.PRs(); len(got) != 1 || got[0].Head != pr.Head || got[0].Base != "main" || got[0].Title != pr.Title || got[0].Body != pr.Body {
				t.Errorf("the forge holds %+v", got)
			}
			if st, err := f.State(ctx, opened.Number); err != nil || st != (PRState{State: StateOpen}) {
				t.Errorf("state of a new pull request: %+v, %v", st, err)
			}
			// The same head again: ErrPRExists, in the forge's words.
			_, err = f.Open(ctx, pr)
			if !errors.Is(err, ErrPRExists) || !strings.Contains(err.Error(), fc.exists) {
				t.Errorf("a second pull request for the head: %v", err)
			}

			// A person merges it: the merge commit is main's head on the
			// server, as the real git sees it.
			sha, err := fake.Merge(opened.Number)
			if err != nil {
				t.Fatal(err)
			}
			st, err := f.State(ctx, opened.Number)
			if err != nil || st.State != StateMerged || st.MergeCommit != sha || time.Since(st.MergedAt) > time.Minute || time.Since(st.MergedAt) < 0 {
				t.Errorf("state after merge: %+v, %v; want merged at %s, just now", st, err, sha)
			}
			mergedAt := st.MergedAt
			if main := gitLsRemote(t, repoURL)["refs/heads/main"]; main != sha {
				t.Errorf("main is at %s, want the merge commit %s", main, sha)
			}
			if got := testserver.Git(t, bare, "show", "main:apps/inc-1.yaml"); got != "watchkeeper/inc-1" {
				t.Errorf("main after the merge has %q", got)
			}

			// Another is closed without merging.
			second, err := f.Open(ctx, PullRequest{Repo: fc.repo, Base: "main", Head: "watchkeeper/inc-2", Title: "Restart"})
			if err != nil {
				t.Fatal(err)
			}
			if err := fake.Close(second.Number); err != nil {
				t.Fatal(err)
			}
			if st, err := f.State(ctx, second.Number); err != nil || st != (PRState{State: StateClosed}) {
				t.Errorf("state after close: %+v, %v", st, err)
			}
			// Closed, its head may be proposed again.
			third, err := f.Open(ctx, PullRequest{Repo: fc.repo, Base: "main", Head: "watchkeeper/inc-2", Title: "Restart, again"})
			if err != nil {
				t.Errorf("a new pull request after the old one closed: %v", err)
			}

			// Find: by head, the latest, in whatever state.
			for _, tc := range []struct {
				head   string
				number int
				state  PRState
			}{
				{"watchkeeper/inc-1", opened.Number, PRState{State: StateMerged, MergeCommit: sha, MergedAt: mergedAt}},
				{"watchkeeper/inc-2", third.Number, PRState{State: StateOpen}},
			} {
				got, st, err := f.Find(ctx, tc.head)
				if err != nil || got.Number != tc.number || got.URL == "" || st != tc.state {
					t.Errorf("Find(%s) = %+v, %+v, %v; want #%d %+v", tc.head, got, st, err, tc.number, tc.state)
				}
			}
			if _, _, err := f.Find(ctx, "watchkeeper/never"); !errors.Is(err, ErrPRNotFound) {
				t.Errorf("Find of a branch with no pull request: %v", err)
			}
		})
	}
}

func TestForgeErrors(t *testing.T) {
	for _, fc := range forgeCases {
		t.Run(fc.kind, func(t *testing.T) {
			bare, _ := forgeRepo(t)
			fake := forgefake.New(fc.kind, forgeToken, map[string]string{fc.name: bare})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			ctx := context.Background()
			head := func(h string) PullRequest {
				return PullRequest{Repo: fc.repo, Base: "main", Head: h, Title: "t"}
			}
			other := strings.Replace(fc.repo, "apps", "secret", 1)
			for _, tc := range []struct {
				name   string
				token  string
				pr     PullRequest
				status int
				want   []string
				skip   string // the kind this case does not apply to
			}{
				{name: "bad token", token: "bad-token-xyz", pr: head("watchkeeper/inc-1"), status: 401, want: []string{"token was refused", "check gitops.forges[].token_file"}},
				{name: "no token", token: "", pr: head("watchkeeper/inc-1"), status: 401, want: []string{"check gitops.forges[].token_file"}},
				{name: "no such repository", token: forgeToken, pr: PullRequest{Repo: other, Base: "main", Head: "watchkeeper/inc-1", Title: "t"}, status: 404, want: []string{"or the token cannot see it"}},
				{name: "head not pushed", token: forgeToken, pr: head("watchkeeper/never-pushed"), status: 422, want: []string{"has no branch watchkeeper/never-pushed", "push it first"}, skip: "gitlab"},
				{name: "head not pushed", token: forgeToken, pr: head("watchkeeper/never-pushed"), status: 400, want: []string{"source_branch does not exist"}, skip: "github"},
				{name: "nothing to merge", token: forgeToken, pr: head("watchkeeper/empty"), status: 422, want: []string{"No commits between main and watchkeeper/empty", "has nothing main lacks"}, skip: "gitlab"},
			} {
				if tc.skip == fc.kind {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					_, err := fc.client(srv.URL, tc.token, fc.repo).Open(ctx, tc.pr)
					var fe *ForgeError
					if !errors.As(err, &fe) || fe.Status != tc.status {
						t.Fatalf("got %v, want a ForgeError with HTTP %d", err, tc.status)
					}
					for _, w := range tc.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("%q does not say %q", err, w)
						}
					}
					if strings.Contains(err.Error(), forgeToken) || (tc.token != "" && strings.Contains(err.Error(), tc.token)) {
						t.Errorf("the error shows the token: %v", err)
					}
				})
			}
			if _, err := fc.client(srv.URL, forgeToken, fc.repo).State(ctx, 99); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
				t.Errorf("state of a pull request that does not exist: %v", err)
			}
			if n := len(fake.PRs()); n != 0 {
				t.Errorf("%d pull requests were opened by refused requests", n)
			}
		})
	}
}

func TestForgeRateLimit(t *testing.T) {
	for _, fc := range forgeCases {
		t.Run(fc.kind, func(t *testing.T) {
			bare, _ := forgeRepo(t)
			fake := forgefake.New(fc.kind, forgeToken, map[string]string{fc.name: bare})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			ctx := context.Background()
			f := fc.client(srv.URL, forgeToken, fc.repo)
			pr := PullRequest{Repo: fc.repo, Base: "main", Head: "watchkeeper/inc-1", Title: "t"}

			// Spent for an hour: no waiting, an error that says until when.
			fake.SetRateLimit(1, time.Hour)
			if _, err := f.Open(ctx, pr); err != nil {
				t.Fatal(err)
			}
			_, err := f.State(ctx, 1)
			var fe *ForgeError
			if !errors.Is(err, ErrRateLimited) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "rate limited until ") {
				t.Fatalf("a spent rate limit: %v", err)
			}
			if until := time.Until(fe.RetryAt); until < 55*time.Minute || until > time.Hour+time.Second {
				t.Errorf("retry at %v, in %v", fe.RetryAt, until)
			}
			if !strings.Contains(err.Error(), fe.RetryAt.UTC().Format("15:04")) {
				t.Errorf("%q does not say %s", err, fe.RetryAt.UTC().Format("15:04"))
			}

			// Spent for a moment: the client waits (here: the limit lifts
			// while it sleeps) and tries once more.
			fake.SetRateLimit(1, 2*time.Second)
			if _, err := f.State(ctx, 1); err != nil {
				t.Fatal(err)
			}
			var waited []time.Duration
			sleep := func(_ context.Context, d time.Duration) error {
				waited = append(waited, d)
				fake.SetRateLimit(0, 0)
				return nil
			}
			switch c := f.(type) {
			case *GitHub:
				c.sleep = sleep
			case *GitLab:
				c.sleep = sleep
			}
			if st, err := f.State(ctx, 1); err != nil || st.State != StateOpen {
				t.Fatalf("after waiting out a short limit: %+v, %v", st, err)
			}
			if len(waited) != 1 || waited[0] > 2*time.Second {
				t.Errorf("waited %v", waited)
			}
		})
	}
}

// flakyForge answers status (with header) the first n times, then passes on.
type flakyForge struct {
	n      atomic.Int32
	status int
	header http.Header
	body   string
	next   http.Handler
}

func (f *flakyForge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.n.Add(-1) >= 0 {
		for k, v := range f.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		w.Write([]byte(f.body))
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestForgeServerErrorsAndPermissions(t *testing.T) {
	for _, fc := range forgeCases {
		t.Run(fc.kind, func(t *testing.T) {
			bare, _ := forgeRepo(t)
			fake := forgefake.New(fc.kind, forgeToken, map[string]string{fc.name: bare})
			for _, tc := range []struct {
				name   string
				times  int32
				status int
				header http.Header
				body   string
				want   string // "" for success
			}{
				{name: "one 502 is retried", times: 1, status: 502, body: `{"message":"Server Error"}`},
				{name: "two 503s are an error", times: 2, status: 503, body: `{"message":"Service Unavailable"}`, want: "HTTP 503: Service Unavailable: the forge failed twice"},
				{name: "no permission", times: 1, status: 403, body: `{"message":"Resource not accessible by integration"}`,
					want: "HTTP 403: Resource not accessible by integration: the token is not allowed to do this"},
				{name: "secondary rate limit", times: 2, status: 403, header: http.Header{"Retry-After": {"60"}}, body: `{"message":"You have exceeded a secondary rate limit."}`,
					want: "rate limited until"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					srv := httptest.NewServer(&flakyForge{status: tc.status, header: tc.header, body: tc.body, next: fake})
					defer srv.Close()
					fake.SetRateLimit(0, 0)
					for _, p := range fake.PRs() {
						if p.State == "open" {
							fake.Close(p.Number)
						}
					}
					flakyN := srv.Config.Handler.(*flakyForge)
					flakyN.n.Store(tc.times)
					_, err := fc.client(srv.URL, forgeToken, fc.repo).Open(context.Background(), PullRequest{Repo: fc.repo, Base: "main", Head: "watchkeeper/inc-1", Title: "t"})
					switch {
					case tc.want == "" && err != nil:
						t.Errorf("got %v", err)
					case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
						t.Errorf("got %v, want %q", err, tc.want)
					}
				})
			}
		})
	}
}

func TestForgeRepoURLs(t *testing.T) {
	for _, tc := range []struct {
		url, owner, name, err string
	}{
		{url: "https://github.com/acme/apps", owner: "acme", name: "apps"},
		{url: "https://github.com/acme/apps.git", owner: "acme", name: "apps"},
		{url: "git@github.com:acme/apps.git", owner: "acme", name: "apps"},
		{url: "ssh://git@github.com/acme/apps.git", owner: "acme", name: "apps"},
		{url: "https://ghe.corp.example/acme/apps/", owner: "acme", name: "apps"},
		{url: "https://github.com/acme", err: "is not a GitHub repository URL"},
		{url: "https://github.com/acme/apps/extra", err: "is not a GitHub repository URL"},
	} {
		owner, name, err := (&GitHub{}).ownerRepo(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("GitHub %q: %v", tc.url, err)
			}
			continue
		}
		if err != nil || owner != tc.owner || name != tc.name {
			t.Errorf("GitHub %q = %q, %q, %v", tc.url, owner, name, err)
		}
	}
	for _, tc := range []struct {
		api, url, project, err string
	}{
		{url: "https://gitlab.com/group/project.git", project: "group/project"},
		{url: "git@gitlab.com:group/sub/project.git", project: "group/sub/project"},
		{api: "https://git.corp.example/gitlab/api/v4", url: "https://git.corp.example/gitlab/platform/apps.git", project: "platform/apps"},
		{url: "https://gitlab.com/project", err: "is not a GitLab project URL"},
	} {
		got, err := (&GitLab{APIURL: tc.api}).project(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("GitLab %q: %v", tc.url, err)
			}
			continue
		}
		if err != nil || got != tc.project {
			t.Errorf("GitLab %q = %q, %v", tc.url, got, err)
		}
	}
	if got := (&GitLab{}).endpoint("group/sub/project", "/7"); got != "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/merge_requests/7" {
		t.Errorf("GitLab endpoint %s", got)
	}
}
