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

	"github.com/watchkeeper/watchkeeper/tools"
)

type describeTool struct{ cfg Config }

func (t describeTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_describe",
		Description: "Describe one object (like kubectl describe, in brief): pods (containers, restarts, last termination such as " +
			"OOMKilled, resources), deployments, statefulsets, daemonsets, jobs, cronjobs, services, HPAs, PVCs and nodes — state, " +
			"conditions, and the object's recent events. Secrets are never read.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"kind":      tools.Enum("kind", "pods", "deployments", "statefulsets", "daemonsets", "jobs", "cronjobs", "services", "hpa", "pvc", "nodes"),
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
	kind, msg := resolveKind(a.Kind)
	if msg != "" {
		return tools.Errorf("%s", msg), nil
	}
	ns := a.Namespace
	if ns == "" {
		ns = t.cfg.Namespace
	}
	c, now := t.cfg.Client, t.cfg.now()
	var b strings.Builder
	var involved string
	switch kind {
	case "pods":
		p, err := c.CoreV1().Pods(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("pod "+ns+"/"+a.Name, err)
		}
		describePod(&b, *p, now)
		involved = "Pod"
	case "deployments":
		d, err := c.AppsV1().Deployments(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("deployment "+ns+"/"+a.Name, err)
		}
		describeDeployment(&b, *d, now)
		involved = "Deployment"
	case "nodes":
		n, err := c.CoreV1().Nodes().Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("node "+a.Name, err)
		}
		describeNode(&b, *n, now)
		involved, ns = "Node", ""
	case "statefulsets":
		o, err := c.AppsV1().StatefulSets(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("statefulset "+ns+"/"+a.Name, err)
		}
		fmt.Fprintf(&b, "StatefulSet %s/%s — %d/%d ready, %d current, %d updated, revision %s, age %s\n", ns, a.Name, o.Status.ReadyReplicas,
			replicas(o.Spec.Replicas), o.Status.CurrentReplicas, o.Status.UpdatedReplicas, orDash(o.Status.UpdateRevision), age(now, o.CreationTimestamp.Time))
		describeContainers(&b, o.Spec.Template.Spec)
		involved = "StatefulSet"
	case "daemonsets":
		o, err := c.AppsV1().DaemonSets(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("daemonset "+ns+"/"+a.Name, err)
		}
		fmt.Fprintf(&b, "DaemonSet %s/%s — %d desired, %d ready, %d available, %d misscheduled, age %s\n", ns, a.Name, o.Status.DesiredNumberScheduled,
			o.Status.NumberReady, o.Status.NumberAvailable, o.Status.NumberMisscheduled, age(now, o.CreationTimestamp.Time))
		describeContainers(&b, o.Spec.Template.Spec)
		involved = "DaemonSet"
	case "jobs":
		o, err := c.BatchV1().Jobs(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("job "+ns+"/"+a.Name, err)
		}
		fmt.Fprintf(&b, "Job %s/%s — %d succeeded, %d failed, %d active, age %s\n", ns, a.Name, o.Status.Succeeded, o.Status.Failed, o.Status.Active, age(now, o.CreationTimestamp.Time))
		for _, cond := range o.Status.Conditions {
			fmt.Fprintf(&b, "Condition %s=%s (%s): %s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200))
		}
		describeContainers(&b, o.Spec.Template.Spec)
		involved = "Job"
	case "cronjobs":
		o, err := c.BatchV1().CronJobs(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("cronjob "+ns+"/"+a.Name, err)
		}
		last, success := "never", "never"
		if o.Status.LastScheduleTime != nil {
			last = age(now, o.Status.LastScheduleTime.Time) + " ago"
		}
		if o.Status.LastSuccessfulTime != nil {
			success = age(now, o.Status.LastSuccessfulTime.Time) + " ago"
		}
		fmt.Fprintf(&b, "CronJob %s/%s — schedule %q, suspended %v, %d active, last scheduled %s, last success %s\n", ns, a.Name,
			o.Spec.Schedule, o.Spec.Suspend != nil && *o.Spec.Suspend, len(o.Status.Active), last, success)
		describeContainers(&b, o.Spec.JobTemplate.Spec.Template.Spec)
		involved = "CronJob"
	case "services":
		o, err := c.CoreV1().Services(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("service "+ns+"/"+a.Name, err)
		}
		var ports []string
		for _, p := range o.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s %d→%s/%s", p.Name, p.Port, p.TargetPort.String(), p.Protocol))
		}
		fmt.Fprintf(&b, "Service %s/%s — %s %s, ports %s, selector %s\n", ns, a.Name, o.Spec.Type, o.Spec.ClusterIP, strings.Join(ports, ", "), orDash(labelString(o.Spec.Selector)))
		if sel := labelString(o.Spec.Selector); sel != "" {
			if pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel}); err == nil {
				ready := 0
				for _, p := range pods.Items {
					if podReady(p) {
						ready++
					}
				}
				fmt.Fprintf(&b, "Backed by %d pods, %d fully ready\n", len(pods.Items), ready)
			}
		}
		involved = "Service"
	case "hpa":
		o, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("hpa "+ns+"/"+a.Name, err)
		}
		min := int32(1)
		if o.Spec.MinReplicas != nil {
			min = *o.Spec.MinReplicas
		}
		fmt.Fprintf(&b, "HPA %s/%s — target %s/%s, %d–%d replicas, current %d, desired %d\n", ns, a.Name, o.Spec.ScaleTargetRef.Kind,
			o.Spec.ScaleTargetRef.Name, min, o.Spec.MaxReplicas, o.Status.CurrentReplicas, o.Status.DesiredReplicas)
		for _, cond := range o.Status.Conditions {
			fmt.Fprintf(&b, "Condition %s=%s (%s): %s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200))
		}
		involved = "HorizontalPodAutoscaler"
	case "pvc":
		o, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return apiError("pvc "+ns+"/"+a.Name, err)
		}
		req := o.Spec.Resources.Requests[corev1.ResourceStorage]
		capacity := o.Status.Capacity[corev1.ResourceStorage]
		fmt.Fprintf(&b, "PVC %s/%s — %s, volume %s, requested %s, capacity %s, access %v\n", ns, a.Name, o.Status.Phase, orDash(o.Spec.VolumeName),
			req.String(), capacity.String(), o.Spec.AccessModes)
		involved = "PersistentVolumeClaim"
	default:
		return tools.Errorf("kube_describe does not cover %s; use kube_get", kind), nil
	}
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + involved + ",involvedObject.name=" + a.Name})
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
	fmt.Fprintf(b, "Allocatable: cpu %s, memory %s, pods %s\n", n.Status.Allocatable.Cpu(), n.Status.Allocatable.Memory(), n.Status.Allocatable.Pods())
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
