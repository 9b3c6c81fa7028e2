package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kind is everything the read tools know about one kind of object. It is
// the only place a kind is described: kube_get's schema, its table and the
// unknown-kind message, and kube_describe's enum all come from kindTable,
// so adding a kind is adding one entry there.
type kind struct {
	// name is the canonical name, used in schemas, messages and results.
	name string
	// aliases are the other names people use: singular, plural, kubectl's
	// short names (all lower case).
	aliases []string
	// noun names one object in messages ("pod shop/web-1: not found").
	noun string
	// apiKind is the Kind in an event's involvedObject, for describe's
	// "recent events".
	apiKind string
	// clusterScoped kinds have no namespace: listing every namespace adds
	// no NAMESPACE column, and describing one looks for its events in any
	// namespace.
	clusterScoped bool
	// filtersName: list matches q.name itself (events: a prefix of the
	// involved object's name), so kube_get sends no metadata.name field
	// selector.
	filtersName bool
	// columns is kube_get's header, without the NAMESPACE column that
	// listing every namespace adds in front.
	columns []string
	// list lists the objects of q and passes each to add with its cells,
	// in the order of columns.
	list func(ctx context.Context, q query, add addRow) error
	// describe writes one object, q.name, to b; nil when kube_describe
	// does not cover the kind. API errors are returned as they are: the
	// tool turns them into what the model can act on.
	describe func(ctx context.Context, q query, b *strings.Builder) error
}

// query is what a kind's list or describe needs from one tool call.
type query struct {
	client kubernetes.Interface
	// ns is the namespace; "" lists every namespace, and is what describe
	// gets for a cluster-scoped kind.
	ns   string
	name string
	// opts carries kube_get's label selector and, unless the kind
	// filtersName, the name as a field selector.
	opts metav1.ListOptions
	now  time.Time
}

// addRow takes one listed object: its metadata (for the namespace column)
// and its cells.
type addRow func(meta metav1.ObjectMeta, cells ...string)

// kindTable is every kind the read tools cover. Its order is
// kube_describe's enum order; messages list the names sorted.
var kindTable = []kind{
	{
		name: "pods", aliases: []string{"pod", "po"}, noun: "pod", apiKind: "Pod",
		columns: []string{"NAME", "READY", "STATUS", "RESTARTS", "LAST TERMINATION", "NODE", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().Pods(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, p := range l.Items {
				ready, restarts, last := podCounts(p)
				add(p.ObjectMeta, p.Name, ready, podStatus(p), strconv.Itoa(int(restarts)), last, p.Spec.NodeName, age(q.now, p.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			p, err := q.client.CoreV1().Pods(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			describePod(b, *p, q.now)
			return nil
		},
	},
	{
		name: "deployments", aliases: []string{"deployment", "deploy"}, noun: "deployment", apiKind: "Deployment",
		columns: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "IMAGES", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.AppsV1().Deployments(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, d := range l.Items {
				add(d.ObjectMeta, d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
					strconv.Itoa(int(d.Status.UpdatedReplicas)), strconv.Itoa(int(d.Status.AvailableReplicas)),
					images(d.Spec.Template.Spec), age(q.now, d.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			d, err := q.client.AppsV1().Deployments(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			describeDeployment(b, *d, q.now)
			return nil
		},
	},
	{
		name: "statefulsets", aliases: []string{"statefulset", "sts"}, noun: "statefulset", apiKind: "StatefulSet",
		columns: []string{"NAME", "READY", "IMAGES", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.AppsV1().StatefulSets(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, s := range l.Items {
				add(s.ObjectMeta, s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), images(s.Spec.Template.Spec), age(q.now, s.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.AppsV1().StatefulSets(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "StatefulSet %s/%s — %d/%d ready, %d current, %d updated, revision %s, age %s\n", q.ns, q.name, o.Status.ReadyReplicas,
				replicas(o.Spec.Replicas), o.Status.CurrentReplicas, o.Status.UpdatedReplicas, orDash(o.Status.UpdateRevision), age(q.now, o.CreationTimestamp.Time))
			describeContainers(b, o.Spec.Template.Spec)
			return nil
		},
	},
	{
		name: "daemonsets", aliases: []string{"daemonset", "ds"}, noun: "daemonset", apiKind: "DaemonSet",
		columns: []string{"NAME", "DESIRED", "READY", "AVAILABLE", "IMAGES", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.AppsV1().DaemonSets(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, d := range l.Items {
				add(d.ObjectMeta, d.Name, strconv.Itoa(int(d.Status.DesiredNumberScheduled)), strconv.Itoa(int(d.Status.NumberReady)),
					strconv.Itoa(int(d.Status.NumberAvailable)), images(d.Spec.Template.Spec), age(q.now, d.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.AppsV1().DaemonSets(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "DaemonSet %s/%s — %d desired, %d ready, %d available, %d misscheduled, age %s\n", q.ns, q.name, o.Status.DesiredNumberScheduled,
				o.Status.NumberReady, o.Status.NumberAvailable, o.Status.NumberMisscheduled, age(q.now, o.CreationTimestamp.Time))
			describeContainers(b, o.Spec.Template.Spec)
			return nil
		},
	},
	{
		name: "replicasets", aliases: []string{"replicaset", "rs"}, noun: "replicaset", apiKind: "ReplicaSet",
		columns: []string{"NAME", "DESIRED", "READY", "REVISION", "IMAGES", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.AppsV1().ReplicaSets(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, r := range l.Items {
				add(r.ObjectMeta, r.Name, strconv.Itoa(int(replicas(r.Spec.Replicas))), strconv.Itoa(int(r.Status.ReadyReplicas)),
					r.Annotations[revisionAnnotation], images(r.Spec.Template.Spec), age(q.now, r.CreationTimestamp.Time))
			}
			return nil
		},
	},
	{
		name: "jobs", aliases: []string{"job"}, noun: "job", apiKind: "Job",
		columns: []string{"NAME", "COMPLETIONS", "ACTIVE", "FAILED", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.BatchV1().Jobs(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, j := range l.Items {
				want := int32(1)
				if j.Spec.Completions != nil {
					want = *j.Spec.Completions
				}
				add(j.ObjectMeta, j.Name, fmt.Sprintf("%d/%d", j.Status.Succeeded, want), strconv.Itoa(int(j.Status.Active)),
					strconv.Itoa(int(j.Status.Failed)), age(q.now, j.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.BatchV1().Jobs(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "Job %s/%s — %d succeeded, %d failed, %d active, age %s\n", q.ns, q.name, o.Status.Succeeded, o.Status.Failed, o.Status.Active, age(q.now, o.CreationTimestamp.Time))
			for _, cond := range o.Status.Conditions {
				fmt.Fprintf(b, "Condition %s=%s (%s): %s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200))
			}
			describeContainers(b, o.Spec.Template.Spec)
			return nil
		},
	},
	{
		name: "cronjobs", aliases: []string{"cronjob", "cj"}, noun: "cronjob", apiKind: "CronJob",
		columns: []string{"NAME", "SCHEDULE", "SUSPENDED", "ACTIVE", "LAST SCHEDULE", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.BatchV1().CronJobs(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, j := range l.Items {
				last := "-"
				if j.Status.LastScheduleTime != nil {
					last = age(q.now, j.Status.LastScheduleTime.Time) + " ago"
				}
				add(j.ObjectMeta, j.Name, j.Spec.Schedule, strconv.FormatBool(j.Spec.Suspend != nil && *j.Spec.Suspend),
					strconv.Itoa(len(j.Status.Active)), last, age(q.now, j.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.BatchV1().CronJobs(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			last, success := "never", "never"
			if o.Status.LastScheduleTime != nil {
				last = age(q.now, o.Status.LastScheduleTime.Time) + " ago"
			}
			if o.Status.LastSuccessfulTime != nil {
				success = age(q.now, o.Status.LastSuccessfulTime.Time) + " ago"
			}
			fmt.Fprintf(b, "CronJob %s/%s — schedule %q, suspended %v, %d active, last scheduled %s, last success %s\n", q.ns, q.name,
				o.Spec.Schedule, o.Spec.Suspend != nil && *o.Spec.Suspend, len(o.Status.Active), last, success)
			describeContainers(b, o.Spec.JobTemplate.Spec.Template.Spec)
			return nil
		},
	},
	{
		name: "services", aliases: []string{"service", "svc"}, noun: "service", apiKind: "Service",
		columns: []string{"NAME", "TYPE", "CLUSTER-IP", "PORTS", "SELECTOR", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().Services(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, s := range l.Items {
				var ports []string
				for _, p := range s.Spec.Ports {
					ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
				}
				add(s.ObjectMeta, s.Name, string(s.Spec.Type), s.Spec.ClusterIP, strings.Join(ports, ","), labelString(s.Spec.Selector), age(q.now, s.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.CoreV1().Services(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var ports []string
			for _, p := range o.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%s %d→%s/%s", p.Name, p.Port, p.TargetPort.String(), p.Protocol))
			}
			fmt.Fprintf(b, "Service %s/%s — %s %s, ports %s, selector %s\n", q.ns, q.name, o.Spec.Type, o.Spec.ClusterIP, strings.Join(ports, ", "), orDash(labelString(o.Spec.Selector)))
			// The backing pods are extra: a failure to list them leaves
			// the line out rather than failing the description.
			if sel := labelString(o.Spec.Selector); sel != "" {
				if pods, err := q.client.CoreV1().Pods(q.ns).List(ctx, metav1.ListOptions{LabelSelector: sel}); err == nil {
					ready := 0
					for _, p := range pods.Items {
						if podReady(p) {
							ready++
						}
					}
					fmt.Fprintf(b, "Backed by %d pods, %d fully ready\n", len(pods.Items), ready)
				}
			}
			return nil
		},
	},
	{
		name: "hpa", aliases: []string{"horizontalpodautoscaler", "horizontalpodautoscalers"}, noun: "hpa", apiKind: "HorizontalPodAutoscaler",
		columns: []string{"NAME", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.AutoscalingV2().HorizontalPodAutoscalers(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, h := range l.Items {
				min := int32(1)
				if h.Spec.MinReplicas != nil {
					min = *h.Spec.MinReplicas
				}
				add(h.ObjectMeta, h.Name, h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name, strconv.Itoa(int(min)),
					strconv.Itoa(int(h.Spec.MaxReplicas)), strconv.Itoa(int(h.Status.CurrentReplicas)), strconv.Itoa(int(h.Status.DesiredReplicas)), age(q.now, h.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.AutoscalingV2().HorizontalPodAutoscalers(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			min := int32(1)
			if o.Spec.MinReplicas != nil {
				min = *o.Spec.MinReplicas
			}
			fmt.Fprintf(b, "HPA %s/%s — target %s/%s, %d–%d replicas, current %d, desired %d\n", q.ns, q.name, o.Spec.ScaleTargetRef.Kind,
				o.Spec.ScaleTargetRef.Name, min, o.Spec.MaxReplicas, o.Status.CurrentReplicas, o.Status.DesiredReplicas)
			for _, cond := range o.Status.Conditions {
				fmt.Fprintf(b, "Condition %s=%s (%s): %s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message, 200))
			}
			return nil
		},
	},
	{
		name: "pvc", aliases: []string{"persistentvolumeclaim", "persistentvolumeclaims"}, noun: "pvc", apiKind: "PersistentVolumeClaim",
		columns: []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "STORAGECLASS", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().PersistentVolumeClaims(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, p := range l.Items {
				sc := ""
				if p.Spec.StorageClassName != nil {
					sc = *p.Spec.StorageClassName
				}
				capacity := p.Status.Capacity[corev1.ResourceStorage]
				add(p.ObjectMeta, p.Name, string(p.Status.Phase), p.Spec.VolumeName, size(capacity), sc, age(q.now, p.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			o, err := q.client.CoreV1().PersistentVolumeClaims(q.ns).Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			req := o.Spec.Resources.Requests[corev1.ResourceStorage]
			capacity := o.Status.Capacity[corev1.ResourceStorage]
			fmt.Fprintf(b, "PVC %s/%s — %s, volume %s, requested %s, capacity %s, access %v\n", q.ns, q.name, o.Status.Phase, orDash(o.Spec.VolumeName),
				size(req), size(capacity), o.Spec.AccessModes)
			return nil
		},
	},
	{
		name: "nodes", aliases: []string{"node", "no"}, noun: "node", apiKind: "Node", clusterScoped: true,
		columns: []string{"NAME", "STATUS", "PROBLEMS", "CPU", "MEMORY", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().Nodes().List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, n := range l.Items {
				status, problems := nodeStatus(n)
				add(n.ObjectMeta, n.Name, status, problems, n.Status.Allocatable.Cpu().String(), size(*n.Status.Allocatable.Memory()), age(q.now, n.CreationTimestamp.Time))
			}
			return nil
		},
		describe: func(ctx context.Context, q query, b *strings.Builder) error {
			n, err := q.client.CoreV1().Nodes().Get(ctx, q.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			describeNode(b, *n, q.now)
			return nil
		},
	},
	{
		name: "namespaces", aliases: []string{"namespace", "ns"}, noun: "namespace", apiKind: "Namespace", clusterScoped: true,
		columns: []string{"NAME", "STATUS", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().Namespaces().List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, n := range l.Items {
				add(n.ObjectMeta, n.Name, string(n.Status.Phase), age(q.now, n.CreationTimestamp.Time))
			}
			return nil
		},
	},
	{
		name: "configmaps", aliases: []string{"configmap", "cm"}, noun: "configmap", apiKind: "ConfigMap",
		columns: []string{"NAME", "KEYS", "CHANGED", "AGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().ConfigMaps(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			for _, m := range l.Items {
				changed := lastChange(m.ObjectMeta)
				add(m.ObjectMeta, m.Name, strconv.Itoa(len(m.Data)+len(m.BinaryData)), age(q.now, changed.Time)+" ago", age(q.now, m.CreationTimestamp.Time))
			}
			return nil
		},
	},
	{
		name: "events", aliases: []string{"event", "ev"}, noun: "event", apiKind: "Event", filtersName: true,
		columns: []string{"LAST", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"},
		list: func(ctx context.Context, q query, add addRow) error {
			l, err := q.client.CoreV1().Events(q.ns).List(ctx, q.opts)
			if err != nil {
				return err
			}
			evs := l.Items
			sortEvents(evs)
			for _, e := range evs {
				obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
				if q.name != "" && !strings.HasPrefix(e.InvolvedObject.Name, q.name) {
					continue
				}
				add(e.ObjectMeta, age(q.now, eventTime(e).Time)+" ago", e.Type, e.Reason, obj, strconv.Itoa(int(max2(int(e.Count), 1))), oneLine(e.Message, 160))
			}
			return nil
		},
	},
}

// kindNames lists the canonical kinds, sorted, for schemas and messages.
func kindNames() []string {
	out := make([]string, 0, len(kindTable))
	for _, k := range kindTable {
		out = append(out, k.name)
	}
	sort.Strings(out)
	return out
}

// describableKinds lists the kinds kube_describe covers, in table order.
func describableKinds() []string {
	var out []string
	for _, k := range kindTable {
		if k.describe != nil {
			out = append(out, k.name)
		}
	}
	return out
}

// resolveKind returns the kind a name (canonical or alias, any case) means,
// or a message for the model.
func resolveKind(name string) (kind, string) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "secret" || name == "secrets" {
		return kind{}, "Secrets are never read by Watchkeeper (neither the tool nor its RBAC role allows it). Ask a person to check a secret's existence with kubectl if it matters."
	}
	for _, k := range kindTable {
		if k.name == name || slices.Contains(k.aliases, name) {
			return k, ""
		}
	}
	return kind{}, fmt.Sprintf("unknown kind %q; use one of %s", name, strings.Join(kindNames(), ", "))
}
