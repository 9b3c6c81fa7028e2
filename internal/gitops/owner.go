package gitops

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// Tools.
const (
	ToolArgoCD = "argocd"
	ToolFlux   = "flux"
)

// Owner kinds.
const (
	KindApplication   = "Application"
	KindKustomization = "Kustomization"
	KindHelmRelease   = "HelmRelease"
)

// The labels and annotations the GitOps controllers put on what they apply.
const (
	// argoInstanceLabel is the label Argo CD tracks by when its tracking
	// method is label (or writes, for information, with annotation+label)
	// and application.instanceLabelKey is set to it, as Argo CD's docs
	// advise. Argo CD's default key, app.kubernetes.io/instance, is not
	// read: every Helm chart sets it to the release name, so it would
	// name Applications that do not exist.
	argoInstanceLabel = "argocd.argoproj.io/instance"
	// argoTrackingID is written with the annotation tracking methods
	// (the default since Argo CD 3.0):
	// <app>:<group>/<kind>:<namespace>/<name>.
	argoTrackingID = "argocd.argoproj.io/tracking-id"

	fluxKustomizeName      = "kustomize.toolkit.fluxcd.io/name"
	fluxKustomizeNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	// fluxReconcile "disabled" on an object makes kustomize-controller
	// leave it alone: a direct change to it stays.
	fluxReconcile     = "kustomize.toolkit.fluxcd.io/reconcile"
	fluxHelmName      = "helm.toolkit.fluxcd.io/name"
	fluxHelmNamespace = "helm.toolkit.fluxcd.io/namespace"
)

// String names the owner for people: "Argo CD Application argocd/shop",
// "Flux Kustomization flux-system/shop". An Application in Argo CD's own
// namespace, as OwnerOf returns it, has no namespace to show.
func (r Ref) String() string {
	tool := r.Tool
	switch r.Tool {
	case ToolArgoCD:
		tool = "Argo CD"
	case ToolFlux:
		tool = "Flux"
	}
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + r.Name
	}
	return tool + " " + r.Kind + " " + name
}

// OwnerOf tells which GitOps object applied obj, from the labels and
// annotations Argo CD and Flux write on what they apply; false when none
// did (or Flux was told to leave the object alone).
//
// Argo CD: the tracking-id annotation, or else the argocd.argoproj.io/instance
// label. The annotation wins when both are present and disagree: with the
// annotation+label method Argo CD tracks by the annotation and writes the
// label for information only (cut to 63 characters), and only the
// annotation names the object it was written for. One that names another
// object was copied (kubectl get -o yaml | kubectl apply) and Argo CD
// ignores it; so does OwnerOf, and the label then decides. An Application
// outside Argo CD's own namespace is written "namespace_name" (Argo CD's
// application namespaces); one inside it has no namespace in the value, so
// the Ref's Namespace is empty: Resolver.Source reads it from Argo CD's
// namespace, which OwnerOf cannot know.
//
// Flux: helm.toolkit.fluxcd.io/{name,namespace} (a HelmRelease rendered the
// object), else kustomize.toolkit.fluxcd.io/{name,namespace} (a
// Kustomization applied it), both labels of a pair required. The
// HelmRelease comes first because it is the nearer owner: a Kustomization
// applies the HelmRelease, which renders the workload. Flux's labels come
// before Argo CD's for the same reason (Argo CD applying a HelmRelease).
func OwnerOf(obj metav1.Object) (Ref, bool) {
	labels, annotations := obj.GetLabels(), obj.GetAnnotations()
	if name, ns := labels[fluxHelmName], labels[fluxHelmNamespace]; name != "" && ns != "" {
		return Ref{Tool: ToolFlux, Kind: KindHelmRelease, Namespace: ns, Name: name}, true
	}
	if name, ns := labels[fluxKustomizeName], labels[fluxKustomizeNamespace]; name != "" && ns != "" {
		if annotations[fluxReconcile] == "disabled" {
			return Ref{}, false
		}
		return Ref{Tool: ToolFlux, Kind: KindKustomization, Namespace: ns, Name: name}, true
	}
	if app, ok := trackedApp(obj, annotations[argoTrackingID]); ok {
		return argoRef(app), true
	}
	if app := labels[argoInstanceLabel]; app != "" {
		return argoRef(app), true
	}
	return Ref{}, false
}

// trackedApp returns the Application a tracking id names, when the id is
// well formed and written for obj itself. A kind is compared only when obj
// carries its own (typed objects from a clientset come without); a
// namespace only when obj has one (Argo CD writes the Application's
// destination namespace for a cluster-scoped object).
func trackedApp(obj metav1.Object, id string) (string, bool) {
	app, rest, ok := strings.Cut(id, ":")
	if !ok || app == "" {
		return "", false
	}
	groupKind, nsName, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false
	}
	_, kind, ok1 := strings.Cut(groupKind, "/")
	ns, name, ok2 := strings.Cut(nsName, "/")
	if !ok1 || !ok2 || name != obj.GetName() || (obj.GetNamespace() != "" && ns != obj.GetNamespace()) {
		return "", false
	}
	if o, ok := obj.(interface{ GetObjectKind() schema.ObjectKind }); ok {
		if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" && k != kind {
			return "", false
		}
	}
	return app, true
}

// argoRef reads Argo CD's instance value: "name", or "namespace_name" for an
// Application outside Argo CD's namespace. Neither part can hold "_"
// (both are DNS names), so the split is unambiguous.
func argoRef(value string) Ref {
	ref := Ref{Tool: ToolArgoCD, Kind: KindApplication, Name: value}
	if ns, name, ok := strings.Cut(value, "_"); ok && ns != "" && name != "" {
		ref.Namespace, ref.Name = ns, name
	}
	return ref
}

// maxOwnerHops bounds the walk up ownerReferences (Pod → ReplicaSet →
// Deployment is two): a cycle or a deep chain ends it.
const maxOwnerHops = 4

// OwnerOfWorkload reads the object kind ns/name (Pod, ReplicaSet,
// Deployment, StatefulSet, DaemonSet, Job or CronJob) and returns its
// GitOps owner (OwnerOf). When the object has none of the owners' labels,
// its controller is read in turn: a Pod's ReplicaSet, then that
// ReplicaSet's Deployment; a Job's CronJob. The walk ends, with false, at
// an object without a controller or whose controller is not one of these
// kinds (an Argo Rollout, an operator's custom resource, a Node for a
// static pod): Watchkeeper reads only those through the typed client.
//
// It fails when an object on the way cannot be read; the error wraps the
// API's (apierrors.IsNotFound, IsForbidden work on it). It is safe for
// concurrent use if client is.
func OwnerOfWorkload(ctx context.Context, client kubernetes.Interface, kind, ns, name string) (Ref, bool, error) {
	for range maxOwnerHops {
		obj, err := getWorkload(ctx, client, kind, ns, name)
		if err != nil {
			return Ref{}, false, fmt.Errorf("find the GitOps owner of %s %s/%s: %w", kind, ns, name, err)
		}
		if ref, ok := OwnerOf(obj); ok {
			return ref, true, nil
		}
		c := metav1.GetControllerOf(obj)
		if c == nil || !walkable(c) {
			return Ref{}, false, nil
		}
		kind, name = c.Kind, c.Name
	}
	return Ref{}, false, nil
}

// walkable reports whether OwnerOfWorkload reads a controller of this
// reference's kind: one of the built-in workload kinds, in its own group
// (not a custom resource that happens to be called Deployment).
func walkable(c *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(c.APIVersion)
	if err != nil {
		return false
	}
	switch c.Kind {
	case "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet":
		return gv.Group == "apps"
	case "Job", "CronJob":
		return gv.Group == "batch"
	}
	return false
}

func getWorkload(ctx context.Context, c kubernetes.Interface, kind, ns, name string) (metav1.Object, error) {
	get := metav1.GetOptions{}
	switch kind {
	case "Pod":
		return c.CoreV1().Pods(ns).Get(ctx, name, get)
	case "ReplicaSet":
		return c.AppsV1().ReplicaSets(ns).Get(ctx, name, get)
	case "Deployment":
		return c.AppsV1().Deployments(ns).Get(ctx, name, get)
	case "StatefulSet":
		return c.AppsV1().StatefulSets(ns).Get(ctx, name, get)
	case "DaemonSet":
		return c.AppsV1().DaemonSets(ns).Get(ctx, name, get)
	case "Job":
		return c.BatchV1().Jobs(ns).Get(ctx, name, get)
	case "CronJob":
		return c.BatchV1().CronJobs(ns).Get(ctx, name, get)
	}
	return nil, fmt.Errorf("kind %q is not a workload: give Pod, ReplicaSet, Deployment, StatefulSet, DaemonSet, Job or CronJob", kind)
}
