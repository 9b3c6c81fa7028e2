package kube_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// propose runs an action tool and returns its proposal.
func propose(t *testing.T, tl tools.Tool, args string) *tools.Proposal {
	t.Helper()
	res := run(t, tl, args)
	if res.Proposal == nil {
		t.Fatalf("%s %s: no proposal: %s %s", tl.Spec().Name, args, res.Error, res.Text)
	}
	return res.Proposal
}

func apply(t *testing.T, tl tools.Tool, p *tools.Proposal) (string, error) {
	t.Helper()
	res, err := tl.(tools.Applier).Apply(context.Background(), *p)
	return res.Text, err
}

// Proposals are server-side dry runs with the exact change; nothing moves
// until Apply, which refuses when the object changed meanwhile and waits
// for the rollout it started.
func TestActionsAgainstARealCluster(t *testing.T) {
	k := testserver.SharedKubernetes(t)
	ns := k.Namespace(t, "shop")
	ctx := context.Background()
	c := k.Client
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("cart", "shop/cart:v1", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(n int32) func() bool {
		return func() bool {
			d, err := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
			return err == nil && d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n
		}
	}
	waitFor(t, "cart to run", ready(2))
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Image = "shop/cart:v2-bad"
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bad deploy", func() bool {
		d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return d.Annotations["deployment.kubernetes.io/revision"] == "2" && ready(2)()
	})
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, MaxReplicas: 10,
		RolloutTimeout: time.Minute}))
	for _, tool := range tl {
		if !tool.Spec().Mutating {
			t.Errorf("%s is not declared mutating", tool.Spec().Name)
		}
	}

	// Rollback: the proposal names the revision and the image change, and
	// changes nothing.
	undo := propose(t, tl["kube_rollout_undo"], `{"name": "cart", "reason": "errors since the v2-bad deploy"}`)
	if !strings.Contains(undo.Summary, "from revision 2 to revision 1 (shop/cart:v1)") ||
		!strings.Contains(undo.Details, "cart image shop/cart:v2-bad → shop/cart:v1") || !strings.Contains(undo.Details, "dry run: accepted") {
		t.Errorf("undo proposal: %+v", undo)
	}
	if d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{}); d.Spec.Template.Spec.Containers[0].Image != "shop/cart:v2-bad" {
		t.Fatal("proposing changed the deployment")
	}
	out, err := apply(t, tl["kube_rollout_undo"], undo)
	if err != nil || !strings.Contains(out, "rolled back to revision 1; rollout complete: 2/2 available") {
		t.Fatalf("undo: %q, %v", out, err)
	}
	if d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{}); d.Spec.Template.Spec.Containers[0].Image != "shop/cart:v1" {
		t.Errorf("after undo the image is %s", d.Spec.Template.Spec.Containers[0].Image)
	}

	// Scale: bounds, dry run, and a stale proposal refused.
	res := run(t, tl["kube_scale"], `{"name": "cart", "replicas": 40, "reason": "load"}`)
	if !strings.Contains(res.Error, "40 replicas is above kubernetes.max_replicas (10)") {
		t.Errorf("scale beyond bounds: %+v", res)
	}
	scale := propose(t, tl["kube_scale"], `{"name": "cart", "replicas": 3, "reason": "CPU saturation"}`)
	if !strings.Contains(scale.Summary, "from 2 to 3 replicas") || !strings.Contains(scale.Details, "+ spec.replicas: 3") {
		t.Errorf("scale proposal: %+v", scale)
	}
	restart := propose(t, tl["kube_rollout_restart"], `{"name": "cart", "reason": "leak"}`)
	out, err = apply(t, tl["kube_scale"], scale)
	if err != nil || !strings.Contains(out, "scaled to 3; rollout complete: 3/3") {
		t.Fatalf("scale: %q, %v", out, err)
	}
	// The restart was proposed before the scale changed the spec: stale.
	if _, err := apply(t, tl["kube_rollout_restart"], restart); err == nil || !strings.Contains(err.Error(), "changed since this was proposed") {
		t.Errorf("stale restart: %v", err)
	}
	restart = propose(t, tl["kube_rollout_restart"], `{"name": "cart", "reason": "leak"}`)
	if out, err := apply(t, tl["kube_rollout_restart"], restart); err != nil || !strings.Contains(out, "restart started; rollout complete: 3/3") {
		t.Errorf("restart: %q, %v", out, err)
	}

	// Delete a pod: only the pod that was proposed.
	pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=cart"})
	var victim string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			victim = p.Name
		}
	}
	del := propose(t, tl["kube_delete_pod"], `{"name": "`+victim+`", "reason": "stuck"}`)
	if !strings.Contains(del.Summary, "owned by ReplicaSet/") {
		t.Errorf("delete proposal: %+v", del)
	}
	if out, err := apply(t, tl["kube_delete_pod"], del); err != nil || out != "pod deleted" {
		t.Errorf("delete: %q, %v", out, err)
	}
	if _, err := apply(t, tl["kube_delete_pod"], del); err == nil || !strings.Contains(err.Error(), "not the one proposed any more") {
		t.Errorf("second delete: %v", err)
	}

	// Cordon and a CronJob. The node is the shared control plane's only
	// one: the tests after this one schedule pods on it again.
	t.Cleanup(func() {
		if _, err := c.CoreV1().Nodes().Patch(context.Background(), k.Node, types.StrategicMergePatchType,
			[]byte(`{"spec":{"unschedulable":false}}`), metav1.PatchOptions{}); err != nil {
			t.Errorf("uncordon %s: %v", k.Node, err)
		}
	})
	cordon := propose(t, tl["kube_cordon"], `{"name": "`+k.Node+`", "reason": "disk pressure"}`)
	if out, err := apply(t, tl["kube_cordon"], cordon); err != nil || !strings.Contains(out, "unschedulable=true") {
		t.Errorf("cordon: %q, %v", out, err)
	}
	if n, _ := c.CoreV1().Nodes().Get(ctx, k.Node, metav1.GetOptions{}); !n.Spec.Unschedulable {
		t.Error("node not cordoned")
	}
	if res := run(t, tl["kube_cordon"], `{"name": "`+k.Node+`", "reason": "again"}`); !strings.Contains(res.Error, "already cordoned") {
		t.Errorf("cordon twice: %+v", res)
	}
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: ns}, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "r", Image: "report:v1"}}}}}}}}
	if _, err := c.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sus := propose(t, tl["kube_suspend_cronjob"], `{"name": "report", "reason": "it floods the DB"}`)
	if out, err := apply(t, tl["kube_suspend_cronjob"], sus); err != nil || !strings.Contains(out, "suspend=true") {
		t.Errorf("suspend: %q, %v", out, err)
	}

	// The API server's validation is part of the dry run: a proposal the
	// server would reject is never offered.
	res = run(t, tl["kube_rollout_restart"], `{"name": "ghost", "reason": "x"}`)
	if !strings.Contains(res.Error, "not found") || res.Proposal != nil {
		t.Errorf("restart of a missing deployment: %+v", res)
	}

	// Without write permission the cluster's RBAC is the last word.
	viewer, _ := kubernetes.NewForConfig(k.As("viewer"))
	vt := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: viewer, Namespace: ns}}))
	raw, _ := json.Marshal(map[string]any{"name": "cart", "reason": "x"})
	if res, _ := vt["kube_rollout_restart"].Run(ctx, raw); !strings.Contains(res.Error, "forbidden") {
		t.Errorf("proposal without RBAC: %+v", res)
	}
	if _, err := apply(t, vt["kube_rollout_restart"], restart); err == nil || !strings.Contains(err.Error(), "RBAC refused") {
		t.Errorf("apply without RBAC: %v", err)
	}
}

// With impersonation an approved change runs as the approver, and the
// cluster's RBAC decides: alice has no write role, bob has the shipped one.
func TestImpersonationLetsRBACDecide(t *testing.T) {
	k, c, ns := startShop(t, 1)
	ctx := context.Background()
	bindActionsRole(t, c, ns, "bob")
	bob, _ := kubernetes.NewForConfig(k.As("bob"))
	waitFor(t, "bob's role to take effect", func() bool {
		_, err := bob.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return err == nil
	})
	// Watchkeeper's own identity only reads (the chart's impersonation
	// setup): proposals cannot be dry-run with it and go ahead, saying so.
	applyReadRole(t, c)
	self, _ := kubernetes.NewForConfig(k.As("watchkeeper"))
	waitFor(t, "the read role to take effect", func() bool {
		_, err := self.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return err == nil
	})
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: self, Namespace: ns}, RolloutTimeout: 30 * time.Second,
		Impersonate: kube.Impersonating(k.Admin, map[string]string{"UALICE": "alice", "UBOB": "bob"}, nil)}))
	p := propose(t, tl["kube_rollout_restart"], `{"name": "cart", "reason": "leak"}`)
	if !strings.Contains(p.Details, "made as the approver, whose RBAC decides") {
		t.Errorf("proposal details do not say the dry run was skipped: %q", p.Details)
	}
	if sc := propose(t, tl["kube_scale"], `{"name": "cart", "replicas": 2, "reason": "load"}`); !strings.Contains(sc.Details, "whose RBAC decides") {
		t.Errorf("scale proposal details: %q", sc.Details)
	}
	// Other API errors still stop a proposal.
	if res := run(t, tl["kube_rollout_restart"], `{"name": "ghost", "reason": "x"}`); res.Proposal != nil || !strings.Contains(res.Error, "not found") {
		t.Errorf("restart of a missing deployment with impersonation: %+v", res)
	}
	applyAs := func(approver string) (string, error) {
		res, err := tl["kube_rollout_restart"].(tools.Applier).Apply(tools.WithApprover(ctx, approver), *p)
		return res.Text, err
	}
	if _, err := applyAs("UALICE"); err == nil || !strings.Contains(err.Error(), "RBAC refused") || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("alice: %v", err)
	}
	if _, err := applyAs("UNOBODY"); err == nil || !strings.Contains(err.Error(), "no Kubernetes user is configured") {
		t.Errorf("unmapped approver: %v", err)
	}
	if out, err := applyAs("UBOB"); err != nil || !strings.Contains(out, "restart started") {
		t.Errorf("bob: %q, %v", out, err)
	}
}

// bindActionsRole creates rbac-actions.yaml's Role in namespace ns (the
// manifest's example is shop) and binds it to user.
func bindActionsRole(t *testing.T, c kubernetes.Interface, ns, user string) {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/kubernetes/rbac-actions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(raw)), 4096)
	ctx := context.Background()
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatal("no Role in rbac-actions.yaml")
		}
		if obj["kind"] != "Role" {
			continue
		}
		b, _ := json.Marshal(obj)
		var role rbacv1.Role
		if err := json.Unmarshal(b, &role); err != nil {
			t.Fatal(err)
		}
		role.Namespace = ns
		if _, err := c.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "actions-" + user, Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
		if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
}

// Five simultaneous executions of one approved proposal against the real
// cluster act once: the store's transition is the gate.
func TestExactlyOnceAgainstARealCluster(t *testing.T) {
	_, c, ns := startShop(t, 1)
	ctx := context.Background()
	reg, err := tools.NewRegistry(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, RolloutTimeout: 30 * time.Second})...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := approval.New(s, reg, approval.Options{})
	tl, _ := reg.Get("kube_rollout_restart")
	res := run(t, tl, `{"name": "cart", "reason": "leak"}`)
	p, err := svc.Propose(ctx, "c", *res.Proposal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decide(ctx, p.ID, "UADMIN", true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, conflict atomic.Int32
	for range 5 {
		wg.Go(func() {
			_, err := svc.Execute(ctx, p.ID, "UADMIN")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflict.Add(1)
			default:
				t.Errorf("execute: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 4 {
		t.Errorf("%d executions, %d refused", ok.Load(), conflict.Load())
	}
	rss, _ := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=cart"})
	if len(rss.Items) != 2 {
		t.Errorf("%d ReplicaSets after one restart; want 2", len(rss.Items))
	}
	audit, _ := s.ListAudit(ctx, 50)
	executed := 0
	for _, e := range audit {
		if e.Action == "execute" && e.Outcome == store.ProposalExecuted {
			executed++
		}
	}
	if executed != 1 {
		t.Errorf("audit shows %d executions", executed)
	}
}

// Verification compares the key metric before and after; when worse, it
// proposes the way back (a scale back, a rollback) — never acts itself.
func TestVerificationProposesTheWayBack(t *testing.T) {
	_, c, ns := startShop(t, 2)
	ctx := context.Background()
	applied := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	var queries []string
	before, after := 0.01, 0.2
	mean := func(_ context.Context, q string, start, end time.Time) (float64, error) {
		queries = append(queries, q)
		if end.Equal(applied) {
			return before, nil
		}
		return after, nil
	}
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, RolloutTimeout: 30 * time.Second,
		Verify: &kube.Verification{Name: "error ratio", Query: `errors{namespace="$namespace", service="$name"}`, Window: 5 * time.Minute, Mean: mean}}))
	scale := propose(t, tl["kube_scale"], `{"name": "cart", "replicas": 3, "reason": "load"}`)
	if _, err := apply(t, tl["kube_scale"], scale); err != nil {
		t.Fatal(err)
	}
	v := tl["kube_scale"].(tools.Verifier)
	if d := v.VerifyAfter(*scale); d != 5*time.Minute {
		t.Errorf("verify after %s", d)
	}
	res, err := v.Verify(ctx, *scale, applied)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Worse || !strings.Contains(res.Text, "error ratio of "+ns+"/cart: 0.01 in the 5m0s before, 0.2 in the 5m0s after") ||
		queries[0] != `errors{namespace="`+ns+`", service="cart"}` {
		t.Errorf("verification: %+v (queries %v)", res, queries)
	}
	if res.Rollback == nil || res.Rollback.Tool != "kube_scale" || !strings.Contains(res.Rollback.Summary, "from 3 to 2 replicas") ||
		!strings.Contains(res.Rollback.Details, "error ratio got worse") {
		t.Fatalf("rollback: %+v", res.Rollback)
	}
	// The way back is only a proposal: nothing moved.
	if d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{}); *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d after verifying", *d.Spec.Replicas)
	}
	// Better: no rollback offered.
	before, after = 0.2, 0.01
	res, _ = v.Verify(ctx, *scale, applied)
	if res.Worse || res.Rollback != nil || !strings.HasSuffix(res.Text, ": better") {
		t.Errorf("better: %+v", res)
	}
	// Cordon and pod deletion are not verified.
	if d := tl["kube_cordon"].(tools.Verifier).VerifyAfter(tools.Proposal{}); d != 0 {
		t.Errorf("cordon verified after %s", d)
	}
}

// A remediation plan is proposed one step at a time: the first step now,
// the next only after the applied step was checked and did not help.
func TestRemediationPlanStepByStep(t *testing.T) {
	_, c, ns := startShop(t, 2)
	ctx := context.Background()
	flat := func(context.Context, string, time.Time, time.Time) (float64, error) { return 0.3, nil }
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, MaxReplicas: 10, RolloutTimeout: 30 * time.Second,
		Verify: &kube.Verification{Name: "CPU saturation", Query: "cpu", Window: time.Minute, Mean: flat}}))
	plan := tl["kube_remediate"]

	// A bad-change plan needs an earlier revision: there is none yet.
	res := run(t, plan, `{"name": "cart", "signature": "change", "reason": "errors since the deploy"}`)
	if !strings.Contains(res.Error, "no step of the change plan applies") || !strings.Contains(res.Error, "no earlier revision") {
		t.Errorf("change plan without history: %+v", res)
	}
	first := propose(t, plan, `{"name": "cart", "signature": "cpu", "reason": "CPU saturated since 14:02"}`)
	if !strings.HasPrefix(first.Summary, "Step 1 of the cpu plan: Scale deployment "+ns+"/cart from 2 to 4 replicas") ||
		!strings.Contains(first.Details, "→ 1. double the replicas") || !strings.Contains(first.Details, "  2. double the replicas again") ||
		!strings.Contains(first.Details, "  3. restart the pods") {
		t.Errorf("first step: %+v", first)
	}
	out, err := apply(t, plan, first)
	if err != nil || !strings.Contains(out, "scaled to 4") {
		t.Fatalf("apply step 1: %q, %v", out, err)
	}
	v := plan.(tools.Verifier)
	got, err := v.Verify(ctx, *first, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Worse || got.Next == nil || !strings.HasPrefix(got.Next.Summary, "Step 2 of the cpu plan: Scale deployment "+ns+"/cart from 4 to 8 replicas") {
		t.Fatalf("after an unhelpful step: %+v", got)
	}
	if _, err := apply(t, plan, got.Next); err != nil {
		t.Fatal(err)
	}
	got, err = v.Verify(ctx, *got.Next, time.Now())
	if err != nil || got.Next == nil || !strings.HasPrefix(got.Next.Summary, "Step 3 of the cpu plan: Restart deployment "+ns+"/cart") {
		t.Fatalf("after the second unhelpful step: %+v, %v", got, err)
	}
	if _, err := apply(t, plan, got.Next); err != nil {
		t.Fatal(err)
	}
	last, _ := v.Verify(ctx, *got.Next, time.Now())
	if last.Next != nil || !strings.Contains(last.Text, "the plan's last step") {
		t.Errorf("after the last step: %+v", last)
	}
}

// A step that made the metric better is done only when the metric ended
// the check at or below the objective; better but still failing, the
// plan goes on. Judged on the window's last minute, so a fix's own
// transition does not count against it.
func TestVerifyHoldsAFixToTheObjective(t *testing.T) {
	_, c, ns := startShop(t, 2)
	ctx := context.Background()
	applied := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	const noSaturationCheck = -1.0
	tests := []struct {
		name      string
		objective float64
		// after is the error ratio over the window after the change (0.3
		// before); end over its last minute; cpu the CPU use over the
		// limit over that last minute.
		after, end, cpu float64
		want            string
		next            bool
	}{
		{"fixed, no objective", 0, 0.05, 0.05, noSaturationCheck, ": better", false},
		{"fixed to the objective", 0.01, 0.04, 0.005, noSaturationCheck, ": better", false},
		{"better but above the objective", 0.01, 0.1, 0.08, noSaturationCheck, ": better, but still above the objective (0.08 in the last 1m0s, objective 0.01)", true},
		{"no data at the end", 0.01, 0.1, math.NaN(), noSaturationCheck, ": better, but still above the objective (no data in the last 1m0s, objective 0.01)", true},
		{"unchanged", 0.01, 0.3, 0.3, noSaturationCheck, ": unchanged", true},
		{"errors fixed, CPU no longer saturated", 0.01, 0.04, 0.005, 0.55, "(cpu-of-cart): not saturated", false},
		{"errors fixed, CPU still at its limit", 0.01, 0.04, 0.005, 0.97, "CPU use of the limit of " + ns + "/cart: 0.97 in the last 1m0s, objective 0.8 (cpu-of-cart): still saturated", true},
		{"errors better but above, CPU fine", 0.01, 0.1, 0.08, 0.5, ": not saturated", true},
		{"no CPU data", 0.01, 0.04, 0.005, math.NaN(), ": no data in the last 1m0s, objective 0.8 (cpu-of-cart): still saturated", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mean := func(_ context.Context, q string, start, end time.Time) (float64, error) {
				last := start.Equal(applied.Add(4*time.Minute)) && end.Equal(applied.Add(5*time.Minute))
				switch {
				case q == "cpu-of-cart" && last:
					return tt.cpu, nil
				case q != "errors":
				case end.Equal(applied):
					return 0.3, nil // before
				case start.Equal(applied):
					return tt.after, nil
				case last:
					return tt.end, nil
				}
				return 0, fmt.Errorf("unexpected query %q over %s..%s", q, start, end)
			}
			cfg := kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, MaxReplicas: 10,
				Verify: &kube.Verification{Name: "error ratio", Query: "errors", Window: 5 * time.Minute, Objective: tt.objective, Mean: mean}}
			if tt.cpu != noSaturationCheck {
				cfg.Saturation = &kube.Verification{Name: "CPU use of the limit", Query: "cpu-of-$name", Objective: 0.8, Mean: mean}
			}
			plan := byName(kube.ActionTools(cfg))["kube_remediate"]
			first := propose(t, plan, `{"name": "cart", "signature": "cpu", "reason": "CPU saturated"}`)
			got, err := plan.(tools.Verifier).Verify(ctx, *first, applied)
			if err != nil {
				t.Fatal(err)
			}
			verdict := got.Text
			if i := strings.Index(verdict, "; the next step"); i >= 0 {
				verdict = verdict[:i]
			} else if i := strings.Index(verdict, "; Step"); i >= 0 {
				verdict = verdict[:i]
			}
			if !strings.HasSuffix(verdict, tt.want) || (got.Next != nil) != tt.next || got.Worse {
				t.Errorf("got %+v; want the verdict %q, next step %v", got, tt.want, tt.next)
			}
		})
	}
}

// startShop makes, on the package's shared control plane, a namespace for
// the test (shop-N) with a running deployment "cart" of n replicas.
func startShop(t *testing.T, n int32) (*testserver.Kubernetes, kubernetes.Interface, string) {
	t.Helper()
	k := testserver.SharedKubernetes(t)
	ns := k.Namespace(t, "shop")
	ctx := context.Background()
	c := k.Client
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("cart", "shop/cart:v1", n), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cart to run", func() bool {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == n
	})
	return k, c, ns
}
