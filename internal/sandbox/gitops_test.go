package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

const checkoutErrorRatio = `sum(rate(http_requests_total{service="checkout",code="500"}[2m])) / sum(rate(http_requests_total{service="checkout"}[2m]))`

var applications = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// startGitOps serves the gitops scenario at an address known before the
// sandbox is built, so the repository and forge URLs it gives are real.
func startGitOps(t *testing.T) (*env, *sandbox.GitOpsInfo) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	srv := httptest.NewUnstartedServer(nil)
	o := sandbox.Options{Scenario: "gitops", End: end, History: time.Hour, Clock: func() time.Time { return end },
		ExternalURL: "http://" + srv.Listener.Addr().String()}
	sb, err := sandbox.New(context.Background(), o)
	if err != nil {
		srv.Listener.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv.Config.Handler = sb.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	g := sb.GitOps()
	if g == nil {
		t.Fatal("the gitops scenario has no GitOps")
	}
	return &env{sb: sb, srv: srv, prom: promv1.NewAPI(client)}, g
}

// git runs the real git in dir, with no user configuration.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=On Call", "-c", "user.email=oncall@shop.example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// withToken puts the token in a repository URL as basic auth.
func withToken(t *testing.T, repoURL, token string) string {
	u, err := url.Parse(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("oncall", token)
	return u.String()
}

func checkoutImage(t *testing.T, e *env) string {
	t.Helper()
	d, err := e.sb.Kubernetes().AppsV1().Deployments("shop").Get(context.Background(), "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func application(t *testing.T, e *env) *unstructured.Unstructured {
	t.Helper()
	app, err := e.sb.Dynamic().Resource(applications).Namespace("argocd").Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func syncRevision(t *testing.T, e *env) (status, revision string) {
	t.Helper()
	app := application(t, e)
	status, _, _ = unstructured.NestedString(app.Object, "status", "sync", "status")
	revision, _, _ = unstructured.NestedString(app.Object, "status", "sync", "revision")
	return status, revision
}

func TestGitOpsRepository(t *testing.T) {
	t.Parallel()
	e, g := startGitOps(t)
	if !strings.HasPrefix(g.RepoURL, e.srv.URL+"/sandbox/shop.git") || g.ForgeAPIURL != e.srv.URL+"/forge/github" ||
		g.ForgeRepo != "sandbox/shop" || g.AppNamespace != "argocd" || g.AppName != "shop" || g.SyncInterval != 3*time.Minute {
		t.Errorf("GitOps info %+v", *g)
	}

	// Without the token: 401 with a challenge, and git cannot clone.
	resp, err := http.Get(g.RepoURL + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("without the token: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	if out, err := gitErr(t.TempDir(), "clone", withToken(t, g.RepoURL, "wrong"), "shop"); err == nil {
		t.Errorf("cloned with a wrong token: %s", out)
	}

	dir := filepath.Join(t.TempDir(), "shop")
	git(t, "", "clone", "--quiet", withToken(t, g.RepoURL, g.Token), dir)
	if log := git(t, dir, "log", "--format=%s", "main"); log != "checkout 1.5.0\nshop: deploy with Argo CD" {
		t.Errorf("history:\n%s", log)
	}
	k, err := os.ReadFile(filepath.Join(dir, "apps/shop/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  - checkout.yaml\n", "  - name: registry.example.com/shop/checkout\n    newTag: \"1.5.0\"\n",
		"  - name: registry.example.com/shop/cart\n    newTag: \"1.4.2\"\n"} {
		if !bytes.Contains(k, []byte(want)) {
			t.Errorf("kustomization.yaml lacks %q:\n%s", want, k)
		}
	}
	if m, err := os.ReadFile(filepath.Join(dir, "apps/shop/checkout.yaml")); err != nil || !bytes.Contains(m, []byte("kind: Deployment")) {
		t.Errorf("checkout.yaml: %v\n%s", err, m)
	}

	head := git(t, dir, "rev-parse", "HEAD")
	if status, rev := syncRevision(t, e); status != "Synced" || rev != head {
		t.Errorf("Application sync %s at %s, want Synced at %s", status, rev, head)
	}
	app := application(t, e)
	if repo, _, _ := unstructured.NestedString(app.Object, "spec", "source", "repoURL"); repo != g.RepoURL {
		t.Errorf("Application repoURL %q", repo)
	}
	if heal, _, _ := unstructured.NestedBool(app.Object, "spec", "syncPolicy", "automated", "selfHeal"); !heal {
		t.Error("the Application does not self-heal")
	}
	d, err := e.sb.Kubernetes().AppsV1().Deployments("shop").Get(context.Background(), "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Labels["argocd.argoproj.io/instance"] != "shop" {
		t.Errorf("checkout's labels %v", d.Labels)
	}
}

// TestGitOpsWrongWay: a rollback in the cluster is reverted at the next
// sync, and the bad version fails again.
func TestGitOpsWrongWay(t *testing.T) {
	skipLongUnderRace(t)
	t.Parallel()
	ctx := context.Background()
	e, g := startGitOps(t)
	kc := e.sb.Kubernetes()
	// kubectl rollout undo: the previous ReplicaSet's template.
	rss, err := kc.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil {
		t.Fatal(err)
	}
	var prev *appsv1.ReplicaSet
	for i := range rss.Items {
		if rss.Items[i].Annotations["deployment.kubernetes.io/revision"] == "3" {
			prev = &rss.Items[i]
		}
	}
	if prev == nil {
		t.Fatal("no revision 3")
	}
	d, _ := kc.AppsV1().Deployments("shop").Get(ctx, "checkout", metav1.GetOptions{})
	d.Spec.Template = prev.Spec.Template
	delete(d.Spec.Template.Labels, "pod-template-hash")
	if _, err := kc.AppsV1().Deployments("shop").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if dep, _ := e.sb.World().Deployment("checkout"); dep.Version != "1.4.2" {
		t.Fatalf("after the rollback the world runs %s", dep.Version)
	}
	if f := e.sb.Faults()[0]; f.FixedAt.IsZero() {
		t.Error("the rollback did not fix the fault")
	}

	e.advance(t, g.SyncInterval)
	if img := checkoutImage(t, e); img != "registry.example.com/shop/checkout:1.5.0" {
		t.Fatalf("after a sync interval checkout runs %s, want 1.5.0 back", img)
	}
	if dep, _ := e.sb.World().Deployment("checkout"); dep.Version != "1.5.0" {
		t.Errorf("the world runs %s", dep.Version)
	}
	evs, err := kc.CoreV1().Events("shop").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Name == "checkout" && strings.HasPrefix(ev.Message, "argocd: synced to ") &&
			strings.HasSuffix(ev.Message, ": checkout image registry.example.com/shop/checkout:1.4.2 → registry.example.com/shop/checkout:1.5.0") {
			found = true
		}
	}
	if !found {
		t.Error("no argocd Event on checkout")
	}
	e.advance(t, 5*time.Minute)
	if r := e.value(t, checkoutErrorRatio); r < 0.1 {
		t.Errorf("error ratio after the revert %.3f; the bad version should fail again", r)
	}
	faults := e.sb.Faults()
	if last := faults[len(faults)-1]; len(faults) != 2 || !last.FixedAt.IsZero() || last.Kind != "bad_deploy" {
		t.Errorf("faults after the revert: %+v", faults)
	}
}

// TestGitOpsRightWay: a pull request setting the tag back, merged, is
// rolled out by the next sync and stays.
func TestGitOpsRightWay(t *testing.T) {
	skipLongUnderRace(t)
	t.Parallel()
	e, g := startGitOps(t)
	dir := filepath.Join(t.TempDir(), "shop")
	git(t, "", "clone", "--quiet", withToken(t, g.RepoURL, g.Token), dir)
	git(t, dir, "switch", "--quiet", "--create", "watchkeeper/rollback-checkout")
	path := filepath.Join(dir, "apps/shop/kustomization.yaml")
	k, _ := os.ReadFile(path)
	edited := bytes.Replace(k, []byte("/checkout\n    newTag: \"1.5.0\""), []byte("/checkout\n    newTag: \"1.4.2\""), 1)
	if bytes.Equal(k, edited) {
		t.Fatalf("no checkout newTag to edit in:\n%s", k)
	}
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "--quiet", "--all", "--message", "checkout: roll back to 1.4.2")
	git(t, dir, "push", "--quiet", "origin", "watchkeeper/rollback-checkout")

	body, _ := json.Marshal(map[string]string{"title": "Roll back checkout to 1.4.2", "head": "watchkeeper/rollback-checkout", "base": "main"})
	req, _ := http.NewRequest(http.MethodPost, g.ForgeAPIURL+"/repos/sandbox/shop/pulls", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Number int `json:"number"`
	}
	err = json.NewDecoder(resp.Body).Decode(&pr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || pr.Number == 0 {
		t.Fatalf("open the pull request: %s, %v, %+v", resp.Status, err, pr)
	}
	merge, err := g.Merge(pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	if img := checkoutImage(t, e); img != "registry.example.com/shop/checkout:1.5.0" {
		t.Fatalf("before the sync checkout runs %s", img)
	}

	e.advance(t, g.SyncInterval)
	if img := checkoutImage(t, e); img != "registry.example.com/shop/checkout:1.4.2" {
		t.Fatalf("after the sync checkout runs %s", img)
	}
	if status, rev := syncRevision(t, e); status != "Synced" || rev != merge {
		t.Errorf("Application sync %s at %s, want Synced at the merge %s", status, rev, merge)
	}
	e.advance(t, 3*g.SyncInterval)
	if img := checkoutImage(t, e); img != "registry.example.com/shop/checkout:1.4.2" {
		t.Errorf("three syncs later checkout runs %s", img)
	}
	if r := e.value(t, checkoutErrorRatio); r > 0.02 {
		t.Errorf("error ratio after the merged rollback %.3f", r)
	}
	if faults := e.sb.Faults(); len(faults) != 1 || faults[0].FixedAt.IsZero() {
		t.Errorf("faults: %+v", faults)
	}
}

// TestGitOpsBrokenTree: a main that does not parse fails the sync — the
// Application is Unknown and AdvanceTo says why — but time goes on.
func TestGitOpsBrokenTree(t *testing.T) {
	skipLongUnderRace(t)
	t.Parallel()
	e, g := startGitOps(t)
	dir := filepath.Join(t.TempDir(), "shop")
	git(t, "", "clone", "--quiet", withToken(t, g.RepoURL, g.Token), dir)
	if err := os.WriteFile(filepath.Join(dir, "apps/shop/kustomization.yaml"), []byte("images: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "--quiet", "--all", "--message", "break it")
	git(t, dir, "push", "--quiet", "origin", "main")
	to := e.sb.World().Now().Add(g.SyncInterval)
	err := e.sb.AdvanceTo(context.Background(), to)
	if err == nil || !strings.Contains(err.Error(), "gitops: read apps/shop at ") {
		t.Errorf("AdvanceTo over a broken tree: %v", err)
	}
	if now := e.sb.World().Now(); now.Before(to.Add(-15 * time.Second)) {
		t.Errorf("the world stopped at %s", now)
	}
	if status, _ := syncRevision(t, e); status != "Unknown" {
		t.Errorf("Application sync %s, want Unknown", status)
	}
	if img := checkoutImage(t, e); img != "registry.example.com/shop/checkout:1.5.0" {
		t.Errorf("checkout runs %s", img)
	}
}

// skipLongUnderRace skips a long simulation (syncs over simulated
// minutes) under the race detector, saying so: make test runs it in its
// own step without it (make test-accuracy), and the GitOps flow's
// concurrency is checked under the detector end to end by internal/app's
// TestGitOpsRollbackIsAPullRequest against a live sandbox.
func skipLongUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("!!! a long GitOps simulation: not run under the race detector; make test runs it in its own step (make test-accuracy)")
	}
}
