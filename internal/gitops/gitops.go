// Package gitops makes Watchkeeper's changes where git, not the cluster,
// is the source of truth. It tells who owns a workload (an Argo CD
// Application, a Flux Kustomization or HelmRelease), reads where that
// owner's desired state lives (repository, revision, path), turns a
// change (an image back to the previous revision's, a replica count, a
// restart) into an edit of the right file (plain manifests, Kustomize's
// images and replicas, Helm values), and carries it out as a branch
// pushed to the repository and a pull or merge request opened on the
// forge (GitHub, GitLab) — only after a person approved it.
//
// The pieces, each in its own file:
//   - owner.go: OwnerOf (labels and annotations), Resolver.Source (the
//     Application, Kustomization or HelmRelease and its GitRepository).
//   - edit.go: Plan (a Change on a checked-out tree → an Edit with its
//     unified diff), Desired (the workloads a tree declares, for the
//     sandbox's reconciler and for checking a sync).
//   - forge.go, github.go, gitlab.go: Forge (open a pull/merge request,
//     read its state).
//   - git.go: the working copy: fetch, a new watchkeeper/… branch, one
//     commit, push (never forced; a branch that exists is refused).
package gitops

import "time"

// Ref names the GitOps object that owns a workload.
type Ref struct {
	// Tool is "argocd" or "flux".
	Tool string `json:"tool"`
	// Kind is Application (Argo CD), Kustomization or HelmRelease (Flux).
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Source is where an owner's desired state lives.
type Source struct {
	// RepoURL is the git repository (https://…, ssh://…, git@…).
	RepoURL string `json:"repo_url"`
	// Revision is the branch (or tag, or commit) the owner follows.
	Revision string `json:"revision,omitempty"`
	// Path is the directory in the repository ("" or "." for the root).
	Path string `json:"path,omitempty"`
	// Helm is set when the path is a Helm chart (Argo CD source.helm,
	// Flux HelmRelease from a GitRepository).
	Helm *HelmSource `json:"helm,omitempty"`
}

// HelmSource is a chart's values, as the owner gives them.
type HelmSource struct {
	// ValueFiles are relative to Path (Argo CD's helm.valueFiles;
	// values.yaml when empty).
	ValueFiles []string `json:"value_files,omitempty"`
}

// Workload is a Kubernetes object a change is for.
type Workload struct {
	Kind      string `json:"kind"` // Deployment, StatefulSet, DaemonSet
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Change kinds.
const (
	// ChangeImage sets a container's image (a rollback: the previous
	// revision's image).
	ChangeImage = "image"
	// ChangeReplicas sets the replica count (or the HPA's minimum).
	ChangeReplicas = "replicas"
	// ChangeRestart sets the pod template's restartedAt annotation, as
	// `kubectl rollout restart` does.
	ChangeRestart = "restart"
)

// Change is what a proposal asks of the desired state.
type Change struct {
	Kind     string   `json:"kind"`
	Workload Workload `json:"workload"`
	// Container and Image for ChangeImage; From is the image now.
	Container string `json:"container,omitempty"`
	Image     string `json:"image,omitempty"`
	From      string `json:"from,omitempty"`
	// Replicas for ChangeReplicas.
	Replicas int32 `json:"replicas,omitempty"`
	// At for ChangeRestart.
	At time.Time `json:"at,omitzero"`
}

// Edit is a Change made on a repository's files.
type Edit struct {
	// Files are the changed files' new contents, by path from the
	// repository's root.
	Files map[string][]byte `json:"files"`
	// Diff is the unified diff of the change, as `git diff` shows it.
	Diff string `json:"diff"`
	// Where says what was edited, for people: "apps/shop/kustomization.yaml:
	// images[checkout].newTag".
	Where string `json:"where"`
}

// State is what a tree declares for one workload.
type State struct {
	// Images by container name.
	Images map[string]string `json:"images,omitempty"`
	// Replicas is nil when the tree leaves it to the cluster (an HPA).
	Replicas *int32 `json:"replicas,omitempty"`
	// RestartedAt is the pod template's restartedAt annotation, if any.
	RestartedAt string `json:"restarted_at,omitempty"`
}

// PullRequest is what is opened on the forge.
type PullRequest struct {
	// Repo is the repository's URL; the forge client finds owner/name or
	// the project path in it.
	Repo  string
	Base  string // the branch the owner follows
	Head  string // watchkeeper/…
	Title string
	Body  string
}

// Opened is a pull or merge request as the forge numbered it.
type Opened struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// PR states.
const (
	StateOpen   = "open"
	StateMerged = "merged"
	StateClosed = "closed"
)

// PRState is where a pull request stands.
type PRState struct {
	State string `json:"state"`
	// MergeCommit and MergedAt are set once merged (MergedAt is zero
	// when the forge does not say).
	MergeCommit string    `json:"merge_commit,omitempty"`
	MergedAt    time.Time `json:"merged_at,omitzero"`
}
