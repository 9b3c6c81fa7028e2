package kubesim

// The GitOps side of the cluster: a dynamic client for the custom
// resources GitOps tools keep (Argo CD's Applications, Flux's
// Kustomizations, HelmReleases and GitRepositories), the Application the
// sandbox's GitOps scenario puts the shop under, and the hooks its
// reconciler uses — the instance label on the shop's Deployments and the
// Events it records.

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// ApplicationGVR is Argo CD's Application resource.
var ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// The Flux resources the dynamic client can list (none are created).
var (
	fluxKustomizations = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	fluxHelmReleases   = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	fluxGitRepos       = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
)

// InstanceLabel is the label Argo CD puts on the resources an Application
// manages; its value is the Application's name.
const InstanceLabel = "argocd.argoproj.io/instance"

// NewDynamic returns a fake dynamic client holding objs, which knows the
// list kinds of Argo CD's Applications and of Flux's Kustomizations,
// HelmReleases and GitRepositories, so a list of any of them answers
// (empty when there are none) rather than failing. It is safe for
// concurrent use.
func NewDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		ApplicationGVR:     "ApplicationList",
		fluxKustomizations: "KustomizationList",
		fluxHelmReleases:   "HelmReleaseList",
		fluxGitRepos:       "GitRepositoryList",
	}, objs...)
}

// Application is an Argo CD Application over one path of a git
// repository, synced automatically.
type Application struct {
	Namespace, Name string
	// RepoURL, Path and Revision are spec.source's repoURL, path and
	// targetRevision.
	RepoURL, Path, Revision string
	// SelfHeal and Prune are spec.syncPolicy.automated's.
	SelfHeal, Prune bool
	// Destination is the namespace the Application deploys to.
	Destination string
	// Created is the object's creation time.
	Created time.Time
}

// Object returns the Application as the API server would serve it, with
// status.sync at status and revision.
func (a Application) Object(status, revision string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ApplicationGVR.GroupVersion().String(),
		"kind":       "Application",
		"metadata": map[string]any{
			"name": a.Name, "namespace": a.Namespace,
			"creationTimestamp": a.Created.UTC().Format(time.RFC3339),
			"finalizers":        []any{"resources-finalizer.argocd.argoproj.io"},
		},
		"spec": map[string]any{
			"project": "default",
			"source":  map[string]any{"repoURL": a.RepoURL, "path": a.Path, "targetRevision": a.Revision},
			"destination": map[string]any{
				"server": "https://kubernetes.default.svc", "namespace": a.Destination,
			},
			"syncPolicy": map[string]any{"automated": map[string]any{"selfHeal": a.SelfHeal, "prune": a.Prune}},
		},
		"status": map[string]any{
			"sync":   map[string]any{"status": status, "revision": revision},
			"health": map[string]any{"status": "Healthy"},
		},
	}}
	return u
}

// SetDeploymentLabels adds labels to every shop Deployment the cluster
// writes from now on. Call it before the first Sync: a Deployment is
// rewritten only when the world's state of it changes.
func (k *Cluster) SetDeploymentLabels(labels map[string]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.labels = map[string]string{}
	for key, v := range labels {
		k.labels[key] = v
	}
}

// RecordEvent records a Normal Event about the shop's object kind/name at
// at, as component reported it; repeats are aggregated as the API server
// does, and the Event is pruned with the world's after its TTL.
func (k *Cluster) RecordEvent(at time.Time, kind, name, reason, message, component string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := kind + "/" + name + "/" + reason + "/" + message
	if ev, ok := k.events[key]; ok {
		ev.Count++
		ev.LastTimestamp = metav1.NewTime(at)
		_ = k.tracker.Update(gvrEvents, ev.DeepCopy(), world.Namespace)
		return
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, at.UnixNano()+int64(len(k.events))), Namespace: world.Namespace,
			CreationTimestamp: metav1.NewTime(at)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: world.Namespace, Name: name},
		Reason:         reason, Message: message, Type: corev1.EventTypeNormal, Count: 1,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: component},
	}
	k.events[key] = ev
	_ = k.tracker.Add(ev.DeepCopy())
}
