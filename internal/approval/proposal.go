package approval

import (
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Status is where a proposal is in its life. Pending is the only state a
// person decides; Executing is held while the change runs, and a proposal a
// crash left in it needs a person to check what happened (Reconcile).
type Status string

// Proposal statuses, as stored.
const (
	Pending   Status = store.ProposalPending
	Approved  Status = store.ProposalApproved
	Rejected  Status = store.ProposalRejected
	Executing Status = store.ProposalExecuting
	Executed  Status = store.ProposalExecuted
	Failed    Status = store.ProposalFailed
	Expired   Status = store.ProposalExpired
)

// Decided reports whether nobody can approve or reject the proposal any
// more.
func (s Status) Decided() bool { return s != Pending }

// Proposal is a change proposed by a tool, as this package keeps it: the
// store holds its rows (store.Proposal), the rest of the program sees this.
type Proposal struct {
	ID             string
	ConversationID string
	Tool           string
	Summary        string
	Details        string
	// Reason is why, in the requester's words (not checked by anything).
	Reason string
	Risk   string
	Args   []byte
	Status Status
	// CreatedAt is when it was proposed; DecidedAt and DecidedBy when and
	// by whom it last changed status; Result is what applying it said.
	CreatedAt time.Time
	DecidedAt time.Time
	DecidedBy string
	Result    string
	// RequestedBy is who asked the question that led to the proposal.
	RequestedBy string
	// Location is where a surface shows it ("slack:C123:1712.0001").
	Location string
	// Approvals are the people who approved it so far, in order (a
	// two-person rule needs two before it is approved).
	Approvals []string
	// VerifyAt is when the applied change is due to be checked; zero when
	// it is not (or no longer) scheduled.
	VerifyAt time.Time
}

// ToolProposal returns the proposal as its tool sees it.
func (p Proposal) ToolProposal() tools.Proposal {
	return tools.Proposal{ID: p.ID, Tool: p.Tool, Summary: p.Summary, Details: p.Details, Reason: p.Reason, Risk: p.Risk, Args: p.Args}
}

func fromRow(r store.Proposal) Proposal {
	return Proposal{ID: r.ID, ConversationID: r.ConversationID, Tool: r.Tool, Summary: r.Summary, Details: r.Details,
		Reason: r.Reason, Risk: r.Risk, Args: r.Args, Status: Status(r.Status), CreatedAt: r.CreatedAt, DecidedAt: r.DecidedAt,
		DecidedBy: r.DecidedBy, Result: r.Result, RequestedBy: r.RequestedBy, Location: r.Location, Approvals: r.Approvals,
		VerifyAt: r.VerifyAt}
}

func (p Proposal) row() store.Proposal {
	return store.Proposal{ID: p.ID, ConversationID: p.ConversationID, Tool: p.Tool, Summary: p.Summary, Details: p.Details,
		Reason: p.Reason, Risk: p.Risk, Args: p.Args, Status: string(p.Status), CreatedAt: p.CreatedAt, DecidedAt: p.DecidedAt,
		DecidedBy: p.DecidedBy, Result: p.Result, RequestedBy: p.RequestedBy, Location: p.Location, Approvals: p.Approvals,
		VerifyAt: p.VerifyAt}
}

func fromRows(rs []store.Proposal) []Proposal {
	out := make([]Proposal, len(rs))
	for i, r := range rs {
		out[i] = fromRow(r)
	}
	return out
}

func statuses(ss ...Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
