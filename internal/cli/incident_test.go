package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

// incident evidence lists an incident's files, writes one to standard
// output and all under --out, and says plainly when an incident or a file
// is unknown; a stored name that would leave --out is not followed.
func TestIncidentEvidence(t *testing.T) {
	home := isolate(t)
	s, err := store.OpenSQLite(context.Background(), filepath.Join(home, "state", "watchkeeper", "watchkeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.PutIncident(ctx, store.Incident{ID: "inc_1", GroupKey: "g1", Status: store.IncidentOpen, Title: "HighErrorRate"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIncident(ctx, store.Incident{ID: "inc_2", GroupKey: "g2", Status: store.IncidentOpen, Title: "Quiet"}); err != nil {
		t.Fatal(err)
	}
	spansFile := `{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","service":"checkout","name":"POST /checkout","kind":"server","start":"2026-11-24T14:00:00Z","duration_us":1200}` + "\n"
	for _, e := range []store.Evidence{
		{IncidentID: "inc_1", Name: "traces/checkout.jsonl", Summary: "1 of 40 traces of checkout", Data: []byte(spansFile)},
		{IncidentID: "inc_1", Name: "notes.txt", Summary: "a note", Data: []byte("hello\n")},
	} {
		if err := s.PutEvidence(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	r := run(t, home, "", nil, "incident", "evidence", "inc_1")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[2], "traces/checkout.jsonl") || !strings.Contains(lines[2], "1 of 40 traces of checkout") {
		t.Errorf("list: %+v", r)
	}
	r = run(t, home, "", nil, "incident", "evidence", "inc_1", "traces/checkout.jsonl")
	if r.code != 0 || r.out != spansFile {
		t.Errorf("one file to stdout: %+v", r)
	}
	out := filepath.Join(t.TempDir(), "inc")
	r = run(t, home, "", nil, "incident", "evidence", "inc_1", "--out", out)
	if b, err := os.ReadFile(filepath.Join(out, "traces", "checkout.jsonl")); r.code != 0 || err != nil || string(b) != spansFile {
		t.Errorf("--out: %+v, %v", r, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "notes.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("--out notes: %q, %v", b, err)
	}

	r = run(t, home, "", nil, "incident", "evidence", "inc_1", "traces/cart.jsonl")
	if r.code != 2 || !strings.Contains(r.err, "incident inc_1 keeps no traces/cart.jsonl") {
		t.Errorf("unknown file: %+v", r)
	}
	r = run(t, home, "", nil, "incident", "evidence", "inc_2")
	if r.code != 0 || !strings.Contains(r.out, "Incident inc_2 keeps no files.") {
		t.Errorf("incident without files: %+v", r)
	}
	r = run(t, home, "", nil, "incident", "evidence", "inc_9")
	if r.code != 2 || !strings.Contains(r.err, "no incident inc_9") {
		t.Errorf("unknown incident: %+v", r)
	}

	// A name that climbs out of --out (the store is a shared database).
	s, err = store.OpenSQLite(ctx, filepath.Join(home, "state", "watchkeeper", "watchkeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutEvidence(ctx, store.Evidence{IncidentID: "inc_2", Name: "../../escaped", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dir := filepath.Join(t.TempDir(), "a", "b")
	r = run(t, home, "", nil, "incident", "evidence", "inc_2", "--out", dir)
	if r.code == 0 || !strings.Contains(r.err, "not a relative path inside --out") {
		t.Errorf("escaping name: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "escaped")); !os.IsNotExist(err) {
		t.Errorf("the escaping file was written: %v", err)
	}
}
