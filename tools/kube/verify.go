package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Verification compares a deployment's key metric before and after an
// applied change.
type Verification struct {
	// Name is what the metric is ("error ratio").
	Name string
	// Query is PromQL with $namespace and $name for the deployment; lower
	// is better.
	Query string
	// Window is how long after the change to wait, and the span compared
	// on each side (default 5m).
	Window time.Duration
	// Objective is the level at or below which the metric is healthy
	// (0: none). A change that made the metric better but left it above
	// the objective at the end of the window did not fix the fault: the
	// plan's next step is proposed (a doubling of replicas that halved
	// the errors of a service loaded to three times its limit).
	Objective float64
	// Mean returns the mean of query over [start, end].
	Mean func(ctx context.Context, query string, start, end time.Time) (float64, error)
}

// worseBy is how much higher the metric must be after the change to count
// as worse: 25 % and more than noise in absolute terms.
const worseBy, worseAbs = 1.25, 1e-3

// VerifyAfter implements tools.Verifier.
func (t action) VerifyAfter(p tools.Proposal) time.Duration {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return 0
		}
		return t.cfg.GitOps.VerifyAfter(pr)
	}
	v := t.cfg.Verify
	if v == nil || v.Mean == nil || v.Query == "" {
		return 0
	}
	switch t.spec.name {
	case "kube_rollout_restart", "kube_rollout_undo":
	case "kube_scale":
		var a actionArgs
		if json.Unmarshal(p.Args, &a) != nil || (a.Kind != "" && a.Kind != "deployment") {
			return 0
		}
	default:
		return 0
	}
	if v.Window <= 0 {
		return 5 * time.Minute
	}
	return v.Window
}

// Verify implements tools.Verifier.
func (t action) Verify(ctx context.Context, p tools.Proposal, applied time.Time) (tools.Verification, error) {
	if pr, ok := pullRequest(p); ok {
		if t.cfg.GitOps == nil {
			return tools.Verification{}, errNoRouter
		}
		return t.cfg.GitOps.Verify(ctx, pr, applied)
	}
	res, _, err := t.check(ctx, p, applied)
	return res, err
}

// settledSpan is the end of the window whose mean is held to the
// objective: the change's own transition (pods starting, a rollout, the
// query's rate window catching up) is in the first minutes of the
// window, and a fix is judged by where it left the metric.
const settledSpan = time.Minute

// checked is what a check found besides its text.
type checked struct {
	verdict string
	// fixed: the metric better, and at or below the objective where
	// there is one.
	fixed bool
	// settledOK: at or below the objective at the end of the window
	// (true when there is no objective).
	settledOK bool
	window    time.Duration
}

// atEnd is the mean of v's query for the deployment over the last
// settledSpan of the window after applied, and whether it meets the
// objective. No data (a service with no traffic left) is not evidence of
// a fix.
func (v *Verification) atEnd(ctx context.Context, q string, applied time.Time, window time.Duration) (float64, bool, error) {
	end := applied.Add(window)
	m, err := v.Mean(ctx, q, end.Add(-min(settledSpan, window)), end)
	if err != nil {
		return 0, false, fmt.Errorf("%s at the end of the check: %w", v.Name, err)
	}
	return m, !math.IsNaN(m) && m <= v.Objective, nil
}

func (v *Verification) query(a actionArgs) string {
	return strings.NewReplacer("$namespace", a.Namespace, "$name", a.Name).Replace(v.Query)
}

// check is Verify, and whether the change fixed what it was for.
func (t action) check(ctx context.Context, p tools.Proposal, applied time.Time) (tools.Verification, checked, error) {
	v := t.cfg.Verify
	var a actionArgs
	var c checked
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Verification{}, c, err
	}
	window := t.VerifyAfter(p)
	if window == 0 {
		return tools.Verification{}, c, fmt.Errorf("%s is not verified", t.spec.name)
	}
	c.window = window
	q := v.query(a)
	before, err := v.Mean(ctx, q, applied.Add(-window), applied)
	if err != nil {
		return tools.Verification{}, c, fmt.Errorf("%s before the change: %w", v.Name, err)
	}
	after, err := v.Mean(ctx, q, applied, applied.Add(window))
	if err != nil {
		return tools.Verification{}, c, fmt.Errorf("%s after the change: %w", v.Name, err)
	}
	verdict := "unchanged"
	switch {
	case after > before*worseBy && after-before > worseAbs:
		verdict = "worse"
	case after*worseBy < before && before-after > worseAbs:
		verdict = "better"
	}
	c.settledOK = true
	if v.Objective > 0 && verdict != "worse" {
		settled, ok, err := v.atEnd(ctx, q, applied, window)
		if err != nil {
			return tools.Verification{}, c, err
		}
		c.settledOK = ok
		if verdict == "better" && !ok {
			verdict = fmt.Sprintf("better, but still above the objective (%s in the last %s, objective %s)",
				num(settled), min(settledSpan, window), num(v.Objective))
		}
	}
	c.verdict = verdict
	c.fixed = verdict == "better"
	res := tools.Verification{Worse: verdict == "worse",
		Text: fmt.Sprintf("%s of %s/%s: %s in the %s before, %s in the %s after (%s): %s", v.Name, a.Namespace, a.Name,
			num(before), window, num(after), window, q, verdict)}
	if !res.Worse {
		return res, c, nil
	}
	// Worse: offer the way back, as a proposal of its own.
	var back actionArgs
	var spec actionSpec
	switch t.spec.name {
	case "kube_rollout_undo":
		back, spec = actionArgs{Namespace: a.Namespace, Name: a.Name, Revision: a.FromRevision}, undoSpec
	case "kube_scale":
		if a.FromReplicas == nil {
			return res, c, nil
		}
		back, spec = actionArgs{Namespace: a.Namespace, Name: a.Name, Kind: "deployment", Replicas: a.FromReplicas}, scaleSpec
	default:
		res.Text += "; a restart cannot be undone — consider kube_rollout_undo"
		return res, c, nil
	}
	back.Reason = fmt.Sprintf("%s got worse after %s (%s → %s)", v.Name, p.Summary, num(before), num(after))
	summary, diff, err := spec.propose(ctx, t.cfg, &back)
	if err != nil {
		res.Text += "; no rollback could be proposed: " + err.Error()
		return res, c, nil
	}
	args, _ := json.Marshal(back)
	res.Rollback = &tools.Proposal{Tool: spec.name, Summary: summary, Risk: spec.risk, Args: args,
		Details: "Reason: " + back.Reason + "\n" + diff + "\n" + dryRunNote(back)}
	return res, c, nil
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
