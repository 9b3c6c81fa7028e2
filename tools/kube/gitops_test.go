package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// fakeGitOps owns the workloads named in owned; Propose returns a pull
// request proposal describing the change, or fails with err.
type fakeGitOps struct {
	owned  map[string]string
	accept map[string]bool
	err    error

	mu      sync.Mutex
	changes []gitops.Change
}

func (f *fakeGitOps) Owner(_ context.Context, w gitops.Workload) (string, error) {
	return f.owned[w.Name], nil
}

func (f *fakeGitOps) AcceptsDrift(action string) bool { return f.accept[action] }

func (f *fakeGitOps) Propose(_ context.Context, ch gitops.Change, summary, reason string) (*tools.Proposal, error) {
	f.mu.Lock()
	f.changes = append(f.changes, ch)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &tools.Proposal{Tool: "gitops_pull_request", Summary: "Pull request: " + summary, Reason: reason, Args: json.RawMessage(`{"branch":"watchkeeper/x"}`),
		Details: fmt.Sprintf("%s %s/%s %s image=%s from=%s replicas=%d", ch.Kind, ch.Workload.Namespace, ch.Workload.Name, ch.Container, ch.Image, ch.From, ch.Replicas)}, nil
}

// Apply, VerifyAfter and Verify record what they were handed.
func (f *fakeGitOps) Apply(_ context.Context, p tools.Proposal) (tools.Result, error) {
	return tools.Text("opened a pull request for " + string(p.Args)), nil
}

func (f *fakeGitOps) VerifyAfter(tools.Proposal) time.Duration { return 42 * time.Second }

func (f *fakeGitOps) Verify(_ context.Context, p tools.Proposal, _ time.Time) (tools.Verification, error) {
	return tools.Verification{Text: "followed " + string(p.Args), Again: time.Minute}, nil
}

// A workload its GitOps owner would put back is changed by pull request:
// each action becomes the change of desired state it means; a direct
// change is proposed only where the team accepts drift, and refused when
// applied otherwise — even a proposal made before the workload was owned.
func TestGitOpsOwnedWorkloadsChangeByPullRequest(t *testing.T) {
	_, c, ns := startShop(t, 2)
	ctx := context.Background()
	// A second revision to roll back from.
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "shop/cart:v2"
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "revision 2", func() bool {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return err == nil && d.Annotations["deployment.kubernetes.io/revision"] == "2" && d.Status.ObservedGeneration == d.Generation &&
			d.Status.UpdatedReplicas == 2 && d.Status.ReadyReplicas == 2 && d.Status.Replicas == 2
	})
	g := &fakeGitOps{owned: map[string]string{"cart": "Argo CD Application argocd/shop"}, accept: map[string]bool{}}
	cfg := kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, MaxReplicas: 10, RolloutTimeout: 30 * time.Second, GitOps: g}
	tl := byName(kube.ActionTools(cfg))

	// Proposed before the owner took over: applying it now is refused.
	unowned := &fakeGitOps{owned: map[string]string{}}
	early := propose(t, byName(kube.ActionTools(kube.ActionConfig{Config: cfg.Config, MaxReplicas: 10, GitOps: unowned}))["kube_scale"],
		`{"name": "cart", "replicas": 3, "reason": "load"}`)
	if early.Tool != "kube_scale" {
		t.Fatalf("an unowned workload's scale: %+v", early)
	}
	if _, err := apply(t, tl["kube_scale"], early); err == nil || !strings.Contains(err.Error(), "managed by Argo CD Application argocd/shop") ||
		!strings.Contains(err.Error(), "nothing was done") {
		t.Errorf("direct scale of an owned workload: %v", err)
	}

	for _, tc := range []struct {
		tool, args, want string
	}{
		{"kube_rollout_undo", `{"name": "cart", "reason": "errors since v2"}`, "image " + ns + "/cart cart image=shop/cart:v1 from=shop/cart:v2"},
		{"kube_scale", `{"name": "cart", "replicas": 4, "reason": "load"}`, "replicas " + ns + "/cart  image= from= replicas=4"},
		{"kube_rollout_restart", `{"name": "cart", "reason": "stuck"}`, "restart " + ns + "/cart"},
		{"kube_remediate", `{"name": "cart", "signature": "change", "reason": "errors since v2"}`, "image " + ns + "/cart cart image=shop/cart:v1"},
	} {
		p := propose(t, tl[tc.tool], tc.args)
		if p.Tool != tc.tool || !strings.HasPrefix(p.Summary, "Pull request: ") || !strings.Contains(p.Details, tc.want) || p.Reason == "" {
			t.Errorf("%s: %+v\nwant a pull request with %q", tc.tool, p, tc.want)
			continue
		}
		// The tool that proposed it carries it out and follows it, by
		// handing the pull request on.
		if out, err := apply(t, tl[tc.tool], p); err != nil || out != `opened a pull request for {"branch":"watchkeeper/x"}` {
			t.Errorf("%s: applying the pull request: %q, %v", tc.tool, out, err)
		}
		v := tl[tc.tool].(tools.Verifier)
		if got, err := v.Verify(ctx, *p, time.Now()); err != nil || got.Text != `followed {"branch":"watchkeeper/x"}` || v.VerifyAfter(*p) != 42*time.Second {
			t.Errorf("%s: following the pull request: %+v, %v, after %s", tc.tool, got, err, v.VerifyAfter(*p))
		}
	}

	// The team accepts drift for restarts: proposed directly, with the warning.
	g.accept["restart"] = true
	p := propose(t, tl["kube_rollout_restart"], `{"name": "cart", "reason": "stuck"}`)
	if p.Tool != "kube_rollout_restart" || !strings.Contains(p.Details, "Managed by Argo CD Application argocd/shop. This restart is made directly because gitops.accept_drift allows it") {
		t.Errorf("accepted drift: %+v", p)
	}

	// A pull request that cannot be prepared: nothing is proposed, and why.
	g.err = errors.New("no credentials for https://git.example.com/shop.git: add it to gitops.repositories")
	res := run(t, tl["kube_scale"], `{"name": "cart", "replicas": 4, "reason": "load"}`)
	if res.Proposal != nil || !strings.Contains(res.Error, "a pull request could not be prepared: no credentials") ||
		!strings.Contains(res.Error, "would revert it at its next sync") {
		t.Errorf("unpreparable pull request: %+v", res)
	}
}
