package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

const (
	gitUser  = "x-access-token"
	gitToken = "ghp_test-token-1234"
)

var checkoutYAML = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\nspec:\n  replicas: 2\n"

// gitServed is a bare repository with main holding apps/checkout.yaml,
// served over smart HTTP behind a token; it returns the bare path and the
// repository's URL.
func gitServed(t *testing.T) (bare, repoURL string) {
	t.Helper()
	bare = testserver.GitRemote(t, map[string]string{"apps/checkout.yaml": checkoutYAML, "README.md": "apps\n"})
	base := testserver.GitHTTP(t, map[string]string{"team/apps.git": bare}, testserver.GitHTTPOptions{Username: gitUser, Password: gitToken})
	return bare, base + "/team/apps.git"
}

func gitWorkingCopy(t *testing.T, repoURL string) *Repo {
	return &Repo{URL: repoURL, Dir: filepath.Join(t.TempDir(), "wc"), Auth: TokenAuth("", gitToken),
		Now: func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) }}
}

// gitLsRemote is what the real git CLI sees on the server.
func gitLsRemote(t *testing.T, repoURL string) map[string]string {
	t.Helper()
	u, err := url.Parse(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(gitUser, gitToken)
	refs := map[string]string{}
	for _, line := range strings.Split(testserver.Git(t, t.TempDir(), "ls-remote", u.String()), "\n") {
		if hash, name, ok := strings.Cut(line, "\t"); ok {
			refs[name] = hash
		}
	}
	return refs
}

func TestPushMakesANewBranch(t *testing.T) {
	bare, repoURL := gitServed(t)
	ctx := context.Background()
	r := gitWorkingCopy(t, repoURL)
	mainBefore := testserver.Git(t, bare, "rev-parse", "main")

	root, head, err := r.Checkout(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if head != mainBefore {
		t.Errorf("checked out %s, want main's head %s", head, mainBefore)
	}
	if b, err := os.ReadFile(filepath.Join(root, "apps/checkout.yaml")); err != nil || string(b) != checkoutYAML {
		t.Fatalf("the tree has %q, %v", b, err)
	}

	edited := strings.Replace(checkoutYAML, "replicas: 2", "replicas: 5", 1)
	commit, err := r.Push(ctx, "main", "watchkeeper/inc-1-scale-checkout",
		map[string][]byte{"apps/checkout.yaml": []byte(edited), "apps/notes/why.md": []byte("inc-1\n")}, "Scale checkout to 5 (inc-1)")
	if err != nil {
		t.Fatal(err)
	}
	refs := gitLsRemote(t, repoURL)
	if refs["refs/heads/watchkeeper/inc-1-scale-checkout"] != commit {
		t.Errorf("git ls-remote: %v; want the branch at %s", refs, commit)
	}
	if refs["refs/heads/main"] != mainBefore {
		t.Errorf("main moved from %s to %s", mainBefore, refs["refs/heads/main"])
	}
	if got := testserver.Git(t, bare, "show", commit+":apps/checkout.yaml"); got != strings.TrimSpace(edited) {
		t.Errorf("pushed content:\n%s", got)
	}
	if got := testserver.Git(t, bare, "show", commit+":apps/notes/why.md"); got != "inc-1" {
		t.Errorf("new file: %q", got)
	}
	if got := testserver.Git(t, bare, "log", "--format=%P|%an <%ae>|%aI|%s", "-1", commit); got != mainBefore+"|Watchkeeper <watchkeeper@localhost>|2026-12-03T10:00:00+00:00|Scale checkout to 5 (inc-1)" {
		t.Errorf("commit: %s", got)
	}
	if got := testserver.Git(t, bare, "rev-list", "--count", mainBefore+".."+commit); got != "1" {
		t.Errorf("%s commits on the branch, want 1", got)
	}

	// The same branch again, even with other content: refused, and the
	// remote branch stays as the first proposal left it.
	_, err = r.Push(ctx, "main", "watchkeeper/inc-1-scale-checkout", map[string][]byte{"apps/checkout.yaml": []byte("other\n")}, "again")
	if !errors.Is(err, ErrBranchExists) || !strings.Contains(err.Error(), "branch watchkeeper/inc-1-scale-checkout already exists on the remote: an earlier proposal pushed it; close its pull request or delete the branch") {
		t.Errorf("a second push of the branch: %v", err)
	}
	// Also from a fresh working copy that has never fetched it.
	_, err = gitWorkingCopy(t, repoURL).Push(ctx, "main", "watchkeeper/inc-1-scale-checkout", map[string][]byte{"apps/checkout.yaml": []byte("other\n")}, "again")
	if !errors.Is(err, ErrBranchExists) {
		t.Errorf("a second push from another working copy: %v", err)
	}
	if after := gitLsRemote(t, repoURL); after["refs/heads/watchkeeper/inc-1-scale-checkout"] != commit || after["refs/heads/main"] != mainBefore {
		t.Errorf("refs after refused pushes: %v", after)
	}

	// The tree Checkout gives is clean again after a push.
	root, _, err = r.Checkout(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "apps/checkout.yaml")); string(b) != checkoutYAML {
		t.Errorf("main's tree after a push: %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "apps/notes")); !os.IsNotExist(err) {
		t.Errorf("the proposal's new file is left in main's tree: %v", err)
	}
}

// The server, not only our reading of its refs, refuses to overwrite: an
// update whose old value is zero fails when the branch exists, even at a
// commit the new one descends from (which a plain push would fast-forward).
func TestCreateOnlyUpdateIsRefusedByTheServer(t *testing.T) {
	bare, repoURL := gitServed(t)
	ctx := context.Background()
	r := gitWorkingCopy(t, repoURL)
	if _, _, err := r.Checkout(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	main := testserver.Git(t, bare, "rev-parse", "main")
	testserver.Git(t, bare, "branch", "watchkeeper/taken", "main")
	repo, err := r.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := r.commit(repo, "watchkeeper/taken", plumbing.NewHash(main), map[string][]byte{"x": []byte("x\n")}, []string{"x"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := transport.NewEndpoint(repoURL)
	cli, _ := client.NewClient(ep)
	sess, err := cli.NewReceivePackSession(ep, r.Auth)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{{Name: "refs/heads/watchkeeper/taken", Old: plumbing.ZeroHash, New: hash}}
	hashes, err := revlist.Objects(repo.Storer, []plumbing.Hash{hash}, []plumbing.Hash{plumbing.NewHash(main)})
	if err != nil {
		t.Fatal(err)
	}
	status, err := sendPack(ctx, sess, repo.Storer, req, hashes)
	if err == nil && status != nil {
		err = status.Error()
	}
	if err == nil {
		t.Fatal("the server took a create-only update of an existing branch")
	}
	if strings.Contains(err.Error(), "unpack") {
		t.Fatalf("the pack was bad, so the test proves nothing: %v", err)
	}
	t.Logf("the server says: %v", err)
	if got := testserver.Git(t, bare, "rev-parse", "watchkeeper/taken"); got != main {
		t.Errorf("the existing branch moved to %s", got)
	}
	// Through Push, the refusal is ErrBranchExists.
	if err := r.create(ctx, repo, "refs/heads/watchkeeper/taken", hash, plumbing.NewHash(main)); !errors.Is(err, ErrBranchExists) {
		t.Errorf("create of an existing branch: %v", err)
	}
}

func TestPushConcurrently(t *testing.T) {
	_, repoURL := gitServed(t)
	ctx := context.Background()
	shared := gitWorkingCopy(t, repoURL)
	other := gitWorkingCopy(t, repoURL)
	var wg sync.WaitGroup
	commits := make([]string, 4)
	errs := make([]error, 4)
	for i := range 4 {
		r := shared
		if i%2 == 1 {
			r = other // a second working copy, as a second replica has
		}
		wg.Go(func() {
			commits[i], errs[i] = r.Push(ctx, "main", fmt.Sprintf("watchkeeper/inc-%d", i),
				map[string][]byte{"apps/checkout.yaml": fmt.Appendf(nil, "replicas: %d\n", i)}, fmt.Sprintf("proposal %d", i))
		})
	}
	wg.Wait()
	refs := gitLsRemote(t, repoURL)
	for i := range 4 {
		if errs[i] != nil {
			t.Errorf("push %d: %v", i, errs[i])
			continue
		}
		if got := refs[fmt.Sprintf("refs/heads/watchkeeper/inc-%d", i)]; got != commits[i] {
			t.Errorf("branch %d at %q, want %s", i, got, commits[i])
		}
	}
}

func TestPushErrors(t *testing.T) {
	bare, repoURL := gitServed(t)
	ctx := context.Background()
	closed := "http://" + testserver.FreeAddr(t) + "/team/apps.git"
	files := map[string][]byte{"apps/checkout.yaml": []byte("replicas: 3\n")}
	for _, tc := range []struct {
		name   string
		repo   *Repo
		base   string
		branch string
		files  map[string][]byte
		want   []string
	}{
		{name: "wrong token", repo: &Repo{URL: repoURL, Auth: TokenAuth("", "wrong")}, base: "main", branch: "watchkeeper/a", files: files,
			want: []string{"401", "check gitops.repositories[].token_file"}},
		{name: "no token", repo: &Repo{URL: repoURL}, base: "main", branch: "watchkeeper/a", files: files,
			want: []string{"401", "check gitops.repositories[].token_file"}},
		{name: "no such repository", repo: &Repo{URL: strings.Replace(repoURL, "apps.git", "nope.git", 1), Auth: TokenAuth("", gitToken)}, base: "main", branch: "watchkeeper/a", files: files,
			want: []string{"no such repository, or the credentials cannot see it"}},
		{name: "unreachable", repo: &Repo{URL: closed}, base: "main", branch: "watchkeeper/a", files: files,
			want: []string{"cannot reach " + closed, "check the repository URL"}},
		{name: "no such base", repo: &Repo{URL: repoURL, Auth: TokenAuth("", gitToken)}, base: "production", branch: "watchkeeper/a", files: files,
			want: []string{"has no branch production", "check the owner's revision"}},
		{name: "base branch", repo: &Repo{URL: repoURL}, base: "watchkeeper/a", branch: "watchkeeper/a", files: files,
			want: []string{"is the base branch"}},
		{name: "not ours", repo: &Repo{URL: repoURL}, base: "main", branch: "main-fix", files: files,
			want: []string{"not under watchkeeper/"}},
		{name: "odd name", repo: &Repo{URL: repoURL}, base: "main", branch: "watchkeeper/a..b", files: files,
			want: []string{"not a plain branch name"}},
		{name: "lock", repo: &Repo{URL: repoURL}, base: "main", branch: "watchkeeper/x.lock", files: files,
			want: []string{"not a plain branch name"}},
		{name: "outside the repository", repo: &Repo{URL: repoURL}, base: "main", branch: "watchkeeper/a", files: map[string][]byte{"../x": nil},
			want: []string{`refusing to write "../x"`}},
		{name: "into .git", repo: &Repo{URL: repoURL}, base: "main", branch: "watchkeeper/a", files: map[string][]byte{".git/config": nil},
			want: []string{`refusing to write ".git/config"`}},
		{name: "nothing changes", repo: &Repo{URL: repoURL, Auth: TokenAuth("", gitToken)}, base: "main", branch: "watchkeeper/a", files: map[string][]byte{"apps/checkout.yaml": []byte(checkoutYAML)},
			want: []string{"nothing to propose"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.repo.Dir = filepath.Join(t.TempDir(), "wc")
			_, err := tc.repo.Push(ctx, tc.base, tc.branch, tc.files, "msg")
			if err == nil {
				t.Fatal("pushed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), gitToken) || strings.Contains(err.Error(), "wrong") && tc.name == "wrong token" {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
	if refs := gitLsRemote(t, repoURL); len(refs) != 2 { // HEAD and main
		t.Errorf("refs after refused pushes: %v", refs)
	}
	_ = bare
}

// An edit planned on an older main is refused when a file it writes
// changed since, and goes through when only other files did.
func TestPushPlanned(t *testing.T) {
	bare, repoURL := gitServed(t)
	ctx := context.Background()
	r := gitWorkingCopy(t, repoURL)
	_, planned, err := r.Checkout(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	// Someone else changes README.md on main.
	seed := filepath.Join(t.TempDir(), "seed")
	testserver.Git(t, filepath.Dir(seed), "clone", "-q", bare, seed)
	os.WriteFile(filepath.Join(seed, "README.md"), []byte("apps, changed\n"), 0o644)
	testserver.Git(t, seed, "commit", "-qam", "theirs")
	testserver.Git(t, seed, "push", "-q", "origin", "main")

	commit, err := r.PushPlanned(ctx, "main", planned, "watchkeeper/ok", map[string][]byte{"apps/checkout.yaml": []byte("replicas: 3\n")}, "ok")
	if err != nil {
		t.Fatalf("a file main did not change: %v", err)
	}
	if got := testserver.Git(t, bare, "show", commit+":README.md"); got != "apps, changed" {
		t.Errorf("the branch does not start from main's new head: README %q", got)
	}
	_, err = r.PushPlanned(ctx, "main", planned, "watchkeeper/stale", map[string][]byte{"README.md": []byte("mine\n")}, "stale")
	if err == nil || !strings.Contains(err.Error(), "README.md changed on main since the change was planned") || !strings.Contains(err.Error(), "plan the change anew") {
		t.Errorf("a file main changed: %v", err)
	}
	if _, ok := gitLsRemote(t, repoURL)["refs/heads/watchkeeper/stale"]; ok {
		t.Error("the stale proposal was pushed")
	}
}

func TestCheckoutRevisions(t *testing.T) {
	bare, repoURL := gitServed(t)
	ctx := context.Background()
	main := testserver.Git(t, bare, "rev-parse", "main")
	testserver.Git(t, bare, "tag", "-a", "-m", "release", "v1.0.0", main)
	// The default branch is whatever HEAD names, not always main.
	testserver.Git(t, bare, "branch", "production", main)
	seed := filepath.Join(t.TempDir(), "seed")
	testserver.Git(t, filepath.Dir(seed), "clone", "-q", "-b", "production", bare, seed)
	os.WriteFile(filepath.Join(seed, "prod.txt"), []byte("prod\n"), 0o644)
	testserver.Git(t, seed, "add", ".")
	testserver.Git(t, seed, "commit", "-qm", "prod")
	testserver.Git(t, seed, "push", "-q", "origin", "production")
	prod := testserver.Git(t, bare, "rev-parse", "production")
	testserver.Git(t, bare, "symbolic-ref", "HEAD", "refs/heads/production")

	r := gitWorkingCopy(t, repoURL)
	for _, tc := range []struct {
		revision, want, err string
	}{
		{revision: "", want: prod},
		{revision: "HEAD", want: prod},
		{revision: "main", want: main},
		{revision: "refs/heads/main", want: main},
		{revision: "v1.0.0", want: main},
		{revision: main[:12], want: main},
		{revision: "nope", err: `has no branch, tag or commit "nope"`},
	} {
		root, head, err := r.Checkout(ctx, tc.revision)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Checkout(%q): %v, want %q", tc.revision, err, tc.err)
			}
			continue
		}
		if err != nil || head != tc.want {
			t.Errorf("Checkout(%q) = %s, %v; want %s", tc.revision, head, err, tc.want)
			continue
		}
		_, statErr := os.Stat(filepath.Join(root, "prod.txt"))
		if (head == prod) != (statErr == nil) {
			t.Errorf("Checkout(%q): prod.txt present %v, want %v", tc.revision, statErr == nil, head == prod)
		}
	}
	if _, head, branch, err := r.CheckoutBranch(ctx, ""); err != nil || branch != "production" || head != prod {
		t.Errorf("CheckoutBranch(\"\") = %s, %s, %v; want production at %s", head, branch, err, prod)
	}
	if _, _, _, err := r.CheckoutBranch(ctx, "v1.0.0"); err == nil || !strings.Contains(err.Error(), "not a branch: a pull request needs a branch") {
		t.Errorf("CheckoutBranch of a tag: %v", err)
	}
	// A working copy of another repository is not reused.
	r2 := &Repo{URL: repoURL + "x", Dir: r.Dir}
	if _, _, err := r2.Checkout(ctx, ""); err == nil || !strings.Contains(err.Error(), "is not a copy of") {
		t.Errorf("another repository's working copy: %v", err)
	}
}

// The CLI agrees that what Push made is an ordinary branch: cloning it
// with git and checking its history works (no go-git-only objects).
func TestPushedBranchIsFsckClean(t *testing.T) {
	bare, repoURL := gitServed(t)
	r := gitWorkingCopy(t, repoURL)
	if _, err := r.Push(context.Background(), "main", "watchkeeper/fsck", map[string][]byte{"a/b/c.yaml": []byte("c: 1\n")}, "fsck"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "fsck", "--strict")
	cmd.Dir = bare
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
}
