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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Store is what the service needs from persistence.
type Store interface {
	CreateProposal(ctx context.Context, p store.Proposal) error
	GetProposal(ctx context.Context, id string) (store.Proposal, error)
	TransitionProposal(ctx context.Context, id string, from []string, to, by, result string) (store.Proposal, error)
	ListProposals(ctx context.Context, status string, limit int) ([]store.Proposal, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
	ScheduleVerification(ctx context.Context, id string, at time.Time) error
	DueVerifications(ctx context.Context, before time.Time, limit int) ([]store.Proposal, error)
	TakeVerification(ctx context.Context, id string) (bool, error)
	SetProposalLocation(ctx context.Context, id, location string) error
	// AddApproval records one approval of a proposal that needs several
	// and returns everyone who approved so far.
	AddApproval(ctx context.Context, id, actor string) ([]string, error)
}

// Tools finds the tool that applies a proposal.
type Tools interface {
	Get(name string) (tools.Tool, bool)
}

// Options configure a Service. They are fixed when it is built.
type Options struct {
	// Expiry is how long a proposal can be decided; 0 means no expiry.
	Expiry time.Duration
	// Now is the clock for expiry (time.Now when nil).
	Now func() time.Time
	// WorldNow is the observed systems' clock, which says when a change
	// was applied for its check (the metrics before and after it); Now
	// when nil. A sandbox running faster than real time has its own.
	WorldNow func() time.Time
	// After waits before a verification (time.After when nil; tests
	// shorten it).
	After func(time.Duration) <-chan time.Time
	// SweepEvery is how often RunScheduled looks for overdue checks and
	// expired proposals (default 15s).
	SweepEvery time.Duration
	// Redactor hides secrets in what is stored and shown: a proposal's
	// summary, details and reason, and the result of applying it. Nil:
	// nothing is hidden (tests).
	Redactor interface{ Redact(string) string }
	Logger   *slog.Logger
}

// Verified is what checking an applied change found (tools.Verifier),
// some time after it was applied.
type Verified struct {
	Proposal Proposal
	Result   tools.Verification
	// FollowUps are the stored proposals it led to: the way back when the
	// change made things worse, the plan's next step when it did not help.
	FollowUps []tools.Proposal
	// Err is why the check could not be made.
	Err error
}

// Notifier is told what happened to proposals without a person's click, so
// a surface can show it: a check of an applied change, and proposals
// settled by the service (expired, or failed after a crash). It is given to
// the run loops rather than to New: the surface that shows proposals is
// built with the service it shows.
type Notifier interface {
	Verified(ctx context.Context, v Verified)
	Settled(ctx context.Context, p Proposal)
}

// LogNotifier logs what a Notifier would show: for a process without a
// surface (or before one is configured).
type LogNotifier struct{ Logger *slog.Logger }

// Verified implements Notifier.
func (l LogNotifier) Verified(_ context.Context, v Verified) {
	if l.Logger == nil {
		return
	}
	if v.Err != nil {
		l.Logger.Warn("verification of an applied change failed", "proposal", v.Proposal.ID, "err", v.Err)
		return
	}
	l.Logger.Info("verified an applied change", "proposal", v.Proposal.ID, "worse", v.Result.Worse, "result", v.Result.Text,
		"follow_ups", len(v.FollowUps))
}

// Settled implements Notifier.
func (l LogNotifier) Settled(_ context.Context, p Proposal) {
	if l.Logger != nil {
		l.Logger.Info("a proposal was settled without a decision", "proposal", p.ID, "status", p.Status, "result", p.Result)
	}
}

// Service manages proposals. It is safe for concurrent use; nothing in it
// changes after New.
type Service struct {
	store  Store
	tools  Tools
	opts   Options
	logger *slog.Logger
	// applied hands the changes this process applied to Run, which checks
	// each when it is due. A change Run never sees (no Run in this
	// process, a full queue, a stop) is checked by RunScheduled on the
	// leader once it is overdue: its schedule is in the store.
	applied chan appliedChange
}

type appliedChange struct {
	p       Proposal
	v       tools.Verifier
	applied time.Time
	wait    time.Duration
}

func (s *Service) redact(text string) string {
	if s.opts.Redactor == nil {
		return text
	}
	return s.opts.Redactor.Redact(text)
}

// overdue is how late a scheduled check must be before RunScheduled takes
// it: until then the process that applied the change checks it itself.
const overdue = 30 * time.Second

// verifyTimeout bounds one check once taken: it is finished even when the
// process is stopping (Run waits for it), since nobody else will make it.
const verifyTimeout = 2 * time.Minute

// New returns a service.
func New(st Store, t Tools, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.WorldNow == nil {
		o.WorldNow = o.Now
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 15 * time.Second
	}
	return &Service{store: st, tools: t, opts: o, logger: o.Logger, applied: make(chan appliedChange, 256)}
}

// Expiry is how long a proposal can be decided; 0 means no expiry.
func (s *Service) Expiry() time.Duration { return s.opts.Expiry }

func (s *Service) transition(ctx context.Context, id string, from []Status, to Status, by, result string) (Proposal, error) {
	r, err := s.store.TransitionProposal(ctx, id, statuses(from...), string(to), by, result)
	return fromRow(r), err
}

func (s *Service) get(ctx context.Context, id string) (Proposal, error) {
	r, err := s.store.GetProposal(ctx, id)
	return fromRow(r), err
}

func (s *Service) list(ctx context.Context, st Status, limit int) ([]Proposal, error) {
	rs, err := s.store.ListProposals(ctx, string(st), limit)
	return fromRows(rs), err
}

func (s *Service) due(ctx context.Context, before time.Time, limit int) ([]Proposal, error) {
	rs, err := s.store.DueVerifications(ctx, before, limit)
	return fromRows(rs), err
}

// List returns up to limit proposals in status st, newest first.
func (s *Service) List(ctx context.Context, st Status, limit int) ([]Proposal, error) {
	return s.list(ctx, st, limit)
}

// Refusals a surface explains to the person who clicked.
var (
	// ErrNotAuthorized: the policy does not let this person decide.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrExpired: the proposal is past its expiry.
	ErrExpired = errors.New("expired")
)

// Request is a person's attempt to decide a proposal, as a policy sees it.
type Request struct {
	Actor string
	// Channel is where the click happened; ChannelMember whether the
	// actor is a member of it.
	Channel       string
	ChannelMember bool
	Approve       bool
	Proposal      Proposal
}

// Policy decides who may approve or reject what. It returns an error
// wrapping ErrNotAuthorized that says why, in words for the person.
type Policy interface {
	Authorize(ctx context.Context, r Request) error
}

// RiskRead marks a proposal that changes nothing in the observed systems
// (running an expensive query, say); channel members may approve it.
const RiskRead = "read"

// DefaultPolicy is the policy until a richer one is configured: channel
// members may approve read-class proposals; changes to systems may be
// approved only by the listed approvers, and nobody at all while the list
// is empty. The requester may not approve their own change unless
// SelfApproval; they may always reject it.
type DefaultPolicy struct {
	Approvers    []string
	SelfApproval bool
}

// Authorize implements Policy.
func (d DefaultPolicy) Authorize(_ context.Context, r Request) error {
	p := r.Proposal
	approver := slices.Contains(d.Approvers, r.Actor)
	if !r.Approve {
		if approver || r.Actor == p.RequestedBy || (p.Risk == RiskRead && r.ChannelMember) {
			return nil
		}
		return fmt.Errorf("%w: only the requester or an approver may reject %s", ErrNotAuthorized, p.ID)
	}
	if p.Risk == RiskRead {
		if r.ChannelMember || approver {
			return nil
		}
		return fmt.Errorf("%w: only members of this channel may approve %s", ErrNotAuthorized, p.ID)
	}
	if len(d.Approvers) == 0 {
		return fmt.Errorf("%w: nobody may approve changes yet; an administrator must list approvers in approval.approvers", ErrNotAuthorized)
	}
	if !approver {
		return fmt.Errorf("%w: you are not one of the approvers of changes (approval.approvers)", ErrNotAuthorized)
	}
	if r.Actor == p.RequestedBy && !d.SelfApproval {
		return fmt.Errorf("%w: you asked for this change, so someone else must approve it", ErrNotAuthorized)
	}
	return nil
}

type requesterKey struct{}

// WithRequester tells Propose who asked for the work that led to it.
func WithRequester(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, requesterKey{}, user)
}

// Requester is who WithRequester recorded, or "".
func Requester(ctx context.Context) string {
	r, _ := ctx.Value(requesterKey{}).(string)
	return r
}

func (s *Service) now() time.Time { return s.opts.Now() }

// Check returns why r may not decide its proposal now, or nil: it must be
// pending (else store.ErrConflict, saying who decided it and when), not
// expired (ErrExpired; the proposal is then marked expired), and allowed
// by policy. It changes nothing but the expiry mark.
func (s *Service) Check(ctx context.Context, policy Policy, r Request) error {
	p := r.Proposal
	if p.Status != Pending {
		who := ""
		if p.DecidedBy != "" {
			who = " by " + p.DecidedBy
		}
		when := ""
		if !p.DecidedAt.IsZero() {
			when = " at " + p.DecidedAt.UTC().Format("15:04:05 UTC")
		}
		return fmt.Errorf("proposal %s was already %s%s%s: %w", p.ID, p.Status, who, when, store.ErrConflict)
	}
	if s.opts.Expiry > 0 && s.now().After(p.CreatedAt.Add(s.opts.Expiry)) {
		if _, err := s.transition(ctx, p.ID, []Status{Pending}, Expired, "watchkeeper", "expired"); err == nil {
			s.audit(ctx, "watchkeeper", "expire", p.ID, string(Expired), nil)
		}
		return fmt.Errorf("proposal %s expired at %s (proposals can be approved for %s); ask again for a fresh one: %w",
			p.ID, p.CreatedAt.Add(s.opts.Expiry).UTC().Format("15:04:05 UTC"), s.opts.Expiry, ErrExpired)
	}
	if policy == nil {
		return fmt.Errorf("%w: no approval policy is configured", ErrNotAuthorized)
	}
	// Judged as the action it carries out. A proposal whose action cannot
	// be told can still be rejected (by whoever the policy lets reject
	// it as proposed), never approved.
	if eff, err := s.Effective(p); err == nil {
		r.Proposal = eff
	} else if r.Approve {
		return err
	}
	if err := policy.Authorize(ctx, r); err != nil {
		action := "reject"
		if r.Approve {
			action = "approve"
		}
		s.audit(ctx, r.Actor, action, p.ID, "refused: "+err.Error(), nil)
		return err
	}
	return nil
}

// Effective returns p as approval policy judges it: the action that will
// really run when p's tool delegates to another (a remediation plan's
// step is judged as the rollback or restart it carries out). Everything
// else — ID, requester, approvals — is p's own. A delegating proposal
// whose action cannot be told is refused (ErrNotAuthorized): a rule
// cannot be applied to what nobody can name.
func (s *Service) Effective(p Proposal) (Proposal, error) {
	t, ok := s.tools.Get(p.Tool)
	if !ok {
		return p, nil
	}
	d, ok := t.(tools.Delegator)
	if !ok {
		return p, nil
	}
	eff, err := d.Effective(tools.Proposal{ID: p.ID, Tool: p.Tool, Summary: p.Summary, Details: p.Details, Reason: p.Reason, Risk: p.Risk, Args: p.Args})
	if err != nil {
		return p, fmt.Errorf("%w: what proposal %s would do cannot be told (%v), so no rule can approve it", ErrNotAuthorized, p.ID, err)
	}
	q := p
	q.Tool, q.Args = eff.Tool, eff.Args
	if eff.Risk != "" {
		q.Risk = eff.Risk
	}
	return q, nil
}

// Location records where a surface shows a proposal.
func (s *Service) Location(ctx context.Context, id, location string) error {
	return s.store.SetProposalLocation(ctx, id, location)
}

// Reason is the human part of a refusal: the error text without the
// sentinel's wrapping prefix.
func Reason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{ErrNotAuthorized, ErrExpired, store.ErrConflict} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
	}
	return msg
}

// Propose stores p as pending and returns it with its ID. It implements
// agent.Proposer.
func (s *Service) Propose(ctx context.Context, conversationID string, p tools.Proposal) (tools.Proposal, error) {
	p.ID = newID()
	// Whoever built it — the model, the bot's own buttons, a tool quoting
	// a log line — the proposal is stored and shown redacted.
	p.Summary, p.Details, p.Reason = s.redact(p.Summary), s.redact(p.Details), s.redact(p.Reason)
	requester := Requester(ctx)
	err := s.store.CreateProposal(ctx, Proposal{
		ID: p.ID, ConversationID: conversationID, Tool: p.Tool, Summary: p.Summary,
		Details: p.Details, Reason: p.Reason, Risk: p.Risk, Args: p.Args, Status: Pending, RequestedBy: requester,
	}.row())
	if err != nil {
		return tools.Proposal{}, fmt.Errorf("store proposal: %w", err)
	}
	// The audit names who asked for it (a person who ran a tool by hand,
	// whoever asked the question), else Watchkeeper itself.
	actor := requester
	if actor == "" {
		actor = "watchkeeper"
	}
	s.audit(ctx, actor, "propose", p.ID, "pending", map[string]any{"tool": p.Tool, "summary": p.Summary, "conversation": conversationID})
	return p, nil
}

// Decide records actor's decision on a pending proposal. It fails with
// store.ErrConflict when the proposal was already decided.
func (s *Service) Decide(ctx context.Context, id, actor string, approve bool) (Proposal, error) {
	to, action := Rejected, "reject"
	if approve {
		to, action = Approved, "approve"
	}
	if s.opts.Expiry > 0 {
		if p, err := s.get(ctx, id); err == nil && p.Status == Pending && s.now().After(p.CreatedAt.Add(s.opts.Expiry)) {
			// Check marks it expired and explains.
			return p, s.Check(ctx, nil, Request{Actor: actor, Approve: approve, Proposal: p})
		}
	}
	p, err := s.transition(ctx, id, []Status{Pending}, to, actor, "")
	outcome := string(to)
	if err != nil {
		outcome = "refused: " + err.Error()
	}
	s.audit(ctx, actor, action, id, outcome, nil)
	if err != nil {
		return p, fmt.Errorf("%s proposal %s: %w", action, id, err)
	}
	return p, nil
}

// ExecuteChecked is Execute after re-checking the policy: the people who
// approved must still be allowed to (rules or group membership may have
// changed since the first of two approvals). A refusal fails the proposal
// without acting.
func (s *Service) ExecuteChecked(ctx context.Context, policy Policy, id, actor string) (tools.Result, error) {
	if policy != nil {
		p, err := s.get(ctx, id)
		if err != nil {
			return tools.Result{}, fmt.Errorf("execute proposal %s: %w", id, err)
		}
		approvers := append([]string(nil), p.Approvals...)
		if p.DecidedBy != "" && !slices.Contains(approvers, p.DecidedBy) {
			approvers = append(approvers, p.DecidedBy)
		}
		eff, err := s.Effective(p)
		if err != nil {
			return tools.Result{}, fmt.Errorf("execute proposal %s: %w", id, err)
		}
		for _, a := range approvers {
			q := eff
			q.Approvals = nil
			q.Status = Pending
			if err := policy.Authorize(ctx, Request{Actor: a, ChannelMember: true, Approve: true, Proposal: q}); err != nil {
				reason := "the policy no longer allows " + a + " to approve it: " + Reason(err)
				if _, terr := s.transition(context.WithoutCancel(ctx), id, []Status{Approved}, Failed, p.DecidedBy, reason); terr != nil {
					s.logger.Error("record a refused execution", "proposal", id, "err", terr)
				}
				s.audit(ctx, actor, "execute", id, "refused: "+reason, nil)
				return tools.Result{}, fmt.Errorf("execute proposal %s: %s: %w", id, reason, ErrNotAuthorized)
			}
		}
	}
	return s.Execute(ctx, id, actor)
}

// Execute applies an approved proposal exactly once: the move from approved
// to executing is atomic, so a second call (a double click, a retry after a
// restart) fails with store.ErrConflict instead of acting twice. The
// outcome is stored and audited.
func (s *Service) Execute(ctx context.Context, id, actor string) (tools.Result, error) {
	p, err := s.transition(ctx, id, []Status{Approved}, Executing, actor, "")
	if err != nil {
		s.audit(ctx, actor, "execute", id, "refused: "+err.Error(), nil)
		return tools.Result{}, fmt.Errorf("execute proposal %s: %w", id, err)
	}
	res, runErr := s.apply(ctx, p)
	res.Text, res.Error = s.redact(res.Text), s.redact(res.Error)
	status, result := Executed, res.Text
	switch {
	case runErr != nil:
		status, result = Failed, s.redact(runErr.Error())
	case res.Error != "":
		status, result = Failed, res.Error
	}
	// Record the outcome even if the caller's context was cancelled. Only
	// this call can be applying the proposal (executing is taken once), so
	// a "failed" it finds was Reconcile taking it for dead: the real
	// outcome replaces that guess.
	rctx := context.WithoutCancel(ctx)
	if _, err := s.transition(rctx, id, []Status{Executing, Failed}, status, p.DecidedBy, result); err != nil {
		s.logger.Error("record proposal outcome", "proposal", id, "err", err)
	}
	s.audit(rctx, actor, "execute", id, string(status), map[string]any{"tool": p.Tool, "result": truncate(result, 2000)})
	if runErr != nil {
		return res, fmt.Errorf("execute proposal %s: %w", id, runErr)
	}
	if status == Executed {
		s.scheduleVerify(rctx, p)
	}
	return res, nil
}

// scheduleVerify has an applied change checked later, when its tool can:
// the schedule is stored, and Run in this process checks it when due.
func (s *Service) scheduleVerify(ctx context.Context, p Proposal) {
	t, ok := s.tools.Get(p.Tool)
	v, isVerifier := t.(tools.Verifier)
	if !ok || !isVerifier {
		return
	}
	wait := v.VerifyAfter(p.ToolProposal())
	if wait <= 0 {
		return
	}
	applied := s.opts.WorldNow()
	// The schedule is stored first: if this process is gone when the check
	// is due, RunScheduled (on the leader) checks it instead.
	if err := s.store.ScheduleVerification(ctx, p.ID, s.now().Add(wait)); err != nil {
		s.logger.Error("store the check of an applied change; it is checked only if this process lives", "proposal", p.ID, "err", err)
	}
	select {
	case s.applied <- appliedChange{p: p, v: v, applied: applied, wait: wait}:
	default:
		s.logger.Warn("too many changes waiting to be checked here; this one is checked by the scheduled sweep once overdue", "proposal", p.ID)
	}
}

// Run checks the changes this process applies, each when its tool says it
// is due, and tells n what it found, until ctx ends. A check not yet due
// then is left to RunScheduled (its schedule is stored); one already under
// way is finished before Run returns.
func (s *Service) Run(ctx context.Context, n Notifier) {
	if n == nil {
		n = LogNotifier{Logger: s.logger}
	}
	var checks sync.WaitGroup
	defer checks.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-s.applied:
			checks.Go(func() {
				select {
				case <-ctx.Done():
					return
				case <-s.opts.After(c.wait):
				}
				s.verify(ctx, n, c.v, c.p, c.applied)
			})
		}
	}
}

// verify checks an applied change once: the check is taken in the store
// first, so the process that applied it and a leader sweeping overdue
// checks cannot both run it. Once taken it is finished even if ctx ends
// (within verifyTimeout): nobody else would make it.
func (s *Service) verify(ctx context.Context, n Notifier, v tools.Verifier, p Proposal, applied time.Time) {
	if ok, err := s.store.TakeVerification(ctx, p.ID); err != nil || !ok {
		if err != nil {
			s.logger.Error("take the check of an applied change", "proposal", p.ID, "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
	defer cancel()
	res, err := v.Verify(ctx, p.ToolProposal(), applied)
	if err == nil && res.Again > 0 {
		// Not decided yet: checked again later, by this process while it
		// lives, else by the leader's sweep (the schedule is stored).
		s.audit(ctx, "watchkeeper", "verify", p.ID, "pending", map[string]any{"result": truncate(res.Text, 2000), "again_in": res.Again.String()})
		if err := s.store.ScheduleVerification(ctx, p.ID, s.now().Add(res.Again)); err != nil {
			s.logger.Error("store the next check of an applied change", "proposal", p.ID, "err", err)
		}
		select {
		case s.applied <- appliedChange{p: p, v: v, applied: applied, wait: res.Again}:
		default:
		}
		return
	}
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "failed: " + err.Error()
	case res.Worse:
		outcome = "worse"
	}
	s.audit(ctx, "watchkeeper", "verify", p.ID, outcome, map[string]any{"result": truncate(res.Text, 2000)})
	// The way back, or the plan's next step: proposals of their own.
	var follow []tools.Proposal
	for _, next := range []*tools.Proposal{res.Rollback, res.Next} {
		if err != nil || next == nil {
			continue
		}
		// Requested by whoever requested the change it follows: they may
		// not approve the next step (or the way back) alone either.
		stored, perr := s.Propose(WithRequester(ctx, p.RequestedBy), p.ConversationID, *next)
		if perr != nil {
			s.logger.Error("store a follow-up proposal", "proposal", p.ID, "err", perr)
			continue
		}
		follow = append(follow, stored)
	}
	n.Verified(ctx, Verified{Proposal: p, Result: res, FollowUps: follow, Err: err})
}

// RunScheduled does the scheduled work that outlives a click until ctx
// ends, telling n what it settled: checks of applied changes whose process
// is gone (overdue in the store), marking proposals expired when nobody
// decided them in time, and settling proposals a crash left half-way
// (Reconcile). With several replicas only the leader runs it. Checks
// under way are finished before it returns.
func (s *Service) RunScheduled(ctx context.Context, n Notifier) {
	if n == nil {
		n = LogNotifier{Logger: s.logger}
	}
	var checks sync.WaitGroup
	defer checks.Wait()
	t := time.NewTicker(s.opts.SweepEvery)
	defer t.Stop()
	for {
		s.sweep(ctx, n, &checks)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile settles proposals a crash left half-way: approved but never
// started, or started and never finished. Neither is retried — the world
// may have moved on, and an approval is for a change now, not whenever a
// process comes back — each is marked failed with what is known about it,
// audited, and shown (n.Settled). Only proposals stuck for longer than
// olderThan are touched, so that a change another process is applying
// right now (a replica, the old pod of a rolling update, a terminal chat
// on the same store) is left alone. If that process was only slow, its
// outcome still replaces the settlement (Execute).
func (s *Service) Reconcile(ctx context.Context, olderThan time.Duration, n Notifier) {
	if n == nil {
		n = LogNotifier{Logger: s.logger}
	}
	now := s.now()
	for _, st := range []struct {
		status Status
		result string
	}{
		{Approved, "approved, but the process that was to apply it stopped before it started; nothing was changed. Ask for a fresh proposal if it is still needed"},
		{Executing, "interrupted while being applied (the process stopped); whether the change was made is unknown. Check the object's state (kube_describe, kube_rollout_history) before asking again"},
	} {
		list, err := s.list(ctx, st.status, 1000)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Error("read proposals to reconcile", "status", st.status, "err", err)
			}
			continue
		}
		for _, p := range list {
			since := p.DecidedAt
			if since.IsZero() {
				since = p.CreatedAt
			}
			if olderThan > 0 && now.Sub(since) < olderThan {
				continue
			}
			rp, err := s.transition(ctx, p.ID, []Status{st.status}, Failed, "watchkeeper", st.result)
			if err != nil {
				continue // finished meanwhile
			}
			s.logger.Warn("a proposal was left half-way by a stopped process", "proposal", p.ID, "was", st.status)
			s.audit(ctx, "watchkeeper", "reconcile", p.ID, string(Failed), map[string]any{"was": st.status, "result": st.result})
			n.Settled(ctx, rp)
		}
	}
}

// StuckAfter is how long a proposal may be approved-not-started or
// executing before its process is taken for dead: longer than any apply
// (a rollout is watched for minutes).
const StuckAfter = 15 * time.Minute

func (s *Service) sweep(ctx context.Context, n Notifier, checks *sync.WaitGroup) {
	s.Reconcile(ctx, StuckAfter, n)
	now := s.now()
	due, err := s.due(ctx, now.Add(-overdue), 100)
	if err != nil && ctx.Err() == nil {
		s.logger.Error("read overdue checks", "err", err)
	}
	for _, p := range due {
		t, ok := s.tools.Get(p.Tool)
		v, isVerifier := t.(tools.Verifier)
		if !ok || !isVerifier {
			continue
		}
		applied := p.DecidedAt
		if applied.IsZero() {
			applied = p.VerifyAt
		}
		s.logger.Info("checking an applied change whose process is gone", "proposal", p.ID, "due", p.VerifyAt)
		checks.Go(func() { s.verify(ctx, n, v, p, applied) })
	}
	if s.opts.Expiry <= 0 {
		return
	}
	pending, err := s.list(ctx, Pending, 1000)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("read pending proposals", "err", err)
		}
		return
	}
	for _, p := range pending {
		if !now.After(p.CreatedAt.Add(s.opts.Expiry)) {
			continue
		}
		ep, err := s.transition(ctx, p.ID, []Status{Pending}, Expired, "watchkeeper", "expired")
		if err != nil {
			continue // decided meanwhile
		}
		s.audit(ctx, "watchkeeper", "expire", p.ID, string(Expired), nil)
		n.Settled(ctx, ep)
	}
}

func (s *Service) apply(ctx context.Context, p Proposal) (res tools.Result, err error) {
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
	return applier.Apply(tools.WithApprover(ctx, p.DecidedBy), p.ToolProposal())
}

// Get returns a stored proposal.
func (s *Service) Get(ctx context.Context, id string) (Proposal, error) {
	return s.get(ctx, id)
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
