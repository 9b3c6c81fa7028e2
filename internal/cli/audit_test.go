package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

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
		{Actor: "watchkeeper", Action: "propose", Target: "prop_1", Outcome: "pending", Details: `{"tool":"kube_rollout_undo","summary":"Roll back deployment shop/checkout to revision 3 (image 1.4.2)"}`},
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
	// Every row says what it was about, not only an ID: the approval and
	// the execution record only the proposal's ID.
	for _, l := range lines[1:] {
		if !strings.Contains(l, "kube_rollout_undo: Roll back deployment shop/checkout") {
			t.Errorf("row without its subject: %q", l)
		}
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

// TestAuditTableFitsTheWidth: long summaries and outcomes are cut to the
// terminal's width, and a proposal proposed before the page's oldest entry
// is described from the store.
func TestAuditTableFitsTheWidth(t *testing.T) {
	home := isolate(t)
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(home, "state", "watchkeeper", "watchkeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	long := "Scale deployment shop/checkout from 2 to 6 replicas because CPU saturation is making every request queue behind the others"
	if err := s.CreateProposal(ctx, store.Proposal{ID: "prop_old", Tool: "kube_scale", Summary: long}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.AuditEntry{
		{Actor: "watchkeeper", Action: "propose", Target: "prop_old", Outcome: "pending", Details: `{"tool":"kube_scale","summary":"` + long + `"}`},
		{Actor: "terminal:a-person-with-a-very-long-account-name", Action: "approve", Target: "prop_old",
			Outcome: "refused: proposal prop_old expired at 14:15:00 UTC (proposals can be approved for 15m0s)\nask again"},
	} {
		if _, err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	tests := []struct {
		name  string
		args  []string
		width int
	}{
		{"80 columns", nil, 80},
		{"120 columns", nil, 120},
		{"only the newest entry", []string{"--limit", "1"}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, home, "", []string{"COLUMNS=" + strconv.Itoa(tt.width)}, append([]string{"audit"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("%+v", r)
			}
			lines := strings.Split(strings.TrimRight(r.out, "\n"), "\n")
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > tt.width {
					t.Errorf("%d runes, wider than %d: %q", n, tt.width, l)
				}
			}
			if approve := lines[1]; !strings.Contains(approve, "approve  prop_old  refused") || !strings.Contains(approve, "kube_scale: Sc") ||
				!strings.HasSuffix(approve, "…") {
				t.Errorf("approval row: %q", approve)
			}
		})
	}
}

func TestRunbooksLint(t *testing.T) {
	shopRules, err := filepath.Abs("../sandbox/alerting/rules/shop.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	home := isolate(t)
	r := run(t, home, "", nil, "runbooks", "lint")
	if r.code != 0 || !strings.Contains(r.out, "7 runbooks in the shipped examples: no problems; all 10 alerts of the sandbox have a runbook") {
		t.Errorf("shipped: %+v", r)
	}
	// The sandbox's own rule file, given explicitly, too.
	r = run(t, home, "", nil, "runbooks", "lint", "--rules", shopRules)
	if r.code != 0 || !strings.Contains(r.out, "all 10 alerts have a runbook") {
		t.Errorf("against the sandbox's rule file: %+v", r)
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

func TestRunbooksListAndShow(t *testing.T) {
	home := isolate(t)
	dir := filepath.Join(home, "books")
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	os.WriteFile(filepath.Join(dir, "disk.md"), []byte("---\ntitle: Disk full\nalerts: [DiskFull, DiskFillingUp]\n---\n# Disk full\n\nDelete old logs.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "db", "replica-lag.md"), []byte("---\ntitle: Replica lag\nalerts: [ReplicaLag, DiskFull]\n---\n# Replica lag\n"), 0o644)
	tests := []struct {
		name    string
		args    []string
		code    int
		out     []string
		errWant string
	}{
		{"list the shipped examples", []string{"runbooks", "list"}, 0,
			[]string{"FILE", "cpu-saturated.md", "CPU saturated", "CPUSaturated", "high-latency.md", "HighLatencyP99, UpstreamLatencyHigh, DatabaseSlowQueries",
				"target-down.md", "TargetDown", "replicas-mismatch.md", "7 runbooks in the shipped examples"}, ""},
		{"list a directory", []string{"runbooks", "list", "--dir", dir}, 0, []string{"db/replica-lag.md", "ReplicaLag, DiskFull", "disk.md", "Disk full"}, ""},
		{"by file name", []string{"runbooks", "show", "high-error-rate.md"}, 0, []string{"# High error rate", "## Mitigation"}, ""},
		{"by file name without .md", []string{"runbooks", "show", "target-down"}, 0, []string{"# Scrape target down"}, ""},
		{"by title", []string{"runbooks", "show", "cpu saturated"}, 0, []string{"# CPU saturated"}, ""},
		{"by alert", []string{"runbooks", "show", "DeploymentReplicasMismatch"}, 0, []string{"# Deployment below its desired replicas"}, ""},
		{"by base name in a folder", []string{"runbooks", "show", "--dir", dir, "replica-lag"}, 0, []string{"# Replica lag"}, ""},
		{"an alert two runbooks cover", []string{"runbooks", "show", "--dir", dir, "DiskFull"}, 0, []string{"# Replica lag"}, "(disk.md covers DiskFull too)"},
		{"unknown", []string{"runbooks", "show", "--dir", dir, "nope"}, 2, nil,
			`no runbook in ` + dir + ` is named "nope" or covers an alert of that name; the runbooks are:` + "\n  db/replica-lag.md  Replica lag\n  disk.md            Disk full"},
		{"no name", []string{"runbooks", "show"}, 2, nil, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, home, "", nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.code, r.out, r.err)
			}
			for _, want := range tt.out {
				if !strings.Contains(r.out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.out)
				}
			}
			if !strings.Contains(r.err, tt.errWant) {
				t.Errorf("stderr lacks %q:\n%s", tt.errWant, r.err)
			}
		})
	}
}
