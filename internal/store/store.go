// Package store persists Watchkeeper's state: conversation memory, run
// transcripts, proposals awaiting approval, incidents and the audit log.
//
// Each concern has its own small interface, the contract a second
// implementation (PostgreSQL, for several replicas) must meet; storetest
// checks any implementation against it. SQLite is the embedded default:
// pure Go (modernc.org/sqlite, no cgo), WAL mode, synchronous=FULL so an
// acknowledged write survives a crash of the process or the machine.
// Transcripts and conversations are stored zstd-compressed.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a state transition is refused because the
// record is no longer in the expected state (a proposal decided twice).
var ErrConflict = errors.New("conflicting state")

// Conversations is the working memory of threads and chat sessions.
type Conversations interface {
	// LoadConversation returns the stored messages (JSON), or nil and no
	// error when the conversation is new.
	LoadConversation(ctx context.Context, id string) ([]byte, error)
	// SaveConversation replaces the stored messages.
	SaveConversation(ctx context.Context, id string, messages []byte) error
	// DeleteConversation forgets a conversation (/reset).
	DeleteConversation(ctx context.Context, id string) error
}

// Run is the record of one agent run.
type Run struct {
	ID             string
	ConversationID string
	Source         string
	Model          string
	Mode           string
	Outcome        string
	Error          string
	Question       string
	Answer         string
	StartedAt      time.Time
	Duration       time.Duration
	Steps          int
	ToolCalls      int
	InputTokens    int
	OutputTokens   int
	CostUSD        *float64
	// Transcript is JSON; stored compressed. ListRuns leaves it empty.
	Transcript []byte
}

// Runs stores run records.
type Runs interface {
	SaveRun(ctx context.Context, r Run) error
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns returns the newest runs first, without transcripts;
	// conversationID "" lists all.
	ListRuns(ctx context.Context, conversationID string, limit int) ([]Run, error)
	// SpentUSD is the summed cost of the runs started at or after since;
	// conversationID "" sums all. Runs without a price count 0. It reads
	// what every replica sharing the store recorded.
	SpentUSD(ctx context.Context, since time.Time, conversationID string) (float64, error)
}

// Proposal statuses.
const (
	ProposalPending  = "pending"
	ProposalApproved = "approved"
	ProposalRejected = "rejected"
	// ProposalExecuting is held while the change runs; a proposal left in
	// it by a crash needs a person to check what happened.
	ProposalExecuting = "executing"
	ProposalExecuted  = "executed"
	ProposalFailed    = "failed"
	ProposalExpired   = "expired"
)

// Proposal is a stored change proposal.
type Proposal struct {
	ID             string
	ConversationID string
	Tool           string
	Summary        string
	Details        string
	// Reason is why, in the requester's words (not checked by anything).
	Reason    string
	Risk      string
	Args      []byte
	Status    string
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

// Proposals stores proposals and their decisions.
type Proposals interface {
	CreateProposal(ctx context.Context, p Proposal) error
	GetProposal(ctx context.Context, id string) (Proposal, error)
	// TransitionProposal moves a proposal from one of the statuses in from
	// to status to, atomically, recording who and the result. It returns
	// ErrConflict when the proposal is in none of from: this is what makes
	// a double click on Approve execute once.
	TransitionProposal(ctx context.Context, id string, from []string, to, by, result string) (Proposal, error)
	ListProposals(ctx context.Context, status string, limit int) ([]Proposal, error)
	// SetProposalLocation records where the proposal is shown.
	SetProposalLocation(ctx context.Context, id, location string) error
	// AddApproval records actor's approval of a pending proposal, once per
	// person, and returns everyone who approved it so far.
	AddApproval(ctx context.Context, id, actor string) ([]string, error)
	// ScheduleVerification records when an applied change is to be checked.
	ScheduleVerification(ctx context.Context, id string, at time.Time) error
	// DueVerifications returns proposals whose check was due at or before
	// before, oldest first.
	DueVerifications(ctx context.Context, before time.Time, limit int) ([]Proposal, error)
	// TakeVerification claims a scheduled check: true for exactly one
	// caller, so a change is checked once across replicas.
	TakeVerification(ctx context.Context, id string) (bool, error)
}

// Outbox statuses.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxMessage is a message accepted for delivery.
type OutboxMessage struct {
	ID      int64
	Channel string
	Kind    string
	// Key names what the message replaces (an update of one Slack
	// message): of pending messages with one key only the newest need be
	// delivered.
	Key       string
	Payload   []byte
	Status    string
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
	// Result is what delivery returned (a message ts) or why it failed.
	Result string
}

// Outbox keeps messages until they are delivered.
type Outbox interface {
	EnqueueOutbox(ctx context.Context, m OutboxMessage) (int64, error)
	// PendingOutbox returns pending messages, oldest first.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxMessage, error)
	UpdateOutbox(ctx context.Context, id int64, status string, attempts int, nextAt time.Time, result string) error
	// GetOutbox returns one message: a replica that queued a message
	// another replica delivers reads the outcome here.
	GetOutbox(ctx context.Context, id int64) (OutboxMessage, error)
}

// Claims records keys of work taken, so that a redelivery is done once.
type Claims interface {
	// Claim returns true the first time key is claimed within ttl.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID      int64
	Time    time.Time
	Actor   string
	Action  string
	Target  string
	Outcome string
	Details string
}

// Audit is the append-only audit log.
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// ListAudit returns the newest entries first.
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Incident statuses.
const (
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// Incident is an alert group and its thread.
type Incident struct {
	ID string
	// GroupKey is the alert group that opened the incident; GroupKeys are
	// every group it holds (storms merge several), indexed by PutIncident
	// so that a notification finds its incident without reading the
	// others. Reads leave GroupKeys empty: the incident's data has them.
	GroupKey   string
	GroupKeys  []string
	Status     string
	Title      string
	Severity   string
	Channel    string
	ThreadTS   string
	StartedAt  time.Time
	ResolvedAt time.Time
	UpdatedAt  time.Time
	Data       []byte
}

// Incidents stores incidents.
type Incidents interface {
	// PutIncident inserts or replaces an incident by ID. A recorded thread
	// is never cleared: a writer holding an older copy (read before another
	// replica linked the thread) must not unlink it.
	PutIncident(ctx context.Context, inc Incident) error
	GetIncident(ctx context.Context, id string) (Incident, error)
	// OpenIncidentByGroup returns the open incident holding an alert group
	// key (ErrNotFound when none does).
	OpenIncidentByGroup(ctx context.Context, groupKey string) (Incident, error)
	// OpenIncidentsInChannel returns the open incidents of a channel that
	// started at or after since, newest first (storm merging).
	OpenIncidentsInChannel(ctx context.Context, channel string, since time.Time, limit int) ([]Incident, error)
	// IncidentByThread returns the incident whose parent message is ts in
	// channel (ErrNotFound when none is).
	IncidentByThread(ctx context.Context, channel, ts string) (Incident, error)
	ListIncidents(ctx context.Context, status string, limit int) ([]Incident, error)
	// SetIncidentThread records the thread of an incident's parent message
	// unless one is recorded already; true when it set it.
	SetIncidentThread(ctx context.Context, id, threadTS string) (bool, error)
	// UpdateIncidents runs fn in one transaction that holds the store's
	// incident lock, so changes to incidents happen one at a time across
	// every replica on the store: what fn reads is what it changes, and
	// no other writer's timeline event or alert is lost. fn's error (or a
	// failed commit) rolls everything back. fn must not call out to slow
	// services (Slack, a model): the lock is held while it runs.
	UpdateIncidents(ctx context.Context, fn func(ctx context.Context, tx IncidentTx) error) error
}

// IncidentTx reads and writes incidents inside UpdateIncidents.
type IncidentTx interface {
	PutIncident(ctx context.Context, inc Incident) error
	GetIncident(ctx context.Context, id string) (Incident, error)
	OpenIncidentByGroup(ctx context.Context, groupKey string) (Incident, error)
	OpenIncidentsInChannel(ctx context.Context, channel string, since time.Time, limit int) ([]Incident, error)
}

// Evidence is a file kept with an incident: something its investigation
// read that a reader needs after the source has forgotten it (the sampled
// traces of the incident's window outlive the trace store's retention).
type Evidence struct {
	IncidentID string
	// Name is unique within the incident, e.g. "traces/checkout.jsonl".
	Name        string
	ContentType string
	// Summary is one line for lists.
	Summary string
	// Size is len(Data) as written; ListEvidence leaves Data nil.
	Size      int64
	Data      []byte
	CreatedAt time.Time
}

// MaxEvidenceBytes bounds one evidence file (before compression): the
// store is a database, not an object store.
const MaxEvidenceBytes = 32 << 20

// Evidences stores the files kept with incidents.
type Evidences interface {
	// PutEvidence stores e, replacing the incident's file of that name.
	PutEvidence(ctx context.Context, e Evidence) error
	// ListEvidence returns an incident's files by name, without their data.
	ListEvidence(ctx context.Context, incidentID string) ([]Evidence, error)
	// GetEvidence returns one file (ErrNotFound when there is none).
	GetEvidence(ctx context.Context, incidentID, name string) (Evidence, error)
}

// Store is every concern together, as one backend provides them.
type Store interface {
	Conversations
	Runs
	Proposals
	Audit
	Incidents
	Evidences
	Outbox
	Claims
	// Ping reports whether the backend can serve requests (/readyz).
	Ping(ctx context.Context) error
	Close() error
}
