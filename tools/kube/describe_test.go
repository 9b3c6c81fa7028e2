package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// ownerLabels is a GitOpsDescriber that owns what carries an "owner"
// label, and remembers what it was asked about.
type ownerLabels struct{ asked *[]string }

func (o ownerLabels) Describe(_ context.Context, obj metav1.Object) (string, bool) {
	*o.asked = append(*o.asked, obj.GetNamespace()+"/"+obj.GetName())
	owner, ok := obj.GetLabels()["owner"]
	if !ok {
		return "", false
	}
	return "Managed by: " + owner + " — repo https://git.example.com/shop.git,\npath apps/shop", true
}

// kube_describe says which GitOps object owns what it describes, right
// under the headline, for the kinds GitOps applies.
func TestDescribeNamesTheGitOpsOwner(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	owned := map[string]string{"app": "cart", "owner": "Argo CD Application argocd/shop"}
	c := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", Labels: owned},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cart-1", Namespace: "shop", Labels: map[string]string{"owner": "Flux Kustomization flux-system/shop"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", Labels: owned}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: owned}},
	)
	for _, tc := range []struct {
		name, args string
		noGitOps   bool
		// line is the GitOps line, "" for none; it must come right under
		// the headline, which starts with headline.
		line, headline string
		asked          []string
	}{
		{name: "owned deployment", args: `{"kind": "deployments", "name": "cart"}`, asked: []string{"shop/cart"}, headline: "Deployment shop/cart —",
			line: "Managed by: Argo CD Application argocd/shop — repo https://git.example.com/shop.git, path apps/shop"},
		{name: "owned pod", args: `{"kind": "pods", "name": "cart-1"}`, asked: []string{"shop/cart-1"}, headline: "Pod shop/cart-1 —",
			line: "Managed by: Flux Kustomization flux-system/shop — repo https://git.example.com/shop.git, path apps/shop"},
		{name: "owned service", args: `{"kind": "services", "name": "cart"}`, asked: []string{"shop/cart"}, headline: "Service shop/cart —",
			line: "Managed by: Argo CD Application argocd/shop — repo https://git.example.com/shop.git, path apps/shop"},
		{name: "not owned", args: `{"kind": "deployments", "name": "agent"}`, asked: []string{"shop/agent"}},
		{name: "a node is not asked about", args: `{"kind": "nodes", "name": "node-1"}`},
		{name: "no GitOps configured", args: `{"kind": "deployments", "name": "cart"}`, noGitOps: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			cfg := kube.Config{Client: c, Namespace: "shop", Now: func() time.Time { return now }}
			if !tc.noGitOps {
				cfg.GitOps = ownerLabels{&asked}
			}
			res := run(t, byName(kube.Tools(cfg))["kube_describe"], tc.args)
			if res.Error != "" {
				t.Fatalf("kube_describe: %s", res.Error)
			}
			lines := strings.Split(res.Text, "\n")
			if tc.line == "" {
				if strings.Contains(res.Text, "Managed by") {
					t.Errorf("a line about an owner that is not there:\n%s", res.Text)
				}
			} else if i := indexOf(lines, tc.line); i < 1 || !strings.HasPrefix(lines[i-1], tc.headline) {
				t.Errorf("want %q on one line, right under the headline:\n%s", tc.line, res.Text)
			}
			if strings.Join(asked, ",") != strings.Join(tc.asked, ",") {
				t.Errorf("asked about %v, want %v", asked, tc.asked)
			}
		})
	}
}

func indexOf(lines []string, line string) int {
	for i, l := range lines {
		if l == line {
			return i
		}
	}
	return -1
}
