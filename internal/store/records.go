package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// LoadConversation implements Conversations.
func (s *sqlDB) LoadConversation(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.queryRow(ctx, `SELECT messages FROM conversations WHERE id = ?`, id).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load conversation %s: %w", id, err)
	}
	return s.decompress(b)
}

// SaveConversation implements Conversations.
func (s *sqlDB) SaveConversation(ctx context.Context, id string, messages []byte) error {
	_, err := s.exec(ctx, `INSERT INTO conversations (id, messages, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET messages = excluded.messages, updated_at = excluded.updated_at`,
		id, s.compress(messages), ms(s.now()))
	if err != nil {
		return fmt.Errorf("save conversation %s: %w", id, err)
	}
	return nil
}

// DeleteConversation implements Conversations.
func (s *sqlDB) DeleteConversation(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM conversations WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete conversation %s: %w", id, err)
	}
	return nil
}

// SaveRun implements Runs.
func (s *sqlDB) SaveRun(ctx context.Context, r Run) error {
	var cost sql.NullFloat64
	if r.CostUSD != nil {
		cost = sql.NullFloat64{Float64: *r.CostUSD, Valid: true}
	}
	_, err := s.exec(ctx, `INSERT INTO runs (id, conversation_id, source, model, mode, outcome, error, question, answer,
		started_at, duration_ms, steps, tool_calls, input_tokens, output_tokens, cost_usd, transcript)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ConversationID, r.Source, r.Model, r.Mode, r.Outcome, r.Error, r.Question, r.Answer,
		ms(r.StartedAt), r.Duration.Milliseconds(), r.Steps, r.ToolCalls, r.InputTokens, r.OutputTokens, cost,
		s.compress(r.Transcript))
	if err != nil {
		return fmt.Errorf("save run %s: %w", r.ID, err)
	}
	return nil
}

const runColumns = `id, conversation_id, source, model, mode, outcome, error, question, answer,
	started_at, duration_ms, steps, tool_calls, input_tokens, output_tokens, cost_usd`

func scanRun(sc interface{ Scan(...any) error }, extra ...any) (Run, error) {
	var (
		r        Run
		started  int64
		duration int64
		cost     sql.NullFloat64
	)
	dest := append([]any{&r.ID, &r.ConversationID, &r.Source, &r.Model, &r.Mode, &r.Outcome, &r.Error, &r.Question, &r.Answer,
		&started, &duration, &r.Steps, &r.ToolCalls, &r.InputTokens, &r.OutputTokens, &cost}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return Run{}, err
	}
	r.StartedAt = fromMS(started)
	r.Duration = msDuration(duration)
	if cost.Valid {
		c := cost.Float64
		r.CostUSD = &c
	}
	return r, nil
}

// GetRun implements Runs.
func (s *sqlDB) GetRun(ctx context.Context, id string) (Run, error) {
	var transcript []byte
	r, err := scanRun(s.queryRow(ctx, `SELECT `+runColumns+`, transcript FROM runs WHERE id = ?`, id), &transcript)
	if err != nil {
		return Run{}, notFound(err, "run", id)
	}
	if r.Transcript, err = s.decompress(transcript); err != nil {
		return Run{}, fmt.Errorf("run %s transcript: %w", id, err)
	}
	return r, nil
}

// ListRuns implements Runs.
func (s *sqlDB) ListRuns(ctx context.Context, conversationID string, limit int) ([]Run, error) {
	query := `SELECT ` + runColumns + ` FROM runs`
	var args []any
	if conversationID != "" {
		query += ` WHERE conversation_id = ?`
		args = append(args, conversationID)
	}
	query += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, clampLimit(limit))
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SpentUSD implements Runs.
func (s *sqlDB) SpentUSD(ctx context.Context, since time.Time, conversationID string) (float64, error) {
	query := `SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE started_at >= ?`
	args := []any{ms(since)}
	if conversationID != "" {
		query += ` AND conversation_id = ?`
		args = append(args, conversationID)
	}
	var spent float64
	if err := s.queryRow(ctx, query, args...).Scan(&spent); err != nil {
		return 0, fmt.Errorf("sum the cost of runs since %s: %w", since.Format(time.RFC3339), err)
	}
	return spent, nil
}

// CreateProposal implements Proposals.
func (s *sqlDB) CreateProposal(ctx context.Context, p Proposal) error {
	if p.Status == "" {
		p.Status = ProposalPending
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO proposals (id, conversation_id, tool, summary, details, reason, risk, args, status, created_at, requested_by, location)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.ConversationID, p.Tool, p.Summary, p.Details, p.Reason, p.Risk, p.Args, p.Status, ms(p.CreatedAt), p.RequestedBy, p.Location)
	if err != nil {
		return fmt.Errorf("create proposal %s: %w", p.ID, err)
	}
	return nil
}

const proposalColumns = `id, conversation_id, tool, summary, details, reason, risk, args, status, created_at, decided_at, decided_by, result, requested_by, location, verify_at`

func scanProposal(sc interface{ Scan(...any) error }) (Proposal, error) {
	var (
		p       Proposal
		created int64
		decided sql.NullInt64
		verify  sql.NullInt64
	)
	if err := sc.Scan(&p.ID, &p.ConversationID, &p.Tool, &p.Summary, &p.Details, &p.Reason, &p.Risk, &p.Args, &p.Status,
		&created, &decided, &p.DecidedBy, &p.Result, &p.RequestedBy, &p.Location, &verify); err != nil {
		return Proposal{}, err
	}
	p.CreatedAt = fromMS(created)
	p.DecidedAt = fromNullMS(decided)
	p.VerifyAt = fromNullMS(verify)
	return p, nil
}

// GetProposal implements Proposals.
func (s *sqlDB) GetProposal(ctx context.Context, id string) (Proposal, error) {
	p, err := scanProposal(s.queryRow(ctx, `SELECT `+proposalColumns+` FROM proposals WHERE id = ?`, id))
	if err != nil {
		return Proposal{}, notFound(err, "proposal", id)
	}
	p.Approvals, err = s.approvals(ctx, id)
	return p, err
}

func (s *sqlDB) approvals(ctx context.Context, id string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT actor FROM proposal_approvals WHERE proposal_id = ? ORDER BY at, actor`, id)
	if err != nil {
		return nil, fmt.Errorf("approvals of %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddApproval implements Proposals.
func (s *sqlDB) AddApproval(ctx context.Context, id, actor string) ([]string, error) {
	p, err := s.GetProposal(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Status != ProposalPending {
		return p.Approvals, fmt.Errorf("proposal %s is %s, not pending: %w", id, p.Status, ErrConflict)
	}
	if _, err := s.exec(ctx, `INSERT INTO proposal_approvals (proposal_id, actor, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		id, actor, ms(s.now())); err != nil {
		return nil, fmt.Errorf("record approval of %s: %w", id, err)
	}
	return s.approvals(ctx, id)
}

// TransitionProposal implements Proposals with a single conditional UPDATE,
// so concurrent decisions cannot both succeed.
func (s *sqlDB) TransitionProposal(ctx context.Context, id string, from []string, to, by, result string) (Proposal, error) {
	if len(from) == 0 {
		return Proposal{}, fmt.Errorf("transition proposal %s: no source status given", id)
	}
	args := []any{to, ms(s.now()), by, result, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.exec(ctx, `UPDATE proposals SET status = ?, decided_at = ?, decided_by = ?, result = ?
		WHERE id = ? AND status IN (?`+strings.Repeat(", ?", len(from)-1)+`)`, args...)
	if err != nil {
		return Proposal{}, fmt.Errorf("transition proposal %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Proposal{}, err
	}
	p, err := s.GetProposal(ctx, id)
	if err != nil {
		return Proposal{}, err
	}
	if n == 0 {
		return p, fmt.Errorf("proposal %s is %s, not %s: %w", id, p.Status, strings.Join(from, " or "), ErrConflict)
	}
	return p, nil
}

// ListProposals implements Proposals; status "" lists all.
func (s *sqlDB) ListProposals(ctx context.Context, status string, limit int) ([]Proposal, error) {
	query := `SELECT ` + proposalColumns + ` FROM proposals`
	var args []any
	if status != "" {
		query += ` WHERE status = ?`
		args = append(args, status)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, clampLimit(limit))
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	defer rows.Close()
	var out []Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, fmt.Errorf("list proposals: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AppendAudit implements Audit.
func (s *sqlDB) AppendAudit(ctx context.Context, e AuditEntry) (int64, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	var id int64
	err := s.queryRow(ctx, `INSERT INTO audit (time, actor, action, target, outcome, details) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		ms(e.Time), e.Actor, e.Action, e.Target, e.Outcome, e.Details).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// ListAudit implements Audit.
func (s *sqlDB) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.query(ctx, `SELECT id, time, actor, action, target, outcome, details FROM audit ORDER BY id DESC LIMIT ?`, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.Details); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// querier is what a database and a transaction both offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// incidentRW reads and writes incidents through q: the database, or the
// transaction of UpdateIncidents.
type incidentRW struct {
	s *sqlDB
	q querier
}

// PutIncident implements Incidents: the incident and the index of its
// groups change together, in one transaction.
func (s *sqlDB) PutIncident(ctx context.Context, inc Incident) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := (incidentRW{s, tx}).PutIncident(ctx, inc); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	return nil
}

// UpdateIncidents implements Incidents. The lock is the update of one row:
// PostgreSQL holds its row lock and SQLite its write lock until the
// transaction ends, so the same code serialises both, and the reads that
// follow see every change committed before.
func (s *sqlDB) UpdateIncidents(ctx context.Context, fn func(ctx context.Context, tx IncidentTx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin an incident change: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `UPDATE incident_lock SET n = n + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("lock incidents: %w", err)
	}
	if err := fn(ctx, incidentRW{s, tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit an incident change: %w", err)
	}
	return nil
}

// PutIncident writes the incident and indexes its groups.
func (rw incidentRW) PutIncident(ctx context.Context, inc Incident) error {
	s := rw.s
	if inc.UpdatedAt.IsZero() {
		inc.UpdatedAt = s.now()
	}
	if _, err := rw.q.ExecContext(ctx, s.rebind(`INSERT INTO incidents (id, group_key, status, title, severity, channel, thread_ts, started_at, resolved_at, updated_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET group_key = excluded.group_key, status = excluded.status, title = excluded.title,
			severity = excluded.severity, channel = excluded.channel,
			thread_ts = CASE WHEN excluded.thread_ts = '' THEN incidents.thread_ts ELSE excluded.thread_ts END,
			started_at = excluded.started_at, resolved_at = excluded.resolved_at, updated_at = excluded.updated_at, data = excluded.data`),
		inc.ID, inc.GroupKey, inc.Status, inc.Title, inc.Severity, inc.Channel, inc.ThreadTS,
		ms(inc.StartedAt), nullMS(inc.ResolvedAt), ms(inc.UpdatedAt), inc.Data); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	for _, k := range append([]string{inc.GroupKey}, inc.GroupKeys...) {
		if k == "" {
			continue
		}
		if _, err := rw.q.ExecContext(ctx, s.rebind(`INSERT INTO incident_groups (group_key, incident_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
			k, inc.ID); err != nil {
			return fmt.Errorf("index the groups of incident %s: %w", inc.ID, err)
		}
	}
	return nil
}

const incidentColumns = `id, group_key, status, title, severity, channel, thread_ts, started_at, resolved_at, updated_at, data`

func scanIncident(sc interface{ Scan(...any) error }) (Incident, error) {
	var (
		inc              Incident
		started, updated int64
		resolved         sql.NullInt64
	)
	if err := sc.Scan(&inc.ID, &inc.GroupKey, &inc.Status, &inc.Title, &inc.Severity, &inc.Channel, &inc.ThreadTS,
		&started, &resolved, &updated, &inc.Data); err != nil {
		return Incident{}, err
	}
	inc.StartedAt, inc.ResolvedAt, inc.UpdatedAt = fromMS(started), fromNullMS(resolved), fromMS(updated)
	return inc, nil
}

// GetIncident implements Incidents.
func (s *sqlDB) GetIncident(ctx context.Context, id string) (Incident, error) {
	return incidentRW{s, s.db}.GetIncident(ctx, id)
}

// GetIncident reads one incident.
func (rw incidentRW) GetIncident(ctx context.Context, id string) (Incident, error) {
	inc, err := scanIncident(rw.q.QueryRowContext(ctx, rw.s.rebind(`SELECT `+incidentColumns+` FROM incidents WHERE id = ?`), id))
	if err != nil {
		return Incident{}, notFound(err, "incident", id)
	}
	return inc, nil
}

// OpenIncidentByGroup implements Incidents.
func (s *sqlDB) OpenIncidentByGroup(ctx context.Context, groupKey string) (Incident, error) {
	return incidentRW{s, s.db}.OpenIncidentByGroup(ctx, groupKey)
}

// OpenIncidentByGroup finds the open incident of a group.
func (rw incidentRW) OpenIncidentByGroup(ctx context.Context, groupKey string) (Incident, error) {
	inc, err := scanIncident(rw.q.QueryRowContext(ctx, rw.s.rebind(`SELECT `+prefixed("i.", incidentColumns)+` FROM incident_groups g
		JOIN incidents i ON i.id = g.incident_id
		WHERE g.group_key = ? AND i.status = ? ORDER BY i.started_at DESC, i.id DESC LIMIT 1`), groupKey, IncidentOpen))
	if err != nil {
		return Incident{}, notFound(err, "open incident for group", groupKey)
	}
	return inc, nil
}

// OpenIncidentsInChannel implements Incidents.
func (s *sqlDB) OpenIncidentsInChannel(ctx context.Context, channel string, since time.Time, limit int) ([]Incident, error) {
	return incidentRW{s, s.db}.OpenIncidentsInChannel(ctx, channel, since, limit)
}

// OpenIncidentsInChannel lists a channel's recent open incidents.
func (rw incidentRW) OpenIncidentsInChannel(ctx context.Context, channel string, since time.Time, limit int) ([]Incident, error) {
	return rw.incidents(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE status = ? AND channel = ? AND started_at >= ?
		ORDER BY started_at DESC, id DESC LIMIT ?`, IncidentOpen, channel, ms(since), clampLimit(limit))
}

// IncidentByThread implements Incidents.
func (s *sqlDB) IncidentByThread(ctx context.Context, channel, ts string) (Incident, error) {
	if ts == "" {
		return Incident{}, fmt.Errorf("incident for an empty thread: %w", ErrNotFound)
	}
	inc, err := scanIncident(s.queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE channel = ? AND thread_ts = ?
		ORDER BY started_at DESC LIMIT 1`, channel, ts))
	if err != nil {
		return Incident{}, notFound(err, "incident of thread", channel+"/"+ts)
	}
	return inc, nil
}

// prefixed qualifies each of a comma-separated column list.
func prefixed(p, columns string) string {
	parts := strings.Split(columns, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// ListIncidents implements Incidents; status "" lists all.
func (s *sqlDB) ListIncidents(ctx context.Context, status string, limit int) ([]Incident, error) {
	query := `SELECT ` + incidentColumns + ` FROM incidents`
	var args []any
	if status != "" {
		query += ` WHERE status = ?`
		args = append(args, status)
	}
	query += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, clampLimit(limit))
	return s.incidents(ctx, query, args...)
}

func (s *sqlDB) incidents(ctx context.Context, query string, args ...any) ([]Incident, error) {
	return incidentRW{s, s.db}.incidents(ctx, query, args...)
}

func (rw incidentRW) incidents(ctx context.Context, query string, args ...any) ([]Incident, error) {
	rows, err := rw.q.QueryContext(ctx, rw.s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

func clampLimit(n int) int {
	if n <= 0 || n > 10_000 {
		return 10_000
	}
	return n
}

// SetProposalLocation implements Proposals.
func (s *sqlDB) SetProposalLocation(ctx context.Context, id, location string) error {
	res, err := s.exec(ctx, `UPDATE proposals SET location = ? WHERE id = ?`, location, id)
	if err != nil {
		return fmt.Errorf("set proposal %s location: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("proposal %s: %w", id, ErrNotFound)
	}
	return nil
}

// EnqueueOutbox implements Outbox.
func (s *sqlDB) EnqueueOutbox(ctx context.Context, m OutboxMessage) (int64, error) {
	now := s.now()
	if m.NextAt.IsZero() {
		m.NextAt = now
	}
	var id int64
	err := s.queryRow(ctx, `INSERT INTO outbox (channel, kind, key, payload, status, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.Channel, m.Kind, m.Key, m.Payload, OutboxPending, ms(m.NextAt), ms(now)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue outbox: %w", err)
	}
	return id, nil
}

const outboxColumns = `id, channel, kind, key, payload, status, attempts, next_at, created_at, result`

func scanOutbox(sc interface{ Scan(...any) error }) (OutboxMessage, error) {
	var (
		m             OutboxMessage
		next, created int64
	)
	if err := sc.Scan(&m.ID, &m.Channel, &m.Kind, &m.Key, &m.Payload, &m.Status, &m.Attempts, &next, &created, &m.Result); err != nil {
		return OutboxMessage{}, err
	}
	m.NextAt, m.CreatedAt = fromMS(next), fromMS(created)
	return m, nil
}

// PendingOutbox implements Outbox.
func (s *sqlDB) PendingOutbox(ctx context.Context, limit int) ([]OutboxMessage, error) {
	rows, err := s.query(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE status = ? ORDER BY id LIMIT ?`, OutboxPending, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// GetOutbox implements Outbox.
func (s *sqlDB) GetOutbox(ctx context.Context, id int64) (OutboxMessage, error) {
	m, err := scanOutbox(s.queryRow(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = ?`, id))
	if err != nil {
		return OutboxMessage{}, notFound(err, "outbox message", fmt.Sprint(id))
	}
	return m, nil
}

// UpdateOutbox implements Outbox.
func (s *sqlDB) UpdateOutbox(ctx context.Context, id int64, status string, attempts int, nextAt time.Time, result string) error {
	_, err := s.exec(ctx, `UPDATE outbox SET status = ?, attempts = ?, next_at = ?, result = ? WHERE id = ?`,
		status, attempts, ms(nextAt), result, id)
	if err != nil {
		return fmt.Errorf("update outbox %d: %w", id, err)
	}
	return nil
}

// Claim implements Claims.
func (s *sqlDB) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	if _, err := s.exec(ctx, `DELETE FROM claims WHERE expires_at < ?`, ms(now)); err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	res, err := s.exec(ctx, `INSERT INTO claims (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
		key, ms(now.Add(ttl)))
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ScheduleVerification implements Proposals.
func (s *sqlDB) ScheduleVerification(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE proposals SET verify_at = ? WHERE id = ?`, ms(at), id)
	if err != nil {
		return fmt.Errorf("schedule the check of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("proposal %s: %w", id, ErrNotFound)
	}
	return nil
}

// DueVerifications implements Proposals.
func (s *sqlDB) DueVerifications(ctx context.Context, before time.Time, limit int) ([]Proposal, error) {
	rows, err := s.query(ctx, `SELECT `+proposalColumns+` FROM proposals WHERE verify_at IS NOT NULL AND verify_at <= ?
		ORDER BY verify_at, id LIMIT ?`, ms(before), clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due checks: %w", err)
	}
	defer rows.Close()
	var out []Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, fmt.Errorf("due checks: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// TakeVerification implements Proposals with a conditional UPDATE, so
// exactly one caller takes a check.
func (s *sqlDB) TakeVerification(ctx context.Context, id string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE proposals SET verify_at = NULL WHERE id = ? AND verify_at IS NOT NULL`, id)
	if err != nil {
		return false, fmt.Errorf("take the check of %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetIncidentThread implements Incidents.
func (s *sqlDB) SetIncidentThread(ctx context.Context, id, threadTS string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE incidents SET thread_ts = ? WHERE id = ? AND thread_ts = ''`, threadTS, id)
	if err != nil {
		return false, fmt.Errorf("record the thread of incident %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PutEvidence implements Evidences.
func (s *sqlDB) PutEvidence(ctx context.Context, e Evidence) error {
	switch {
	case e.IncidentID == "" || e.Name == "":
		return fmt.Errorf("put evidence: an incident ID and a name are required (got %q, %q)", e.IncidentID, e.Name)
	case len(e.Data) > MaxEvidenceBytes:
		return fmt.Errorf("put evidence %s of %s: %d bytes, more than the %d a file may hold", e.Name, e.IncidentID, len(e.Data), MaxEvidenceBytes)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	data := s.compress(e.Data)
	if data == nil {
		data = []byte{}
	}
	_, err := s.exec(ctx, `INSERT INTO incident_evidence (incident_id, name, content_type, summary, size, created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (incident_id, name) DO UPDATE SET content_type = excluded.content_type, summary = excluded.summary,
		size = excluded.size, created_at = excluded.created_at, data = excluded.data`,
		e.IncidentID, e.Name, e.ContentType, e.Summary, len(e.Data), ms(e.CreatedAt), data)
	if err != nil {
		return fmt.Errorf("put evidence %s of %s: %w", e.Name, e.IncidentID, err)
	}
	return nil
}

// ListEvidence implements Evidences.
func (s *sqlDB) ListEvidence(ctx context.Context, incidentID string) ([]Evidence, error) {
	rows, err := s.query(ctx, `SELECT name, content_type, summary, size, created_at FROM incident_evidence WHERE incident_id = ? ORDER BY name`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("list evidence of %s: %w", incidentID, err)
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		e := Evidence{IncidentID: incidentID}
		var created int64
		if err := rows.Scan(&e.Name, &e.ContentType, &e.Summary, &e.Size, &created); err != nil {
			return nil, fmt.Errorf("list evidence of %s: %w", incidentID, err)
		}
		e.CreatedAt = fromMS(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// GetEvidence implements Evidences.
func (s *sqlDB) GetEvidence(ctx context.Context, incidentID, name string) (Evidence, error) {
	e := Evidence{IncidentID: incidentID, Name: name}
	var created int64
	var data []byte
	err := s.queryRow(ctx, `SELECT content_type, summary, size, created_at, data FROM incident_evidence WHERE incident_id = ? AND name = ?`,
		incidentID, name).Scan(&e.ContentType, &e.Summary, &e.Size, &created, &data)
	if err != nil {
		return Evidence{}, notFound(err, "evidence", incidentID+"/"+name)
	}
	e.CreatedAt = fromMS(created)
	if e.Data, err = s.decompress(data); err != nil {
		return Evidence{}, fmt.Errorf("evidence %s of %s: %w", name, incidentID, err)
	}
	if e.Data == nil {
		e.Data = []byte{}
	}
	return e, nil
}
