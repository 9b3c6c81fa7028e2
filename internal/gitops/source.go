package gitops

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// ErrSourceUnsupported is wrapped by Resolver.Source when the owner's
// desired state is not something Watchkeeper can change by pull request (a
// packaged chart, an OCI artifact, several git sources): a person has to
// make the change.
var ErrSourceUnsupported = errors.New("unsupported source")

// The resources Resolver reads, at the versions current Argo CD (v1alpha1
// is its only one) and Flux 2 (GA APIs) serve.
var (
	argoApplications = resource{
		gvr:  schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"},
		kind: KindApplication, crds: "Argo CD's CRDs are not installed in this cluster",
	}
	fluxKustomizations = resource{
		gvr:  schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"},
		kind: KindKustomization, crds: "Flux's CRDs are not installed in this cluster (or are older than Flux 2.0)",
	}
	fluxHelmReleases = resource{
		gvr:  schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"},
		kind: KindHelmRelease, crds: "Flux's helm-controller CRDs are not installed in this cluster (or are older than Flux 2.3)",
	}
	fluxGitRepositories = resource{
		gvr:  schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"},
		kind: "GitRepository", crds: "Flux's source-controller CRDs are not installed in this cluster (or are older than Flux 2.0)",
	}
)

// resource is one kind Resolver reads, with what to say when it cannot.
type resource struct {
	gvr  schema.GroupVersionResource
	kind string
	// crds says why the resource would not be served.
	crds string
}

// Resolver reads where a GitOps owner's desired state lives: the Argo CD
// Application, Flux Kustomization or HelmRelease a Ref names, and for Flux
// the GitRepository it follows. The zero value reads nothing (Source fails);
// it is safe for concurrent use if Dynamic is.
type Resolver struct {
	Dynamic dynamic.Interface
	// ArgoNamespace is Argo CD's own namespace (gitops.argocd_namespace),
	// where an Application lives when its tracking value names no other;
	// "argocd" when empty.
	ArgoNamespace string
}

// Namespace returns ref with the namespace Source reads it from: an Argo CD
// Application without one is in ArgoNamespace.
func (r Resolver) Namespace(ref Ref) Ref {
	if ref.Tool == ToolArgoCD && ref.Namespace == "" {
		ref.Namespace = r.ArgoNamespace
		if ref.Namespace == "" {
			ref.Namespace = "argocd"
		}
	}
	return ref
}

// Source reads where ref's desired state lives.
//
// Argo CD: the Application's spec.source (repoURL, path, targetRevision;
// HEAD or none is the repository's default branch, returned as Revision
// ""), with Helm set when the source has a helm section (an Application
// whose chart Argo CD detects by its Chart.yaml alone has none: Helm is nil
// and the caller finds the chart in the tree). A multi-source Application
// is read only when exactly one of its sources is git and none is a chart
// from a Helm repository.
//
// Flux Kustomization: spec.path in the GitRepository of spec.sourceRef
// (namespace defaulting to the Kustomization's); the revision is the
// GitRepository's spec.ref, by Flux's precedence: commit, name, tag,
// branch, else master (Flux's default, not the repository's). A commit or
// tag is returned as it is: a pull request cannot move it, and the caller
// says so. A semver range is refused: the change would ship only with a
// new tag.
//
// Flux HelmRelease: only a chart kept in a GitRepository
// (spec.chart.spec.chart is its path there) whose HelmRelease sets no
// values of its own (spec.values, spec.valuesFrom): those live in the
// HelmRelease's manifest, which another Kustomization applies from its own
// repository and path that nothing in the cluster names reliably, and
// they override the chart's. The values are then the chart's
// values.yaml, or its spec.chart.spec.valuesFiles. The chart must be
// rebuilt on every revision (reconcileStrategy Revision): with Flux's
// default, ChartVersion, a change to values.yaml without a new version in
// Chart.yaml is never deployed.
//
// Errors say what to do: the object is missing (a wrong
// gitops.argocd_namespace or a stale label), RBAC forbids reading it, the
// CRDs are not served. They wrap the API's error, or ErrSourceUnsupported.
func (r Resolver) Source(ctx context.Context, ref Ref) (Source, error) {
	ref = r.Namespace(ref)
	var (
		src Source
		err error
	)
	switch {
	case ref.Tool == ToolArgoCD && ref.Kind == KindApplication:
		src, err = r.argoSource(ctx, ref)
	case ref.Tool == ToolFlux && ref.Kind == KindKustomization:
		src, err = r.kustomizationSource(ctx, ref)
	case ref.Tool == ToolFlux && ref.Kind == KindHelmRelease:
		src, err = r.helmReleaseSource(ctx, ref)
	default:
		return Source{}, fmt.Errorf("%s: Watchkeeper reads Argo CD Applications and Flux Kustomizations and HelmReleases only", ref)
	}
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", ref, err)
	}
	return src, nil
}

func (r Resolver) argoSource(ctx context.Context, ref Ref) (Source, error) {
	app, err := r.get(ctx, argoApplications, ref.Namespace, ref.Name,
		"is gitops.argocd_namespace right? Or the workload's label is stale: the Application was deleted or renamed")
	if err != nil {
		return Source{}, err
	}
	// With spec.sources set Argo CD ignores spec.source.
	sources, _, _ := unstructured.NestedSlice(app.Object, "spec", "sources")
	if len(sources) == 0 {
		single, _, _ := unstructured.NestedMap(app.Object, "spec", "source")
		return argoGitSource(single, "spec.source")
	}
	var git []map[string]any
	charts := 0
	for _, s := range sources {
		m, _ := s.(map[string]any)
		if chart, _, _ := unstructured.NestedString(m, "chart"); chart != "" {
			charts++
			continue
		}
		git = append(git, m)
	}
	if len(git) == 1 && charts == 0 {
		return argoGitSource(git[0], "spec.sources[0]")
	}
	return Source{}, fmt.Errorf("%w: multi-source Applications (here %d git sources and %d charts from Helm repositories) are not supported yet: make the change in the Application's repositories by hand",
		ErrSourceUnsupported, len(git), charts)
}

// argoGitSource reads one Argo CD ApplicationSource (field names it in
// messages).
func argoGitSource(s map[string]any, field string) (Source, error) {
	repo, _, _ := unstructured.NestedString(s, "repoURL")
	dir, _, _ := unstructured.NestedString(s, "path")
	rev, _, _ := unstructured.NestedString(s, "targetRevision")
	if chart, _, _ := unstructured.NestedString(s, "chart"); chart != "" {
		return Source{}, fmt.Errorf("%w: the chart %s comes from the Helm repository %s, not git: change the Application's Helm values instead; Watchkeeper cannot edit a packaged chart",
			ErrSourceUnsupported, chart, repo)
	}
	switch {
	case repo == "":
		return Source{}, fmt.Errorf("%s has no repoURL", field)
	case strings.HasPrefix(repo, "oci://"):
		return Source{}, fmt.Errorf("%w: the source is the OCI artifact %s, not git: change what builds the artifact", ErrSourceUnsupported, repo)
	}
	if rev == "HEAD" {
		rev = ""
	}
	src := Source{RepoURL: repo, Revision: rev, Path: cleanPath(dir)}
	if helm, ok, _ := unstructured.NestedMap(s, "helm"); ok {
		files, _, _ := unstructured.NestedStringSlice(helm, "valueFiles")
		src.Helm = &HelmSource{ValueFiles: files}
	}
	return src, nil
}

func (r Resolver) kustomizationSource(ctx context.Context, ref Ref) (Source, error) {
	ks, err := r.get(ctx, fluxKustomizations, ref.Namespace, ref.Name,
		"the workload's labels are stale: the Kustomization was deleted or renamed")
	if err != nil {
		return Source{}, err
	}
	dir, _, _ := unstructured.NestedString(ks.Object, "spec", "path")
	repo, rev, err := r.gitRepository(ctx, ks, "spec", "sourceRef")
	if err != nil {
		return Source{}, err
	}
	return Source{RepoURL: repo, Revision: rev, Path: cleanPath(dir)}, nil
}

func (r Resolver) helmReleaseSource(ctx context.Context, ref Ref) (Source, error) {
	hr, err := r.get(ctx, fluxHelmReleases, ref.Namespace, ref.Name,
		"the workload's labels are stale: the HelmRelease was deleted or renamed")
	if err != nil {
		return Source{}, err
	}
	if kind, _, _ := unstructured.NestedString(hr.Object, "spec", "chartRef", "kind"); kind != "" {
		return Source{}, fmt.Errorf("%w: the chart comes from a %s (spec.chartRef), not a GitRepository: change the HelmRelease's values instead; Watchkeeper cannot edit a packaged chart",
			ErrSourceUnsupported, kind)
	}
	chart, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "chart")
	switch kind, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "sourceRef", "kind"); kind {
	case "GitRepository":
	case "HelmRepository":
		return Source{}, fmt.Errorf("%w: the chart %s comes from a Helm repository, not git: change the HelmRelease's values instead; Watchkeeper cannot edit a packaged chart",
			ErrSourceUnsupported, chart)
	default:
		return Source{}, fmt.Errorf("%w: the chart %s comes from a %s, not a GitRepository: Watchkeeper changes charts kept in git only", ErrSourceUnsupported, chart, orNone(kind))
	}
	values, _, _ := unstructured.NestedFieldNoCopy(hr.Object, "spec", "values")
	valuesFrom, _, _ := unstructured.NestedSlice(hr.Object, "spec", "valuesFrom")
	if m, _ := values.(map[string]any); len(m) > 0 || len(valuesFrom) > 0 {
		return Source{}, fmt.Errorf("%w: a HelmRelease's values live in its own manifest (spec.values, spec.valuesFrom), which override the chart's values.yaml and which a Kustomization applies from a repository and path Watchkeeper cannot find reliably: change them there by hand",
			ErrSourceUnsupported)
	}
	if s, _, _ := unstructured.NestedString(hr.Object, "spec", "chart", "spec", "reconcileStrategy"); s != "Revision" {
		return Source{}, fmt.Errorf("%w: Flux rebuilds the chart %s only when the version in its Chart.yaml changes (spec.chart.spec.reconcileStrategy %s), so a change to its values alone would never be deployed: set reconcileStrategy: Revision, or make the change with a version bump by hand",
			ErrSourceUnsupported, chart, orNone(s))
	}
	repo, rev, err := r.gitRepository(ctx, hr, "spec", "chart", "spec", "sourceRef")
	if err != nil {
		return Source{}, err
	}
	chartPath := cleanPath(chart)
	files, _, _ := unstructured.NestedStringSlice(hr.Object, "spec", "chart", "spec", "valuesFiles")
	if len(files) == 0 {
		files = []string{"values.yaml"}
	} else {
		// Flux reads valuesFiles from the source's root; HelmSource's are
		// relative to the chart.
		for i, f := range files {
			rel, err := filepath.Rel("/"+chartPath, "/"+cleanPath(f))
			if err != nil {
				return Source{}, fmt.Errorf("spec.chart.spec.valuesFiles[%d] %q: %w", i, f, err)
			}
			files[i] = filepath.ToSlash(rel)
		}
	}
	return Source{RepoURL: repo, Revision: rev, Path: chartPath, Helm: &HelmSource{ValueFiles: files}}, nil
}

// gitRepository reads the GitRepository that owner's source reference (at
// field) names: its URL and the revision it follows.
func (r Resolver) gitRepository(ctx context.Context, owner *unstructured.Unstructured, field ...string) (url, revision string, err error) {
	ref, _, _ := unstructured.NestedStringMap(owner.Object, field...)
	at := strings.Join(field, ".")
	if ref["kind"] != "GitRepository" {
		return "", "", fmt.Errorf("%w: %s is a %s, not a GitRepository: Watchkeeper changes git repositories only", ErrSourceUnsupported, at, orNone(ref["kind"]))
	}
	if ref["name"] == "" {
		return "", "", fmt.Errorf("%s names no GitRepository", at)
	}
	ns := ref["namespace"]
	if ns == "" {
		ns = owner.GetNamespace()
	}
	repo, err := r.get(ctx, fluxGitRepositories, ns, ref["name"], "the "+owner.GetKind()+"'s "+at+" names a GitRepository that does not exist")
	if err != nil {
		return "", "", err
	}
	url, _, _ = unstructured.NestedString(repo.Object, "spec", "url")
	if url == "" {
		return "", "", fmt.Errorf("GitRepository %s/%s has no spec.url", ns, ref["name"])
	}
	if strings.HasPrefix(url, "oci://") {
		return "", "", fmt.Errorf("%w: GitRepository %s/%s has the OCI URL %s", ErrSourceUnsupported, ns, ref["name"], url)
	}
	gref, _, _ := unstructured.NestedStringMap(repo.Object, "spec", "ref")
	switch {
	case gref["commit"] != "":
		return url, gref["commit"], nil
	case gref["name"] != "":
		name := gref["name"]
		for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
			name = strings.TrimPrefix(name, prefix)
		}
		return url, name, nil
	case gref["semver"] != "":
		return "", "", fmt.Errorf("%w: GitRepository %s/%s follows the tags matching %q: a change ships only with a new tag, which Watchkeeper does not make",
			ErrSourceUnsupported, ns, ref["name"], gref["semver"])
	case gref["tag"] != "":
		return url, gref["tag"], nil
	case gref["branch"] != "":
		return url, gref["branch"], nil
	}
	return url, "master", nil
}

// get reads one object of res, explaining a failure: notFound says what
// to check when the object does not exist.
func (r Resolver) get(ctx context.Context, res resource, ns, name, notFound string) (*unstructured.Unstructured, error) {
	if r.Dynamic == nil {
		return nil, errors.New("no dynamic Kubernetes client configured to read GitOps objects with")
	}
	obj, err := r.Dynamic.Resource(res.gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return obj, nil
	}
	what := res.gvr.GroupResource().String()
	switch {
	// The API server answers a path it does not serve with a plain 404
	// page, which client-go marks as an unexpected response; a missing
	// object comes as a Status.
	case apierrors.IsNotFound(err) && apierrors.IsUnexpectedServerError(err):
		return nil, fmt.Errorf("%s/%s is not served: %s, or the workload's label is stale: %w", what, res.gvr.Version, res.crds, err)
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%s %s not found in namespace %s: %s: %w", res.kind, name, ns, notFound, err)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("RBAC forbids reading %s %s/%s: grant Watchkeeper's service account get on %s in namespace %s: %w", res.kind, ns, name, what, ns, err)
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("the cluster refused Watchkeeper's credentials reading %s %s/%s; check kubernetes.kubeconfig or the service account token: %w", res.kind, ns, name, err)
	}
	return nil, fmt.Errorf("read %s %s/%s: %w", res.kind, ns, name, err)
}

// cleanPath writes a path in a repository as Source does: relative, without
// "./", "" for the root.
func cleanPath(p string) string {
	p = path.Clean("/" + strings.TrimSpace(p))
	return strings.TrimPrefix(p, "/")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
