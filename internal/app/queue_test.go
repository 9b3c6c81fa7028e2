package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

func TestApprovalQueue(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := approvalQueue(s, 15*time.Minute)
	if n, age, err := q(); err != nil || n != 0 || age != 0 {
		t.Fatalf("empty queue: %d %s %v", n, age, err)
	}
	for id, created := range map[string]time.Time{
		"fresh": time.Now().Add(-2 * time.Minute), "older": time.Now().Add(-9 * time.Minute), "expired": time.Now().Add(-time.Hour),
	} {
		if err := s.CreateProposal(ctx, store.Proposal{ID: id, Tool: "kube_scale", Summary: id, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateProposal(ctx, store.Proposal{ID: "decided", Tool: "kube_scale", Summary: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionProposal(ctx, "decided", []string{store.ProposalPending}, store.ProposalRejected, "U1", ""); err != nil {
		t.Fatal(err)
	}
	n, age, err := q()
	if err != nil || n != 2 || age < 9*time.Minute || age > 10*time.Minute {
		t.Errorf("queue = %d, oldest %s, %v; want 2 waiting, the oldest 9m", n, age, err)
	}
}
