package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

func TestAuditPrintsAndExports(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "audit")
	if r.code != 0 || !strings.Contains(r.out, "The audit log is empty.") {
		t.Fatalf("empty audit: %+v", r)
	}
	s, err := store.OpenSQLite(context.Background(), filepath.Join(home, "state", "watchkeeper", "watchkeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.AuditEntry{
		{Actor: "watchkeeper", Action: "propose", Target: "prop_1", Outcome: "pending", Details: `{"tool":"kube_rollout_undo"}`},
		{Actor: "UADMIN", Action: "approve", Target: "prop_1", Outcome: "approved"},
		{Actor: "UADMIN", Action: "execute", Target: "prop_1", Outcome: "executed"},
	} {
		if _, err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	r = run(t, home, "", nil, "audit")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "ACTOR") || !strings.Contains(lines[1], "execute") {
		t.Errorf("table (newest first):\n%s", r.out)
	}
	r = run(t, home, "", nil, "audit", "--json", "--limit", "0")
	lines = strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 {
		t.Fatalf("json lines:\n%s", r.out)
	}
	var first struct {
		Action  string         `json:"action"`
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Action != "propose" || first.Details["tool"] != "kube_rollout_undo" {
		t.Errorf("first exported line (oldest first): %s, %v", lines[0], err)
	}
}

func TestRunbooksLint(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "runbooks", "lint")
	if r.code != 0 || !strings.Contains(r.out, "4 runbooks in the shipped examples: no problems") {
		t.Errorf("shipped: %+v", r)
	}
	dir := filepath.Join(home, "books")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a.md"), []byte("---\ntitle: A\nalerts: [HighErrorRate]\n---\nsee [b](b.md)\n"), 0o644)
	rules := filepath.Join(home, "rules.yml")
	os.WriteFile(rules, []byte("groups:\n  - name: x\n    rules:\n      - alert: HighErrorRate\n        expr: x\n      - alert: DiskFull\n        expr: y\n"), 0o644)
	r = run(t, home, "", nil, "runbooks", "lint", "--dir", dir, "--rules", rules)
	if r.code != 1 || !strings.Contains(r.out, "a.md: dead link to b.md") || !strings.Contains(r.out, "alert DiskFull has no runbook") ||
		!strings.Contains(r.err, "2 problems in 1 runbooks") {
		t.Errorf("broken: %+v", r)
	}
}
