package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"k8s.io/client-go/util/retry"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/tools"
)

// ActionConfig configures the proposing tools.
type ActionConfig struct {
	Config
	// MinReplicas is the fewest replicas a scale proposal may ask for
	// (kubernetes.min_replicas); nil means 1. It is a pointer because 0 is
	// a deliberate choice — scaling to zero stops the service — that the
	// zero value of ActionConfig must not make by accident.
	MinReplicas *int32
	// MaxReplicas is the most (kubernetes.max_replicas; default 50).
	MaxReplicas int32
	// RolloutTimeout bounds how long an applied change is watched until
	// its rollout completes (default 3m).
	RolloutTimeout time.Duration
	// Verify, when set, checks restarts, rollbacks and scaling of
	// deployments a while after they are applied.
	Verify *Verification
	// Saturation, when set with Verify, also holds a step of the cpu
	// plan to the CPU it leaves in use: its Query is the deployment's
	// CPU use over its limit, its Objective the level under which the
	// service is not saturated (the autoscaler's target). A doubling of
	// replicas that brought the errors down but left the CPU at its limit
	// did not fix the saturation, and the plan goes on, as the
	// autoscaler scales again while its target is exceeded.
	Saturation *Verification
	// GitOps, when set, makes changes to workloads Argo CD or Flux own
	// as pull requests to their repositories, and refuses direct ones
	// (unless gitops.accept_drift allows the action).
	GitOps GitOps
	// Impersonate, when set, gives the client that applies an approved
	// change as the person who approved it (tools.Approver), so that the
	// cluster's own RBAC has the last word. It errs for a person without
	// a Kubernetes identity.
	Impersonate func(approver string) (kubernetes.Interface, error)
}

func (c ActionConfig) minReplicas() int32 {
	if c.MinReplicas == nil {
		return 1
	}
	return *c.MinReplicas
}

// inBounds refuses a replica count outside kubernetes.min_replicas and
// kubernetes.max_replicas, naming the setting that allows it.
func (c ActionConfig) inBounds(n int32) error {
	switch low := c.minReplicas(); {
	case n < low && n == 0:
		return refuse("0 replicas is below kubernetes.min_replicas (%d): scaling to zero stops the service; set kubernetes.min_replicas: 0 to allow it", low)
	case n < low:
		return refuse("%d replicas is below kubernetes.min_replicas (%d); lower kubernetes.min_replicas to allow it", n, low)
	case n > c.MaxReplicas:
		return refuse("%d replicas is above kubernetes.max_replicas (%d); raise kubernetes.max_replicas to allow it", n, c.MaxReplicas)
	}
	return nil
}

// ActionTools returns the tools that propose changes. Each validates its
// arguments, asks the API server for a server-side dry run of the exact
// change, and returns a proposal with the difference; nothing changes
// until the proposal is approved and applied.
func ActionTools(cfg ActionConfig) []tools.Tool {
	cfg.Config = cfg.Config.withDefaults()
	if cfg.MaxReplicas <= 0 {
		cfg.MaxReplicas = 50
	}
	if cfg.RolloutTimeout <= 0 {
		cfg.RolloutTimeout = 3 * time.Minute
	}
	return []tools.Tool{
		action{cfg, restartSpec},
		action{cfg, scaleSpec},
		action{cfg, undoSpec},
		action{cfg, deletePodSpec},
		action{cfg, cordonSpec},
		action{cfg, suspendSpec},
		remediate{cfg},
	}
}

// actionArgs are every action's arguments, stored in the proposal.
type actionArgs struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Kind      string `json:"kind,omitempty"`
	Replicas  *int32 `json:"replicas,omitempty"`
	Revision  int    `json:"revision,omitempty"`
	Undo      bool   `json:"undo,omitempty"` // uncordon, resume
	Reason    string `json:"reason,omitempty"`
	// Set when proposing: what the object looked like, so that applying
	// can refuse if it changed meanwhile.
	Generation int64  `json:"observed_generation,omitempty"`
	UID        string `json:"observed_uid,omitempty"`
	State      string `json:"observed_state,omitempty"`
	// change is the proposal as a change of desired state, for a
	// workload whose owner takes changes through git (GitOps). Not
	// stored: a pull request proposal carries its own.
	change    *gitops.Change
	changeErr string
	// What a rollback would return to: the revision and replicas before.
	FromRevision int    `json:"from_revision,omitempty"`
	FromReplicas *int32 `json:"from_replicas,omitempty"`
	// What a rollback restores, as the approver saw it: the ReplicaSet of
	// the target revision (UID, pod-template-hash) and a digest of the
	// template it puts back. A revision number alone can come to mean
	// another template (the ReplicaSet deleted and another numbered the
	// same, or its template edited).
	TargetUID    string `json:"target_uid,omitempty"`
	TargetHash   string `json:"target_template_hash,omitempty"`
	TargetDigest string `json:"target_template_digest,omitempty"`

	// dryRun is what became of the proposal's server-side dry run.
	dryRun dryRunOutcome
}

type dryRunOutcome int

const (
	dryRunNone dryRunOutcome = iota
	dryRunAccepted
	// dryRunSkipped: Watchkeeper's own identity may not make the change
	// (impersonation: the approver's RBAC decides), so no dry run.
	dryRunSkipped
)

// dryRunNotes are what a proposal tells the approver about its dry run:
// only what happened, never more.
var dryRunNotes = map[dryRunOutcome]string{
	dryRunNone:     "Server-side dry run: none was made.",
	dryRunAccepted: "Server-side dry run: accepted by the API server.",
	dryRunSkipped: "Server-side dry run: not possible with Watchkeeper's own identity (its RBAC refused it); " +
		"the change is made as the approver, whose RBAC decides.",
}

// dryRunNote is the one sentence every proposal path (a tool, a plan's
// step, a verification's way back) uses about a's dry run.
func dryRunNote(a actionArgs) string { return dryRunNotes[a.dryRun] }

// dryRunFailed reports whether a proposal's server-side dry run refused
// the change. With impersonation Watchkeeper's own identity usually has
// only read rights: an RBAC refusal then says nothing about the approver,
// so the proposal goes ahead without the dry run (and says so).
func dryRunFailed(cfg ActionConfig, a *actionArgs, err error) bool {
	switch {
	case err == nil:
		a.dryRun = dryRunAccepted
	case cfg.Impersonate != nil && apierrors.IsForbidden(err):
		a.dryRun = dryRunSkipped
		return false
	}
	return err != nil
}

type actionSpec struct {
	name, desc string
	params     map[string]*tools.Schema
	required   []string
	risk       string
	// clusterScoped: the action affects every namespace (a node), so a
	// conversation limited to namespaces may not propose it.
	clusterScoped bool
	propose       func(ctx context.Context, cfg ActionConfig, a *actionArgs) (summary, diff string, err error)
	apply         func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error)
}

type action struct {
	cfg  ActionConfig
	spec actionSpec
}

func (t action) Spec() tools.Spec {
	params := map[string]*tools.Schema{"reason": tools.String("why, in a sentence, with the evidence (shown to the approver)")}
	for k, v := range t.spec.params {
		params[k] = v
	}
	return tools.Spec{Name: t.spec.name, Description: t.spec.desc + " Only proposes: a person must approve before anything changes.",
		Mutating: true, ClusterScoped: t.spec.clusterScoped, Parameters: tools.Object(params, append([]string{"reason"}, t.spec.required...)...)}
}

func (t action) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a actionArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Namespace == "" && t.spec.name != "kube_cordon" {
		a.Namespace = t.cfg.Namespace
	}
	summary, diff, err := t.spec.propose(ctx, t.cfg, &a)
	if err != nil {
		var user userError
		if errors.As(err, &user) {
			return tools.Errorf("%s", user.msg), nil
		}
		return apiError(t.spec.name+" "+a.Namespace+"/"+a.Name, err)
	}
	args, _ := json.Marshal(a)
	// The reason is the model's words: a field of its own, shown after
	// what the tool checked (the diff, the dry run) and capped.
	p := tools.Proposal{Tool: t.spec.name, Summary: summary, Details: diff + "\n" + dryRunNote(a),
		Reason: a.Reason, Risk: t.spec.risk, Args: args}
	pr, err := routed(ctx, t.cfg, t.spec.name, a, p)
	if err != nil {
		var user userError
		if errors.As(err, &user) {
			return tools.Errorf("%s", user.msg), nil
		}
		return apiError(t.spec.name+" "+a.Namespace+"/"+a.Name, err)
	}
	if pr != nil {
		return tools.Result{Proposal: pr}, nil
	}
	return tools.Result{Proposal: &p}, nil
}

// Apply implements tools.Applier.
func (t action) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return tools.Result{}, errNoRouter
		}
		return t.cfg.GitOps.Apply(ctx, pr)
	}
	var a actionArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Result{}, fmt.Errorf("proposal arguments: %w", err)
	}
	cfg := t.cfg
	if cfg.Impersonate != nil {
		approver := tools.Approver(ctx)
		c, err := cfg.Impersonate(approver)
		if err != nil {
			return tools.Result{}, fmt.Errorf("cannot act as the approver %q: %w", approver, err)
		}
		cfg.Client = c
	}
	out, err := "", directAllowed(ctx, cfg, t.spec.name, a)
	if err == nil {
		out, err = t.spec.apply(ctx, cfg, a)
	}
	if err != nil {
		var user userError
		if errors.As(err, &user) {
			return tools.Result{}, errors.New(user.msg)
		}
		if apierrors.IsForbidden(err) {
			return tools.Result{}, fmt.Errorf("the cluster's RBAC refused it (%v); nothing was changed", err)
		}
		return tools.Result{}, err
	}
	return tools.Text(out), nil
}

// userError is a refusal to explain, not an infrastructure failure.
type userError struct{ msg string }

func (u userError) Error() string { return u.msg }

func refuse(format string, a ...any) error { return userError{fmt.Sprintf(format, a...)} }

var dryRun = []string{metav1.DryRunAll}

// changed refuses to apply when a workload's spec moved on since the
// proposal (a new generation means someone else changed it).
func changed(kind string, now, then int64) error {
	if then != 0 && now != then {
		return refuse("the %s changed since this was proposed (generation %d, now %d); nothing was done — ask for a fresh proposal", kind, then, now)
	}
	return nil
}

var restartSpec = actionSpec{
	name: "kube_rollout_restart",
	desc: "Propose a rolling restart of a deployment (new pods replace the old ones one by one, as kubectl rollout restart).",
	params: map[string]*tools.Schema{
		"name": tools.String("deployment"), "namespace": tools.String("namespace (default: the configured one)")},
	required: []string{"name"},
	risk:     "low: pods are replaced gradually; in-flight requests on old pods may fail",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		d, err := cfg.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		a.Generation = d.Generation
		if _, err := cfg.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType,
			restartPatch(cfg.now()), metav1.PatchOptions{DryRun: dryRun}); dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		a.change = restartChange(a.Namespace, a.Name, cfg.now())
		return fmt.Sprintf("Restart deployment %s/%s (%d pods replaced one by one)", a.Namespace, a.Name, replicas(d.Spec.Replicas)),
			fmt.Sprintf("deployment %s/%s\n+ spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]\n  images unchanged: %s",
				a.Namespace, a.Name, images(d.Spec.Template.Spec)), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		d, err := cfg.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if err := changed("deployment", d.Generation, a.Generation); err != nil {
			return "", err
		}
		if _, err := cfg.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType,
			restartPatch(cfg.now()), metav1.PatchOptions{}); err != nil {
			return "", err
		}
		return "restart started; " + waitRollout(ctx, cfg, a.Namespace, a.Name), nil
	},
}

func restartPatch(now time.Time) []byte {
	return []byte(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, now.UTC().Format(time.RFC3339)))
}

var scaleSpec = actionSpec{
	name: "kube_scale",
	desc: "Propose scaling a deployment or statefulset to a number of replicas (within the configured bounds).",
	params: map[string]*tools.Schema{
		"name": tools.String("deployment or statefulset"), "namespace": tools.String("namespace (default: the configured one)"),
		"kind":     tools.Enum("what to scale (default deployment)", "deployment", "statefulset"),
		"replicas": tools.Integer("desired replicas", 0, 1000)},
	required: []string{"name", "replicas"},
	risk:     "medium: fewer replicas reduce capacity; more need cluster resources",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		if a.Replicas == nil {
			return "", "", refuse("replicas is required")
		}
		if err := cfg.inBounds(*a.Replicas); err != nil {
			return "", "", err
		}
		if a.Kind == "" {
			a.Kind = "deployment"
		}
		cur, gen, err := getScale(ctx, cfg, *a)
		if err != nil {
			return "", "", err
		}
		if cur.Spec.Replicas == *a.Replicas {
			return "", "", refuse("%s %s/%s already has %d replicas; nothing to propose", a.Kind, a.Namespace, a.Name, cur.Spec.Replicas)
		}
		a.Generation = gen
		from := cur.Spec.Replicas
		a.FromReplicas = &from
		// A controller's status write between the read and the dry run is
		// a conflict, not a refusal: read again and retry, as apply does.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			want, _, err := getScale(ctx, cfg, *a)
			if err != nil {
				return err
			}
			want.Spec.Replicas = *a.Replicas
			_, err = updateScale(ctx, cfg, *a, want, metav1.UpdateOptions{DryRun: dryRun})
			return err
		})
		if dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		a.change = replicasChange(*a)
		return fmt.Sprintf("Scale %s %s/%s from %d to %d replicas", a.Kind, a.Namespace, a.Name, cur.Spec.Replicas, *a.Replicas),
			fmt.Sprintf("%s %s/%s\n- spec.replicas: %d\n+ spec.replicas: %d", a.Kind, a.Namespace, a.Name, cur.Spec.Replicas, *a.Replicas), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		if a.Replicas == nil {
			return "", refuse("the proposal names no replicas; nothing was done")
		}
		// The bounds may have been narrowed since the proposal.
		if err := cfg.inBounds(*a.Replicas); err != nil {
			return "", err
		}
		// The controllers write the object's status between our read and
		// write (a conflict on the resource version); read again and
		// retry then. What the approver saw is held by the generation,
		// which only a change of the spec moves.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, gen, err := getScale(ctx, cfg, a)
			if err != nil {
				return err
			}
			if err := changed(a.Kind, gen, a.Generation); err != nil {
				return err
			}
			cur.Spec.Replicas = *a.Replicas
			_, err = updateScale(ctx, cfg, a, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return "", err
		}
		out := fmt.Sprintf("scaled to %d", *a.Replicas)
		if a.Kind == "deployment" {
			out += "; " + waitRollout(ctx, cfg, a.Namespace, a.Name)
		}
		return out, nil
	},
}

func getScale(ctx context.Context, cfg ActionConfig, a actionArgs) (*autoscalingv1.Scale, int64, error) {
	switch a.Kind {
	case "statefulset":
		s, err := cfg.Client.AppsV1().StatefulSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		sc, err := cfg.Client.AppsV1().StatefulSets(a.Namespace).GetScale(ctx, a.Name, metav1.GetOptions{})
		return sc, s.Generation, err
	default:
		d, err := cfg.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		sc, err := cfg.Client.AppsV1().Deployments(a.Namespace).GetScale(ctx, a.Name, metav1.GetOptions{})
		return sc, d.Generation, err
	}
}

func updateScale(ctx context.Context, cfg ActionConfig, a actionArgs, s *autoscalingv1.Scale, o metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	if a.Kind == "statefulset" {
		return cfg.Client.AppsV1().StatefulSets(a.Namespace).UpdateScale(ctx, a.Name, s, o)
	}
	return cfg.Client.AppsV1().Deployments(a.Namespace).UpdateScale(ctx, a.Name, s, o)
}

var undoSpec = actionSpec{
	name: "kube_rollout_undo",
	desc: "Propose rolling a deployment back to an earlier revision (default: the previous one), as kubectl rollout undo.",
	params: map[string]*tools.Schema{
		"name": tools.String("deployment"), "namespace": tools.String("namespace (default: the configured one)"),
		"revision": tools.Integer("revision to go back to (default: the one before the current)", 0, 1e9)},
	required: []string{"name"},
	risk:     "medium: brings back the older version's code and settings",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		d, target, err := undoTarget(ctx, cfg, a)
		if err != nil {
			return "", "", err
		}
		a.Generation, a.Revision = d.Generation, target.number
		a.FromRevision, _ = strconv.Atoi(d.Annotations[revisionAnnotation])
		a.TargetUID, a.TargetHash, a.TargetDigest = string(target.rs.UID), target.rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], templateDigest(target.rs)
		if _, err := cfg.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.JSONPatchType,
			undoPatch(target.rs), metav1.PatchOptions{DryRun: dryRun}); dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		if cfg.GitOps != nil {
			if a.change, err = imageChange(a.Namespace, a.Name, d.Spec.Template.Spec, target.rs.Spec.Template.Spec); err != nil {
				a.changeErr = err.Error()
			}
		}
		diff := templateDiff(d.Spec.Template.Spec, target.rs.Spec.Template.Spec)
		if len(diff) == 0 {
			diff = []string{"(the pod template is the same; the rollback creates no change)"}
		}
		return fmt.Sprintf("Roll back deployment %s/%s from revision %s to revision %d (%s)", a.Namespace, a.Name,
				d.Annotations[revisionAnnotation], target.number, images(target.rs.Spec.Template.Spec)),
			fmt.Sprintf("deployment %s/%s, revision %s → %d (ReplicaSet %s, pod-template-hash %s)\n  %s", a.Namespace, a.Name,
				d.Annotations[revisionAnnotation], target.number, target.rs.Name, orDash(a.TargetHash), strings.Join(diff, "\n  ")), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		d, target, err := undoTarget(ctx, cfg, &a)
		if u := (userError{}); errors.As(err, &u) {
			return "", refuse("%s; nothing was done — ask for a fresh proposal", u.msg)
		}
		if err != nil {
			return "", err
		}
		if err := changed("deployment", d.Generation, a.Generation); err != nil {
			return "", err
		}
		if err := sameTarget(a, target); err != nil {
			return "", err
		}
		if _, err := cfg.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.JSONPatchType,
			undoPatch(target.rs), metav1.PatchOptions{}); err != nil {
			return "", err
		}
		return fmt.Sprintf("rolled back to revision %d; %s", target.number, waitRollout(ctx, cfg, a.Namespace, a.Name)), nil
	},
}

// undoTarget finds the revision to roll back to.
func undoTarget(ctx context.Context, cfg ActionConfig, a *actionArgs) (*appsv1.Deployment, revision, error) {
	d, err := cfg.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return nil, revision{}, err
	}
	revs, err := revisions(ctx, cfg.Config, d)
	if err != nil {
		return nil, revision{}, err
	}
	current, _ := strconv.Atoi(d.Annotations[revisionAnnotation])
	for i := len(revs) - 1; i >= 0; i-- {
		r := revs[i]
		if (a.Revision != 0 && r.number == a.Revision) || (a.Revision == 0 && r.number < current) {
			if r.number == current {
				return nil, revision{}, refuse("revision %d is the current one; nothing to roll back", r.number)
			}
			return d, r, nil
		}
	}
	if a.Revision != 0 {
		return nil, revision{}, refuse("deployment %s/%s has no revision %d (kube_rollout_history lists them)", a.Namespace, a.Name, a.Revision)
	}
	return nil, revision{}, refuse("deployment %s/%s has no earlier revision to roll back to", a.Namespace, a.Name)
}

// sameTarget refuses to apply a rollback when the ReplicaSet that now
// carries the proposed revision is not the one proposed, or its template
// is not the one the approver saw.
func sameTarget(a actionArgs, target revision) error {
	hash := target.rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	switch {
	case a.TargetDigest == "":
		return refuse("this rollback was proposed without a record of what revision %d restores; nothing was done — ask for a fresh proposal", a.Revision)
	case string(target.rs.UID) != a.TargetUID || hash != a.TargetHash:
		return refuse("revision %d of deployment %s/%s is another ReplicaSet than proposed (%s, pod-template-hash %s; proposed uid %s, pod-template-hash %s); nothing was done — ask for a fresh proposal",
			a.Revision, a.Namespace, a.Name, target.rs.Name, orDash(hash), a.TargetUID, orDash(a.TargetHash))
	case templateDigest(target.rs) != a.TargetDigest:
		return refuse("the template of revision %d of deployment %s/%s (ReplicaSet %s) was edited since this was proposed; nothing was done — ask for a fresh proposal",
			a.Revision, a.Namespace, a.Name, target.rs.Name)
	}
	return nil
}

// templateDigest identifies the template a rollback to rs puts back: the
// pod-template-hash label is set once at creation, so an edited template
// keeps it; the digest changes.
func templateDigest(rs appsv1.ReplicaSet) string {
	sum := sha256.Sum256(mergeTemplate(rs))
	return hex.EncodeToString(sum[:12])
}

// undoPatch puts a ReplicaSet's pod template back, without the hash label
// the deployment controller adds: a JSON patch replacing the whole
// template, as kubectl rollout undo sends. A strategic merge patch would
// keep what the newer template added and the older lacks (an annotation,
// an environment variable), so the "rollback" would carry part of the
// change it undoes.
func undoPatch(rs appsv1.ReplicaSet) []byte {
	b, _ := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": restoredTemplate(rs)}})
	return b
}

// restoredTemplate is the template a rollback to rs puts back.
func restoredTemplate(rs appsv1.ReplicaSet) *corev1.PodTemplateSpec {
	tmpl := rs.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return tmpl
}

// mergeTemplate is the template in the form digests were first taken of
// (a merge patch's body), so that proposals stored before the switch to a
// JSON patch still verify.
func mergeTemplate(rs appsv1.ReplicaSet) []byte {
	b, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": restoredTemplate(rs)}})
	return b
}

var deletePodSpec = actionSpec{
	name: "kube_delete_pod",
	desc: "Propose deleting one pod (its controller replaces it), e.g. a stuck or leaking instance.",
	params: map[string]*tools.Schema{
		"name": tools.String("pod"), "namespace": tools.String("namespace (default: the configured one)")},
	required: []string{"name"},
	risk:     "low when the pod has a controller and others serve; high for a lone pod",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		p, err := cfg.Client.CoreV1().Pods(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		a.UID = string(p.UID)
		owner := "no controller: it will NOT be recreated"
		if o := metav1.GetControllerOf(p); o != nil {
			owner = "owned by " + o.Kind + "/" + o.Name + ", which replaces it"
		}
		if err := cfg.Client.CoreV1().Pods(a.Namespace).Delete(ctx, a.Name, metav1.DeleteOptions{DryRun: dryRun}); dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		return fmt.Sprintf("Delete pod %s/%s (%s)", a.Namespace, a.Name, owner),
			fmt.Sprintf("- pod %s/%s (uid %s, %s, node %s)", a.Namespace, a.Name, p.UID, podStatus(*p), orDash(p.Spec.NodeName)), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		p, err := cfg.Client.CoreV1().Pods(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err), err == nil && (string(p.UID) != a.UID || p.DeletionTimestamp != nil):
			return "", refuse("pod %s/%s is not the one proposed any more (it was replaced or is already being deleted); nothing was done", a.Namespace, a.Name)
		case err != nil:
			return "", err
		}
		uid := types.UID(a.UID)
		err = cfg.Client.CoreV1().Pods(a.Namespace).Delete(ctx, a.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return "", refuse("pod %s/%s is not the one proposed any more (it was replaced or deleted); nothing was done", a.Namespace, a.Name)
		}
		if err != nil {
			return "", err
		}
		return "pod deleted", nil
	},
}

var cordonSpec = actionSpec{
	name:          "kube_cordon",
	clusterScoped: true,
	desc:          "Propose cordoning a node (no new pods scheduled on it) or, with uncordon, allowing scheduling again.",
	params: map[string]*tools.Schema{
		"name": tools.String("node"), "undo": tools.Boolean("uncordon instead of cordon")},
	required: []string{"name"},
	risk:     "medium: less capacity for new pods; running pods stay",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		n, err := cfg.Client.CoreV1().Nodes().Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		want := !a.Undo
		if n.Spec.Unschedulable == want {
			return "", "", refuse("node %s is already %s", a.Name, map[bool]string{true: "cordoned", false: "schedulable"}[want])
		}
		a.State = strconv.FormatBool(n.Spec.Unschedulable)
		if _, err := cfg.Client.CoreV1().Nodes().Patch(ctx, a.Name, types.StrategicMergePatchType, cordonPatch(want),
			metav1.PatchOptions{DryRun: dryRun}); dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		verb := map[bool]string{true: "Cordon", false: "Uncordon"}[want]
		return fmt.Sprintf("%s node %s", verb, a.Name),
			fmt.Sprintf("node %s\n- spec.unschedulable: %v\n+ spec.unschedulable: %v", a.Name, n.Spec.Unschedulable, want), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		n, err := cfg.Client.CoreV1().Nodes().Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if strconv.FormatBool(n.Spec.Unschedulable) != a.State {
			return "", refuse("node %s changed since this was proposed (unschedulable is now %v); nothing was done", a.Name, n.Spec.Unschedulable)
		}
		if _, err := cfg.Client.CoreV1().Nodes().Patch(ctx, a.Name, types.StrategicMergePatchType, cordonPatch(!a.Undo), metav1.PatchOptions{}); err != nil {
			return "", err
		}
		return fmt.Sprintf("node %s unschedulable=%v", a.Name, !a.Undo), nil
	},
}

func cordonPatch(on bool) []byte {
	return []byte(fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on))
}

var suspendSpec = actionSpec{
	name: "kube_suspend_cronjob",
	desc: "Propose suspending a CronJob (no new runs) or, with undo, resuming it.",
	params: map[string]*tools.Schema{
		"name": tools.String("cronjob"), "namespace": tools.String("namespace (default: the configured one)"),
		"undo": tools.Boolean("resume instead of suspend")},
	required: []string{"name"},
	risk:     "low: running jobs continue; scheduled runs are skipped while suspended",
	propose: func(ctx context.Context, cfg ActionConfig, a *actionArgs) (string, string, error) {
		j, err := cfg.Client.BatchV1().CronJobs(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		want := !a.Undo
		if (j.Spec.Suspend != nil && *j.Spec.Suspend) == want {
			return "", "", refuse("cronjob %s/%s is already %s", a.Namespace, a.Name, map[bool]string{true: "suspended", false: "active"}[want])
		}
		a.Generation = j.Generation
		if _, err := cfg.Client.BatchV1().CronJobs(a.Namespace).Patch(ctx, a.Name, types.MergePatchType, suspendPatch(want),
			metav1.PatchOptions{DryRun: dryRun}); dryRunFailed(cfg, a, err) {
			return "", "", err
		}
		verb := map[bool]string{true: "Suspend", false: "Resume"}[want]
		return fmt.Sprintf("%s cronjob %s/%s (schedule %s)", verb, a.Namespace, a.Name, j.Spec.Schedule),
			fmt.Sprintf("cronjob %s/%s\n- spec.suspend: %v\n+ spec.suspend: %v", a.Namespace, a.Name, !want, want), nil
	},
	apply: func(ctx context.Context, cfg ActionConfig, a actionArgs) (string, error) {
		j, err := cfg.Client.BatchV1().CronJobs(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if err := changed("cronjob", j.Generation, a.Generation); err != nil {
			return "", err
		}
		if _, err := cfg.Client.BatchV1().CronJobs(a.Namespace).Patch(ctx, a.Name, types.MergePatchType, suspendPatch(!a.Undo), metav1.PatchOptions{}); err != nil {
			return "", err
		}
		return fmt.Sprintf("cronjob %s/%s suspend=%v", a.Namespace, a.Name, !a.Undo), nil
	},
}

func suspendPatch(on bool) []byte { return []byte(fmt.Sprintf(`{"spec":{"suspend":%v}}`, on)) }

// waitRollout watches a deployment until its rollout completes or the
// timeout passes, and says which.
func waitRollout(ctx context.Context, cfg ActionConfig, ns, name string) string {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.RolloutTimeout)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last *appsv1.Deployment
	for {
		d, err := cfg.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = d
			want := replicas(d.Spec.Replicas)
			if d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
				d.Status.Replicas == want && d.Status.AvailableReplicas == want {
				return fmt.Sprintf("rollout complete: %d/%d available after %s", want, want, time.Since(start).Round(100*time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return "rollout status unknown: " + ctx.Err().Error()
			}
			return fmt.Sprintf("rollout NOT complete after %s: %d updated, %d available of %d — check kube_describe",
				cfg.RolloutTimeout, last.Status.UpdatedReplicas, last.Status.AvailableReplicas, replicas(last.Spec.Replicas))
		case <-t.C:
		}
	}
}
