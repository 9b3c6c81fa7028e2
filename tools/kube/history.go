package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
)

type historyTool struct{ cfg Config }

func (t historyTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_rollout_history",
		Description: "A deployment's rollout history (like kubectl rollout history): each revision with when it was created, its " +
			"images, and what changed from the revision before (images, environment, resources, args, volumes, service account, " +
			"security context, init containers, probes). Use it to find the " +
			"revision to roll back to.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"name":      tools.String("deployment name"),
			"namespace": tools.String("namespace (default: the configured one)"),
		}, "name"),
	}
}

// revision is one ReplicaSet of a deployment.
type revision struct {
	number  int
	created time.Time
	rs      appsv1.ReplicaSet
}

// revisions returns a deployment's ReplicaSets by revision, oldest first.
func revisions(ctx context.Context, cfg Config, d *appsv1.Deployment) ([]revision, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	l, err := cfg.Client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []revision
	for _, rs := range l.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		n, _ := strconv.Atoi(rs.Annotations[revisionAnnotation])
		out = append(out, revision{number: n, created: rs.CreationTimestamp.Time, rs: rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number < out[j].number })
	return out, nil
}

func (t historyTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a getArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	ns := a.Namespace
	if ns == "" {
		ns = t.cfg.Namespace
	}
	d, err := t.cfg.Client.AppsV1().Deployments(ns).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return apiError("deployment "+ns+"/"+a.Name, err)
	}
	revs, err := revisions(ctx, t.cfg, d)
	if err != nil {
		return apiError("replicasets of "+ns+"/"+a.Name, err)
	}
	if len(revs) == 0 {
		return tools.Text(fmt.Sprintf("Deployment %s/%s has no ReplicaSets yet.", ns, a.Name)), nil
	}
	now := t.cfg.now()
	current := d.Annotations[revisionAnnotation]
	var b strings.Builder
	fmt.Fprintf(&b, "Rollout history of deployment %s/%s (%d revisions kept; current %s):\n", ns, a.Name, len(revs), orDash(current))
	for i, r := range revs {
		mark := ""
		if strconv.Itoa(r.number) == current {
			mark = " (current)"
		}
		fmt.Fprintf(&b, "revision %d%s — created %s (%s ago), %d/%d ready, images %s\n", r.number, mark,
			r.created.UTC().Format("2006-01-02 15:04:05 UTC"), age(now, r.created), r.rs.Status.ReadyReplicas, replicas(r.rs.Spec.Replicas),
			images(r.rs.Spec.Template.Spec))
		if cause := r.rs.Annotations["kubernetes.io/change-cause"]; cause != "" {
			fmt.Fprintf(&b, "  change cause: %s\n", oneLine(cause, 200))
		}
		if i > 0 {
			for _, c := range templateDiff(revs[i-1].rs.Spec.Template.Spec, r.rs.Spec.Template.Spec) {
				fmt.Fprintf(&b, "  changed: %s\n", c)
			}
		}
	}
	return tools.Text(untrusted("kubernetes", b.String())), nil
}

type changesTool struct{ cfg Config }

func (t changesTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_changes",
		Description: "What changed recently in the cluster, newest first: rollouts (new ReplicaSet revisions with the image " +
			"change), scaling, ConfigMap edits, and warning events such as OOMKilled, BackOff or FailedScheduling, across " +
			"namespaces or in one. A good first step when something broke \"since\" a time.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"namespace": tools.String(`namespace (default: all)`),
			"since":     tools.String(`start of the window: e.g. "1h ago", "14:00", RFC 3339 (default 2h ago)`),
		}),
	}
}

type change struct {
	at   time.Time
	text string
}

func (t changesTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Namespace, Since string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	now := t.cfg.now()
	since := now.Add(-2 * time.Hour)
	if a.Since != "" {
		s, err := clock.Resolve(a.Since, now)
		if err != nil {
			return tools.Errorf("since: %v", err), nil
		}
		since = s
	}
	ns, c := a.Namespace, t.cfg.Client
	var changes []change
	rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return apiError("list replicasets", err)
	}
	// Rollouts: a ReplicaSet created in the window, compared with the
	// previous revision of the same owner.
	byOwner := map[string][]appsv1.ReplicaSet{}
	for _, rs := range rss.Items {
		if o := metav1.GetControllerOf(&rs); o != nil && o.Kind == "Deployment" {
			byOwner[rs.Namespace+"/"+o.Name] = append(byOwner[rs.Namespace+"/"+o.Name], rs)
		}
	}
	for owner, list := range byOwner {
		sort.Slice(list, func(i, j int) bool {
			a, _ := strconv.Atoi(list[i].Annotations[revisionAnnotation])
			b, _ := strconv.Atoi(list[j].Annotations[revisionAnnotation])
			return a < b
		})
		for i, rs := range list {
			if rs.CreationTimestamp.Time.Before(since) {
				continue
			}
			text := fmt.Sprintf("rollout of deployment %s to revision %s (images %s)", owner, rs.Annotations[revisionAnnotation], images(rs.Spec.Template.Spec))
			if i > 0 {
				if d := templateDiff(list[i-1].Spec.Template.Spec, rs.Spec.Template.Spec); len(d) > 0 {
					text += ": " + strings.Join(d, "; ")
				}
			}
			changes = append(changes, change{rs.CreationTimestamp.Time, text})
		}
	}
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, m := range cms.Items {
			if at := lastChange(m.ObjectMeta).Time; !at.Before(since) && at.After(m.CreationTimestamp.Time) {
				changes = append(changes, change{at, fmt.Sprintf("configmap %s/%s edited", m.Namespace, m.Name)})
			} else if !m.CreationTimestamp.Time.Before(since) {
				changes = append(changes, change{m.CreationTimestamp.Time, fmt.Sprintf("configmap %s/%s created", m.Namespace, m.Name)})
			}
		}
	}
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range evs.Items {
			at := eventTime(e).Time
			if at.Before(since) {
				continue
			}
			obj := strings.ToLower(e.InvolvedObject.Kind) + " " + e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
			switch {
			case e.Reason == "ScalingReplicaSet":
				changes = append(changes, change{at, "scaling: " + obj + ": " + oneLine(e.Message, 160)})
			case e.Type == corev1.EventTypeWarning:
				changes = append(changes, change{at, fmt.Sprintf("warning %s on %s ×%d: %s", e.Reason, obj, max2(int(e.Count), 1), oneLine(e.Message, 160))})
			}
		}
	}
	if len(changes) == 0 {
		return tools.Text(fmt.Sprintf("No rollouts, scaling, ConfigMap edits or warning events in %s since %s.", nsLabel(ns),
			since.UTC().Format("2006-01-02 15:04 UTC"))), nil
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].at.After(changes[j].at) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d changes in %s since %s, newest first:\n", len(changes), nsLabel(ns), since.UTC().Format("2006-01-02 15:04 UTC"))
	for i, ch := range changes {
		if i == t.cfg.MaxRows {
			fmt.Fprintf(&b, "… %d older changes; narrow the window or the namespace.\n", len(changes)-i)
			break
		}
		fmt.Fprintf(&b, "- %s (%s ago): %s\n", ch.at.UTC().Format("15:04:05"), age(now, ch.at), ch.text)
	}
	return tools.Text(untrusted("kubernetes", b.String())), nil
}
