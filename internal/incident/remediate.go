package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/rca/remedy"
)

// remediateTool is the remediation plan's tool (tools/kube): it proposes
// the next step of the ladder for a fault signature and never acts.
const remediateTool = "kube_remediate"

// remediate is the playbook's last step: when the ranking names a clear
// cause, it asks the remediation plan for its first step and stores the
// proposal, requested by whoever opened the incident (so that nobody
// approves what they asked for alone); nothing changes until a person
// approves it. When the cause's signature has no plan Watchkeeper can
// carry out (a network fault, a service that is down, a traffic surge, a
// database outside the cluster), it says so as an escalation with the
// steps a person should take, and proposes nothing; so it does when the
// ranking is not clear enough to act on (remedy.Of). It is skipped
// without a Proposer or the tool, or without a ranking.
func (p Playbook) remediate(ctx context.Context, in Incident, findings []Finding, policy tools.Policy) (Finding, bool) {
	if p.Proposer == nil {
		return Finding{}, false
	}
	tool, ok := p.invoker().Tools.Get(remediateTool)
	if !ok {
		return Finding{}, false
	}
	var rank *Finding
	for i := range findings {
		if findings[i].Tool == "rca_rank" && !findings[i].Failed {
			rank = &findings[i]
		}
	}
	if rank == nil {
		return Finding{}, false
	}
	rem, ok := remedy.Of(rank.Data)
	if !ok {
		// Nothing clear enough to act on: said as an escalation, so that
		// every investigation ends with a proposal or a hand-off and
		// nobody waits for a proposal that will not come.
		top, _ := remedy.Top(rank.Data, 1)
		if len(top) == 0 {
			return Finding{}, false
		}
		text := fmt.Sprintf("No cause is clear enough to act on (rca_rank's first, %s, scores %.2f; a clear anomaly scores 0.3 with a known signature): "+
			"nothing is proposed, a person must take it from here with the findings above.", top[0].Service, top[0].Score)
		return Finding{Title: "Escalation: no clear cause", Tool: remediateTool, Text: text, Display: text, Escalation: true}, true
	}
	if !slices.Contains(ladders(tool), rem.Signature) {
		text := fmt.Sprintf("No change Watchkeeper can make fits a %s fault at %s; a person must take it from here:\n- %s\n(%s)",
			rem.Signature, rem.Service, strings.Join(rem.Steps, "\n- "), rem.Reason)
		return Finding{Title: "Escalation: no in-cluster remediation", Tool: remediateTool, Text: text, Display: text, Escalation: true}, true
	}
	ns := in.Data.CommonLabels["namespace"]
	if text, escalate := p.alreadyChanging(ctx, ns, rem.Service); text != "" {
		return Finding{Title: "The remediation plan's first step", Tool: remediateTool, Text: text, Display: text, Escalation: escalate}, true
	}
	args := map[string]any{"name": rem.Service, "signature": rem.Signature, "reason": rem.Reason}
	if ns != "" {
		args["namespace"] = ns
	}
	raw, _ := json.Marshal(args)
	f := Finding{Title: "The remediation plan's first step", Tool: remediateTool, Args: raw}
	inv := p.invoker().Invoke(ctx, tools.Invocation{Tool: remediateTool, Args: raw, Policy: policy, Source: "playbook"})
	f.Duration = inv.Duration
	if inv.Args != nil {
		f.Args = inv.Args
	}
	switch {
	case inv.Outcome == tools.OutcomeOK && inv.Result.Proposal != nil:
		requester := in.Data.OpenedBy
		if requester == "" {
			requester = "alertmanager"
		}
		stored, err := p.Proposer.Propose(approval.WithRequester(ctx, requester), "incident:"+in.ID, *inv.Result.Proposal)
		if err != nil {
			f.Text, f.Failed = "failed: the proposal could not be stored: "+err.Error(), true
			return f, true
		}
		f.Proposal = &stored
		f.Text = fmt.Sprintf("Proposed %s: %s. Nothing changes until a person approves it.", stored.ID, stored.Summary)
		f.Display = f.Text
	case inv.Outcome == tools.OutcomeToolError:
		// No step of the plan applies (nothing to roll back to, already
		// at the most replicas allowed, no such deployment): the tool
		// says why, and a person takes it from there.
		f.Text = fmt.Sprintf("No step of the %s plan can be proposed for %s: %s", rem.Signature, rem.Service, inv.Reason)
		f.Display, f.Escalation = f.Text, true
	case inv.Outcome == tools.OutcomeRefused:
		f.Text, f.Failed = "not run: "+inv.Reason, true
	default:
		f.Text, f.Failed = "failed: "+inv.Reason, true
	}
	return f, true
}

// ladders are the signatures the remediation tool has a plan for: the
// values its signature parameter accepts.
func ladders(t tools.Tool) []string {
	if ps := t.Spec().Parameters; ps != nil {
		if s := ps.Properties["signature"]; s != nil {
			return s.Enum
		}
	}
	return nil
}

// changeCooldown is how long after Watchkeeper changed a deployment the
// playbook proposes nothing more for it. Another incident's investigation
// would otherwise blame the change itself (a rollback is a rollout) and
// propose undoing it, or stack a second change on the first before its
// check says whether it helped; the plan's next step comes from that
// check. Proposals record when they were decided in wall-clock time, so
// the cooldown is wall-clock time too.
const changeCooldown = 30 * time.Minute

// alreadyChanging says why nothing more should be proposed for
// deployment svc in namespace ns: a proposal for it waits for approval
// (text only), or Watchkeeper changed it within changeCooldown (an
// escalation: a person looks before anything more changes).
func (p Playbook) alreadyChanging(ctx context.Context, ns, svc string) (text string, escalate bool) {
	for _, st := range []approval.Status{approval.Pending, approval.Approved, approval.Executing, approval.Executed} {
		list, err := p.Proposer.List(ctx, st, 100)
		if err != nil {
			p.Logger.Warn("list proposals before proposing", "err", err)
			continue
		}
		for _, pr := range list {
			if !targets(pr.Args, ns, svc) {
				continue
			}
			if st == approval.Pending {
				return fmt.Sprintf("%s is already proposed for %s and waits for approval: %s", pr.ID, svc, pr.Summary), false
			}
			if at := pr.DecidedAt; at.IsZero() || time.Since(at) < changeCooldown {
				return fmt.Sprintf("Watchkeeper changed %s %s ago (%s: %s); nothing more is proposed until a person has looked — "+
					"the check after that change proposes the plan's next step if it did not help",
					svc, time.Since(at).Round(time.Minute), pr.ID, pr.Summary), true
			}
		}
	}
	return "", false
}

// targets reports whether a proposal's arguments name deployment svc (in
// namespace ns, when both say one).
func targets(raw []byte, ns, svc string) bool {
	var a struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	if json.Unmarshal(raw, &a) != nil || a.Name != svc {
		return false
	}
	return ns == "" || a.Namespace == "" || a.Namespace == ns
}
