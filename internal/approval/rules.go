package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Rule says who may approve which actions where.
type Rule struct {
	// Actions are tool names (kube_scale, …); empty or "*" matches all.
	Actions []string
	// Namespaces the rule covers; empty matches any, including
	// cluster-scoped proposals.
	Namespaces []string
	// Clusters the rule covers; empty matches any.
	Clusters []string
	// Users and Groups (Slack user group IDs) who may approve.
	Users  []string
	Groups []string
	// TwoPerson requires two different approvers.
	TwoPerson bool
	// SelfApproval lets the requester be one of the approvers.
	SelfApproval bool
}

// GroupResolver lists the members of a user group (Slack usergroups).
type GroupResolver interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// RulePolicy applies the first rule that covers a proposal; a proposal no
// rule covers cannot be approved. Read-class proposals follow
// DefaultPolicy (channel members).
type RulePolicy struct {
	Rules  []Rule
	Groups GroupResolver

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// target is what a proposal acts on, from its arguments.
func target(p Proposal) (namespace, cluster string) {
	var a struct{ Namespace, Cluster string }
	_ = json.Unmarshal(p.Args, &a)
	return a.Namespace, a.Cluster
}

func matchList(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, "*") || slices.Contains(list, v)
}

// rule returns the rule covering p.
func (r *RulePolicy) rule(p Proposal) (Rule, bool) {
	ns, cluster := target(p)
	for _, rule := range r.Rules {
		if matchList(rule.Actions, p.Tool) && (len(rule.Namespaces) == 0 || slices.Contains(rule.Namespaces, ns)) &&
			matchList(rule.Clusters, cluster) {
			return rule, true
		}
	}
	return Rule{}, false
}

// Required implements MultiApprover.
func (r *RulePolicy) Required(p Proposal) int {
	if rule, ok := r.rule(p); ok && rule.TwoPerson {
		return 2
	}
	return 1
}

func (r *RulePolicy) members(ctx context.Context, group string) ([]string, error) {
	r.mu.Lock()
	if e, ok := r.cache[group]; ok && time.Since(e.at) < time.Minute {
		r.mu.Unlock()
		return e.members, nil
	}
	r.mu.Unlock()
	if r.Groups == nil {
		return nil, fmt.Errorf("user groups cannot be resolved here")
	}
	m, err := r.Groups.GroupMembers(ctx, group)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]groupEntry{}
	}
	r.cache[group] = groupEntry{m, time.Now()}
	r.mu.Unlock()
	return m, nil
}

// allowed reports whether actor is one of rule's approvers.
func (r *RulePolicy) allowed(ctx context.Context, rule Rule, actor string) (bool, error) {
	if slices.Contains(rule.Users, actor) {
		return true, nil
	}
	for _, g := range rule.Groups {
		m, err := r.members(ctx, g)
		if err != nil {
			return false, fmt.Errorf("%w: the approver group %s could not be read (%v); try again", ErrNotAuthorized, g, err)
		}
		if slices.Contains(m, actor) {
			return true, nil
		}
	}
	return false, nil
}

// Authorize implements Policy.
func (r *RulePolicy) Authorize(ctx context.Context, req Request) error {
	p := req.Proposal
	if p.Risk == RiskRead {
		return DefaultPolicy{}.Authorize(ctx, req)
	}
	rule, ok := r.rule(p)
	ns, _ := target(p)
	where := ""
	if ns != "" {
		where = " in namespace " + ns
	}
	if !ok {
		return fmt.Errorf("%w: no approval rule covers %s%s (approval.rules)", ErrNotAuthorized, p.Tool, where)
	}
	ok, err := r.allowed(ctx, rule, req.Actor)
	if err != nil {
		return err
	}
	if !req.Approve {
		if ok || req.Actor == p.RequestedBy {
			return nil
		}
		return fmt.Errorf("%w: only the requester or an approver may reject %s", ErrNotAuthorized, p.ID)
	}
	if !ok {
		who := append(append([]string(nil), rule.Users...), rule.Groups...)
		return fmt.Errorf("%w: you are not an approver of %s%s (approvers: %s)", ErrNotAuthorized, p.Tool, where, strings.Join(who, ", "))
	}
	if req.Actor == p.RequestedBy && !rule.SelfApproval {
		return fmt.Errorf("%w: you asked for this change, so someone else must approve it", ErrNotAuthorized)
	}
	if slices.Contains(p.Approvals, req.Actor) {
		return fmt.Errorf("%w: you already approved %s; the two-person rule needs someone else", ErrNotAuthorized, p.ID)
	}
	return nil
}

// MultiApprover is a policy that can require several approvals.
type MultiApprover interface {
	Required(p Proposal) int
}

// Approve records r.Actor's approval after Check allowed it. When the
// policy needs more approvers than have approved so far it returns the
// proposal still pending and complete false; otherwise the proposal is
// approved (store.ErrConflict if someone else decided it first).
func (s *Service) Approve(ctx context.Context, policy Policy, r Request) (Proposal, bool, error) {
	need := 1
	if m, ok := policy.(MultiApprover); ok {
		eff, err := s.Effective(r.Proposal)
		if err != nil {
			return r.Proposal, false, err
		}
		need = m.Required(eff)
	}
	if need > 1 {
		got, err := s.store.AddApproval(ctx, r.Proposal.ID, r.Actor)
		if err != nil {
			return r.Proposal, false, err
		}
		if len(got) < need {
			s.audit(ctx, r.Actor, "approve", r.Proposal.ID, fmt.Sprintf("approval %d of %d", len(got), need), nil)
			p, err := s.get(ctx, r.Proposal.ID)
			return p, false, err
		}
	}
	p, err := s.Decide(ctx, r.Proposal.ID, r.Actor, true)
	return p, err == nil, err
}
