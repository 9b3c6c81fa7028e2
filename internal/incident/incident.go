// Package incident turns Alertmanager notifications into incidents: one
// per alert group (and per storm of related groups), each with one parent
// message in its channel that later notifications update instead of
// posting anew, a timeline of everything that happened, and an automatic
// investigation posted in its thread.
package incident

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

// Message is an Alertmanager webhook notification, version 4.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Validate reports what is wrong with a notification, for a 4xx answer.
func (m Message) Validate() error {
	var errs []string
	if m.Version != "4" {
		errs = append(errs, fmt.Sprintf("version %q is not supported; Watchkeeper reads Alertmanager's webhook version 4", m.Version))
	}
	if m.Status != "firing" && m.Status != "resolved" {
		errs = append(errs, fmt.Sprintf("status %q must be firing or resolved", m.Status))
	}
	if m.GroupKey == "" {
		errs = append(errs, "groupKey is empty")
	}
	if len(m.Alerts) == 0 {
		errs = append(errs, "there are no alerts")
	}
	for i, a := range m.Alerts {
		switch {
		case a.Labels["alertname"] == "":
			errs = append(errs, fmt.Sprintf("alert %d has no alertname label", i))
		case a.Status != "firing" && a.Status != "resolved":
			errs = append(errs, fmt.Sprintf("alert %d has status %q", i, a.Status))
		case a.Fingerprint == "":
			errs = append(errs, fmt.Sprintf("alert %d has no fingerprint", i))
		case a.StartsAt.IsZero():
			errs = append(errs, fmt.Sprintf("alert %d has no startsAt", i))
		}
		if len(errs) > 10 {
			break
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// key identifies a notification for idempotency: Alertmanager re-sends
// the same group state.
func (m Message) key() string {
	parts := []string{m.GroupKey, m.Status}
	for _, a := range m.Alerts {
		parts = append(parts, a.Fingerprint+"/"+a.Status+"/"+a.StartsAt.UTC().Format(time.RFC3339Nano))
	}
	sort.Strings(parts[2:])
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return "alertmanager:" + hex.EncodeToString(sum[:16])
}

// AlertState is an alert as the incident knows it.
type AlertState struct {
	Fingerprint  string            `json:"fingerprint"`
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Event is one line of an incident's timeline.
type Event struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Data is what an incident records beyond the store's columns.
type Data struct {
	GroupKeys    []string               `json:"groupKeys"`
	CommonLabels map[string]string      `json:"commonLabels,omitempty"`
	Alerts       map[string]*AlertState `json:"alerts"`
	Timeline     []Event                `json:"timeline"`
	AckedBy      string                 `json:"ackedBy,omitempty"`
	// OpenedBy is who sent the notification that opened the incident
	// ("alertmanager" and the sender's credentials or address). It stands
	// as the requester of what the automatic investigation proposes.
	OpenedBy string `json:"openedBy,omitempty"`
	// ResolvedBy is who sent the notification that resolved it: the
	// requester of the postmortem drafted on resolution.
	ResolvedBy  string `json:"resolvedBy,omitempty"`
	ExternalURL string `json:"externalURL,omitempty"`
	Notified    int    `json:"notifications"`
}

// Incident is a stored incident with its data decoded.
type Incident struct {
	ID string
	// GroupKey is the alert group that opened it (Data.GroupKeys has
	// every group a storm merged into it).
	GroupKey string
	Status   Status
	Title    string
	Severity string
	// Channel and ThreadTS are where it is shown: the parent message's
	// channel and ts ("" until the message is delivered).
	Channel    string
	ThreadTS   string
	StartedAt  time.Time
	ResolvedAt time.Time
	UpdatedAt  time.Time
	Data       Data
}

// Status is whether an incident is open or resolved.
type Status string

// Incident statuses, as stored.
const (
	Open     Status = store.IncidentOpen
	Resolved Status = store.IncidentResolved
)

// Firing counts the alerts still firing.
func (in Incident) Firing() int {
	n := 0
	for _, a := range in.Data.Alerts {
		if a.Status == "firing" {
			n++
		}
	}
	return n
}

// SortedAlerts returns the alerts, firing first, then by start.
func (in Incident) SortedAlerts() []AlertState {
	out := make([]AlertState, 0, len(in.Data.Alerts))
	for _, a := range in.Data.Alerts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Status == "firing") != (out[j].Status == "firing") {
			return out[i].Status == "firing"
		}
		if !out[i].StartsAt.Equal(out[j].StartsAt) {
			return out[i].StartsAt.Before(out[j].StartsAt)
		}
		return out[i].Fingerprint < out[j].Fingerprint
	})
	return out
}

// Store is the persistence incidents need.
type Store interface {
	GetIncident(ctx context.Context, id string) (store.Incident, error)
	ListIncidents(ctx context.Context, status string, limit int) ([]store.Incident, error)
	IncidentByThread(ctx context.Context, channel, ts string) (store.Incident, error)
	SetIncidentThread(ctx context.Context, id, threadTS string) (bool, error)
	// UpdateIncidents serialises changes to incidents across replicas.
	UpdateIncidents(ctx context.Context, fn func(ctx context.Context, tx store.IncidentTx) error) error
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Surface shows incidents to people (Slack).
type Surface interface {
	// PostIncident posts an incident's parent message and returns its ts,
	// or "" when the message is queued and the surface links it to the
	// incident (LinkThread) once delivered.
	PostIncident(ctx context.Context, channel string, in Incident) (string, error)
	// UpdateIncident replaces the parent message with the incident's state.
	UpdateIncident(ctx context.Context, in Incident) error
}

// Investigator looks into an incident and reports what it found to r (the
// incident's thread). The reporter is an argument, not part of the
// investigator: the surface that reports is the one that also asks for
// investigations (a button), so it is built after the investigator.
type Investigator interface {
	Investigate(ctx context.Context, in Incident, r Reporter)
}

// Options configure the service.
type Options struct {
	Store Store
	// Ledger changes incidents for the service; one is made from Store
	// when nil. Surfaces that change incidents (buttons) share it.
	Ledger *Ledger
	// Surface shows incidents (nil: nowhere); Reporter receives what
	// investigations find (nil: Surface when it is one, else nowhere).
	Surface  Surface
	Reporter Reporter
	// OnResolved runs when an incident resolves (drafting the postmortem
	// automatically, when configured), as a follow-up.
	OnResolved func(ctx context.Context, in Incident)
	// Route picks the channel for an alert group's labels.
	Route        func(labels map[string]string) (string, bool)
	Investigator Investigator
	// StormWindow merges a new group into an open incident of the same
	// alert in the same channel opened this recently (default 10m).
	StormWindow time.Duration
	// FollowUpLease is how long the investigation or postmortem a process
	// started is left to it before another takes it up (default 15m).
	FollowUpLease time.Duration
	// FollowUpEvery is how often RunFollowUps looks for follow-ups whose
	// process died (default 1m).
	FollowUpEvery time.Duration
	// MaxFollowUps bounds the investigations and postmortems that run at
	// once (default 4): a storm must not start one model run per
	// incident. A follow-up that finds no free slot is left to
	// RunFollowUps, which takes it up when one frees; none is dropped.
	MaxFollowUps int
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service turns notifications into incidents and owes each its
// follow-ups. It is safe for concurrent use; nothing in it changes after
// New. Notifications and timeline events are serialised by the store
// (UpdateIncidents, through the Ledger), so replicas on one store cannot
// both open an incident for a group or lose each other's events.
type Service struct {
	ledger *Ledger
	opts   Options
	// slots holds a token per follow-up running (MaxFollowUps); kick
	// wakes RunFollowUps when one frees.
	slots chan struct{}
	kick  chan struct{}
	// running counts follow-ups under way, for Wait.
	running sync.WaitGroup
}

// New returns a service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StormWindow <= 0 {
		o.StormWindow = 10 * time.Minute
	}
	if o.FollowUpLease <= 0 {
		o.FollowUpLease = defaultFollowUpLease
	}
	if o.FollowUpEvery <= 0 {
		o.FollowUpEvery = defaultFollowUpEvery
	}
	if o.MaxFollowUps <= 0 {
		o.MaxFollowUps = 4
	}
	if o.Ledger == nil {
		o.Ledger = NewLedger(o.Store, o.Now)
	}
	if o.Reporter == nil {
		o.Reporter, _ = o.Surface.(Reporter)
	}
	return &Service{ledger: o.Ledger, opts: o, slots: make(chan struct{}, o.MaxFollowUps), kick: make(chan struct{}, 1)}
}

// Outcome says what a notification did.
type Outcome struct {
	Incident  string `json:"incident,omitempty"`
	Opened    bool   `json:"opened,omitempty"`
	Merged    bool   `json:"merged,omitempty"`
	Resolved  bool   `json:"resolved,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
}

// Handle applies a validated notification from Alertmanager, sender
// unknown.
func (s *Service) Handle(ctx context.Context, m Message) (Outcome, error) {
	return s.HandleFrom(ctx, "alertmanager", m)
}

// HandleFrom applies a validated notification that sender sent (the
// webhook's credentials and address). The sender of the notification that
// opens or resolves an incident is recorded (OpenedBy, ResolvedBy): it is
// the requester of what the automatic investigation and the postmortem
// propose, so nobody approves those alone.
func (s *Service) HandleFrom(ctx context.Context, sender string, m Message) (Outcome, error) {
	first, err := s.opts.Store.Claim(ctx, m.key(), 24*time.Hour)
	if err != nil {
		return Outcome{}, fmt.Errorf("deduplicate the notification: %w", err)
	}
	if !first {
		return Outcome{Duplicate: true}, nil
	}
	var (
		in      Incident
		out     Outcome
		changed bool
	)
	// Finding the incident, the storm decision and the change are one
	// serialised transaction: on every replica, in any interleaving, a
	// group has one incident and every alert is kept.
	err = s.opts.Store.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
		var found bool
		var err error
		out, changed = Outcome{}, false
		if in, found, err = s.find(ctx, tx, m); err != nil {
			return err
		}
		now := s.opts.Now()
		if !found {
			if m.Status == "resolved" {
				// Resolved before we ever saw it firing (or long ago):
				// nothing to open.
				out.Ignored = "no open incident for this resolved group"
				return nil
			}
			if in, found, err = s.stormTarget(ctx, tx, m); err != nil {
				return err
			}
			if found {
				in.Data.GroupKeys = append(in.Data.GroupKeys, m.GroupKey)
				in.Data.Timeline = append(in.Data.Timeline, Event{now, "merged", "related alert group joined: " + groupLabel(m)})
				out.Merged = true
			} else {
				in = s.newIncident(m, now)
				in.Data.OpenedBy = sender
				out.Opened = true
			}
		}
		changed = s.apply(&in, m, now)
		in.Data.Notified++
		if in.Status == Open && in.Firing() == 0 {
			in.Status, in.ResolvedAt, in.Data.ResolvedBy = Resolved, now, sender
			in.Data.Timeline = append(in.Data.Timeline, Event{now, "resolved", "all alerts resolved"})
			out.Resolved = true
		}
		in.UpdatedAt = now
		return save(ctx, tx, in)
	})
	if err != nil {
		return Outcome{}, err
	}
	if out.Ignored != "" {
		return out, nil
	}
	out.Incident = in.ID
	switch {
	case out.Opened:
		s.post(ctx, &in)
	case changed || out.Merged || out.Resolved:
		s.update(ctx, in)
	}
	if out.Opened && s.opts.Investigator != nil {
		s.startFollowUp(ctx, followInvestigation, in, s.investigate)
	}
	if out.Resolved && s.opts.OnResolved != nil {
		s.startFollowUp(ctx, followPostmortem, in, s.opts.OnResolved)
	}
	return out, nil
}

// find returns the open incident that holds m's group, by the store's
// index of groups: the cost does not grow with the open incidents.
func (s *Service) find(ctx context.Context, tx store.IncidentTx, m Message) (Incident, bool, error) {
	raw, err := tx.OpenIncidentByGroup(ctx, m.GroupKey)
	if errors.Is(err, store.ErrNotFound) {
		return Incident{}, false, nil
	}
	if err != nil {
		return Incident{}, false, fmt.Errorf("find the incident of group %s: %w", m.GroupKey, err)
	}
	in, err := decode(raw)
	if err != nil {
		return Incident{}, false, fmt.Errorf("incident %s is unreadable: %w", raw.ID, err)
	}
	return in, true, nil
}

// stormTarget finds an open incident a new group belongs to: the same
// alert, routed to the same channel, opened within the storm window.
func (s *Service) stormTarget(ctx context.Context, tx store.IncidentTx, m Message) (Incident, bool, error) {
	name := alertname(m)
	channel, _ := s.route(m)
	list, err := tx.OpenIncidentsInChannel(ctx, channel, s.opts.Now().Add(-s.opts.StormWindow), 100)
	if err != nil {
		return Incident{}, false, fmt.Errorf("list the channel's recent incidents: %w", err)
	}
	for _, raw := range list {
		in, err := decode(raw)
		if err != nil {
			s.opts.Logger.Error("unreadable incident", "incident", raw.ID, "err", err)
			continue
		}
		if in.Data.CommonLabels["alertname"] == name {
			return in, true, nil
		}
	}
	return Incident{}, false, nil
}

func (s *Service) route(m Message) (string, bool) {
	if s.opts.Route == nil {
		return "", false
	}
	labels := map[string]string{}
	for k, v := range m.CommonLabels {
		labels[k] = v
	}
	for k, v := range m.GroupLabels {
		labels[k] = v
	}
	return s.opts.Route(labels)
}

func (s *Service) newIncident(m Message, now time.Time) Incident {
	channel, _ := s.route(m)
	var b [6]byte
	_, _ = rand.Read(b[:])
	common := m.CommonLabels
	if common == nil {
		common = map[string]string{"alertname": alertname(m)}
	}
	in := Incident{ID: "inc_" + hex.EncodeToString(b[:]), GroupKey: m.GroupKey, Status: Open,
		Title: title(m), Severity: common["severity"], Channel: channel, StartedAt: earliest(m, now), UpdatedAt: now,
		Data: Data{GroupKeys: []string{m.GroupKey}, CommonLabels: common, Alerts: map[string]*AlertState{}, ExternalURL: m.ExternalURL}}
	if in.Severity == "" {
		in.Severity = m.Alerts[0].Labels["severity"]
	}
	in.Data.Timeline = append(in.Data.Timeline, Event{now, "opened", fmt.Sprintf("incident opened: %s (%s)", in.Title, orNone(in.Severity))})
	return in
}

// apply folds m's alerts into the incident; stale states (a firing
// notification arriving after the same occurrence resolved) are ignored.
func (s *Service) apply(in *Incident, m Message, now time.Time) bool {
	changed := false
	for _, a := range m.Alerts {
		cur, ok := in.Data.Alerts[a.Fingerprint]
		switch {
		case !ok:
			in.Data.Alerts[a.Fingerprint] = &AlertState{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels,
				Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: resolvedEnd(a), GeneratorURL: a.GeneratorURL}
			in.Data.Timeline = append(in.Data.Timeline, Event{now, a.Status, alertLabel(a) + " " + a.Status})
			changed = true
		case cur.Status == a.Status:
			// Repeated state; keep the newest annotations.
			cur.Annotations = a.Annotations
		case a.Status == "firing" && cur.Status == "resolved" && !a.StartsAt.After(cur.StartsAt):
			// Out of order: this occurrence already resolved.
		default:
			cur.Status, cur.StartsAt, cur.EndsAt = a.Status, a.StartsAt, resolvedEnd(a)
			in.Data.Timeline = append(in.Data.Timeline, Event{now, a.Status, alertLabel(a) + " " + a.Status})
			changed = true
		}
	}
	return changed
}

func resolvedEnd(a Alert) time.Time {
	if a.Status == "resolved" {
		return a.EndsAt
	}
	return time.Time{}
}

// investigate runs the investigator, reporting to the service's reporter.
func (s *Service) investigate(ctx context.Context, in Incident) {
	s.opts.Investigator.Investigate(ctx, in, s.opts.Reporter)
}

func (s *Service) post(ctx context.Context, in *Incident) {
	sf := s.opts.Surface
	if sf == nil || in.Channel == "" {
		return
	}
	ts, err := sf.PostIncident(ctx, in.Channel, *in)
	if err != nil {
		s.opts.Logger.Error("post the incident", "incident", in.ID, "channel", in.Channel, "err", err)
		return
	}
	if ts == "" {
		return // queued; the surface links it when delivered
	}
	in.ThreadTS = ts
	// Only the thread column: another replica may have changed the
	// incident since this one saved it.
	if _, err := s.opts.Store.SetIncidentThread(context.WithoutCancel(ctx), in.ID, ts); err != nil {
		s.opts.Logger.Error("record the incident's thread", "incident", in.ID, "err", err)
	}
}

func (s *Service) update(ctx context.Context, in Incident) {
	sf := s.opts.Surface
	if sf == nil || in.ThreadTS == "" {
		return
	}
	if err := sf.UpdateIncident(ctx, in); err != nil {
		s.opts.Logger.Error("update the incident's message", "incident", in.ID, "err", err)
	}
}

func save(ctx context.Context, tx store.IncidentTx, in Incident) error {
	raw, err := json.Marshal(in.Data)
	if err != nil {
		return err
	}
	row := store.Incident{ID: in.ID, GroupKey: in.GroupKey, GroupKeys: in.Data.GroupKeys, Status: string(in.Status), Title: in.Title,
		Severity: in.Severity, Channel: in.Channel, ThreadTS: in.ThreadTS, StartedAt: in.StartedAt, ResolvedAt: in.ResolvedAt,
		UpdatedAt: in.UpdatedAt, Data: raw}
	if err := tx.PutIncident(ctx, row); err != nil {
		return fmt.Errorf("store incident %s: %w", in.ID, err)
	}
	return nil
}

// Ledger keeps incidents in the store: reads, and the changes people and
// investigations make (timeline events, acknowledgements, the thread),
// each one serialised step. It shows nothing: whoever changes an incident
// shows the change (the surface that took the click updates its message).
// It needs only the store, so every part that changes incidents can share
// it without depending on the part that shows them.
type Ledger struct {
	store Store
	now   func() time.Time
}

// List returns up to limit incidents in status st, newest first; one that
// cannot be read is skipped.
func (l *Ledger) List(ctx context.Context, st Status, limit int) ([]Incident, error) {
	raws, err := l.store.ListIncidents(ctx, string(st), limit)
	if err != nil {
		return nil, err
	}
	out := make([]Incident, 0, len(raws))
	for _, raw := range raws {
		if in, err := decode(raw); err == nil {
			out = append(out, in)
		}
	}
	return out, nil
}

// NewLedger returns the incidents in st; now is the clock of timeline
// events (time.Now when nil).
func NewLedger(st Store, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{store: st, now: now}
}

// ByThread returns the incident whose parent message is ts in channel.
func (l *Ledger) ByThread(ctx context.Context, channel, ts string) (Incident, bool) {
	raw, err := l.store.IncidentByThread(ctx, channel, ts)
	if err != nil {
		return Incident{}, false
	}
	in, err := decode(raw)
	return in, err == nil
}

// Get returns an incident.
func (l *Ledger) Get(ctx context.Context, id string) (Incident, error) {
	raw, err := l.store.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	return decode(raw)
}

// LinkThread records the thread of an incident's parent message when the
// replica that posted it could not (it stopped before the message was
// delivered). It takes no lock: it only fills an empty column, so it is
// safe while a notification is being handled.
func (l *Ledger) LinkThread(ctx context.Context, id, threadTS string) (bool, error) {
	return l.store.SetIncidentThread(ctx, id, threadTS)
}

// Record adds an event to an incident's timeline (messages, proposals,
// actions, the investigation) and, for an acknowledgement, who acked.
func (l *Ledger) Record(ctx context.Context, id, kind, text, actor string) (Incident, error) {
	var in Incident
	err := l.store.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
		raw, err := tx.GetIncident(ctx, id)
		if err != nil {
			return err
		}
		if in, err = decode(raw); err != nil {
			return fmt.Errorf("incident %s is unreadable: %w", id, err)
		}
		now := l.now()
		in.Data.Timeline = append(in.Data.Timeline, Event{now, kind, text})
		if kind == "acknowledged" {
			in.Data.AckedBy = actor
		}
		in.UpdatedAt = now
		return save(ctx, tx, in)
	})
	if err != nil {
		return Incident{}, err
	}
	return in, nil
}

// Acknowledge records that user acknowledged the incident, unless someone
// already did: the check and the change are one serialised step, so two
// clicks (on two replicas) record one acknowledgement. It returns the
// incident and who acknowledged it first.
func (l *Ledger) Acknowledge(ctx context.Context, id, user string) (in Incident, by string, err error) {
	err = l.store.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
		raw, err := tx.GetIncident(ctx, id)
		if err != nil {
			return err
		}
		if in, err = decode(raw); err != nil {
			return fmt.Errorf("incident %s is unreadable: %w", id, err)
		}
		if by = in.Data.AckedBy; by != "" {
			return nil
		}
		now := l.now()
		in.Data.Timeline = append(in.Data.Timeline, Event{now, "acknowledged", "acknowledged by " + user})
		in.Data.AckedBy, in.UpdatedAt, by = user, now, user
		return save(ctx, tx, in)
	})
	if err != nil {
		return Incident{}, "", err
	}
	return in, by, nil
}

// Ledger returns the incidents the service keeps.
func (s *Service) Ledger() *Ledger { return s.ledger }

// Get returns an incident.
func (s *Service) Get(ctx context.Context, id string) (Incident, error) { return s.ledger.Get(ctx, id) }

// ByThread returns the incident whose parent message is ts in channel.
func (s *Service) ByThread(ctx context.Context, channel, ts string) (Incident, bool) {
	return s.ledger.ByThread(ctx, channel, ts)
}

// List returns up to limit incidents in status st, newest first.
func (s *Service) List(ctx context.Context, st Status, limit int) ([]Incident, error) {
	return s.ledger.List(ctx, st, limit)
}

// Record adds an event to an incident's timeline and, for an
// acknowledgement, updates its message.
func (s *Service) Record(ctx context.Context, id, kind, text, actor string) (Incident, error) {
	in, err := s.ledger.Record(ctx, id, kind, text, actor)
	if err == nil && kind == "acknowledged" {
		s.update(ctx, in)
	}
	return in, err
}

// Acknowledge is Ledger.Acknowledge, updating the incident's message when
// this was the first acknowledgement.
func (s *Service) Acknowledge(ctx context.Context, id, user string) (Incident, string, error) {
	in, by, err := s.ledger.Acknowledge(ctx, id, user)
	if err == nil && by == user {
		s.update(ctx, in)
	}
	return in, by, err
}

func decode(raw store.Incident) (Incident, error) {
	in := Incident{ID: raw.ID, GroupKey: raw.GroupKey, Status: Status(raw.Status), Title: raw.Title, Severity: raw.Severity,
		Channel: raw.Channel, ThreadTS: raw.ThreadTS, StartedAt: raw.StartedAt, ResolvedAt: raw.ResolvedAt, UpdatedAt: raw.UpdatedAt}
	if len(raw.Data) > 0 {
		if err := json.Unmarshal(raw.Data, &in.Data); err != nil {
			return in, err
		}
	}
	if in.Data.Alerts == nil {
		in.Data.Alerts = map[string]*AlertState{}
	}
	return in, nil
}

func alertname(m Message) string {
	if n := m.CommonLabels["alertname"]; n != "" {
		return n
	}
	if n := m.GroupLabels["alertname"]; n != "" {
		return n
	}
	return m.Alerts[0].Labels["alertname"]
}

// title is the alert name with the labels that say where.
func title(m Message) string {
	t := alertname(m)
	var where []string
	for _, k := range []string{"namespace", "service", "job", "deployment", "pod", "instance"} {
		if v := m.CommonLabels[k]; v != "" {
			where = append(where, v)
			if len(where) == 2 {
				break
			}
		}
	}
	if len(where) > 0 {
		t += " — " + strings.Join(where, "/")
	}
	return t
}

func groupLabel(m Message) string {
	var parts []string
	for k, v := range m.GroupLabels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

func alertLabel(a Alert) string {
	var parts []string
	for _, k := range []string{"namespace", "service", "pod", "instance"} {
		if v := a.Labels[k]; v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return a.Labels["alertname"] + "{" + strings.Join(parts, ", ") + "}"
}

func earliest(m Message, now time.Time) time.Time {
	t := now
	for _, a := range m.Alerts {
		if !a.StartsAt.IsZero() && a.StartsAt.Before(t) {
			t = a.StartsAt
		}
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return "no severity"
	}
	return s
}
