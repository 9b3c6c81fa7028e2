package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	gitobject "github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// BranchPrefix is where every branch Watchkeeper pushes lives, as for the
// runbooks repository (tools/runbook): reviewers and branch protection
// rules can tell its work apart, and it can never name the base branch or
// another team's branch.
const BranchPrefix = "watchkeeper/"

// ErrBranchExists is what Push returns (wrapped, with the branch's name)
// when the branch is already on the remote: a proposal's branch is new or
// it is not pushed at all, so an earlier proposal's branch and its review
// are never changed behind the reviewers' backs.
var ErrBranchExists = errors.New("branch already exists on the remote")

type branchExistsError struct{ branch string }

func (e *branchExistsError) Error() string {
	return fmt.Sprintf("branch %s already exists on the remote: an earlier proposal pushed it; close its pull request or delete the branch", e.branch)
}

func (e *branchExistsError) Is(target error) bool { return target == ErrBranchExists }

// Repo is a working copy of a GitOps repository in Dir, fetched from URL:
// Checkout gives a clean tree of the revision an owner follows, for
// planning an edit; Push makes a proposal's branch, with one commit, and
// pushes it. Nothing is ever forced and only new branches under
// BranchPrefix are pushed, so the branch the cluster follows changes only
// when a person merges the pull request.
//
// A Repo is safe for concurrent use: calls on it take turns, since they
// share the working copy. The tree Checkout returns stays as it is until
// the next call on the same Repo.
type Repo struct {
	// URL is the remote (https://…, ssh://…, git@host:path, or a path).
	URL string
	// Dir is the local working copy, created on first use. Give each
	// repository a directory of its own.
	Dir string
	// Auth for HTTPS (TokenAuth) or SSH (SSHKeyAuth); nil for none.
	Auth transport.AuthMethod
	// AuthorName and AuthorEmail sign the commits (default Watchkeeper
	// <watchkeeper@localhost>).
	AuthorName  string
	AuthorEmail string
	// Now stamps the commits (default time.Now).
	Now func() time.Time

	mu sync.Mutex
}

// TokenAuth is HTTPS basic auth with an access token as the password, as
// GitHub and GitLab take it. The username matters only to some forges:
// GitHub takes "x-access-token" (the default here) for app and personal
// tokens, GitLab takes "oauth2" for OAuth tokens and anything for a
// personal or project access token.
func TokenAuth(username, token string) transport.AuthMethod {
	if username == "" {
		username = "x-access-token"
	}
	return &githttp.BasicAuth{Username: username, Password: token}
}

// SSHKeyAuth reads a private key (PEM or OpenSSH format) for SSH remotes.
// The host key is checked against knownHosts, a known_hosts file; when it
// is "", against $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts.
func SSHKeyAuth(user, keyFile, passphrase, knownHosts string) (transport.AuthMethod, error) {
	if user == "" {
		user = "git"
	}
	auth, err := gitssh.NewPublicKeysFromFile(user, keyFile, passphrase)
	if err != nil {
		return nil, fmt.Errorf("read the SSH key %s: %w; check gitops.repositories[].ssh_key_file (and its passphrase)", keyFile, err)
	}
	var files []string
	if knownHosts != "" {
		files = []string{knownHosts}
	}
	cb, err := gitssh.NewKnownHostsCallback(files...)
	if err != nil {
		return nil, fmt.Errorf("read the SSH known hosts %v: %w; give a known_hosts file holding the git server's host key", files, err)
	}
	auth.HostKeyCallback = cb
	return auth, nil
}

// Checkout fetches the remote and puts the working copy, clean, at
// revision: a branch the owner follows, a tag, or a commit; "" or "HEAD"
// for the remote's default branch. It returns the tree's directory and
// the commit checked out. It fails when the remote cannot be read (the
// error says why: address, credentials, permissions) or has no such
// revision.
func (r *Repo) Checkout(ctx context.Context, revision string) (root, head string, err error) {
	root, head, _, err = r.checkout(ctx, revision)
	return root, head, err
}

// CheckoutBranch is Checkout for a revision that must be a branch (a pull
// request needs one to merge into); it also returns the branch's name,
// which for "" or "HEAD" is the remote's default branch.
func (r *Repo) CheckoutBranch(ctx context.Context, revision string) (root, head, branch string, err error) {
	root, head, branch, err = r.checkout(ctx, revision)
	if err == nil && branch == "" {
		return "", "", "", fmt.Errorf("%q is a tag or a commit of %s, not a branch: a pull request needs a branch to merge into", revision, r.remoteName())
	}
	return root, head, branch, err
}

func (r *Repo) checkout(ctx context.Context, revision string) (root, head, branch string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return "", "", "", err
	}
	hash, branch, err := r.resolve(ctx, repo, revision)
	if err != nil {
		return "", "", "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", "", "", fmt.Errorf("the working copy %s: %w", r.Dir, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return "", "", "", fmt.Errorf("check out %s in %s: %w; delete the directory to start afresh", short(hash.String()), r.Dir, err)
	}
	// Files an earlier plan left behind would read as part of the tree.
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return "", "", "", fmt.Errorf("clean the working copy %s: %w", r.Dir, err)
	}
	return r.Dir, hash.String(), branch, nil
}

// Push makes branch (a new branch under BranchPrefix) from base's current
// head on the remote, with one commit writing files (path from the
// repository's root → content), and pushes it so that the remote creates
// the branch or refuses: a branch already on the remote gives
// ErrBranchExists and is left as it is. Base itself is never pushed to.
// It returns the commit. See PushPlanned for a push that also checks the
// files did not change on base since the edit was planned.
func (r *Repo) Push(ctx context.Context, base, branch string, files map[string][]byte, message string) (commit string, err error) {
	return r.PushPlanned(ctx, base, "", branch, files, message)
}

// PushPlanned is Push for an edit planned on the tree at commit planned
// (the head Checkout returned): when base has moved since and one of the
// files changed on it, the push is refused — the edit would silently undo
// that change — and the error asks for the change to be planned again.
// With planned "" it is Push.
func (r *Repo) PushPlanned(ctx context.Context, base, planned, branch string, files map[string][]byte, message string) (commit string, err error) {
	if err := CheckBranch(base, branch); err != nil {
		return "", err
	}
	paths, err := checkFiles(files)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(message) == "" {
		return "", errors.New("a proposal's commit needs a message")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return "", err
	}
	baseRef, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", base), true)
	if err != nil {
		return "", fmt.Errorf("the remote %s has no branch %s: a pull request needs the branch the owner follows; check the owner's revision", redactURL(r.URL), base)
	}
	if _, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true); err == nil {
		return "", &branchExistsError{branch}
	}
	if planned != "" && planned != baseRef.Hash().String() {
		if err := unchangedSince(repo, plumbing.NewHash(planned), baseRef.Hash(), base, paths); err != nil {
			return "", err
		}
	}
	hash, err := r.commit(repo, branch, baseRef.Hash(), files, paths, message)
	if err != nil {
		return "", err
	}
	if err := r.create(ctx, repo, plumbing.NewBranchReferenceName(branch), hash, baseRef.Hash()); err != nil {
		return "", err
	}
	return hash.String(), nil
}

// CheckBranch refuses a branch Watchkeeper must not push to: anything
// outside BranchPrefix, the base branch, and names git would reject or
// read as something else (.., @{, a leading dash, .lock). tools/runbook's
// repository keeps the same rules through it.
func CheckBranch(base, branch string) error {
	rest, ok := strings.CutPrefix(branch, BranchPrefix)
	if !ok || rest == "" {
		return fmt.Errorf("branch %q is not under %s: Watchkeeper only pushes to branches of its own, for review (e.g. %sscale-checkout)", branch, BranchPrefix, BranchPrefix)
	}
	if branch == base {
		return fmt.Errorf("branch %q is the base branch; Watchkeeper never pushes to it", branch)
	}
	if base == "" {
		return errors.New("no base branch: a pull request needs the branch the owner follows")
	}
	for _, seg := range strings.Split(rest, "/") {
		switch {
		case seg == "", strings.HasPrefix(seg, "."), strings.HasPrefix(seg, "-"), strings.HasSuffix(seg, ".lock"),
			strings.Contains(seg, ".."), !branchSegment.MatchString(seg):
			return fmt.Errorf("branch %q is not a plain branch name: use letters, digits, '.', '_', '-' and '/' (e.g. %sscale-checkout)", branch, BranchPrefix)
		}
	}
	return nil
}

var branchSegment = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// checkFiles refuses paths outside the repository or inside .git, and
// returns the cleaned paths, sorted.
func checkFiles(files map[string][]byte) ([]string, error) {
	if len(files) == 0 {
		return nil, errors.New("a proposal with no files changes nothing")
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		clean := path.Clean(filepath.ToSlash(p))
		if p == "" || path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") ||
			clean == ".git" || strings.HasPrefix(clean, ".git/") || clean != filepath.ToSlash(p) {
			return nil, fmt.Errorf("refusing to write %q: give a plain path inside the repository, from its root", p)
		}
		paths = append(paths, clean)
	}
	sort.Strings(paths)
	return paths, nil
}

func (r *Repo) remoteName() string { return redactURL(r.URL) }

// open opens the working copy, making it on first use, and fetches every
// branch and tag. Unlike the runbooks' working copy, a failed fetch is an
// error: a proposal must start from the remote as it is now.
func (r *Repo) open(ctx context.Context) (*git.Repository, error) {
	if r.URL == "" || r.Dir == "" {
		return nil, errors.New("the GitOps repository needs a URL and a working directory")
	}
	repo, err := git.PlainOpen(r.Dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		if err := os.MkdirAll(r.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("make the working copy %s: %w", r.Dir, err)
		}
		if repo, err = git.PlainInit(r.Dir, false); err != nil {
			return nil, fmt.Errorf("make the working copy %s: %w", r.Dir, err)
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.URL}}); err != nil {
			return nil, fmt.Errorf("make the working copy %s: %w", r.Dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open the working copy %s: %w; delete the directory to start afresh", r.Dir, err)
	default:
		remote, err := repo.Remote("origin")
		if err != nil || len(remote.Config().URLs) == 0 || remote.Config().URLs[0] != r.URL {
			return nil, fmt.Errorf("the working copy %s is not a copy of %s: give each repository a directory of its own, or delete it", r.Dir, r.remoteName())
		}
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", Auth: r.Auth, Prune: true, Tags: git.NoTags,
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, r.explain("fetch", err)
	}
	return repo, nil
}

// resolve finds the commit a revision names, and the branch when it is
// one.
func (r *Repo) resolve(ctx context.Context, repo *git.Repository, revision string) (plumbing.Hash, string, error) {
	revision = strings.TrimPrefix(revision, "refs/heads/")
	if revision == "" || revision == "HEAD" {
		b, err := r.defaultBranch(ctx, repo)
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		revision = b
	}
	if ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", revision), true); err == nil {
		return ref.Hash(), revision, nil
	}
	h, err := r.resolveFixed(repo, revision)
	return h, "", err
}

// resolveFixed finds the commit a tag or a commit hash names.
func (r *Repo) resolveFixed(repo *git.Repository, revision string) (plumbing.Hash, error) {
	if ref, err := repo.Reference(plumbing.NewTagReferenceName(strings.TrimPrefix(revision, "refs/tags/")), true); err == nil {
		if tag, err := repo.TagObject(ref.Hash()); err == nil {
			c, err := tag.Commit()
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("tag %s of %s does not name a commit: %w", revision, r.remoteName(), err)
			}
			return c.Hash, nil
		}
		return ref.Hash(), nil
	}
	if commitHash.MatchString(revision) {
		if h, err := repo.ResolveRevision(plumbing.Revision(revision)); err == nil {
			if _, err := repo.CommitObject(*h); err == nil {
				return *h, nil
			}
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s has no branch, tag or commit %q: check the owner's revision (Argo CD targetRevision, Flux ref)", r.remoteName(), revision)
}

var commitHash = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// defaultBranch asks the remote which branch its HEAD names.
func (r *Repo) defaultBranch(ctx context.Context, repo *git.Repository) (string, error) {
	remote, err := repo.Remote("origin")
	if err != nil {
		return "", err
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.Auth})
	if err != nil {
		return "", r.explain("list the branches of", err)
	}
	var head *plumbing.Reference
	for _, ref := range refs {
		if ref.Name() == plumbing.HEAD {
			head = ref
		}
	}
	switch {
	case head == nil:
		return "", fmt.Errorf("%s has no default branch (no HEAD): name the branch in the owner's revision", r.remoteName())
	case head.Type() == plumbing.SymbolicReference:
		return head.Target().Short(), nil
	}
	// A server that does not say what HEAD points to: the branch at the
	// same commit, preferring the usual names.
	var candidates []string
	for _, ref := range refs {
		if ref.Name().IsBranch() && ref.Hash() == head.Hash() {
			candidates = append(candidates, ref.Name().Short())
		}
	}
	for _, want := range []string{"main", "master"} {
		for _, c := range candidates {
			if c == want {
				return c, nil
			}
		}
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	return "", fmt.Errorf("%s does not say which branch is its default: name the branch in the owner's revision", r.remoteName())
}

// unchangedSince refuses files that differ between planned and now.
func unchangedSince(repo *git.Repository, planned, now plumbing.Hash, base string, paths []string) error {
	at := func(h plumbing.Hash) (*gitobject.Tree, error) {
		c, err := repo.CommitObject(h)
		if err != nil {
			return nil, err
		}
		return c.Tree()
	}
	before, err := at(planned)
	if err != nil {
		return fmt.Errorf("the commit %s the change was planned on is not in the working copy (%w): check out %s again and plan the change anew", short(planned.String()), err, base)
	}
	after, err := at(now)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if blobHash(before, p) != blobHash(after, p) {
			return fmt.Errorf("%s changed on %s since the change was planned (at %s, now %s): check out %s again and plan the change anew, so the proposal does not undo it",
				p, base, short(planned.String()), short(now.String()), base)
		}
	}
	return nil
}

func blobHash(tree *gitobject.Tree, p string) plumbing.Hash {
	f, err := tree.File(p)
	if err != nil {
		return plumbing.ZeroHash
	}
	return f.Hash
}

// commit puts a local branch at from, writes the files and commits them.
func (r *Repo) commit(repo *git.Repository, branch string, from plumbing.Hash, files map[string][]byte, paths []string, message string) (plumbing.Hash, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	local := plumbing.NewBranchReferenceName(branch)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(local, from)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("make the branch %s in %s: %w", branch, r.Dir, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: local, Force: true}); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("check out %s in %s: %w; delete the directory to start afresh", branch, r.Dir, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("clean the working copy %s: %w", r.Dir, err)
	}
	for _, p := range paths {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return plumbing.ZeroHash, err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := wt.Add(p); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("add %s: %w", p, err)
		}
	}
	status, err := wt.Status()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if status.IsClean() {
		return plumbing.ZeroHash, errors.New("the files are already as the change would make them: nothing to propose")
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	name, email := r.AuthorName, r.AuthorEmail
	if name == "" {
		name, email = "Watchkeeper", "watchkeeper@localhost"
	}
	sig := &gitobject.Signature{Name: name, Email: email, When: now}
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit in %s: %w", r.Dir, err)
	}
	return h, nil
}

// create asks the remote to make branch at commit, and only to make it:
// the update names the zero hash as the branch's old value, so the remote
// refuses it if the branch exists by then, whoever made it. (go-git's
// Push, given a non-forcing refspec, would still fast-forward an existing
// branch; git's `--force-with-lease=branch:` is the CLI's way to say
// "must not exist".) have is a commit the remote has, so only the new
// objects are sent.
func (r *Repo) create(ctx context.Context, repo *git.Repository, branch plumbing.ReferenceName, commit, have plumbing.Hash) error {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil {
		return fmt.Errorf("the repository URL %s: %w", r.remoteName(), err)
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return fmt.Errorf("the repository URL %s: %w", r.remoteName(), err)
	}
	sess, err := cli.NewReceivePackSession(ep, r.Auth)
	if err != nil {
		return r.explain("push to", err)
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return r.explain("push to", err)
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return r.explain("push to", err)
	}
	if _, err := refs.Reference(branch); err == nil {
		return &branchExistsError{branch.Short()}
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{{Name: branch, Old: plumbing.ZeroHash, New: commit}}
	hashes, err := revlist.Objects(repo.Storer, []plumbing.Hash{commit}, []plumbing.Hash{have})
	if err != nil {
		return fmt.Errorf("list the objects to push: %w", err)
	}
	status, err := sendPack(ctx, sess, repo.Storer, req, hashes)
	if err == nil && status != nil {
		err = status.Error()
		if err != nil {
			// The remote refused the update: because the branch appeared
			// meanwhile, or for a reason of its own (a hook, a rule).
			if r.remoteHas(ctx, repo, branch) {
				return &branchExistsError{branch.Short()}
			}
			return fmt.Errorf("%s refused the branch %s: %w; nothing was changed on the remote (a branch protection rule or hook may forbid %s…)", r.remoteName(), branch.Short(), err, BranchPrefix)
		}
	}
	if err != nil {
		return r.explain("push to", err)
	}
	return nil
}

// sendPack sends the update and a pack of the objects, as go-git's own
// push does.
func sendPack(ctx context.Context, sess transport.ReceivePackSession, st storer.EncodedObjectStorer, req *packp.ReferenceUpdateRequest, hashes []plumbing.Hash) (*packp.ReportStatus, error) {
	rd, wr := io.Pipe()
	done := make(chan error, 1)
	req.Packfile = rd
	go func() {
		_, err := packfile.NewEncoder(wr, st, false).Encode(hashes, 10)
		if err != nil {
			done <- wr.CloseWithError(err)
			return
		}
		done <- wr.Close()
	}()
	status, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.CloseWithError(err) // unblocks the encoder
		<-done
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return status, nil
}

// remoteHas reports whether the remote has branch, asking it.
func (r *Repo) remoteHas(ctx context.Context, repo *git.Repository, branch plumbing.ReferenceName) bool {
	remote, err := repo.Remote("origin")
	if err != nil {
		return false
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.Auth})
	if err != nil {
		return false
	}
	for _, ref := range refs {
		if ref.Name() == branch {
			return true
		}
	}
	return false
}

// explain turns a transport error into what to do about it.
func (r *Repo) explain(op string, err error) error {
	where := r.remoteName()
	var netErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w", op, where, err)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%s %s: the remote refused the credentials (HTTP 401): check gitops.repositories[].token_file, a token that can read and push to the repository: %w", op, where, err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%s %s: the credentials are not allowed to (HTTP 403): give the token write access to the repository, or check gitops.repositories[].token_file: %w", op, where, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s %s: no such repository, or the credentials cannot see it: check the owner's repository URL and the token's access: %w", op, where, err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("%s %s: the repository is empty, so there is no branch to propose a change to: %w", op, where, err)
	case strings.Contains(err.Error(), "unable to authenticate"), strings.Contains(err.Error(), "knownhosts"):
		return fmt.Errorf("%s %s: SSH refused (key or host key): check gitops.repositories[].ssh_key_file and the known_hosts entry: %w", op, where, err)
	case errors.As(err, &dnsErr), errors.As(err, &netErr):
		return fmt.Errorf("cannot reach %s to %s it: %w; check the repository URL and that Watchkeeper can reach the git server", where, op, err)
	case strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("%s %s: the remote branch moved (non-fast-forward); nothing was forced: fetch and try again: %w", op, where, err)
	}
	return fmt.Errorf("%s %s: %w", op, where, err)
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

func short(hash string) string {
	if len(hash) > 8 {
		return hash[:8]
	}
	return hash
}
