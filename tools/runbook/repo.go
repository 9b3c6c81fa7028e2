package runbook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
)

// Repo is the runbooks git repository: a working copy kept in Dir, synced
// from URL, where Watchkeeper commits postmortems and approved runbook
// changes on branches of their own and pushes them — never by force.
type Repo struct {
	URL string
	// Dir is the local working copy (created on first use).
	Dir string
	// Base is the branch changes start from (default main).
	Base string
	// Auth for HTTPS (token) or SSH (key); nil for none.
	Auth        transport.AuthMethod
	AuthorName  string
	AuthorEmail string
	// PRLink, when set, is a template with {branch} for the pull-request
	// link shown after a push.
	PRLink string
	Now    func() time.Time

	mu sync.Mutex
}

func (r *Repo) base() string {
	if r.Base == "" {
		return "main"
	}
	return r.Base
}

// BranchPrefix is where every branch Watchkeeper pushes lives: reviewers
// (and branch protection rules) can tell its work apart, and it can never
// name the base branch or another team's branch.
const BranchPrefix = gitops.BranchPrefix

// CheckBranch refuses a branch Watchkeeper must not push to: anything
// outside BranchPrefix, the base branch, and names git would reject or
// read as something else (.., @{, a leading dash, .lock) — the rules every
// repository Watchkeeper pushes to keeps (gitops.CheckBranch).
func (r *Repo) CheckBranch(branch string) error { return gitops.CheckBranch(r.base(), branch) }

// Start says where a commit on branch would start: the remote branch when
// it exists, else the base branch (a new branch), with the commit hash.
// It fetches first, so the answer is the remote's current state.
func (r *Repo) Start(ctx context.Context, branch string) (from, hash string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return "", "", err
	}
	for _, b := range []string{branch, r.base()} {
		ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", b), true)
		if err == nil {
			return b, ref.Hash().String(), nil
		}
	}
	return "", "", fmt.Errorf("the runbooks repository has neither %s nor its base branch %s", branch, r.base())
}

// Describe is the exact git work Commit does for branch, in words for
// the approver: where it starts, what is pushed, and that nothing is
// forced and the base branch is not touched.
func (r *Repo) Describe(ctx context.Context, branch string) (string, error) {
	from, hash, err := r.Start(ctx, branch)
	if err != nil {
		return "", err
	}
	start := fmt.Sprintf("on the existing branch %s (now at %s)", branch, short(hash))
	if from != branch {
		start = fmt.Sprintf("on a new branch %s from %s (at %s)", branch, from, short(hash))
	}
	return fmt.Sprintf("Git: one commit %s, then `git push %s refs/heads/%s:refs/heads/%s` (never forced). The base branch %s is not changed.",
		start, redactURL(r.URL), branch, branch, r.base()), nil
}

func short(hash string) string {
	if len(hash) > 8 {
		return hash[:8]
	}
	return hash
}

// redactURL drops credentials from a remote's URL before it is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// open clones on first use, then fetches. A failed fetch of an existing
// working copy is returned with the repository, which is still usable.
func (r *Repo) open(ctx context.Context) (*git.Repository, error) {
	repo, err := git.PlainOpen(r.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainCloneContext(ctx, r.Dir, false, &git.CloneOptions{URL: r.URL, Auth: r.Auth,
			ReferenceName: plumbing.NewBranchReferenceName(r.base()), SingleBranch: false})
		if err != nil {
			return nil, fmt.Errorf("clone the runbooks repository %s: %w", r.URL, err)
		}
		return repo, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the runbooks working copy %s: %w", r.Dir, err)
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{Auth: r.Auth, RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return repo, fmt.Errorf("fetch the runbooks repository %s: %w", r.URL, err)
	}
	return repo, nil
}

// Sync updates the working copy to the base branch and returns its
// directory, for reading the runbooks.
func (r *Repo) Sync(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return "", err
	}
	if err := r.checkout(repo, r.base(), plumbing.NewRemoteReferenceName("origin", r.base())); err != nil {
		return "", err
	}
	return r.Dir, nil
}

// checkout puts the working copy on a local branch at the given ref.
func (r *Repo) checkout(repo *git.Repository, branch string, from plumbing.ReferenceName) error {
	ref, err := repo.Reference(from, true)
	if err != nil {
		return fmt.Errorf("the runbooks repository has no %s: %w", from.Short(), err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	local := plumbing.NewBranchReferenceName(branch)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(local, ref.Hash())); err != nil {
		return err
	}
	return wt.Checkout(&git.CheckoutOptions{Branch: local, Force: true})
}

// Commit writes files (path → content) on branch, starting from the
// remote branch if it exists (so earlier commits of the incident are
// kept) or from the base, commits and pushes. A push refused because the
// remote branch moved is retried once on top of it; what cannot be pushed
// is reported, and the commit stays in the working copy — never lost, never
// forced. A branch CheckBranch refuses is refused before anything is done.
func (r *Repo) Commit(ctx context.Context, branch string, files map[string][]byte, message string) (string, error) {
	if err := r.CheckBranch(branch); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(ctx)
	if repo == nil {
		return "", err
	}
	// A failed fetch is not fatal here: commit on what we have; the push
	// will say whether the remote can be reached.
	for attempt := 0; ; attempt++ {
		start := plumbing.NewRemoteReferenceName("origin", branch)
		if _, err := repo.Reference(start, true); err != nil {
			start = plumbing.NewRemoteReferenceName("origin", r.base())
		}
		if err := r.checkout(repo, branch, start); err != nil {
			return "", err
		}
		hash, err := r.commitFiles(repo, files, message)
		if err != nil {
			return "", err
		}
		spec := config.RefSpec(fmt.Sprintf("refs/heads/%s:refs/heads/%s", branch, branch))
		err = repo.PushContext(ctx, &git.PushOptions{Auth: r.Auth, RefSpecs: []config.RefSpec{spec}})
		switch {
		case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
			return hash, nil
		case attempt == 0 && (errors.Is(err, git.ErrNonFastForwardUpdate) || strings.Contains(err.Error(), "non-fast-forward")):
			// Someone pushed to the branch meanwhile: fetch and redo the
			// change on top of theirs.
			if ferr := repo.FetchContext(ctx, &git.FetchOptions{Auth: r.Auth, RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}}); ferr != nil && !errors.Is(ferr, git.NoErrAlreadyUpToDate) {
				return hash, fmt.Errorf("push of %s refused and fetch failed (%v); the commit %s stays in %s", branch, ferr, hash[:8], r.Dir)
			}
			continue
		default:
			return hash, fmt.Errorf("push of branch %s to %s failed: %w; the commit %s stays in %s — push it by hand", branch, r.URL, err, hash[:8], r.Dir)
		}
	}
}

func (r *Repo) commitFiles(repo *git.Repository, files map[string][]byte, message string) (string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	for p, content := range files {
		clean := filepath.Clean(p)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return "", fmt.Errorf("refusing to write %q outside the repository", p)
		}
		full := filepath.Join(r.Dir, clean)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, content, 0o644); err != nil {
			return "", err
		}
		if _, err := wt.Add(filepath.ToSlash(clean)); err != nil {
			return "", err
		}
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	name, email := r.AuthorName, r.AuthorEmail
	if name == "" {
		name, email = "Watchkeeper", "watchkeeper@localhost"
	}
	h, err := wt.Commit(message, &git.CommitOptions{Author: &object.Signature{Name: name, Email: email, When: now}})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return h.String(), nil
}

// Link is the pull-request link for branch, or "".
func (r *Repo) Link(branch string) string {
	if r.PRLink == "" {
		return ""
	}
	return strings.ReplaceAll(r.PRLink, "{branch}", branch)
}
