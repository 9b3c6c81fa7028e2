// Package storetest checks that an implementation of store.Store meets the
// contract of the store package. Every backend's tests call Run.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("conversations", func(t *testing.T) { conversations(t, open(t)) })
	t.Run("runs", func(t *testing.T) { runs(t, open(t)) })
	t.Run("proposals", func(t *testing.T) { proposals(t, open(t)) })
	t.Run("concurrent decisions", func(t *testing.T) { concurrentDecisions(t, open(t)) })
	t.Run("audit", func(t *testing.T) { audit(t, open(t)) })
	t.Run("incidents", func(t *testing.T) { incidents(t, open(t)) })
	t.Run("outbox", func(t *testing.T) { outbox(t, open(t)) })
	t.Run("claims", func(t *testing.T) { claims(t, open(t)) })
	t.Run("proposal requester and location", func(t *testing.T) { proposalLocation(t, open(t)) })
	t.Run("scheduled verifications", func(t *testing.T) { verifications(t, open(t)) })
	t.Run("incident thread", func(t *testing.T) { incidentThread(t, open(t)) })
	t.Run("evidence", func(t *testing.T) { evidence(t, open(t)) })
}

// Evidence files round-trip byte for byte (binary and empty ones too),
// replace by name, list without data in name order, stay with their
// incident, and refuse what would not fit or has no name.
func evidence(t *testing.T, s store.Store) {
	ctx := context.Background()
	big := bytes.Repeat([]byte(`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","name":"GET /"}`+"\n"), 5000)
	files := []store.Evidence{
		{IncidentID: "inc_1", Name: "traces/checkout.jsonl", ContentType: "application/jsonl", Summary: "37 of 500 traces", Data: big},
		{IncidentID: "inc_1", Name: "a-binary", Data: []byte{0, 1, 2, 0xff, '\n'}},
		{IncidentID: "inc_1", Name: "empty", Data: nil},
		{IncidentID: "inc_2", Name: "traces/checkout.jsonl", Data: []byte("other incident")},
	}
	for _, e := range files {
		if err := s.PutEvidence(ctx, e); err != nil {
			t.Fatalf("put %s/%s: %v", e.IncidentID, e.Name, err)
		}
	}
	got, err := s.GetEvidence(ctx, "inc_1", "traces/checkout.jsonl")
	if err != nil || !bytes.Equal(got.Data, big) || got.Size != int64(len(big)) || got.Summary != "37 of 500 traces" || got.ContentType != "application/jsonl" || got.CreatedAt.IsZero() {
		t.Errorf("get = %d bytes, size %d, %q, %v", len(got.Data), got.Size, got.Summary, err)
	}
	if got, err := s.GetEvidence(ctx, "inc_1", "a-binary"); err != nil || !bytes.Equal(got.Data, files[1].Data) {
		t.Errorf("binary = %v, %v", got.Data, err)
	}
	if got, err := s.GetEvidence(ctx, "inc_1", "empty"); err != nil || got.Data == nil || len(got.Data) != 0 {
		t.Errorf("empty = %v, %v", got.Data, err)
	}
	if err := s.PutEvidence(ctx, store.Evidence{IncidentID: "inc_1", Name: "a-binary", Summary: "replaced", Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListEvidence(ctx, "inc_1")
	if err != nil || len(list) != 3 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if list[0].Name != "a-binary" || list[0].Summary != "replaced" || list[0].Size != 3 || list[0].Data != nil || list[2].Name != "traces/checkout.jsonl" {
		t.Errorf("list = %+v", list)
	}
	if _, err := s.GetEvidence(ctx, "inc_3", "traces/checkout.jsonl"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v, want ErrNotFound", err)
	}
	if list, err := s.ListEvidence(ctx, "inc_3"); err != nil || len(list) != 0 {
		t.Errorf("list of an incident without evidence = %+v, %v", list, err)
	}
	if err := s.PutEvidence(ctx, store.Evidence{IncidentID: "inc_1", Name: "huge", Data: make([]byte, store.MaxEvidenceBytes+1)}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized: %v", err)
	}
	if err := s.PutEvidence(ctx, store.Evidence{IncidentID: "inc_1"}); err == nil || !strings.Contains(err.Error(), "name") {
		t.Errorf("nameless: %v", err)
	}
}

func incidentThread(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	if err := s.PutIncident(ctx, store.Incident{ID: "inc_t", GroupKey: "g", Status: store.IncidentOpen, Channel: "C1", StartedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetIncidentThread(ctx, "inc_t", "1.0001"); err != nil || !ok {
		t.Fatalf("first = %v, %v", ok, err)
	}
	if ok, _ := s.SetIncidentThread(ctx, "inc_t", "2.0002"); ok {
		t.Error("a recorded thread was replaced")
	}
	if in, _ := s.GetIncident(ctx, "inc_t"); in.ThreadTS != "1.0001" {
		t.Errorf("thread = %q", in.ThreadTS)
	}
	// A writer with a copy read before the thread was linked keeps it.
	if err := s.PutIncident(ctx, store.Incident{ID: "inc_t", GroupKey: "g", Status: store.IncidentResolved, Channel: "C1", StartedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if in, _ := s.GetIncident(ctx, "inc_t"); in.ThreadTS != "1.0001" || in.Status != store.IncidentResolved {
		t.Errorf("after a stale write: thread %q, status %s", in.ThreadTS, in.Status)
	}
	if ok, _ := s.SetIncidentThread(ctx, "inc_missing", "1.0"); ok {
		t.Error("set the thread of a missing incident")
	}
}

func verifications(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	for _, id := range []string{"p_soon", "p_later", "p_never"} {
		if err := s.CreateProposal(ctx, store.Proposal{ID: id, Tool: "kube_scale", Summary: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ScheduleVerification(ctx, "p_soon", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.ScheduleVerification(ctx, "p_later", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ScheduleVerification(ctx, "p_missing", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("scheduling a missing proposal: %v", err)
	}
	due, err := s.DueVerifications(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ID != "p_soon" || !due[0].VerifyAt.Equal(now.Add(-time.Second)) {
		t.Fatalf("due = %+v, %v", due, err)
	}
	if p, _ := s.GetProposal(ctx, "p_later"); !p.VerifyAt.Equal(now.Add(time.Hour)) {
		t.Errorf("verify_at = %v", p.VerifyAt)
	}
	// Five replicas reach for the same check: one takes it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 5 {
		wg.Go(func() {
			ok, err := s.TakeVerification(ctx, "p_soon")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 1 {
		t.Errorf("the check was taken %d times", taken)
	}
	if due, _ := s.DueVerifications(ctx, now.Add(2*time.Hour), 10); len(due) != 1 || due[0].ID != "p_later" {
		t.Errorf("after taking: %+v", due)
	}
	if ok, _ := s.TakeVerification(ctx, "p_never"); ok {
		t.Error("took a check that was never scheduled")
	}
}

func outbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, err := s.EnqueueOutbox(ctx, store.OutboxMessage{Channel: "C1", Kind: "post", Payload: []byte(`{"text":"one"}`)})
	if err != nil {
		t.Fatal(err)
	}
	u1, _ := s.EnqueueOutbox(ctx, store.OutboxMessage{Channel: "C1", Kind: "update", Key: "C1:1.0", Payload: []byte(`{"text":"v1"}`)})
	u2, _ := s.EnqueueOutbox(ctx, store.OutboxMessage{Channel: "C1", Kind: "update", Key: "C1:1.0", Payload: []byte(`{"text":"v2"}`)})
	if u2 <= u1 || u1 <= a {
		t.Errorf("ids are not increasing: %d, %d, %d", a, u1, u2)
	}
	pending, err := s.PendingOutbox(ctx, 10)
	if err != nil || len(pending) != 3 || pending[0].ID != a || pending[2].Key != "C1:1.0" || string(pending[2].Payload) != `{"text":"v2"}` {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	next := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.UpdateOutbox(ctx, a, store.OutboxPending, 1, next, "ratelimited"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{u1, u2} {
		if err := s.UpdateOutbox(ctx, id, store.OutboxSent, 1, time.Now(), "1.0"); err != nil {
			t.Fatal(err)
		}
	}
	pending, _ = s.PendingOutbox(ctx, 10)
	if len(pending) != 1 || pending[0].Attempts != 1 || !pending[0].NextAt.Equal(next) || pending[0].Result != "ratelimited" {
		t.Fatalf("after updates: %+v", pending)
	}
	got, err := s.GetOutbox(ctx, u2)
	if err != nil || got.Status != store.OutboxSent || got.Result != "1.0" || got.Channel != "C1" || string(got.Payload) != `{"text":"v2"}` {
		t.Errorf("GetOutbox = %+v, %v", got, err)
	}
	if _, err := s.GetOutbox(ctx, u2+100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOutbox of a missing id: %v", err)
	}
}

func claims(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, err := s.Claim(ctx, "event:Ev1", time.Hour)
	if err != nil || !first {
		t.Fatalf("first claim = %v, %v", first, err)
	}
	again, err := s.Claim(ctx, "event:Ev1", time.Hour)
	if err != nil || again {
		t.Fatalf("second claim = %v, %v", again, err)
	}
	if ok, _ := s.Claim(ctx, "event:Ev2", time.Hour); !ok {
		t.Error("another key was refused")
	}
	// An expired claim can be taken again.
	if ok, _ := s.Claim(ctx, "short", -time.Second); !ok {
		t.Fatal("short claim refused")
	}
	if ok, _ := s.Claim(ctx, "short", time.Hour); !ok {
		t.Error("an expired claim was not released")
	}
}

func proposalLocation(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateProposal(ctx, store.Proposal{ID: "p-loc", Tool: "restart", Summary: "s", RequestedBy: "U1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetProposalLocation(ctx, "p-loc", "slack:C1:1.0"); err != nil {
		t.Fatal(err)
	}
	p, err := s.GetProposal(ctx, "p-loc")
	if err != nil || p.RequestedBy != "U1" || p.Location != "slack:C1:1.0" {
		t.Fatalf("proposal = %+v, %v", p, err)
	}
	if err := s.SetProposalLocation(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown proposal: %v", err)
	}
	// Approvals are counted once per person, in order.
	for _, a := range []string{"UA", "UA", "UB"} {
		if _, err := s.AddApproval(ctx, "p-loc", a); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := s.GetProposal(ctx, "p-loc"); len(p.Approvals) != 2 || p.Approvals[0] != "UA" || p.Approvals[1] != "UB" {
		t.Errorf("approvals = %v", p.Approvals)
	}
	if _, err := s.TransitionProposal(ctx, "p-loc", []string{store.ProposalPending}, store.ProposalRejected, "UA", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddApproval(ctx, "p-loc", "UC"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approval of a decided proposal: %v", err)
	}
}

func conversations(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, err := s.LoadConversation(ctx, "new")
	if err != nil || got != nil {
		t.Fatalf("new conversation: %q, %v", got, err)
	}
	big := bytes.Repeat([]byte(`{"role":"tool","content":"line"},`), 10000)
	for _, data := range [][]byte{[]byte(`[{"role":"user"}]`), big} {
		if err := s.SaveConversation(ctx, "c1", data); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadConversation(ctx, "c1")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %d bytes, %v", len(got), err)
		}
	}
	if err := s.DeleteConversation(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LoadConversation(ctx, "c1"); got != nil {
		t.Error("deleted conversation still loads")
	}
}

func runs(t *testing.T, s store.Store) {
	ctx := context.Background()
	cost := 0.0123
	base := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := store.Run{ID: fmt.Sprintf("run_%d", i), ConversationID: "c1", Source: "chat", Model: "m", Mode: "native",
			Outcome: "answered", Question: "q", Answer: "a", StartedAt: base.Add(time.Duration(i) * time.Minute),
			Duration: 1500 * time.Millisecond, Steps: 2, ToolCalls: 1, InputTokens: 100, OutputTokens: 10,
			Transcript: []byte(strings.Repeat(`{"kind":"tool_end"}`, 100))}
		if i == 2 {
			r.ConversationID, r.CostUSD = "c2", &cost
		}
		if err := s.SaveRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetRun(ctx, "run_2")
	if err != nil {
		t.Fatal(err)
	}
	if got.CostUSD == nil || *got.CostUSD != cost || got.Duration != 1500*time.Millisecond ||
		!got.StartedAt.Equal(base.Add(2*time.Minute)) || len(got.Transcript) != 1900 {
		t.Errorf("GetRun = %+v", got)
	}
	if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	list, err := s.ListRuns(ctx, "c1", 10)
	if err != nil || len(list) != 2 || list[0].ID != "run_1" || list[0].Transcript != nil {
		t.Errorf("ListRuns(c1) = %+v, %v", list, err)
	}
	if all, _ := s.ListRuns(ctx, "", 2); len(all) != 2 || all[0].ID != "run_2" {
		t.Errorf("ListRuns(all, 2) = %+v", all)
	}
	if err := s.SaveRun(ctx, store.Run{ID: "run_0", Outcome: "answered"}); err == nil {
		t.Error("a duplicate run ID was accepted")
	}
	// What was spent: priced runs only, from a time on, in a conversation.
	more := 0.5
	if err := s.SaveRun(ctx, store.Run{ID: "run_3", ConversationID: "c1", Outcome: "answered", StartedAt: base.Add(3 * time.Minute), CostUSD: &more}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since time.Time
		conv  string
		want  float64
	}{
		{base, "", cost + more},
		{base, "c1", more},
		{base, "c2", cost},
		{base.Add(2*time.Minute + time.Millisecond), "", more},
		{base.Add(time.Hour), "", 0},
		{base, "nobody", 0},
	} {
		got, err := s.SpentUSD(ctx, tc.since, tc.conv)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("SpentUSD(%s, %q) = %v, %v; want %v", tc.since.Format(time.TimeOnly), tc.conv, got, err, tc.want)
		}
	}
}

func proposals(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := store.Proposal{ID: "prop_1", ConversationID: "c1", Tool: "restart", Summary: "Restart checkout",
		Details: "kubectl rollout restart", Risk: "low", Args: []byte(`{"name":"checkout"}`)}
	if err := s.CreateProposal(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProposal(ctx, "prop_1")
	if err != nil || got.Status != store.ProposalPending || got.CreatedAt.IsZero() || string(got.Args) != `{"name":"checkout"}` {
		t.Fatalf("GetProposal = %+v, %v", got, err)
	}
	got, err = s.TransitionProposal(ctx, "prop_1", []string{store.ProposalPending}, store.ProposalApproved, "U123", "")
	if err != nil || got.Status != store.ProposalApproved || got.DecidedBy != "U123" || got.DecidedAt.IsZero() {
		t.Fatalf("approve = %+v, %v", got, err)
	}
	_, err = s.TransitionProposal(ctx, "prop_1", []string{store.ProposalPending}, store.ProposalRejected, "U456", "")
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "is approved, not pending") {
		t.Errorf("second decision: %v", err)
	}
	if _, err := s.TransitionProposal(ctx, "nope", []string{store.ProposalPending}, store.ProposalApproved, "U", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing proposal: %v", err)
	}
	if err := s.CreateProposal(ctx, store.Proposal{ID: "prop_2", Tool: "scale", Summary: "Scale"}); err != nil {
		t.Fatal(err)
	}
	pending, err := s.ListProposals(ctx, store.ProposalPending, 10)
	if err != nil || len(pending) != 1 || pending[0].ID != "prop_2" {
		t.Errorf("pending = %+v, %v", pending, err)
	}
}

// concurrentDecisions clicks Approve from many goroutines at once; exactly
// one may win.
func concurrentDecisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateProposal(ctx, store.Proposal{ID: "prop_race", Tool: "restart", Summary: "Restart"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TransitionProposal(ctx, "prop_race", []string{store.ProposalPending}, store.ProposalApproved, fmt.Sprintf("U%d", i), "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("decision %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Errorf("wins=%d conflicts=%d, want 1 and 7", wins, conflicts)
	}
}

func audit(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 3 {
		id, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "U1", Action: "approve", Target: fmt.Sprintf("prop_%d", i), Outcome: "ok", Details: `{"x":1}`})
		if err != nil || id == 0 {
			t.Fatalf("append: %d, %v", id, err)
		}
	}
	list, err := s.ListAudit(ctx, 2)
	if err != nil || len(list) != 2 || list[0].Target != "prop_2" || list[0].Time.IsZero() {
		t.Errorf("ListAudit = %+v, %v", list, err)
	}
}

func incidents(t *testing.T, s store.Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	inc := store.Incident{ID: "inc_1", GroupKey: "{}:{alertname=\"HighLatency\"}", Status: store.IncidentOpen,
		Title: "HighLatency checkout", Severity: "critical", StartedAt: start, Data: []byte(`{"alerts":1}`)}
	if err := s.PutIncident(ctx, inc); err != nil {
		t.Fatal(err)
	}
	got, err := s.OpenIncidentByGroup(ctx, inc.GroupKey)
	if err != nil || got.ID != "inc_1" || !got.StartedAt.Equal(start) || !got.ResolvedAt.IsZero() {
		t.Fatalf("OpenIncidentByGroup = %+v, %v", got, err)
	}
	inc.Status, inc.ResolvedAt, inc.ThreadTS = store.IncidentResolved, start.Add(time.Hour), "1732456800.000100"
	if err := s.PutIncident(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenIncidentByGroup(ctx, inc.GroupKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resolved incident still open: %v", err)
	}
	got, err = s.GetIncident(ctx, "inc_1")
	if err != nil || got.ThreadTS != "1732456800.000100" || !got.ResolvedAt.Equal(start.Add(time.Hour)) {
		t.Errorf("GetIncident = %+v, %v", got, err)
	}
	if list, _ := s.ListIncidents(ctx, store.IncidentResolved, 10); len(list) != 1 {
		t.Errorf("ListIncidents = %+v", list)
	}
	if got, err := s.IncidentByThread(ctx, "", "1732456800.000100"); err != nil || got.ID != "inc_1" {
		t.Errorf("IncidentByThread = %+v, %v", got, err)
	}
	if _, err := s.IncidentByThread(ctx, "", "9.9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IncidentByThread of an unknown thread: %v", err)
	}

	// A storm merged a second group into an open incident: both groups find
	// it, and a newer incident of the same group (after it resolved) wins.
	storm := store.Incident{ID: "inc_2", GroupKey: "g1", GroupKeys: []string{"g1", "g2"}, Status: store.IncidentOpen,
		Channel: "C1", StartedAt: start.Add(2 * time.Hour), Data: []byte(`{}`)}
	if err := s.PutIncident(ctx, storm); err != nil {
		t.Fatal(err)
	}
	storm.GroupKeys = append(storm.GroupKeys, "g3")
	if err := s.PutIncident(ctx, storm); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"g1", "g2", "g3"} {
		if got, err := s.OpenIncidentByGroup(ctx, k); err != nil || got.ID != "inc_2" {
			t.Errorf("OpenIncidentByGroup(%s) = %+v, %v", k, got, err)
		}
	}
	other := store.Incident{ID: "inc_3", GroupKey: "g9", Status: store.IncidentOpen, Channel: "C2", StartedAt: start.Add(3 * time.Hour)}
	if err := s.PutIncident(ctx, other); err != nil {
		t.Fatal(err)
	}
	list, err := s.OpenIncidentsInChannel(ctx, "C1", start.Add(90*time.Minute), 10)
	if err != nil || len(list) != 1 || list[0].ID != "inc_2" {
		t.Errorf("OpenIncidentsInChannel(C1) = %+v, %v", list, err)
	}
	if list, _ := s.OpenIncidentsInChannel(ctx, "C1", start.Add(3*time.Hour), 10); len(list) != 0 {
		t.Errorf("OpenIncidentsInChannel since after the start = %+v", list)
	}
}

// ConcurrentIncidentChanges checks UpdateIncidents across two handles on
// one database — two replicas: read-modify-write changes from both, many
// at once, lose nothing, and "open an incident for this group unless one
// is open" opens exactly one.
func ConcurrentIncidentChanges(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	now := time.Now()
	if err := a.PutIncident(ctx, store.Incident{ID: "inc_shared", GroupKey: "g0", Status: store.IncidentOpen, Channel: "C1",
		StartedAt: now, UpdatedAt: now, Data: []byte("[]")}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each*2)
	for r, s := range []store.Store{a, b} {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					event := fmt.Sprintf("r%d-w%d-%d", r, w, i)
					errs <- s.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
						inc, err := tx.GetIncident(ctx, "inc_shared")
						if err != nil {
							return err
						}
						var events []string
						if err := json.Unmarshal(inc.Data, &events); err != nil {
							return err
						}
						inc.Data, _ = json.Marshal(append(events, event))
						return tx.PutIncident(ctx, inc)
					})
					// Open the incident of a group unless it is open: the
					// storm decision.
					group := fmt.Sprintf("storm-%d", i%5)
					errs <- s.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
						if _, err := tx.OpenIncidentByGroup(ctx, group); err == nil {
							return nil
						} else if !errors.Is(err, store.ErrNotFound) {
							return err
						}
						return tx.PutIncident(ctx, store.Incident{ID: "inc_" + event, GroupKey: group, Status: store.IncidentOpen,
							Channel: "C2", StartedAt: now, UpdatedAt: now})
					})
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inc, err := b.GetIncident(ctx, "inc_shared")
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	if err := json.Unmarshal(inc.Data, &events); err != nil {
		t.Fatal(err)
	}
	if len(events) != 2*workers*each {
		t.Errorf("%d of %d events kept", len(events), 2*workers*each)
	}
	open, err := a.OpenIncidentsInChannel(ctx, "C2", now.Add(-time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 5 {
		t.Errorf("%d incidents opened for 5 groups", len(open))
	}
	// fn's error rolls its writes back.
	boom := errors.New("boom")
	err = a.UpdateIncidents(ctx, func(ctx context.Context, tx store.IncidentTx) error {
		if err := tx.PutIncident(ctx, store.Incident{ID: "inc_rolled_back", GroupKey: "gx", Status: store.IncidentOpen, Channel: "C3",
			StartedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateIncidents returned %v, want fn's error", err)
	}
	if _, err := a.GetIncident(ctx, "inc_rolled_back"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed change was kept: %v", err)
	}
}
