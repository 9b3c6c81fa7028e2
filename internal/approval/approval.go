// Package approval owns the life of a proposed change: it is stored when a
// mutating tool proposes it (so it survives restarts), decided by a person,
// executed at most once, and every step is written to the audit log.
//
// Who may approve what, expiry and the two-person rule are policy that
// later surfaces plug in; this package enforces the invariants that hold
// under any policy: nothing runs without an approval, a proposal is decided
// once, and an approved proposal executes once.
package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Store is what the service needs from persistence.
type Store interface {
	CreateProposal(ctx context.Context, p store.Proposal) error
	GetProposal(ctx context.Context, id string) (store.Proposal, error)
	TransitionProposal(ctx context.Context, id string, from []string, to, by, result string) (store.Proposal, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// Tools finds the tool that applies a proposal.
type Tools interface {
	Get(name string) (tools.Tool, bool)
}

// Service manages proposals. It is safe for concurrent use.
type Service struct {
	store  Store
	tools  Tools
	logger *slog.Logger
}

// New returns a service.
func New(s Store, t Tools, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: s, tools: t, logger: logger}
}

// Propose stores p as pending and returns it with its ID. It implements
// agent.Proposer.
func (s *Service) Propose(ctx context.Context, conversationID string, p tools.Proposal) (tools.Proposal, error) {
	p.ID = newID()
	err := s.store.CreateProposal(ctx, store.Proposal{
		ID: p.ID, ConversationID: conversationID, Tool: p.Tool, Summary: p.Summary,
		Details: p.Details, Risk: p.Risk, Args: p.Args, Status: store.ProposalPending,
	})
	if err != nil {
		return tools.Proposal{}, fmt.Errorf("store proposal: %w", err)
	}
	s.audit(ctx, "watchkeeper", "propose", p.ID, "pending", map[string]any{"tool": p.Tool, "summary": p.Summary, "conversation": conversationID})
	return p, nil
}

// Decide records actor's decision on a pending proposal. It fails with
// store.ErrConflict when the proposal was already decided.
func (s *Service) Decide(ctx context.Context, id, actor string, approve bool) (store.Proposal, error) {
	to, action := store.ProposalRejected, "reject"
	if approve {
		to, action = store.ProposalApproved, "approve"
	}
	p, err := s.store.TransitionProposal(ctx, id, []string{store.ProposalPending}, to, actor, "")
	outcome := to
	if err != nil {
		outcome = "refused: " + err.Error()
	}
	s.audit(ctx, actor, action, id, outcome, nil)
	if err != nil {
		return p, fmt.Errorf("%s proposal %s: %w", action, id, err)
	}
	return p, nil
}

// Execute applies an approved proposal exactly once: the move from approved
// to executing is atomic, so a second call (a double click, a retry after a
// restart) fails with store.ErrConflict instead of acting twice. The
// outcome is stored and audited.
func (s *Service) Execute(ctx context.Context, id, actor string) (tools.Result, error) {
	p, err := s.store.TransitionProposal(ctx, id, []string{store.ProposalApproved}, store.ProposalExecuting, actor, "")
	if err != nil {
		s.audit(ctx, actor, "execute", id, "refused: "+err.Error(), nil)
		return tools.Result{}, fmt.Errorf("execute proposal %s: %w", id, err)
	}
	res, runErr := s.apply(ctx, p)
	status, result := store.ProposalExecuted, res.Text
	switch {
	case runErr != nil:
		status, result = store.ProposalFailed, runErr.Error()
	case res.Error != "":
		status, result = store.ProposalFailed, res.Error
	}
	// Record the outcome even if the caller's context was cancelled.
	rctx := context.WithoutCancel(ctx)
	if _, err := s.store.TransitionProposal(rctx, id, []string{store.ProposalExecuting}, status, p.DecidedBy, result); err != nil {
		s.logger.Error("record proposal outcome", "proposal", id, "err", err)
	}
	s.audit(rctx, actor, "execute", id, status, map[string]any{"tool": p.Tool, "result": truncate(result, 2000)})
	if runErr != nil {
		return res, fmt.Errorf("execute proposal %s: %w", id, runErr)
	}
	return res, nil
}

func (s *Service) apply(ctx context.Context, p store.Proposal) (res tools.Result, err error) {
	t, ok := s.tools.Get(p.Tool)
	if !ok {
		return tools.Result{}, fmt.Errorf("tool %s is not available in this process", p.Tool)
	}
	applier, ok := t.(tools.Applier)
	if !ok {
		return tools.Result{}, fmt.Errorf("tool %s cannot apply changes", p.Tool)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tool %s panicked while applying: %v", p.Tool, r)
		}
	}()
	return applier.Apply(ctx, tools.Proposal{ID: p.ID, Tool: p.Tool, Summary: p.Summary, Details: p.Details, Risk: p.Risk, Args: p.Args})
}

// Get returns a stored proposal.
func (s *Service) Get(ctx context.Context, id string) (store.Proposal, error) {
	return s.store.GetProposal(ctx, id)
}

func (s *Service) audit(ctx context.Context, actor, action, target, outcome string, details map[string]any) {
	var d []byte
	if details != nil {
		d, _ = json.Marshal(details)
	}
	if _, err := s.store.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Target: target, Outcome: outcome, Details: string(d)}); err != nil {
		// The audit log failing is serious but must not hide the outcome
		// of the action from the person who took it.
		s.logger.Error("audit log write failed", "action", action, "target", target, "err", err)
	}
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "prop_" + hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
