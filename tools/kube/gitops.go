package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/tools"
)

// GitOps routes the changes of workloads that Argo CD or Flux own: a
// direct change would be reverted at the owner's next sync, or leave the
// cluster apart from what the team reviewed in git. internal/gitops
// implements it.
type GitOps interface {
	// Owner names who owns the workload ("Argo CD Application
	// argocd/shop"), "" when nobody does.
	Owner(ctx context.Context, w gitops.Workload) (string, error)
	// AcceptsDrift reports whether action (restart, scale, rollback) is
	// still made directly on an owned workload (gitops.accept_drift).
	AcceptsDrift(action string) bool
	// Propose plans ch as a pull request to the owner's repository; an
	// error says what could not be done (no credentials, a file it cannot
	// edit) in words for people. Apply, VerifyAfter and Verify carry such
	// a proposal out and follow it: the kube tool that proposed it applies
	// it (a proposal is always applied by the tool that made it), handing
	// it on.
	Propose(ctx context.Context, ch gitops.Change, summary, reason string) (*tools.Proposal, error)
	tools.Applier
	tools.Verifier
}

// prKey holds, in a kube tool's proposal arguments, the pull request it
// stands for.
const prKey = "pull_request"

// pullRequest returns the pull request a proposal of a kube tool stands
// for, as the GitOps router's own proposal.
func pullRequest(p tools.Proposal) (tools.Proposal, bool) {
	var a map[string]json.RawMessage
	if json.Unmarshal(p.Args, &a) != nil || a[prKey] == nil {
		return tools.Proposal{}, false
	}
	q := p
	q.Args = a[prKey]
	return q, true
}

// prWrapper is a kube tool's proposal arguments when it stands for a pull
// request: what it acts on at the top, as every proposal's arguments have
// it (approval rules match the namespace and cluster), the action it
// means, and the pull request.
type prWrapper struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Kind        string          `json:"kind,omitempty"`
	Action      string          `json:"action"`
	PullRequest json.RawMessage `json:"pull_request"`
}

// asPullRequest wraps the router's proposal pr as tool's own; action is
// the kube action it means (a plan's step: its action).
func asPullRequest(tool, action string, a actionArgs, pr *tools.Proposal) *tools.Proposal {
	q := *pr
	q.Tool = tool
	q.Args, _ = json.Marshal(prWrapper{Namespace: a.Namespace, Name: a.Name, Kind: a.Kind, Action: action, PullRequest: pr.Args})
	return &q
}

// errNoRouter refuses a pull request proposal when GitOps is no longer
// configured: it must not fall through to the direct path.
var errNoRouter = errors.New("this proposal is a pull request, and GitOps is no longer configured (gitops); nothing was done — ask again")

// driftAction is the gitops.accept_drift name of a tool's action.
func driftAction(tool string) string {
	switch tool {
	case "kube_rollout_restart":
		return "restart"
	case "kube_scale":
		return "scale"
	case "kube_rollout_undo":
		return "rollback"
	}
	return ""
}

// routed returns the proposal for a change of an owned workload in place
// of the direct one (p): the pull request, or p with a warning when the
// team accepts drift for the action. A nil proposal with a nil error
// means the workload is not owned: p stands.
func routed(ctx context.Context, cfg ActionConfig, tool string, a actionArgs, p tools.Proposal) (*tools.Proposal, error) {
	action := driftAction(tool)
	if cfg.GitOps == nil || action == "" {
		return nil, nil
	}
	w := workloadOf(a)
	owner, err := cfg.GitOps.Owner(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("who owns %s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
	}
	if owner == "" {
		return nil, nil
	}
	if cfg.GitOps.AcceptsDrift(action) {
		p.Details = fmt.Sprintf("Managed by %s. This %s is made directly because gitops.accept_drift allows it: the owner will undo it at its next sync unless the repository changes too.\n%s",
			owner, action, p.Details)
		return &p, nil
	}
	cannot := func(why string) error {
		return refuse("%s %s/%s is managed by %s, so the change must go through its repository, and a pull request could not be prepared: %s. "+
			"A direct change is not proposed: %s would revert it at its next sync (gitops.accept_drift can allow a direct %s)",
			w.Kind, w.Namespace, w.Name, owner, why, owner, action)
	}
	switch {
	case a.changeErr != "":
		return nil, cannot(a.changeErr)
	case a.change == nil:
		return nil, cannot("the rollback changes no container image, and only images are changed by pull request")
	}
	pr, err := cfg.GitOps.Propose(ctx, *a.change, p.Summary, a.Reason)
	if err != nil {
		return nil, cannot(err.Error())
	}
	// What the direct change would have done, for comparison: a rollback
	// may restore more than the image the pull request sets.
	pr.Details += "\nFor comparison, the change made directly (not proposed) would have been:\n" + p.Details
	return asPullRequest(p.Tool, tool, a, pr), nil
}

// workloadOf is the workload an action's arguments name.
func workloadOf(a actionArgs) gitops.Workload {
	kind := "Deployment"
	if a.Kind == "statefulset" {
		kind = "StatefulSet"
	}
	return gitops.Workload{Kind: kind, Namespace: a.Namespace, Name: a.Name}
}

// directAllowed refuses to apply a direct change to an owned workload
// unless the team accepts drift for it: a proposal made before the
// workload was owned, or before accept_drift changed, is checked again.
func directAllowed(ctx context.Context, cfg ActionConfig, tool string, a actionArgs) error {
	action := driftAction(tool)
	if cfg.GitOps == nil || action == "" || cfg.GitOps.AcceptsDrift(action) {
		return nil
	}
	owner, err := cfg.GitOps.Owner(ctx, workloadOf(a))
	if err != nil {
		return fmt.Errorf("who owns %s/%s (checked before a direct change): %w", a.Namespace, a.Name, err)
	}
	if owner != "" {
		return refuse("%s/%s is managed by %s: a direct %s would be reverted at its next sync, so nothing was done. Ask again: the change is proposed as a pull request (or set gitops.accept_drift to allow %s)",
			a.Namespace, a.Name, owner, action, action)
	}
	return nil
}

// imageChange is a rollback as a change of desired state: the one
// container whose image the rollback changes. Rollbacks that change
// several images, or only other fields, cannot be one image edit.
func imageChange(ns, name string, cur, target corev1.PodSpec) (*gitops.Change, error) {
	was := map[string]string{}
	for _, c := range cur.Containers {
		was[c.Name] = c.Image
	}
	var changes []gitops.Change
	for _, c := range target.Containers {
		if from, ok := was[c.Name]; ok && from != c.Image {
			changes = append(changes, gitops.Change{Kind: gitops.ChangeImage, Container: c.Name, Image: c.Image, From: from,
				Workload: gitops.Workload{Kind: "Deployment", Namespace: ns, Name: name}})
		}
	}
	switch len(changes) {
	case 1:
		return &changes[0], nil
	case 0:
		return nil, nil
	}
	var names []string
	for _, c := range changes {
		names = append(names, c.Container)
	}
	return nil, fmt.Errorf("the rollback changes the images of %d containers (%s); a pull request here changes one", len(changes), strings.Join(names, ", "))
}

func restartChange(ns, name string, at time.Time) *gitops.Change {
	return &gitops.Change{Kind: gitops.ChangeRestart, At: at.UTC(), Workload: gitops.Workload{Kind: "Deployment", Namespace: ns, Name: name}}
}

func replicasChange(a actionArgs) *gitops.Change {
	return &gitops.Change{Kind: gitops.ChangeReplicas, Replicas: *a.Replicas, Workload: workloadOf(a)}
}

// CheckDeployment checks a change to deployment ns/name that was applied
// at applied by someone else (a GitOps owner's sync of a merged pull
// request) as a direct change is checked: the key metric before and
// after, held to the objective. It needs Verify; the result proposes no
// way back (the caller knows the right one: a revert of the pull request).
func CheckDeployment(ctx context.Context, cfg ActionConfig, ns, name string, applied time.Time) (tools.Verification, error) {
	if cfg.Verify == nil || cfg.Verify.Mean == nil || cfg.Verify.Query == "" {
		return tools.Verification{Text: "no check is configured (kubernetes.verify)"}, nil
	}
	// Checked as a scale with no way back recorded: the check proposes
	// nothing of its own.
	args, _ := json.Marshal(actionArgs{Namespace: ns, Name: name, Kind: "deployment"})
	res, _, err := action{cfg, scaleSpec}.check(ctx, tools.Proposal{Summary: "the merged change", Args: args}, applied)
	res.Rollback, res.Next = nil, nil
	return res, err
}
