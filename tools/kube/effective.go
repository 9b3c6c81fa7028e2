package kube

import (
	"encoding/json"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Effective implements tools.Delegator: a plan's step is judged as the
// action it carries out (a rollback is a rollback, whoever proposes it).
func (t remediate) Effective(p tools.Proposal) (tools.Proposal, error) {
	// A step made a pull request: judged as the action it means, on the
	// workload it names.
	var w prWrapper
	if json.Unmarshal(p.Args, &w) == nil && w.PullRequest != nil && w.Action != "" {
		q := p
		q.Tool = w.Action
		return q, nil
	}
	a, st, err := t.step(p)
	if err != nil {
		return tools.Proposal{}, err
	}
	inner, err := json.Marshal(a.Action)
	if err != nil {
		return tools.Proposal{}, err
	}
	return tools.Proposal{ID: p.ID, Tool: st.spec.name, Summary: p.Summary, Details: p.Details, Reason: p.Reason, Risk: st.spec.risk, Args: inner}, nil
}
