package gitops_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
)

func meta(ns, name string, labels, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations}
}

var (
	argoApp = func(ns, name string) gitops.Ref {
		return gitops.Ref{Tool: "argocd", Kind: "Application", Namespace: ns, Name: name}
	}
	fluxKs = func(ns, name string) gitops.Ref {
		return gitops.Ref{Tool: "flux", Kind: "Kustomization", Namespace: ns, Name: name}
	}
	fluxHelm = func(ns, name string) gitops.Ref {
		return gitops.Ref{Tool: "flux", Kind: "HelmRelease", Namespace: ns, Name: name}
	}
	trackedBy = "argocd.argoproj.io/tracking-id"
	instance  = "argocd.argoproj.io/instance"
)

func TestOwnerOf(t *testing.T) {
	flux := map[string]string{"kustomize.toolkit.fluxcd.io/name": "shop", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
	helm := map[string]string{"helm.toolkit.fluxcd.io/name": "cart", "helm.toolkit.fluxcd.io/namespace": "shop"}
	both := map[string]string{}
	for k, v := range flux {
		both[k] = v
	}
	for k, v := range helm {
		both[k] = v
	}
	for _, tc := range []struct {
		name string
		obj  metav1.Object
		want gitops.Ref
		ok   bool
	}{
		{"argo label", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "shop"}, nil)}, argoApp("", "shop"), true},
		{"argo label for an app in another namespace", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "team-a_shop"}, nil)},
			argoApp("team-a", "shop"), true},
		{"argo tracking annotation", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", nil, map[string]string{trackedBy: "shop:apps/Deployment:shop/cart"})},
			argoApp("", "shop"), true},
		{"argo tracking annotation, app in another namespace", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", nil,
			map[string]string{trackedBy: "team-a_shop:apps/Deployment:shop/cart"})}, argoApp("team-a", "shop"), true},
		{"argo annotation beats a disagreeing label", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{instance: "old-shop"},
			map[string]string{trackedBy: "shop:apps/Deployment:shop/cart"})}, argoApp("", "shop"), true},
		{"argo annotation copied from another object yields to the label", &appsv1.Deployment{ObjectMeta: meta("shop", "cart-copy",
			map[string]string{instance: "shop"}, map[string]string{trackedBy: "other:apps/Deployment:shop/cart"})}, argoApp("", "shop"), true},
		{"argo annotation copied from another namespace", &appsv1.Deployment{ObjectMeta: meta("staging", "cart", nil,
			map[string]string{trackedBy: "shop:apps/Deployment:shop/cart"})}, gitops.Ref{}, false},
		{"argo annotation for another kind", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet",
			"metadata": map[string]any{"namespace": "shop", "name": "cart", "annotations": map[string]any{trackedBy: "shop:apps/Deployment:shop/cart"}}}},
			gitops.Ref{}, false},
		{"argo annotation on an unstructured object of its kind", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"namespace": "shop", "name": "cart", "annotations": map[string]any{trackedBy: "shop:apps/Deployment:shop/cart"}}}},
			argoApp("", "shop"), true},
		{"argo annotation on a cluster-scoped object", &corev1.Namespace{ObjectMeta: meta("", "shop", nil,
			map[string]string{trackedBy: "platform:/Namespace:shop/shop"})}, argoApp("", "platform"), true},
		{"malformed argo annotation", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", nil, map[string]string{trackedBy: "shop"})}, gitops.Ref{}, false},
		{"app.kubernetes.io/instance is Helm's too, not read", &appsv1.Deployment{ObjectMeta: meta("shop", "cart",
			map[string]string{"app.kubernetes.io/instance": "cart"}, nil)}, gitops.Ref{}, false},
		{"flux kustomization", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", flux, nil)}, fluxKs("flux-system", "shop"), true},
		{"flux kustomization without its namespace label", &appsv1.Deployment{ObjectMeta: meta("shop", "cart",
			map[string]string{"kustomize.toolkit.fluxcd.io/name": "shop"}, nil)}, gitops.Ref{}, false},
		{"flux told to leave the object alone", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", flux,
			map[string]string{"kustomize.toolkit.fluxcd.io/reconcile": "disabled"})}, gitops.Ref{}, false},
		{"flux helm release", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", helm, nil)}, fluxHelm("shop", "cart"), true},
		{"helm release is nearer than the kustomization", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", both, nil)}, fluxHelm("shop", "cart"), true},
		{"flux is nearer than argo", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", flux, map[string]string{trackedBy: "shop:apps/Deployment:shop/cart"})},
			fluxKs("flux-system", "shop"), true},
		{"no owner", &appsv1.Deployment{ObjectMeta: meta("shop", "cart", map[string]string{"app": "cart"}, nil)}, gitops.Ref{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := gitops.OwnerOf(tc.obj)
			if got != tc.want || ok != tc.ok {
				t.Errorf("OwnerOf = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRefString(t *testing.T) {
	for _, tc := range []struct {
		ref  gitops.Ref
		want string
	}{
		{argoApp("argocd", "shop"), "Argo CD Application argocd/shop"},
		{argoApp("", "shop"), "Argo CD Application shop"},
		{fluxKs("flux-system", "shop"), "Flux Kustomization flux-system/shop"},
		{fluxHelm("shop", "cart"), "Flux HelmRelease shop/cart"},
	} {
		if got := tc.ref.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func controller(apiVersion, kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: &yes}}
}

// workloads is a small shop: an Argo-tracked Deployment with its
// ReplicaSet and Pod, a Flux StatefulSet, a plain DaemonSet, a CronJob's
// Job and Pod, and pods whose controllers Watchkeeper does not read.
func workloads() *fake.Clientset {
	tracked := map[string]string{instance: "shop"}
	withOwners := func(m metav1.ObjectMeta, refs []metav1.OwnerReference) metav1.ObjectMeta {
		m.OwnerReferences = refs
		return m
	}
	return fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: meta("shop", "cart", tracked, nil)},
		&appsv1.ReplicaSet{ObjectMeta: withOwners(meta("shop", "cart-7f9c", map[string]string{"app": "cart"}, nil), controller("apps/v1", "Deployment", "cart"))},
		&corev1.Pod{ObjectMeta: withOwners(meta("shop", "cart-7f9c-abcde", map[string]string{"app": "cart"}, nil), controller("apps/v1", "ReplicaSet", "cart-7f9c"))},
		&appsv1.StatefulSet{ObjectMeta: meta("shop", "db", map[string]string{"kustomize.toolkit.fluxcd.io/name": "shop", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, nil)},
		&appsv1.DaemonSet{ObjectMeta: meta("shop", "agent", nil, nil)},
		&batchv1.CronJob{ObjectMeta: meta("shop", "report", map[string]string{"helm.toolkit.fluxcd.io/name": "report", "helm.toolkit.fluxcd.io/namespace": "shop"}, nil)},
		&batchv1.Job{ObjectMeta: withOwners(meta("shop", "report-123", nil, nil), controller("batch/v1", "CronJob", "report"))},
		&corev1.Pod{ObjectMeta: withOwners(meta("shop", "report-123-xyz", nil, nil), controller("batch/v1", "Job", "report-123"))},
		&corev1.Pod{ObjectMeta: withOwners(meta("shop", "canary-abc", nil, nil), controller("argoproj.io/v1alpha1", "Rollout", "canary"))},
		&corev1.Pod{ObjectMeta: withOwners(meta("shop", "look-alike", nil, nil), controller("example.com/v1", "Deployment", "cart"))},
		&appsv1.ReplicaSet{ObjectMeta: withOwners(meta("shop", "loop", nil, nil), controller("apps/v1", "ReplicaSet", "loop"))},
	)
}

func TestOwnerOfWorkload(t *testing.T) {
	for _, tc := range []struct {
		kind, name string
		forbid     string // a resource the cluster refuses to show
		want       gitops.Ref
		ok         bool
		err        func(error) bool
	}{
		{kind: "Deployment", name: "cart", want: argoApp("", "shop"), ok: true},
		{kind: "Pod", name: "cart-7f9c-abcde", want: argoApp("", "shop"), ok: true},
		{kind: "ReplicaSet", name: "cart-7f9c", want: argoApp("", "shop"), ok: true},
		{kind: "StatefulSet", name: "db", want: fluxKs("flux-system", "shop"), ok: true},
		{kind: "Pod", name: "report-123-xyz", want: fluxHelm("shop", "report"), ok: true},
		{kind: "DaemonSet", name: "agent"},
		{kind: "Pod", name: "canary-abc"},
		{kind: "Pod", name: "look-alike"},
		{kind: "ReplicaSet", name: "loop"},
		{kind: "Pod", name: "ghost", err: apierrors.IsNotFound},
		{kind: "Pod", name: "cart-7f9c-abcde", forbid: "replicasets", err: apierrors.IsForbidden},
		{kind: "Service", name: "cart", err: func(err error) bool { return strings.Contains(err.Error(), `kind "Service" is not a workload`) }},
	} {
		t.Run(tc.kind+"/"+tc.name+"/"+tc.forbid, func(t *testing.T) {
			c := workloads()
			if tc.forbid != "" {
				c.PrependReactor("get", tc.forbid, func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: tc.forbid}, "", errors.New("no"))
				})
			}
			got, ok, err := gitops.OwnerOfWorkload(context.Background(), c, tc.kind, "shop", tc.name)
			if tc.err != nil {
				if err == nil || !tc.err(err) {
					t.Fatalf("err = %v, want one that passes the test", err)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.ok {
				t.Errorf("OwnerOfWorkload = %+v, %v, %v; want %+v, %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func obj(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"namespace": ns, "name": name}, "spec": spec}}
}

func app(ns, name string, spec map[string]any) *unstructured.Unstructured {
	return obj("argoproj.io/v1alpha1", "Application", ns, name, spec)
}

func gitRepo(ns, name string, ref map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"url": "https://git.example.com/" + name + ".git"}
	if ref != nil {
		spec["ref"] = ref
	}
	return obj("source.toolkit.fluxcd.io/v1", "GitRepository", ns, name, spec)
}

func kustomization(ns, name, path string, sourceRef map[string]any) *unstructured.Unstructured {
	return obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", ns, name, map[string]any{"path": path, "sourceRef": sourceRef})
}

func helmRelease(ns, name string, chart map[string]any, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"chart": map[string]any{"spec": chart}}
	for k, v := range extra {
		spec[k] = v
	}
	return obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", ns, name, spec)
}

// gitopsObjects is every Application, Kustomization, HelmRelease and
// GitRepository the Source tests read.
func gitopsObjects() []runtime.Object {
	src := func(repo, path, rev string) map[string]any {
		return map[string]any{"repoURL": repo, "path": path, "targetRevision": rev}
	}
	helmSrc := src("https://git.example.com/charts.git", "charts/cart", "v2")
	helmSrc["helm"] = map[string]any{"valueFiles": []any{"values.yaml", "values-prod.yaml"}}
	bareHelm := src("https://git.example.com/charts.git", "charts/cart", "main")
	bareHelm["helm"] = map[string]any{"releaseName": "cart"}
	chartSrc := map[string]any{"repoURL": "https://charts.example.com", "chart": "cart", "targetRevision": "1.2.3"}
	gitFlux := map[string]any{"kind": "GitRepository", "name": "charts"}
	return []runtime.Object{
		app("argocd", "shop", map[string]any{"source": src("https://git.example.com/shop.git", "apps/shop", "main")}),
		app("argocd", "head", map[string]any{"source": src("https://git.example.com/shop.git", "./apps/shop", "HEAD")}),
		app("argocd", "root", map[string]any{"source": map[string]any{"repoURL": "https://git.example.com/shop.git"}}),
		app("argocd", "helm", map[string]any{"source": helmSrc}),
		app("argocd", "bare-helm", map[string]any{"source": bareHelm}),
		app("argocd", "packaged", map[string]any{"source": chartSrc}),
		app("argocd", "oci", map[string]any{"source": src("oci://registry.example.com/shop", ".", "1.0.0")}),
		app("team-a", "shop", map[string]any{"source": src("https://git.example.com/team-a.git", "deploy", "prod")}),
		app("gitops", "shop", map[string]any{"source": src("https://git.example.com/gitops.git", "shop", "main")}),
		app("argocd", "multi-one", map[string]any{"source": src("https://git.example.com/ignored.git", "x", "x"),
			"sources": []any{src("https://git.example.com/shop.git", "apps/shop", "main")}}),
		app("argocd", "multi-two", map[string]any{"sources": []any{src("https://git.example.com/a.git", "a", "main"), src("https://git.example.com/b.git", "b", "main")}}),
		app("argocd", "multi-chart", map[string]any{"sources": []any{chartSrc, map[string]any{"repoURL": "https://git.example.com/values.git", "ref": "values"}}}),

		gitRepo("flux-system", "shop", map[string]any{"branch": "main"}),
		gitRepo("flux-system", "pinned-tag", map[string]any{"branch": "main", "tag": "v1.4.0"}),
		gitRepo("flux-system", "pinned-commit", map[string]any{"branch": "main", "tag": "v1.4.0", "commit": "0123abc"}),
		gitRepo("flux-system", "by-name", map[string]any{"name": "refs/heads/release", "branch": "main"}),
		gitRepo("flux-system", "releases", map[string]any{"semver": ">=1.0.0"}),
		gitRepo("flux-system", "no-ref", nil),
		gitRepo("shop", "charts", map[string]any{"branch": "main"}),
		kustomization("flux-system", "shop", "./apps/shop", map[string]any{"kind": "GitRepository", "name": "shop"}),
		kustomization("flux-system", "root", "./", map[string]any{"kind": "GitRepository", "name": "shop"}),
		kustomization("apps", "elsewhere", "apps/shop", map[string]any{"kind": "GitRepository", "name": "shop", "namespace": "flux-system"}),
		kustomization("apps", "same-namespace", "apps/shop", map[string]any{"kind": "GitRepository", "name": "shop"}),
		kustomization("flux-system", "tag", "apps", map[string]any{"kind": "GitRepository", "name": "pinned-tag"}),
		kustomization("flux-system", "commit", "apps", map[string]any{"kind": "GitRepository", "name": "pinned-commit"}),
		kustomization("flux-system", "by-name", "apps", map[string]any{"kind": "GitRepository", "name": "by-name"}),
		kustomization("flux-system", "semver", "apps", map[string]any{"kind": "GitRepository", "name": "releases"}),
		kustomization("flux-system", "no-ref", "apps", map[string]any{"kind": "GitRepository", "name": "no-ref"}),
		kustomization("flux-system", "oci", "apps", map[string]any{"kind": "OCIRepository", "name": "shop"}),
		helmRelease("shop", "cart", map[string]any{"chart": "./charts/cart", "sourceRef": gitFlux, "reconcileStrategy": "Revision"}, nil),
		helmRelease("shop", "files", map[string]any{"chart": "charts/cart", "sourceRef": gitFlux, "reconcileStrategy": "Revision",
			"valuesFiles": []any{"charts/cart/values-prod.yaml", "envs/prod/cart.yaml"}}, nil),
		helmRelease("shop", "inline", map[string]any{"chart": "charts/cart", "sourceRef": gitFlux, "reconcileStrategy": "Revision"},
			map[string]any{"values": map[string]any{"replicaCount": int64(2)}}),
		helmRelease("shop", "from", map[string]any{"chart": "charts/cart", "sourceRef": gitFlux, "reconcileStrategy": "Revision"},
			map[string]any{"valuesFrom": []any{map[string]any{"kind": "ConfigMap", "name": "cart-values"}}}),
		helmRelease("shop", "versioned", map[string]any{"chart": "charts/cart", "sourceRef": gitFlux}, nil),
		helmRelease("shop", "packaged", map[string]any{"chart": "cart", "version": "1.x", "sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts"}}, nil),
		helmRelease("shop", "bucket", map[string]any{"chart": "cart", "sourceRef": map[string]any{"kind": "Bucket", "name": "charts"}}, nil),
		obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "shop", "chart-ref", map[string]any{"chartRef": map[string]any{"kind": "OCIRepository", "name": "cart"}}),
		helmRelease("shop", "lost-repo", map[string]any{"chart": "charts/cart", "sourceRef": map[string]any{"kind": "GitRepository", "name": "gone"}, "reconcileStrategy": "Revision"}, nil),
	}
}

func resolver(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	gvr := func(group, version, resource string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gvr("argoproj.io", "v1alpha1", "applications"):             "ApplicationList",
		gvr("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"): "KustomizationList",
		gvr("helm.toolkit.fluxcd.io", "v2", "helmreleases"):        "HelmReleaseList",
		gvr("source.toolkit.fluxcd.io", "v1", "gitrepositories"):   "GitRepositoryList",
	}, objs...)
}

func TestSource(t *testing.T) {
	shop := gitops.Source{RepoURL: "https://git.example.com/shop.git", Revision: "main", Path: "apps/shop"}
	charts := "https://git.example.com/charts.git"
	for _, tc := range []struct {
		name    string
		ref     gitops.Ref
		argoNS  string
		want    gitops.Source
		wantErr []string // substrings, in order
		is      func(error) bool
	}{
		{name: "argo", ref: argoApp("", "shop"), want: shop},
		{name: "argo HEAD is the default branch", ref: argoApp("", "head"), want: gitops.Source{RepoURL: shop.RepoURL, Path: "apps/shop"}},
		{name: "argo without revision or path", ref: argoApp("", "root"), want: gitops.Source{RepoURL: shop.RepoURL}},
		{name: "argo helm value files", ref: argoApp("", "helm"),
			want: gitops.Source{RepoURL: charts, Revision: "v2", Path: "charts/cart", Helm: &gitops.HelmSource{ValueFiles: []string{"values.yaml", "values-prod.yaml"}}}},
		{name: "argo helm without value files", ref: argoApp("", "bare-helm"),
			want: gitops.Source{RepoURL: charts, Revision: "main", Path: "charts/cart", Helm: &gitops.HelmSource{}}},
		{name: "argo app in its own namespace", ref: argoApp("team-a", "shop"),
			want: gitops.Source{RepoURL: "https://git.example.com/team-a.git", Revision: "prod", Path: "deploy"}},
		{name: "argo's namespace configured", ref: argoApp("", "shop"), argoNS: "gitops",
			want: gitops.Source{RepoURL: "https://git.example.com/gitops.git", Revision: "main", Path: "shop"}},
		{name: "argo multi-source with one git source", ref: argoApp("", "multi-one"), want: shop},
		{name: "argo multi-source with two git sources", ref: argoApp("", "multi-two"),
			wantErr: []string{"Argo CD Application argocd/multi-two: unsupported source: multi-source Applications (here 2 git sources and 0 charts", "not supported yet"},
			is:      isUnsupported},
		{name: "argo multi-source chart with values from git", ref: argoApp("", "multi-chart"),
			wantErr: []string{"multi-source Applications (here 1 git sources and 1 charts"}, is: isUnsupported},
		{name: "argo packaged chart", ref: argoApp("", "packaged"),
			wantErr: []string{"the chart cart comes from the Helm repository https://charts.example.com, not git", "cannot edit a packaged chart"}, is: isUnsupported},
		{name: "argo OCI source", ref: argoApp("", "oci"), wantErr: []string{"OCI artifact oci://registry.example.com/shop, not git"}, is: isUnsupported},
		{name: "argo app missing", ref: argoApp("", "ghost"),
			wantErr: []string{"Application ghost not found in namespace argocd: is gitops.argocd_namespace right?", "stale"}, is: apierrors.IsNotFound},

		{name: "kustomization", ref: fluxKs("flux-system", "shop"), want: shop},
		{name: "kustomization at the root", ref: fluxKs("flux-system", "root"), want: gitops.Source{RepoURL: shop.RepoURL, Revision: "main"}},
		{name: "kustomization's source in another namespace", ref: fluxKs("apps", "elsewhere"), want: shop},
		{name: "kustomization's source defaults to its namespace", ref: fluxKs("apps", "same-namespace"),
			wantErr: []string{"GitRepository shop not found in namespace apps", "spec.sourceRef names a GitRepository that does not exist"}, is: apierrors.IsNotFound},
		{name: "tag beats branch", ref: fluxKs("flux-system", "tag"), want: gitops.Source{RepoURL: "https://git.example.com/pinned-tag.git", Revision: "v1.4.0", Path: "apps"}},
		{name: "commit beats tag", ref: fluxKs("flux-system", "commit"), want: gitops.Source{RepoURL: "https://git.example.com/pinned-commit.git", Revision: "0123abc", Path: "apps"}},
		{name: "a reference name beats branch", ref: fluxKs("flux-system", "by-name"), want: gitops.Source{RepoURL: "https://git.example.com/by-name.git", Revision: "release", Path: "apps"}},
		{name: "no ref is Flux's master", ref: fluxKs("flux-system", "no-ref"), want: gitops.Source{RepoURL: "https://git.example.com/no-ref.git", Revision: "master", Path: "apps"}},
		{name: "semver range", ref: fluxKs("flux-system", "semver"), wantErr: []string{`follows the tags matching ">=1.0.0"`}, is: isUnsupported},
		{name: "kustomization from an OCI repository", ref: fluxKs("flux-system", "oci"),
			wantErr: []string{"spec.sourceRef is a OCIRepository, not a GitRepository"}, is: isUnsupported},
		{name: "kustomization missing", ref: fluxKs("flux-system", "ghost"),
			wantErr: []string{"Flux Kustomization flux-system/ghost: Kustomization ghost not found in namespace flux-system: the workload's labels are stale"}, is: apierrors.IsNotFound},

		{name: "helm release from git", ref: fluxHelm("shop", "cart"),
			want: gitops.Source{RepoURL: charts, Revision: "main", Path: "charts/cart", Helm: &gitops.HelmSource{ValueFiles: []string{"values.yaml"}}}},
		{name: "helm release values files", ref: fluxHelm("shop", "files"),
			want: gitops.Source{RepoURL: charts, Revision: "main", Path: "charts/cart", Helm: &gitops.HelmSource{ValueFiles: []string{"values-prod.yaml", "../../envs/prod/cart.yaml"}}}},
		{name: "helm release inline values", ref: fluxHelm("shop", "inline"),
			wantErr: []string{"a HelmRelease's values live in its own manifest", "change them there by hand"}, is: isUnsupported},
		{name: "helm release values from a ConfigMap", ref: fluxHelm("shop", "from"), wantErr: []string{"a HelmRelease's values live in its own manifest"}, is: isUnsupported},
		{name: "helm release rebuilt by chart version", ref: fluxHelm("shop", "versioned"),
			wantErr: []string{"only when the version in its Chart.yaml changes (spec.chart.spec.reconcileStrategy (none))", "set reconcileStrategy: Revision"}, is: isUnsupported},
		{name: "helm release from a Helm repository", ref: fluxHelm("shop", "packaged"),
			wantErr: []string{"the chart cart comes from a Helm repository, not git: change the HelmRelease's values instead; Watchkeeper cannot edit a packaged chart"}, is: isUnsupported},
		{name: "helm release from a bucket", ref: fluxHelm("shop", "bucket"), wantErr: []string{"comes from a Bucket, not a GitRepository"}, is: isUnsupported},
		{name: "helm release with a chartRef", ref: fluxHelm("shop", "chart-ref"), wantErr: []string{"comes from a OCIRepository (spec.chartRef)"}, is: isUnsupported},
		{name: "helm release's GitRepository missing", ref: fluxHelm("shop", "lost-repo"),
			wantErr: []string{"GitRepository gone not found in namespace shop: the HelmRelease's spec.chart.spec.sourceRef names"}, is: apierrors.IsNotFound},

		{name: "unknown owner", ref: gitops.Ref{Tool: "spinnaker", Kind: "Pipeline", Name: "x"}, wantErr: []string{"reads Argo CD Applications and Flux Kustomizations and HelmReleases only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gitops.Resolver{Dynamic: resolver(gitopsObjects()...), ArgoNamespace: tc.argoNS}
			got, err := r.Source(context.Background(), tc.ref)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Source: %v", err)
				}
				if !equalSource(got, tc.want) {
					t.Errorf("Source = %+v (helm %+v), want %+v (helm %+v)", got, got.Helm, tc.want, tc.want.Helm)
				}
				return
			}
			checkErr(t, err, tc.wantErr, tc.is)
		})
	}
}

// The cluster answers with errors: each says what to do and keeps the
// API's error for callers that branch on it.
func TestSourceAPIErrors(t *testing.T) {
	apps := schema.GroupResource{Group: "argoproj.io", Resource: "applications"}
	for _, tc := range []struct {
		name     string
		resource string
		ref      gitops.Ref
		err      error
		wantErr  []string
		is       func(error) bool
	}{
		{name: "forbidden", resource: "applications", ref: argoApp("", "shop"),
			err:     apierrors.NewForbidden(apps, "shop", errors.New(`User "system:serviceaccount:watchkeeper:watchkeeper" cannot get resource`)),
			wantErr: []string{"RBAC forbids reading Application argocd/shop: grant Watchkeeper's service account get on applications.argoproj.io in namespace argocd"},
			is:      apierrors.IsForbidden},
		{name: "forbidden GitRepository", resource: "gitrepositories", ref: fluxKs("flux-system", "shop"),
			err:     apierrors.NewForbidden(schema.GroupResource{Group: "source.toolkit.fluxcd.io", Resource: "gitrepositories"}, "shop", errors.New("no")),
			wantErr: []string{"grant Watchkeeper's service account get on gitrepositories.source.toolkit.fluxcd.io in namespace flux-system"},
			is:      apierrors.IsForbidden},
		// What client-go makes of the API server's plain 404 page for a
		// path no CRD serves.
		{name: "argo CRDs not installed", resource: "applications", ref: argoApp("", "shop"),
			err:     apierrors.NewGenericServerResponse(404, "GET", apps, "shop", "404 page not found", 0, true),
			wantErr: []string{"applications.argoproj.io/v1alpha1 is not served: Argo CD's CRDs are not installed in this cluster, or the workload's label is stale"},
			is:      apierrors.IsNotFound},
		{name: "flux CRDs not installed", resource: "helmreleases", ref: fluxHelm("shop", "cart"),
			err:     apierrors.NewGenericServerResponse(404, "GET", schema.GroupResource{Group: "helm.toolkit.fluxcd.io", Resource: "helmreleases"}, "cart", "404 page not found", 0, true),
			wantErr: []string{"helmreleases.helm.toolkit.fluxcd.io/v2 is not served: Flux's helm-controller CRDs are not installed"},
			is:      apierrors.IsNotFound},
		{name: "unauthorized", resource: "kustomizations", ref: fluxKs("flux-system", "shop"),
			err:     apierrors.NewUnauthorized("expired"),
			wantErr: []string{"the cluster refused Watchkeeper's credentials reading Kustomization flux-system/shop; check kubernetes.kubeconfig"},
			is:      apierrors.IsUnauthorized},
		{name: "anything else", resource: "applications", ref: argoApp("", "shop"),
			err: apierrors.NewTimeoutError("slow", 1), wantErr: []string{"read Application argocd/shop: "}, is: apierrors.IsTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := resolver(gitopsObjects()...)
			c.PrependReactor("get", tc.resource, func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			_, err := gitops.Resolver{Dynamic: c}.Source(context.Background(), tc.ref)
			checkErr(t, err, tc.wantErr, tc.is)
		})
	}
	_, err := gitops.Resolver{}.Source(context.Background(), argoApp("", "shop"))
	checkErr(t, err, []string{"no dynamic Kubernetes client configured"}, nil)
}

func isUnsupported(err error) bool { return errors.Is(err, gitops.ErrSourceUnsupported) }

func checkErr(t *testing.T, err error, want []string, is func(error) bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	rest := err.Error()
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("error %q lacks %q (in order)", err, w)
		}
		rest = rest[i+len(w):]
	}
	if is != nil && !is(err) {
		t.Errorf("error %q does not wrap what callers branch on", err)
	}
}

func equalSource(a, b gitops.Source) bool {
	if a.RepoURL != b.RepoURL || a.Revision != b.Revision || a.Path != b.Path || (a.Helm == nil) != (b.Helm == nil) {
		return false
	}
	return a.Helm == nil || strings.Join(a.Helm.ValueFiles, "\n") == strings.Join(b.Helm.ValueFiles, "\n")
}
