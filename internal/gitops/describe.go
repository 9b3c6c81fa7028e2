package gitops

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Describer says which GitOps object owns a Kubernetes object and where
// its desired state lives, in one line for kube_describe (it implements
// tools/kube's GitOpsDescriber). The zero value reads only an object's own
// labels and names no source. It is safe for concurrent use if its clients
// are.
type Describer struct {
	Resolver Resolver
	// Client reads the controllers of an object without the owners'
	// labels (a Pod's ReplicaSet and Deployment); nil: it is not owned.
	Client kubernetes.Interface
}

// Describe returns "Managed by: <owner> — repo …, path …, revision …
// (changes are made by pull request)", and false when no GitOps tool owns
// obj. What could not be read is said in the line instead of failing: the
// owner is still worth knowing when its source is not.
func (d Describer) Describe(ctx context.Context, obj metav1.Object) (string, bool) {
	ref, ok := OwnerOf(obj)
	if !ok && d.Client != nil {
		if c := metav1.GetControllerOf(obj); c != nil && walkable(c) {
			var err error
			ref, ok, err = OwnerOfWorkload(ctx, d.Client, c.Kind, obj.GetNamespace(), c.Name)
			if err != nil {
				return "Managed by: could not tell whether a GitOps tool owns it — " + err.Error(), true
			}
		}
	}
	if !ok {
		return "", false
	}
	ref = d.Resolver.Namespace(ref)
	src, err := d.Resolver.Source(ctx, ref)
	if err != nil {
		// Source's error starts with the owner, already on the line.
		why := strings.TrimPrefix(err.Error(), ref.String()+": ")
		return "Managed by: " + ref.String() + " — its source could not be read: " + why +
			" (a change made directly to the object may be reverted when " + ref.String() + " next syncs)", true
	}
	return "Managed by: " + ref.String() + " — " + describeSource(src) + " (changes are made by pull request)", true
}

// describeSource writes src for people: "repo URL, path P, revision R".
func describeSource(src Source) string {
	var b strings.Builder
	b.WriteString("repo " + src.RepoURL)
	if src.Path == "" {
		b.WriteString(", the repository's root")
	} else {
		b.WriteString(", path " + src.Path)
	}
	if src.Revision == "" {
		b.WriteString(", the default branch")
	} else {
		b.WriteString(", revision " + src.Revision)
	}
	if src.Helm != nil {
		files := src.Helm.ValueFiles
		if len(files) == 0 {
			files = []string{"values.yaml"}
		}
		b.WriteString(", Helm values " + strings.Join(files, ", "))
	}
	return b.String()
}
