package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
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
	kind, msg := resolveKind(a.Kind)
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
	if a.Name != "" && kind != "events" {
		opts.FieldSelector = "metadata.name=" + a.Name
	}
	header, rows, err := t.rows(ctx, kind, ns, a.Name, opts)
	if err != nil {
		return apiError(fmt.Sprintf("list %s in %s", kind, nsLabel(ns)), err)
	}
	if len(rows) == 0 {
		what := kind
		if a.Selector != "" {
			what += " matching " + a.Selector
		}
		if a.Name != "" {
			what += " named " + a.Name
		}
		return tools.Text(fmt.Sprintf("No %s in %s.", what, nsLabel(ns))), nil
	}
	head := fmt.Sprintf("%d %s in %s:\n", len(rows), kind, nsLabel(ns))
	return tools.Result{Text: head + untrusted("kubernetes", table(header, rows, t.cfg.MaxRows)),
		Data: map[string]any{"kind": kind, "namespace": ns, "count": len(rows)}}, nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "all namespaces"
	}
	return "namespace " + ns
}

// rows lists kind and renders its rows; the namespace column appears when
// listing all namespaces.
func (t getTool) rows(ctx context.Context, kind, ns, name string, opts metav1.ListOptions) ([]string, [][]string, error) {
	c, now := t.cfg.Client, t.cfg.now()
	var header []string
	var rows [][]string
	add := func(meta metav1.ObjectMeta, cells ...string) {
		if ns == "" && kind != "nodes" && kind != "namespaces" {
			cells = append([]string{meta.Namespace}, cells...)
		}
		rows = append(rows, cells)
	}
	switch kind {
	case "pods":
		header = []string{"NAME", "READY", "STATUS", "RESTARTS", "LAST TERMINATION", "NODE", "AGE"}
		l, err := c.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range l.Items {
			ready, restarts, last := podCounts(p)
			add(p.ObjectMeta, p.Name, ready, podStatus(p), strconv.Itoa(int(restarts)), last, p.Spec.NodeName, age(now, p.CreationTimestamp.Time))
		}
	case "deployments":
		header = []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "IMAGES", "AGE"}
		l, err := c.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range l.Items {
			add(d.ObjectMeta, d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
				strconv.Itoa(int(d.Status.UpdatedReplicas)), strconv.Itoa(int(d.Status.AvailableReplicas)),
				images(d.Spec.Template.Spec), age(now, d.CreationTimestamp.Time))
		}
	case "statefulsets":
		header = []string{"NAME", "READY", "IMAGES", "AGE"}
		l, err := c.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range l.Items {
			add(s.ObjectMeta, s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), images(s.Spec.Template.Spec), age(now, s.CreationTimestamp.Time))
		}
	case "daemonsets":
		header = []string{"NAME", "DESIRED", "READY", "AVAILABLE", "IMAGES", "AGE"}
		l, err := c.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range l.Items {
			add(d.ObjectMeta, d.Name, strconv.Itoa(int(d.Status.DesiredNumberScheduled)), strconv.Itoa(int(d.Status.NumberReady)),
				strconv.Itoa(int(d.Status.NumberAvailable)), images(d.Spec.Template.Spec), age(now, d.CreationTimestamp.Time))
		}
	case "replicasets":
		header = []string{"NAME", "DESIRED", "READY", "REVISION", "IMAGES", "AGE"}
		l, err := c.AppsV1().ReplicaSets(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range l.Items {
			add(r.ObjectMeta, r.Name, strconv.Itoa(int(replicas(r.Spec.Replicas))), strconv.Itoa(int(r.Status.ReadyReplicas)),
				r.Annotations[revisionAnnotation], images(r.Spec.Template.Spec), age(now, r.CreationTimestamp.Time))
		}
	case "jobs":
		header = []string{"NAME", "COMPLETIONS", "ACTIVE", "FAILED", "AGE"}
		l, err := c.BatchV1().Jobs(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range l.Items {
			want := int32(1)
			if j.Spec.Completions != nil {
				want = *j.Spec.Completions
			}
			add(j.ObjectMeta, j.Name, fmt.Sprintf("%d/%d", j.Status.Succeeded, want), strconv.Itoa(int(j.Status.Active)),
				strconv.Itoa(int(j.Status.Failed)), age(now, j.CreationTimestamp.Time))
		}
	case "cronjobs":
		header = []string{"NAME", "SCHEDULE", "SUSPENDED", "ACTIVE", "LAST SCHEDULE", "AGE"}
		l, err := c.BatchV1().CronJobs(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range l.Items {
			last := "-"
			if j.Status.LastScheduleTime != nil {
				last = age(now, j.Status.LastScheduleTime.Time) + " ago"
			}
			add(j.ObjectMeta, j.Name, j.Spec.Schedule, strconv.FormatBool(j.Spec.Suspend != nil && *j.Spec.Suspend),
				strconv.Itoa(len(j.Status.Active)), last, age(now, j.CreationTimestamp.Time))
		}
	case "services":
		header = []string{"NAME", "TYPE", "CLUSTER-IP", "PORTS", "SELECTOR", "AGE"}
		l, err := c.CoreV1().Services(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range l.Items {
			var ports []string
			for _, p := range s.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
			}
			add(s.ObjectMeta, s.Name, string(s.Spec.Type), s.Spec.ClusterIP, strings.Join(ports, ","), labelString(s.Spec.Selector), age(now, s.CreationTimestamp.Time))
		}
	case "nodes":
		header = []string{"NAME", "STATUS", "PROBLEMS", "CPU", "MEMORY", "AGE"}
		l, err := c.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range l.Items {
			status, problems := nodeStatus(n)
			add(n.ObjectMeta, n.Name, status, problems, n.Status.Allocatable.Cpu().String(), n.Status.Allocatable.Memory().String(), age(now, n.CreationTimestamp.Time))
		}
	case "namespaces":
		header = []string{"NAME", "STATUS", "AGE"}
		l, err := c.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range l.Items {
			add(n.ObjectMeta, n.Name, string(n.Status.Phase), age(now, n.CreationTimestamp.Time))
		}
	case "hpa":
		header = []string{"NAME", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "AGE"}
		l, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range l.Items {
			min := int32(1)
			if h.Spec.MinReplicas != nil {
				min = *h.Spec.MinReplicas
			}
			add(h.ObjectMeta, h.Name, h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name, strconv.Itoa(int(min)),
				strconv.Itoa(int(h.Spec.MaxReplicas)), strconv.Itoa(int(h.Status.CurrentReplicas)), strconv.Itoa(int(h.Status.DesiredReplicas)), age(now, h.CreationTimestamp.Time))
		}
	case "pvc":
		header = []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "STORAGECLASS", "AGE"}
		l, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range l.Items {
			sc := ""
			if p.Spec.StorageClassName != nil {
				sc = *p.Spec.StorageClassName
			}
			capacity := p.Status.Capacity[corev1.ResourceStorage]
			add(p.ObjectMeta, p.Name, string(p.Status.Phase), p.Spec.VolumeName, capacity.String(), sc, age(now, p.CreationTimestamp.Time))
		}
	case "configmaps":
		header = []string{"NAME", "KEYS", "CHANGED", "AGE"}
		l, err := c.CoreV1().ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range l.Items {
			changed := lastChange(m.ObjectMeta)
			add(m.ObjectMeta, m.Name, strconv.Itoa(len(m.Data)+len(m.BinaryData)), age(now, changed.Time)+" ago", age(now, m.CreationTimestamp.Time))
		}
	case "events":
		header = []string{"LAST", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"}
		l, err := c.CoreV1().Events(ns).List(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		evs := l.Items
		sortEvents(evs)
		for _, e := range evs {
			obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
			if name != "" && !strings.HasPrefix(e.InvolvedObject.Name, name) {
				continue
			}
			add(e.ObjectMeta, age(now, eventTime(e).Time)+" ago", e.Type, e.Reason, obj, strconv.Itoa(int(max2(int(e.Count), 1))), oneLine(e.Message, 160))
		}
	}
	if ns == "" && kind != "nodes" && kind != "namespaces" {
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
