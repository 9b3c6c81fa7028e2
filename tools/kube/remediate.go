package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/tools"
)

// step is one rung of a remediation ladder.
type step struct {
	spec  actionSpec
	label string
	// args fills the step's arguments from the deployment's state.
	args func(ctx context.Context, cfg ActionConfig, a actionArgs) (actionArgs, error)
}

func undoStep() step {
	return step{undoSpec, "roll back to the previous revision", func(_ context.Context, _ ActionConfig, a actionArgs) (actionArgs, error) {
		return actionArgs{Namespace: a.Namespace, Name: a.Name}, nil
	}}
}

func restartStep() step {
	return step{restartSpec, "restart the pods", func(_ context.Context, _ ActionConfig, a actionArgs) (actionArgs, error) {
		return actionArgs{Namespace: a.Namespace, Name: a.Name}, nil
	}}
}

// scaleOutStep doubles the replicas, within bounds, as the horizontal pod
// autoscaler's default scale-up may in one step: a saturated service's
// CPU use is capped at its limit, so its demand is unknown and may be well
// past it; half again as many (the first version) left a game day's
// saturations at 1.6 times the limit still saturated, and its next step,
// a restart, cannot add capacity. The cpu plan doubles twice, as the
// autoscaler scales again while the target is still exceeded: a load at
// two to four times the limit needs the second.
func scaleOutStep(label string) step {
	return step{scaleSpec, label, func(ctx context.Context, cfg ActionConfig, a actionArgs) (actionArgs, error) {
		d, err := cfg.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return actionArgs{}, err
		}
		cur := replicas(d.Spec.Replicas)
		want := min(max(2*cur, cur+1, cfg.minReplicas()), cfg.MaxReplicas)
		if want <= cur {
			// Never a scale-in under the name of scaling out.
			return actionArgs{}, refuse("deployment %s/%s has %d replicas, at or above kubernetes.max_replicas (%d)", a.Namespace, a.Name, cur, cfg.MaxReplicas)
		}
		return actionArgs{Namespace: a.Namespace, Name: a.Name, Kind: "deployment", Replicas: &want}, nil
	}}
}

// ladders are the ordered steps per fault signature (tools/rca's
// classification), each a change a person approves on its own. Steps the
// tools cannot take (raise a limit) are left to people, and so are the
// signatures no change in the cluster is known to fix: errors with no
// recent change to roll back (a code fault, or a failing dependency the
// ranking did not reach — a rollback then undoes a healthy release),
// latency with no saturation (a slow dependency or network: more
// replicas wait as long), a service that is down, a network fault, a
// traffic surge. The playbook escalates those with rca's next steps.
var ladders = map[string][]step{
	"change":    {undoStep()},
	"crashloop": {undoStep(), restartStep()},
	"memory":    {restartStep()},
	"cpu":       {scaleOutStep("double the replicas"), scaleOutStep("double the replicas again"), restartStep()},
}

func signatures() []string {
	var out []string
	for k := range ladders {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// remediate proposes the plan for a fault signature one step at a time:
// the first step now; after it was applied and verified, the next if the
// key metric did not improve.
type remediate struct{ cfg ActionConfig }

type planArgs struct {
	Namespace string     `json:"namespace,omitempty"`
	Name      string     `json:"name"`
	Signature string     `json:"signature"`
	Step      int        `json:"step"`
	Reason    string     `json:"reason,omitempty"`
	Action    actionArgs `json:"action"`
}

func (t remediate) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_remediate",
		Description: "Propose the remediation plan for a deployment by fault signature (from rca_rank: " + strings.Join(signatures(), ", ") +
			"): its first step now (e.g. bad change → roll back; memory leak → restart; CPU saturation → double the replicas, again, then restart). " +
			"After a step is applied and checked, the next is proposed if it did not help. Only proposes: every step needs approval.",
		Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{
			"name":      tools.String("deployment"),
			"namespace": tools.String("namespace (default: the configured one)"),
			"signature": tools.Enum("the fault signature", signatures()...),
			"reason":    tools.String("why, with the evidence"),
		}, "name", "signature", "reason"),
	}
}

func (t remediate) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a planArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Namespace == "" {
		a.Namespace = t.cfg.Namespace
	}
	p, msg, err := t.proposeStep(ctx, a, 0)
	if err != nil {
		return apiError("kube_remediate "+a.Namespace+"/"+a.Name, err)
	}
	if msg != "" {
		return tools.Errorf("%s", msg), nil
	}
	return tools.Result{Proposal: p}, nil
}

// proposeStep proposes step i of the plan, skipping steps that do not
// apply (nothing to roll back to); msg explains when none is left.
func (t remediate) proposeStep(ctx context.Context, a planArgs, from int) (*tools.Proposal, string, error) {
	ladder, ok := ladders[a.Signature]
	if !ok {
		return nil, fmt.Sprintf("unknown signature %q; use one of %s", a.Signature, strings.Join(signatures(), ", ")), nil
	}
	var skipped []string
	for i := from; i < len(ladder); i++ {
		st := ladder[i]
		args, summary, diff, err := t.proposeWith(ctx, st, a)
		if err != nil {
			if u := (userError{}); errors.As(err, &u) {
				skipped = append(skipped, st.label+": "+u.msg)
				continue
			}
			return nil, "", err
		}
		a.Step, a.Action = i, args
		raw, _ := json.Marshal(a)
		var plan []string
		for j, s := range ladder {
			mark := "  "
			if j == i {
				mark = "→ "
			}
			plan = append(plan, fmt.Sprintf("%s%d. %s", mark, j+1, s.label))
		}
		details := fmt.Sprintf("Plan for %s (%s), step %d of %d:\n%s\n%s\n%s",
			a.Signature, a.Name, i+1, len(ladder), strings.Join(plan, "\n"), diff, dryRunNote(args))
		if len(skipped) > 0 {
			details += "\nSkipped: " + strings.Join(skipped, "; ")
		}
		p := tools.Proposal{Tool: "kube_remediate", Summary: fmt.Sprintf("Step %d of the %s plan: %s", i+1, a.Signature, summary),
			Details: details, Reason: a.Reason, Risk: st.spec.risk, Args: raw}
		// A workload its GitOps owner would put back: the step as a pull
		// request (the plan's later steps are then for people to ask).
		pr, err := routed(ctx, t.cfg, st.spec.name, args, p)
		if u := (userError{}); errors.As(err, &u) {
			skipped = append(skipped, st.label+": "+u.msg)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if pr != nil {
			return pr, "", nil
		}
		return &p, "", nil
	}
	return nil, fmt.Sprintf("no step of the %s plan applies to %s/%s (%s); a person must take it from here",
		a.Signature, a.Namespace, a.Name, strings.Join(skipped, "; ")), nil
}

// proposeWith fills a step's arguments from the deployment and proposes
// it; a userError from either says why the step does not apply.
func (t remediate) proposeWith(ctx context.Context, st step, a planArgs) (args actionArgs, summary, diff string, err error) {
	args, err = st.args(ctx, t.cfg, actionArgs{Namespace: a.Namespace, Name: a.Name})
	if err != nil {
		return args, "", "", err
	}
	args.Reason = a.Reason
	summary, diff, err = st.spec.propose(ctx, t.cfg, &args)
	return args, summary, diff, err
}

func (t remediate) step(p tools.Proposal) (planArgs, step, error) {
	var a planArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return a, step{}, fmt.Errorf("plan arguments: %w", err)
	}
	ladder := ladders[a.Signature]
	if a.Step < 0 || a.Step >= len(ladder) {
		return a, step{}, fmt.Errorf("plan %s has no step %d", a.Signature, a.Step+1)
	}
	return a, ladder[a.Step], nil
}

// Apply implements tools.Applier: the step's own action.
func (t remediate) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return tools.Result{}, errNoRouter
		}
		return t.cfg.GitOps.Apply(ctx, pr)
	}
	a, st, err := t.step(p)
	if err != nil {
		return tools.Result{}, err
	}
	inner, _ := json.Marshal(a.Action)
	return action{t.cfg, st.spec}.Apply(ctx, tools.Proposal{ID: p.ID, Tool: st.spec.name, Args: inner})
}

// VerifyAfter implements tools.Verifier.
func (t remediate) VerifyAfter(p tools.Proposal) time.Duration {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return 0
		}
		return t.cfg.GitOps.VerifyAfter(pr)
	}
	a, st, err := t.step(p)
	if err != nil {
		return 0
	}
	inner, _ := json.Marshal(a.Action)
	return action{t.cfg, st.spec}.VerifyAfter(tools.Proposal{Args: inner})
}

// Verify implements tools.Verifier: the step's check, and the next step of
// the plan when this one did not make things better.
func (t remediate) Verify(ctx context.Context, p tools.Proposal, applied time.Time) (tools.Verification, error) {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return tools.Verification{}, errNoRouter
		}
		return t.cfg.GitOps.Verify(ctx, pr, applied)
	}
	a, st, err := t.step(p)
	if err != nil {
		return tools.Verification{}, err
	}
	inner, _ := json.Marshal(a.Action)
	res, c, err := action{t.cfg, st.spec}.check(ctx, tools.Proposal{Summary: p.Summary, Args: inner}, applied)
	if err != nil {
		return res, err
	}
	fixed := c.fixed
	if sat := t.cfg.Saturation; a.Signature == "cpu" && sat != nil && sat.Query != "" && sat.Mean != nil && !res.Worse {
		// A saturation is fixed when the CPU is no longer at its limit and
		// the errors are where they should be, whether or not they had
		// risen (a saturation may show as latency only).
		q := sat.query(a.Action)
		used, ok, err := sat.atEnd(ctx, q, applied, c.window)
		if err != nil {
			return res, err
		}
		fixed = ok && c.settledOK && (c.fixed || c.verdict == "unchanged")
		state := "not saturated"
		if !ok {
			state = "still saturated"
		}
		res.Text += fmt.Sprintf("; %s of %s/%s: %s in the last %s, objective %s (%s): %s", sat.Name, a.Action.Namespace, a.Action.Name,
			num(used), min(settledSpan, c.window), num(sat.Objective), q, state)
	}
	if fixed {
		return res, nil
	}
	next, msg, err := t.proposeStep(ctx, a, a.Step+1)
	switch {
	case err != nil:
		res.Text += "; the next step could not be proposed: " + err.Error()
	case next != nil:
		res.Next = next
	case a.Step+1 < len(ladders[a.Signature]):
		res.Text += "; " + msg
	default:
		res.Text += "; that was the plan's last step — a person must take it from here"
	}
	return res, nil
}
