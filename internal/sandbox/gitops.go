package sandbox

// GitOps: in a scenario with `gitops:` the shop is owned by an Argo
// CD-style Application over a git repository the sandbox serves, and a
// reconciler (Argo CD's self-heal) makes the cluster match the
// repository's main branch every sync interval of simulated time. A
// change made in the cluster is reverted at the next sync; a change
// merged into the repository is rolled out by it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/internal/gitops/forgefake"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/kubesim"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// The GitOps scenario's fixed names.
const (
	gitopsAppNamespace = "argocd"
	gitopsAppName      = "shop"
	gitopsPath         = "apps/shop"
	gitopsBranch       = "main"
	// gitopsRepo is the repository's owner/name on the fake forge and its
	// path on the sandbox's listener (+".git"): a forge client reads
	// owner/name from the repository URL's path, as from GitHub's.
	gitopsRepo = "sandbox/shop"
	// gitopsComponent is who the reconciler's Events say reported them.
	gitopsComponent = "argocd-application-controller"
)

// GitOpsInfo is where a GitOps scenario's repository and forge are and
// which Application owns the shop: what Watchkeeper's gitops
// configuration points at. Its methods are safe for concurrent use.
type GitOpsInfo struct {
	// RepoURL is the repository over git's smart HTTP protocol:
	// <ExternalURL>/sandbox/shop.git, whose path is the forge's
	// owner/name as on GitHub. Pushes are accepted.
	RepoURL string
	// Token authenticates to the repository (HTTP basic auth, any user
	// name, the token as password) and to the forge's API (Authorization:
	// Bearer or token). It is made anew for each sandbox.
	Token string
	// ForgeKind is the fake forge's API flavour: "github".
	ForgeKind string
	// ForgeAPIURL is the forge's API base (a GitHub client's api_url):
	// <ExternalURL>/forge/github.
	ForgeAPIURL string
	// ForgeRepo is the repository's owner/name on the forge.
	ForgeRepo string
	// AppNamespace and AppName name the Argo CD Application that owns the
	// shop's Deployments (argocd/shop).
	AppNamespace, AppName string
	// Path and Revision are the Application's source path and target
	// revision (apps/shop, main).
	Path, Revision string
	// SyncInterval is how often, in simulated time, the reconciler syncs.
	SyncInterval time.Duration

	forge sandboxForge
}

// Merge merges pull request number on the fake forge into its base
// branch with a merge commit, as a person pressing the button would, and
// returns the commit; the next sync rolls it out. A pull request that is
// not open, or that conflicts, is an error and changes nothing.
func (g *GitOpsInfo) Merge(number int) (commit string, err error) { return g.forge.Merge(number) }

// Close closes pull request number on the fake forge without merging it.
func (g *GitOpsInfo) Close(number int) error { return g.forge.Close(number) }

// PullRequests lists the pull requests opened on the sandbox's forge.
func (g *GitOpsInfo) PullRequests() []forgefake.PR { return g.forge.PRs() }

// sandboxForge is what the sandbox needs of the fake forge.
type sandboxForge interface {
	http.Handler
	Merge(number int) (string, error)
	Close(number int) error
	PRs() []forgefake.PR
}

// gitOps is the running GitOps part of a sandbox: the bare repository in
// a temporary directory, its HTTP server, the forge and the reconciler's
// state. The reconciler runs under the sandbox's step lock.
type gitOps struct {
	info    GitOpsInfo
	root    string // temporary directory; the bare repository is root/sandbox/shop.git
	bare    string
	git     string // the git binary
	backend string // git-http-backend
	app     kubesim.Application
	kube    *kubesim.Cluster
	dyn     dynamic.Interface
	sb      *Sandbox

	// desired is the state the tree at desiredSHA declares; synced is the
	// revision the last sync applied.
	desired    map[gitops.Workload]gitops.State
	desiredSHA string
}

// errNoGit is returned when the GitOps scenario cannot find git.
var errNoGit = errors.New("the gitops scenario needs git (apt-get install git)")

// startGitOps makes the repository from the world's history (start is
// when the history began), the forge and the Application. It runs once,
// after the history is generated.
func startGitOps(ctx context.Context, sb *Sandbox, start time.Time) (_ *gitOps, err error) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return nil, errNoGit
	}
	out, err := exec.CommandContext(ctx, gitBin, "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: git --exec-path: %v", errNoGit, err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("the gitops scenario needs git's git-http-backend, which is not in %s: %w", filepath.Dir(backend), err)
	}
	root, err := os.MkdirTemp("", "watchkeeper-gitops-")
	if err != nil {
		return nil, fmt.Errorf("gitops: %w", err)
	}
	g := &gitOps{root: root, bare: filepath.Join(root, filepath.FromSlash(gitopsRepo)+".git"), git: gitBin, backend: backend,
		kube: sb.kube, dyn: sb.dynamic, sb: sb}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(root)
		}
	}()
	if err := g.seed(ctx, start); err != nil {
		return nil, fmt.Errorf("gitops: seed the repository: %w", err)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(sb.opts.ExternalURL, "/")
	g.info = GitOpsInfo{RepoURL: base + "/" + gitopsRepo + ".git", Token: token, ForgeKind: "github",
		ForgeAPIURL: base + "/forge/github", ForgeRepo: gitopsRepo, AppNamespace: gitopsAppNamespace, AppName: gitopsAppName,
		Path: gitopsPath, Revision: gitopsBranch, SyncInterval: sb.scenario.GitOps.SyncInterval}
	g.info.forge = forgefake.New("github", token, map[string]string{gitopsRepo: g.bare})
	head, err := g.head(ctx)
	if err != nil {
		return nil, err
	}
	g.app = kubesim.Application{Namespace: gitopsAppNamespace, Name: gitopsAppName, RepoURL: g.info.RepoURL, Path: gitopsPath,
		Revision: gitopsBranch, SelfHeal: true, Destination: world.Namespace, Created: start.Add(-30 * 24 * time.Hour)}
	if _, err := g.dyn.Resource(kubesim.ApplicationGVR).Namespace(gitopsAppNamespace).Create(ctx,
		g.app.Object("Synced", head), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("gitops: create the Application: %w", err)
	}
	return g, nil
}

func newToken() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("gitops: make a token: %w", err)
	}
	return "wks_" + hex.EncodeToString(b), nil
}

// close removes the repository.
func (g *gitOps) close() error { return os.RemoveAll(g.root) }

// run runs git with an environment of its own (no user or system
// configuration), in dir when set, with extra variables.
func (g *gitOps) run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.git, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + g.root, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0", "PATH=" + os.Getenv("PATH")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// head returns the commit main points at.
func (g *gitOps) head(ctx context.Context) (string, error) {
	return g.run(ctx, "", nil, "--git-dir", g.bare, "rev-parse", "--verify", "refs/heads/"+gitopsBranch+"^{commit}")
}

// seed writes the repository as the shop's history made it: a first
// commit with every service at its version when the history began, then
// one commit per rollout of a new version during it ("checkout 1.5.0"),
// each dated when it happened, so the same scenario and seed give the
// same commits.
func (g *gitOps) seed(ctx context.Context, start time.Time) error {
	work := filepath.Join(g.root, "seed")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if _, err := g.run(ctx, work, nil, "init", "--quiet", "--initial-branch", gitopsBranch); err != nil {
		return err
	}
	topo := g.sb.world.Topology()
	versions := map[string]string{}
	replicas := map[string]int{}
	type rollout struct {
		at      time.Time
		service string
		version string
	}
	var rollouts, final []rollout
	for _, s := range topo.Services {
		d, err := g.sb.world.Deployment(s.Name)
		if err != nil {
			return err
		}
		versions[s.Name], replicas[s.Name] = s.Version, d.Replicas
		for _, r := range d.Revisions {
			if r.Created.After(start) {
				rollouts = append(rollouts, rollout{r.Created, s.Name, r.Version})
			}
		}
		final = append(final, rollout{g.sb.world.Now(), s.Name, d.Version})
	}
	slices.SortStableFunc(rollouts, func(a, b rollout) int { return a.at.Compare(b.at) })
	// The tree ends as the cluster does, whatever the revisions say.
	rollouts = append(rollouts, final...)
	commit := func(at time.Time, message string) error {
		if err := writeTree(work, topo, versions, replicas); err != nil {
			return err
		}
		if _, err := g.run(ctx, work, nil, "add", "--all"); err != nil {
			return err
		}
		date := fmt.Sprintf("@%d +0000", at.Unix())
		_, err := g.run(ctx, work, []string{"GIT_AUTHOR_NAME=Shop CI", "GIT_AUTHOR_EMAIL=ci@shop.example.com", "GIT_AUTHOR_DATE=" + date,
			"GIT_COMMITTER_NAME=Shop CI", "GIT_COMMITTER_EMAIL=ci@shop.example.com", "GIT_COMMITTER_DATE=" + date},
			"commit", "--quiet", "--allow-empty", "--message", message)
		return err
	}
	if err := commit(start.Add(-24*time.Hour), "shop: deploy with Argo CD"); err != nil {
		return err
	}
	for _, r := range rollouts {
		if versions[r.service] == r.version {
			continue
		}
		versions[r.service] = r.version
		if err := commit(r.at, r.service+" "+r.version); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(g.bare), 0o755); err != nil {
		return err
	}
	if _, err := g.run(ctx, "", nil, "clone", "--quiet", "--bare", work, g.bare); err != nil {
		return err
	}
	if _, err := g.run(ctx, "", nil, "--git-dir", g.bare, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	return os.RemoveAll(work)
}

// writeTree writes apps/shop: a plain manifest per Deployment with the
// untagged image, and a kustomization whose images entries carry the
// tags — the one place a version lives, as CI bumps it.
func writeTree(work string, topo world.Topology, versions map[string]string, replicas map[string]int) error {
	dir := filepath.Join(work, filepath.FromSlash(gitopsPath))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " + world.Namespace + "\nresources:\n")
	for _, s := range topo.Services {
		k.WriteString("  - " + s.Name + ".yaml\n")
	}
	k.WriteString("images:\n")
	for _, s := range topo.Services {
		fmt.Fprintf(&k, "  - name: %s\n    newTag: %q\n", s.Image, versions[s.Name])
		manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
  labels:
    app: %[1]s
spec:
  replicas: %[3]d
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: %[1]s
          image: %[4]s
          ports:
            - containerPort: %[5]d
`, s.Name, world.Namespace, replicas[s.Name], s.Image, s.Kind.Port())
		if err := os.WriteFile(filepath.Join(dir, s.Name+".yaml"), []byte(manifest), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k.String()), 0o644)
}

// gitHandler serves the repository at /sandbox/shop.git/ with git
// http-backend, behind basic auth with the token (any user name).
func (g *gitOps) gitHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(g.info.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="sandbox git"`)
			http.Error(w, "Authentication failed: use the sandbox's GitOps token as the password", http.StatusUnauthorized)
			return
		}
		if user == "" {
			user = "git"
		}
		h := &cgi.Handler{Path: g.backend, Dir: g.root, Env: []string{
			"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1",
			// http-backend allows receive-pack only to an authenticated
			// user, which it learns from REMOTE_USER.
			"REMOTE_USER=" + user, "HOME=" + g.root, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
			"PATH=" + os.Getenv("PATH"),
		}}
		h.ServeHTTP(w, r)
	})
}

// syncsDue returns the sync times in (from, to]: the multiples of the
// interval, so the same steps give the same syncs.
func (g *gitOps) syncsDue(from, to time.Time) []time.Time {
	var out []time.Time
	iv := g.info.SyncInterval
	for at := from.Truncate(iv).Add(iv); !at.After(to); at = at.Add(iv) {
		out = append(out, at)
	}
	return out
}

// reconcile is one sync at the world's current time: it reads main's
// tree (again only when main moved), writes the image and replicas it
// declares to every Deployment that differs — through the clientset, so
// the world changes as for anyone's write — records an Event for each,
// and sets the Application's sync status. It runs under the sandbox's
// step lock, between steps.
func (g *gitOps) reconcile(ctx context.Context) error {
	head, err := g.head(ctx)
	if err != nil {
		return g.failed(ctx, fmt.Errorf("gitops: read %s: %w", gitopsBranch, err))
	}
	if head != g.desiredSHA {
		desired, err := g.read(ctx, head)
		if err != nil {
			return g.failed(ctx, err)
		}
		g.desired, g.desiredSHA = desired, head
	}
	now := g.sb.world.Now()
	workloads := make([]gitops.Workload, 0, len(g.desired))
	for w := range g.desired {
		workloads = append(workloads, w)
	}
	slices.SortFunc(workloads, func(a, b gitops.Workload) int { return strings.Compare(a.Name, b.Name) })
	deps := g.kube.Clientset().AppsV1()
	var errs []error
	for _, w := range workloads {
		ns := w.Namespace
		if ns == "" {
			ns = world.Namespace
		}
		if w.Kind != "Deployment" || ns != world.Namespace {
			continue
		}
		want := g.desired[w]
		d, err := deps.Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("gitops: sync %s/%s: %w", ns, w.Name, err))
			continue
		}
		var changes []string
		for i, c := range d.Spec.Template.Spec.Containers {
			if img, ok := want.Images[c.Name]; ok && img != c.Image {
				changes = append(changes, fmt.Sprintf("%s image %s → %s", c.Name, c.Image, img))
				d.Spec.Template.Spec.Containers[i].Image = img
			}
		}
		if want.Replicas != nil && (d.Spec.Replicas == nil || *d.Spec.Replicas != *want.Replicas) {
			from := "unset"
			if d.Spec.Replicas != nil {
				from = fmt.Sprint(*d.Spec.Replicas)
			}
			changes = append(changes, fmt.Sprintf("%s replicas %s → %d", w.Name, from, *want.Replicas))
			d.Spec.Replicas = want.Replicas
		}
		if len(changes) == 0 {
			continue
		}
		if _, err := deps.Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: gitopsComponent}); err != nil {
			errs = append(errs, fmt.Errorf("gitops: sync %s/%s: %w", ns, w.Name, err))
			continue
		}
		g.kube.RecordEvent(now, "Deployment", w.Name, "ResourceUpdated",
			fmt.Sprintf("argocd: synced to %s: %s", short(head), strings.Join(changes, ", ")), gitopsComponent)
	}
	if err := errors.Join(errs...); err != nil {
		return g.failed(ctx, err)
	}
	return g.setStatus(ctx, "Synced", head)
}

// read clones main at head into a temporary directory and returns what
// its tree declares.
func (g *gitOps) read(ctx context.Context, head string) (map[gitops.Workload]gitops.State, error) {
	dir, err := os.MkdirTemp(g.root, "sync-")
	if err != nil {
		return nil, fmt.Errorf("gitops: %w", err)
	}
	defer os.RemoveAll(dir)
	if _, err := g.run(ctx, "", nil, "clone", "--quiet", "--branch", gitopsBranch, g.bare, dir); err != nil {
		return nil, fmt.Errorf("gitops: fetch %s: %w", gitopsBranch, err)
	}
	if _, err := g.run(ctx, dir, nil, "checkout", "--quiet", "--detach", head); err != nil {
		return nil, fmt.Errorf("gitops: check out %s: %w", short(head), err)
	}
	desired, err := gitops.Desired(dir, gitops.Source{RepoURL: g.info.RepoURL, Revision: gitopsBranch, Path: gitopsPath})
	if err != nil {
		return nil, fmt.Errorf("gitops: read %s at %s: %w", gitopsPath, short(head), err)
	}
	return desired, nil
}

// failed marks the Application Unknown, as Argo CD does when it cannot
// compare, and returns err.
func (g *gitOps) failed(ctx context.Context, err error) error {
	return errors.Join(err, g.setStatus(ctx, "Unknown", g.desiredSHA))
}

func (g *gitOps) setStatus(ctx context.Context, status, revision string) error {
	_, err := g.dyn.Resource(kubesim.ApplicationGVR).Namespace(g.app.Namespace).Update(ctx, g.app.Object(status, revision), metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("gitops: update the Application's status: %w", err)
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// GitOps returns where the GitOps scenario's repository, forge and
// Application are; nil unless the scenario has GitOps.
func (sb *Sandbox) GitOps() *GitOpsInfo {
	if sb.gitops == nil {
		return nil
	}
	info := sb.gitops.info
	return &info
}

// Dynamic returns the cluster's dynamic client, for custom resources:
// the GitOps scenario's Argo CD Application argocd/shop; in other
// scenarios it holds none (lists of Applications, Flux Kustomizations,
// HelmReleases and GitRepositories answer empty).
func (sb *Sandbox) Dynamic() dynamic.Interface { return sb.dynamic }
