package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/gitops"
)

// gitOpsChanges builds what makes changes to GitOps-owned workloads as
// pull requests: the router the Kubernetes actions consult, and the
// gitops_pull_request tool. dyn reads the owners' objects (Argo CD
// Applications, Flux Kustomizations); without it an owner is still
// recognised by its labels and its proposals say its source cannot be read.
func gitOpsChanges(cfg config.Config, kube kubernetes.Interface, dyn dynamic.Interface, worldNow func() time.Time, redact func(string) string) *gitops.Changes {
	g := cfg.GitOps
	dir := g.WorkDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.Store.Path), "gitops")
	}
	remotes := &remotes{cfg: g.Repositories, dir: dir, byURL: map[string]gitops.Remote{}}
	return &gitops.Changes{
		Client:       kube,
		Resolver:     gitops.Resolver{Dynamic: dyn, ArgoNamespace: g.ArgoCDNamespace},
		Remote:       remotes.get,
		AcceptDrift:  g.AcceptDrift,
		PollInterval: g.PollInterval.D(),
		SyncTimeout:  g.SyncTimeout.D(),
		WorldNow:     worldNow,
		Redact:       redact,
		MinReplicas:  int32(cfg.Kubernetes.MinReplicas),
		MaxReplicas:  int32(cfg.Kubernetes.MaxReplicas),
	}
}

// remotes hands out one working copy and forge client per repository,
// from gitops.repositories: the first entry whose url is the repository's
// or a prefix of it.
type remotes struct {
	cfg []config.GitOpsRepository
	dir string

	mu    sync.Mutex
	byURL map[string]gitops.Remote
}

func (r *remotes) get(repoURL string) (gitops.Remote, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm, ok := r.byURL[repoURL]; ok {
		return rm, nil
	}
	var entry *config.GitOpsRepository
	for i := range r.cfg {
		if sameRepo(repoURL, r.cfg[i].URL) {
			entry = &r.cfg[i]
			break
		}
	}
	if entry == nil {
		return gitops.Remote{}, fmt.Errorf("no credentials for the repository %s: add it (or a prefix of its URL) to gitops.repositories with a token_file and its forge", repoURL)
	}
	sum := sha256.Sum256([]byte(repoURL))
	repo := &gitops.Repo{URL: repoURL, Dir: filepath.Join(r.dir, hex.EncodeToString(sum[:8]))}
	// The remote's scheme decides: a token for HTTPS, the key for SSH.
	ssh := strings.HasPrefix(repoURL, "git@") || strings.HasPrefix(repoURL, "ssh://")
	switch {
	case !ssh && entry.Token != "":
		user := ""
		if forgeOf(*entry, repoURL) == "gitlab" {
			user = "oauth2"
		}
		repo.Auth = gitops.TokenAuth(user, entry.Token.Reveal())
	case ssh && entry.SSHKeyFile == "":
		return gitops.Remote{}, fmt.Errorf("the repository %s is reached over SSH: set ssh_key_file in its gitops.repositories entry", repoURL)
	case ssh:
		auth, err := gitops.SSHKeyAuth("", entry.SSHKeyFile, "", "")
		if err != nil {
			return gitops.Remote{}, err
		}
		repo.Auth = auth
	}
	rm := gitops.Remote{Repo: repo}
	switch forgeOf(*entry, repoURL) {
	case "github":
		rm.Forge = &gitops.GitHub{APIURL: entry.APIURL, Token: entry.Token.Reveal(), Repo: repoURL}
	case "gitlab":
		rm.Forge = &gitops.GitLab{APIURL: entry.APIURL, Token: entry.Token.Reveal(), Repo: repoURL}
	}
	r.byURL[repoURL] = rm
	return rm, nil
}

// sameRepo reports whether configured (a repository's URL or a prefix of
// several) covers repoURL; a trailing .git or slash does not matter.
func sameRepo(repoURL, configured string) bool {
	norm := func(s string) string { return strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git") }
	a, b := norm(repoURL), norm(configured)
	return a == b || strings.HasPrefix(repoURL, strings.TrimSuffix(configured, "/")+"/")
}

// forgeOf is the entry's forge, or the one its host says: github.com is
// GitHub, a gitlab.* host GitLab; any other is pushed to only.
func forgeOf(e config.GitOpsRepository, repoURL string) string {
	if e.Forge != "" {
		return e.Forge
	}
	host := ""
	if u, err := url.Parse(repoURL); err == nil {
		host = u.Hostname()
	} else if at := strings.Index(repoURL, "@"); at >= 0 {
		host, _, _ = strings.Cut(repoURL[at+1:], ":")
	}
	switch {
	case host == "github.com":
		return "github"
	case strings.HasPrefix(host, "gitlab."):
		return "gitlab"
	}
	return "none"
}
