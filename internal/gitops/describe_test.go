package gitops_test

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

func TestDescribe(t *testing.T) {
	flux := func(name string) map[string]string {
		return map[string]string{"kustomize.toolkit.fluxcd.io/name": name, "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
	}
	helm := func(name string) map[string]string {
		return map[string]string{"helm.toolkit.fluxcd.io/name": name, "helm.toolkit.fluxcd.io/namespace": "shop"}
	}
	pod := func(owners []metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-7f9c-abcde", OwnerReferences: owners}}
	}
	for _, tc := range []struct {
		name      string
		obj       metav1.Object
		noClient  bool
		forbidRS  bool
		want      string
		wantOwned bool
	}{
		{name: "argo", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "shop"}, nil)}, wantOwned: true,
			want: "Managed by: Argo CD Application argocd/shop — repo https://git.example.com/shop.git, path apps/shop, revision main (changes are made by pull request)"},
		{name: "a pod, through its ReplicaSet and Deployment", obj: pod(controller("apps/v1", "ReplicaSet", "cart-7f9c")), wantOwned: true,
			want: "Managed by: Argo CD Application argocd/shop — repo https://git.example.com/shop.git, path apps/shop, revision main (changes are made by pull request)"},
		{name: "a pod without a client to walk its owners", obj: pod(controller("apps/v1", "ReplicaSet", "cart-7f9c")), noClient: true},
		{name: "a pod whose ReplicaSet cannot be read", obj: pod(controller("apps/v1", "ReplicaSet", "cart-7f9c")), forbidRS: true, wantOwned: true,
			want: `Managed by: could not tell whether a GitOps tool owns it — find the GitOps owner of ReplicaSet shop/cart-7f9c: replicasets.apps "cart-7f9c" is forbidden: no`},
		{name: "flux, default branch and root", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", flux("root"), nil)}, wantOwned: true,
			want: "Managed by: Flux Kustomization flux-system/root — repo https://git.example.com/shop.git, the repository's root, revision main (changes are made by pull request)"},
		{name: "argo HEAD, helm", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "bare-helm"}, nil)}, wantOwned: true,
			want: "Managed by: Argo CD Application argocd/bare-helm — repo https://git.example.com/charts.git, path charts/cart, revision main, Helm values values.yaml (changes are made by pull request)"},
		{name: "argo, the default branch", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "head"}, nil)}, wantOwned: true,
			want: "Managed by: Argo CD Application argocd/head — repo https://git.example.com/shop.git, path apps/shop, the default branch (changes are made by pull request)"},
		{name: "flux helm release", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", helm("cart"), nil)}, wantOwned: true,
			want: "Managed by: Flux HelmRelease shop/cart — repo https://git.example.com/charts.git, path charts/cart, revision main, Helm values values.yaml (changes are made by pull request)"},
		{name: "source unreadable", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", helm("versioned"), nil)}, wantOwned: true,
			want: "Managed by: Flux HelmRelease shop/versioned — its source could not be read: unsupported source: Flux rebuilds the chart charts/cart only when the version in its Chart.yaml changes " +
				"(spec.chart.spec.reconcileStrategy (none)), so a change to its values alone would never be deployed: set reconcileStrategy: Revision, or make the change with a version bump by hand " +
				"(a change made directly to the object may be reverted when Flux HelmRelease shop/versioned next syncs)"},
		{name: "owner missing", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "ghost"}, nil)}, wantOwned: true,
			want: "Managed by: Argo CD Application argocd/ghost — its source could not be read: Application ghost not found in namespace argocd: is gitops.argocd_namespace right? " +
				"Or the workload's label is stale: the Application was deleted or renamed: applications.argoproj.io \"ghost\" not found " +
				"(a change made directly to the object may be reverted when Argo CD Application argocd/ghost next syncs)"},
		{name: "not owned", obj: &appsv1.Deployment{ObjectMeta: meta("shop", "agent", nil, nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := workloads()
			if tc.forbidRS {
				c.PrependReactor("get", "replicasets", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "cart-7f9c", errors.New("no"))
				})
			}
			d := gitops.Describer{Resolver: gitops.Resolver{Dynamic: resolver(gitopsObjects()...)}, Client: c}
			if tc.noClient {
				d.Client = nil
			}
			got, owned := d.Describe(context.Background(), tc.obj)
			if got != tc.want || owned != tc.wantOwned {
				t.Errorf("Describe =\n%q, %v\nwant\n%q, %v", got, owned, tc.want, tc.wantOwned)
			}
		})
	}
}

// kube_describe takes the Describer as it is.
var _ kube.GitOpsDescriber = gitops.Describer{}
