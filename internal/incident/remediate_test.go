package incident_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/rca"
)

// ranking is an rca_rank stand-in returning a fixed result.
type ranking struct{ res rca.Result }

func (r ranking) Spec() tools.Spec {
	return tools.Spec{Name: "rca_rank", Description: "rank", Parameters: tools.Object(map[string]*tools.Schema{
		"onset": tools.String("onset"), "onset_slack": tools.String("slack"), "namespace": tools.String("ns")})}
}
func (r ranking) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Result{Text: "ranked", Data: r.res}, nil
}

// plan is a kube_remediate stand-in with two ladders; it proposes step 1,
// or says no step applies for deployment "stuck".
type plan struct {
	mu   sync.Mutex
	args []string
}

func (p *plan) Spec() tools.Spec {
	return tools.Spec{Name: "kube_remediate", Description: "plan", Mutating: true, Parameters: tools.Object(map[string]*tools.Schema{
		"name": tools.String("deployment"), "namespace": tools.String("ns"),
		"signature": tools.Enum("signature", "change", "errors"), "reason": tools.String("why")}, "name", "signature", "reason")}
}
func (p *plan) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	p.mu.Lock()
	p.args = append(p.args, string(raw))
	p.mu.Unlock()
	var a struct{ Name, Signature string }
	json.Unmarshal(raw, &a)
	if a.Name == "stuck" {
		return tools.Errorf("no step of the %s plan applies to shop/stuck (nothing to roll back to); a person must take it from here", a.Signature), nil
	}
	return tools.Result{Proposal: &tools.Proposal{Summary: "Step 1 of the " + a.Signature + " plan: Roll back deployment shop/" + a.Name, Args: raw}}, nil
}
func (p *plan) Apply(context.Context, tools.Proposal) (tools.Result, error) {
	return tools.Result{}, errors.New("the playbook must never apply")
}

// proposals records what was proposed and by whom; existing are the
// proposals it lists.
type proposals struct {
	mu       sync.Mutex
	got      []tools.Proposal
	by       []string
	conv     []string
	existing []approval.Proposal
}

func (s *proposals) List(_ context.Context, st approval.Status, _ int) ([]approval.Proposal, error) {
	var out []approval.Proposal
	for _, p := range s.existing {
		if p.Status == st {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *proposals) Propose(ctx context.Context, conv string, p tools.Proposal) (tools.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ID = "prop_1"
	s.got, s.by, s.conv = append(s.got, p), append(s.by, approval.Requester(ctx)), append(s.conv, conv)
	return p, nil
}

func rankedFirst(svc, kind string, score float64) rca.Result {
	return rca.Result{Ranking: []rca.Ranked{{Service: svc, Score: score, Decided: "errors from 0.2 % to 25 %"}}, Confidence: 0.8,
		Signature: rca.Signature{Kind: kind, Steps: []string{"check the network of " + svc + "'s pods", "move " + svc + "'s pods to other nodes"}}}
}

// The investigation ends with the plan's first step for a clear cause,
// proposed (requested by the notification's sender, in the incident's
// conversation, never applied); with an escalation and a person's next
// steps when no plan fits the cause, no step applies or the ranking is not
// clear; and with nothing when there is no Proposer or no plan tool.
func TestPlaybookProposesTheRemediationPlansFirstStep(t *testing.T) {
	in := incident.Incident{ID: "inc_1", StartedAt: t0, Data: incident.Data{OpenedBy: "alertmanager at 10.0.0.7",
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}}}
	undo := func(st approval.Status, decided time.Time) []approval.Proposal {
		return []approval.Proposal{{ID: "prop_0", Tool: "kube_remediate", Summary: "Step 1 of the change plan: Roll back deployment shop/checkout",
			Args: []byte(`{"name":"checkout","namespace":"shop","signature":"change"}`), Status: st, DecidedAt: decided}}
	}
	for _, tc := range []struct {
		name       string
		res        rca.Result
		noProposer bool
		noPlan     bool
		existing   []approval.Proposal
		want       string // in the last finding's text; "" for no step
		proposed   bool
		escalation bool
	}{
		{"a rollback already waits for approval", rankedFirst("checkout", "change", 0.9), false, false, undo(approval.Pending, time.Time{}),
			"prop_0 is already proposed for checkout and waits for approval", false, false},
		{"checkout was just rolled back", rankedFirst("checkout", "change", 0.9), false, false, undo(approval.Executed, time.Now().Add(-5*time.Minute)),
			"Watchkeeper changed checkout 5m0s ago (prop_0: Step 1 of the change plan: Roll back deployment shop/checkout); nothing more is proposed", false, true},
		{"checkout was rolled back long ago", rankedFirst("checkout", "change", 0.9), false, false, undo(approval.Executed, time.Now().Add(-2*time.Hour)),
			"Proposed prop_1: Step 1 of the change plan: Roll back deployment shop/checkout", true, false},
		{"a deploy", rankedFirst("checkout", "change", 0.9), false, false, nil, "Proposed prop_1: Step 1 of the change plan: Roll back deployment shop/checkout", true, false},
		{"a network fault", rankedFirst("payments", "network", 0.9), false, false, nil,
			"No change Watchkeeper can make fits a network fault at payments; a person must take it from here:\n- check the network of payments's pods", false, true},
		{"no step applies", rankedFirst("stuck", "change", 0.9), false, false, nil, "No step of the change plan can be proposed for stuck: no step of the change plan applies", false, true},
		{"an unclear ranking", rankedFirst("checkout", "unclear", 0.9), false, false, nil,
			"No cause is clear enough to act on (rca_rank's first, checkout, scores 0.90", false, true},
		{"a weak ranking", rankedFirst("checkout", "change", 0.2), false, false, nil,
			"No cause is clear enough to act on (rca_rank's first, checkout, scores 0.20", false, true},
		{"no proposer", rankedFirst("checkout", "change", 0.9), true, false, nil, "", false, false},
		{"no plan tool", rankedFirst("checkout", "change", 0.9), false, true, nil, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := &plan{}
			set := toolSet{"rca_rank": ranking{tc.res}}
			if !tc.noPlan {
				set["kube_remediate"] = pl
			}
			store := &proposals{existing: tc.existing}
			p := incident.Playbook{Tools: set}
			if !tc.noProposer {
				p.Proposer = store
			}
			findings := p.Run(context.Background(), in)
			last := findings[len(findings)-1]
			if tc.want == "" {
				if len(findings) != 1 || len(store.got) != 0 || len(pl.args) != 0 {
					t.Fatalf("a step was added: %+v, proposed %+v", findings, store.got)
				}
				return
			}
			if len(findings) != 2 || last.Tool != "kube_remediate" || !strings.Contains(last.Text, tc.want) || last.Failed {
				t.Fatalf("last finding %+v, want text %q", last, tc.want)
			}
			if (last.Proposal != nil) != tc.proposed || last.Escalation != tc.escalation || (len(store.got) == 1) != tc.proposed {
				t.Errorf("proposal %+v, escalation %v, stored %+v", last.Proposal, last.Escalation, store.got)
			}
			if tc.proposed {
				if store.by[0] != "alertmanager at 10.0.0.7" || store.conv[0] != "incident:inc_1" || store.got[0].Tool != "kube_remediate" {
					t.Errorf("proposed by %q in %q: %+v", store.by[0], store.conv[0], store.got[0])
				}
				if !strings.Contains(pl.args[0], `"namespace":"shop"`) || !strings.Contains(pl.args[0], "rca_rank puts checkout first (score 0.90, confidence 0.80)") {
					t.Errorf("the plan was asked %s", pl.args[0])
				}
			}
		})
	}
}
