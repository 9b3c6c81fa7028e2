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
	// Mean returns the mean of query over [start, end].
	Mean func(ctx context.Context, query string, start, end time.Time) (float64, error)
}

// worseBy is how much higher the metric must be after the change to count
// as worse: 25 % and more than noise in absolute terms.
const worseBy, worseAbs = 1.25, 1e-3

// VerifyAfter implements tools.Verifier.
func (t action) VerifyAfter(p tools.Proposal) time.Duration {
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
	v := t.cfg.Verify
	var a actionArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Verification{}, err
	}
	window := t.VerifyAfter(p)
	if window == 0 {
		return tools.Verification{}, fmt.Errorf("%s is not verified", t.spec.name)
	}
	q := strings.NewReplacer("$namespace", a.Namespace, "$name", a.Name).Replace(v.Query)
	before, err := v.Mean(ctx, q, applied.Add(-window), applied)
	if err != nil {
		return tools.Verification{}, fmt.Errorf("%s before the change: %w", v.Name, err)
	}
	after, err := v.Mean(ctx, q, applied, applied.Add(window))
	if err != nil {
		return tools.Verification{}, fmt.Errorf("%s after the change: %w", v.Name, err)
	}
	verdict := "unchanged"
	switch {
	case after > before*worseBy && after-before > worseAbs:
		verdict = "worse"
	case after*worseBy < before && before-after > worseAbs:
		verdict = "better"
	}
	res := tools.Verification{Worse: verdict == "worse",
		Text: fmt.Sprintf("%s of %s/%s: %s in the %s before, %s in the %s after (%s): %s", v.Name, a.Namespace, a.Name,
			num(before), window, num(after), window, q, verdict)}
	if !res.Worse {
		return res, nil
	}
	// Worse: offer the way back, as a proposal of its own.
	var back actionArgs
	var spec actionSpec
	switch t.spec.name {
	case "kube_rollout_undo":
		back, spec = actionArgs{Namespace: a.Namespace, Name: a.Name, Revision: a.FromRevision}, undoSpec
	case "kube_scale":
		if a.FromReplicas == nil {
			return res, nil
		}
		back, spec = actionArgs{Namespace: a.Namespace, Name: a.Name, Kind: "deployment", Replicas: a.FromReplicas}, scaleSpec
	default:
		res.Text += "; a restart cannot be undone — consider kube_rollout_undo"
		return res, nil
	}
	back.Reason = fmt.Sprintf("%s got worse after %s (%s → %s)", v.Name, p.Summary, num(before), num(after))
	summary, diff, err := spec.propose(ctx, t.cfg, &back)
	if err != nil {
		res.Text += "; no rollback could be proposed: " + err.Error()
		return res, nil
	}
	args, _ := json.Marshal(back)
	res.Rollback = &tools.Proposal{Tool: spec.name, Summary: summary, Risk: spec.risk, Args: args,
		Details: "Reason: " + back.Reason + "\n" + diff + "\n" + dryRunNote(back)}
	return res, nil
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "no data"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
