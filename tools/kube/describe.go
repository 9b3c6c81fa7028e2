package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/tools"
)

// GitOpsDescriber says who owns an object when a GitOps tool (Argo CD,
// Flux) applies it from git, where a direct change is reverted at the
// next sync.
type GitOpsDescriber interface {
	// Describe returns one line for kube_describe ("Managed by: Argo CD
	// Application argocd/shop — repo …"), and false when no GitOps tool
	// owns obj. It does not fail: what it could not read, it says in the
	// line.
	Describe(ctx context.Context, obj metav1.Object) (string, bool)
}

type describeTool struct{ cfg Config }

func (t describeTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_describe",
		Description: "Describe one object (like kubectl describe, in brief): pods (containers, restarts, last termination such as " +
			"OOMKilled, resources), deployments, statefulsets, daemonsets, jobs, cronjobs, services, HPAs, PVCs and nodes — state, " +
			"conditions, the object's recent events, and whether Argo CD or Flux applies it from git (then a direct change is " +
			"reverted at the next sync: change its repository). Secrets are never read.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"kind":      tools.Enum("kind", describableKinds()...),
			"name":      tools.String("object name"),
			"namespace": tools.String("namespace (default: the configured one)"),
		}, "kind", "name"),
	}
}

func (t describeTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a getArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	k, msg := resolveKind(a.Kind)
	if msg != "" {
		return tools.Errorf("%s", msg), nil
	}
	if k.describe == nil {
		return tools.Errorf("kube_describe does not cover %s; use kube_get", k.name), nil
	}
	ns := a.Namespace
	if ns == "" {
		ns = t.cfg.Namespace
	}
	what := k.noun + " " + ns + "/" + a.Name
	if k.clusterScoped {
		// A cluster-scoped object's events are recorded in some
		// namespace (a node's in default): look in all of them.
		ns, what = "", k.noun+" "+a.Name
	}
	c, now := t.cfg.Client, t.cfg.now()
	var b strings.Builder
	if err := k.describe(ctx, query{client: c, ns: ns, name: a.Name, now: now}, &b); err != nil {
		return apiError(what, err)
	}
	if line := t.gitOps(ctx, k, ns, a.Name); line != "" {
		// Right under the headline: whether to change the object or its
		// repository is the first thing to know before acting on it.
		head, rest, _ := strings.Cut(b.String(), "\n")
		b.Reset()
		b.WriteString(head + "\n" + line + "\n" + rest)
	}
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + k.apiKind + ",involvedObject.name=" + a.Name})
	if err == nil && len(evs.Items) > 0 {
		items := evs.Items
		sortEvents(items)
		b.WriteString("Events (warnings first):\n")
		for i, e := range items {
			if i == 15 {
				fmt.Fprintf(&b, "  … %d more\n", len(items)-15)
				break
			}
			fmt.Fprintf(&b, "  %s ago  %s  %s ×%d: %s\n", age(now, eventTime(e).Time), e.Type, e.Reason, max2(int(e.Count), 1), oneLine(e.Message, 200))
		}
	} else if err == nil {
		b.WriteString("Events: none recorded.\n")
	}
	return tools.Text(untrusted("kubernetes", b.String())), nil
}

// gitOps returns the GitOps line for the object described, or "".
func (t describeTool) gitOps(ctx context.Context, k kind, ns, name string) string {
	if t.cfg.GitOps == nil || k.clusterScoped {
		return ""
	}
	obj, err := describedObject(ctx, t.cfg.Client, k.name, ns, name)
	if err != nil || obj == nil {
		// The object was just described: it is gone since, or a kind
		// GitOps does not apply. The description stands without the line.
		return ""
	}
	line, ok := t.cfg.GitOps.Describe(ctx, obj)
	if !ok {
		return ""
	}
	return oneLine(line, 600)
}

// describedObject reads the described object's metadata once more for the
// GitOps line, as the kinds' describe functions write text only; nil for a
// kind without labels worth reading.
func describedObject(ctx context.Context, c kubernetes.Interface, kind, ns, name string) (metav1.Object, error) {
	get := metav1.GetOptions{}
	switch kind {
	case "pods":
		return c.CoreV1().Pods(ns).Get(ctx, name, get)
	case "deployments":
		return c.AppsV1().Deployments(ns).Get(ctx, name, get)
	case "statefulsets":
		return c.AppsV1().StatefulSets(ns).Get(ctx, name, get)
	case "daemonsets":
		return c.AppsV1().DaemonSets(ns).Get(ctx, name, get)
	case "jobs":
		return c.BatchV1().Jobs(ns).Get(ctx, name, get)
	case "cronjobs":
		return c.BatchV1().CronJobs(ns).Get(ctx, name, get)
	case "services":
		return c.CoreV1().Services(ns).Get(ctx, name, get)
	case "hpa":
		return c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, get)
	case "pvc":
		return c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, get)
	case "configmaps":
		return c.CoreV1().ConfigMaps(ns).Get(ctx, name, get)
	}
	return nil, nil
}

func describePod(b *strings.Builder, p corev1.Pod, now time.Time) {
	fmt.Fprintf(b, "Pod %s/%s — %s on node %s, age %s\n", p.Namespace, p.Name, podStatus(p), orDash(p.Spec.NodeName), age(now, p.CreationTimestamp.Time))
	if len(p.OwnerReferences) > 0 {
		fmt.Fprintf(b, "Owned by %s/%s\n", p.OwnerReferences[0].Kind, p.OwnerReferences[0].Name)
	}
	statuses := map[string]corev1.ContainerStatus{}
	for _, s := range p.Status.ContainerStatuses {
		statuses[s.Name] = s
	}
	for _, c := range p.Spec.Containers {
		s := statuses[c.Name]
		fmt.Fprintf(b, "Container %s: image %s, ready %v, restarts %d, state %s\n", c.Name, c.Image, s.Ready, s.RestartCount, containerState(s.State, now))
		if t := s.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(b, "  last termination: %s, exit %d, %s ago\n", t.Reason, t.ExitCode, age(now, t.FinishedAt.Time))
		}
		if r := c.Resources; len(r.Requests) > 0 || len(r.Limits) > 0 {
			fmt.Fprintf(b, "  requests %s; limits %s\n", resources(r.Requests), resources(r.Limits))
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			fmt.Fprintf(b, "Condition %s is %s: %s %s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200))
		}
	}
}

func containerState(s corev1.ContainerState, now time.Time) string {
	switch {
	case s.Running != nil:
		return "running since " + age(now, s.Running.StartedAt.Time) + " ago"
	case s.Waiting != nil:
		return "waiting (" + s.Waiting.Reason + ")"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated (%s, exit %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "unknown"
}

func resources(l corev1.ResourceList) string {
	if len(l) == 0 {
		return "none"
	}
	var out []string
	for k, v := range l {
		if k == corev1.ResourceMemory || k == corev1.ResourceStorage || k == corev1.ResourceEphemeralStorage ||
			strings.HasPrefix(string(k), corev1.ResourceHugePagesPrefix) {
			out = append(out, string(k)+"="+size(v))
			continue
		}
		out = append(out, string(k)+"="+v.String())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func describeDeployment(b *strings.Builder, d appsv1.Deployment, now time.Time) {
	fmt.Fprintf(b, "Deployment %s/%s — %d/%d ready, %d up to date, %d available, generation %d (observed %d), age %s\n",
		d.Namespace, d.Name, d.Status.ReadyReplicas, replicas(d.Spec.Replicas), d.Status.UpdatedReplicas, d.Status.AvailableReplicas,
		d.Generation, d.Status.ObservedGeneration, age(now, d.CreationTimestamp.Time))
	fmt.Fprintf(b, "Revision %s, strategy %s, selector %s\n", orDash(d.Annotations[revisionAnnotation]), d.Spec.Strategy.Type,
		metav1.FormatLabelSelector(d.Spec.Selector))
	if d.Spec.Paused {
		b.WriteString("Rollout is PAUSED\n")
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		fmt.Fprintf(b, "Container %s: image %s; requests %s; limits %s\n", c.Name, c.Image, resources(c.Resources.Requests), resources(c.Resources.Limits))
	}
	for _, cond := range d.Status.Conditions {
		fmt.Fprintf(b, "Condition %s=%s (%s): %s, %s ago\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200), age(now, cond.LastUpdateTime.Time))
	}
}

func describeNode(b *strings.Builder, n corev1.Node, now time.Time) {
	status, problems := nodeStatus(n)
	fmt.Fprintf(b, "Node %s — %s, problems %s, age %s\n", n.Name, status, problems, age(now, n.CreationTimestamp.Time))
	fmt.Fprintf(b, "Allocatable: cpu %s, memory %s, pods %s\n", n.Status.Allocatable.Cpu(), size(*n.Status.Allocatable.Memory()), n.Status.Allocatable.Pods())
	for _, t := range n.Spec.Taints {
		fmt.Fprintf(b, "Taint %s=%s:%s\n", t.Key, t.Value, t.Effect)
	}
	for _, c := range n.Status.Conditions {
		fmt.Fprintf(b, "Condition %s=%s (%s), since %s ago\n", c.Type, c.Status, c.Reason, age(now, c.LastTransitionTime.Time))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describeContainers(b *strings.Builder, spec corev1.PodSpec) {
	for _, c := range spec.Containers {
		fmt.Fprintf(b, "Container %s: image %s; requests %s; limits %s\n", c.Name, c.Image, resources(c.Resources.Requests), resources(c.Resources.Limits))
	}
}

// podReady reports whether every container of p is ready.
func podReady(p corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if !s.Ready {
			return false
		}
	}
	return true
}
