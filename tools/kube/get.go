package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/tools"
)

type getTool struct{ cfg Config }

func (t getTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_get",
		Description: "List Kubernetes objects of one kind as a compact table (like kubectl get): pods with status, restarts and " +
			"last termination reason (OOMKilled), workloads with ready/desired replicas and images, nodes with conditions, events " +
			"(warnings first), HPAs, PVCs, services. Secrets are never read.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"kind":      tools.String("what to list: " + strings.Join(kindNames(), ", ") + " (kubectl's short names work too)"),
			"namespace": tools.String(`namespace (default: the configured one); "all" for every namespace`),
			"name":      tools.String("only this object (or, for events, objects whose name starts with it)"),
			"selector":  tools.String("label selector, e.g. app=checkout,tier!=db"),
		}, "kind"),
	}
}

type getArgs struct {
	Kind, Namespace, Name, Selector string
}

func (t getTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a getArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	k, msg := resolveKind(a.Kind)
	if msg != "" {
		return tools.Errorf("%s", msg), nil
	}
	ns := a.Namespace
	switch {
	case ns == "all":
		ns = ""
	case ns == "":
		ns = t.cfg.Namespace
	}
	opts := metav1.ListOptions{LabelSelector: a.Selector}
	if a.Name != "" && !k.filtersName {
		opts.FieldSelector = "metadata.name=" + a.Name
	}
	header, rows, err := t.rows(ctx, k, ns, a.Name, opts)
	if err != nil {
		return apiError(fmt.Sprintf("list %s in %s", k.name, nsLabel(ns)), err)
	}
	if len(rows) == 0 {
		what := k.name
		if a.Selector != "" {
			what += " matching " + a.Selector
		}
		if a.Name != "" {
			what += " named " + a.Name
		}
		return tools.Text(fmt.Sprintf("No %s in %s.", what, nsLabel(ns))), nil
	}
	head := fmt.Sprintf("%d %s in %s:\n", len(rows), k.name, nsLabel(ns))
	return tools.Result{Text: head + untrusted("kubernetes", table(header, rows, t.cfg.MaxRows)),
		Data: map[string]any{"kind": k.name, "namespace": ns, "count": len(rows)}}, nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "all namespaces"
	}
	return "namespace " + ns
}

// rows lists k and renders its rows; the namespace column appears when
// listing all namespaces.
func (t getTool) rows(ctx context.Context, k kind, ns, name string, opts metav1.ListOptions) ([]string, [][]string, error) {
	withNamespace := ns == "" && !k.clusterScoped
	var rows [][]string
	add := func(meta metav1.ObjectMeta, cells ...string) {
		if withNamespace {
			cells = append([]string{meta.Namespace}, cells...)
		}
		rows = append(rows, cells)
	}
	q := query{client: t.cfg.Client, ns: ns, name: name, opts: opts, now: t.cfg.now()}
	if err := k.list(ctx, q, add); err != nil {
		return nil, nil, err
	}
	header := k.columns
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	return header, rows, nil
}

// revisionAnnotation numbers a Deployment's ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func images(spec corev1.PodSpec) string {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}

func labelString(m map[string]string) string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// podCounts returns ready/total, restarts and the most recent
// termination reason of any container (e.g. "OOMKilled (exit 137) 3m ago").
func podCounts(p corev1.Pod) (string, int32, string) {
	ready, restarts := 0, int32(0)
	last, lastAt := "-", metav1.Time{}
	for _, s := range p.Status.ContainerStatuses {
		if s.Ready {
			ready++
		}
		restarts += s.RestartCount
		if t := s.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(lastAt.Time) {
			lastAt = t.FinishedAt
			last = fmt.Sprintf("%s (exit %d, %s)", t.Reason, t.ExitCode, s.Name)
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), restarts, last
}

// podStatus is kubectl's STATUS column, in short.
func podStatus(p corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, s := range p.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := s.State.Terminated; t != nil && t.Reason != "" {
			return t.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	return string(p.Status.Phase)
}

func nodeStatus(n corev1.Node) (string, string) {
	status := "NotReady"
	var problems []string
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue:
			status = "Ready"
		case c.Type != corev1.NodeReady && c.Status == corev1.ConditionTrue:
			problems = append(problems, string(c.Type))
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	if len(problems) == 0 {
		return status, "-"
	}
	return status, strings.Join(problems, ",")
}

func eventTime(e corev1.Event) (t metav1.Time) {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	}
	return e.CreationTimestamp
}

// sortEvents puts warnings first, then the newest.
func sortEvents(evs []corev1.Event) {
	sort.SliceStable(evs, func(i, j int) bool {
		wi, wj := evs[i].Type == corev1.EventTypeWarning, evs[j].Type == corev1.EventTypeWarning
		if wi != wj {
			return wi
		}
		return eventTime(evs[i]).After(eventTime(evs[j]).Time)
	})
}

// lastChange is the newest managedFields time: when someone last wrote
// the object.
func lastChange(m metav1.ObjectMeta) (t metav1.Time) {
	t = m.CreationTimestamp
	for _, f := range m.ManagedFields {
		if f.Time != nil && f.Time.After(t.Time) {
			t = *f.Time
		}
	}
	return t
}
