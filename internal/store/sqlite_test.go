package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/store/storetest"
)

func openTemp(t *testing.T) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "sub", "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestSQLiteIncidentChangesAcrossHandles: two handles on one file, as two
// processes would have.
func TestSQLiteIncidentChangesAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wk.db")
	var handles [2]store.Store
	for i := range handles {
		s, err := store.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		handles[i] = s
	}
	storetest.ConcurrentIncidentChanges(t, handles[0], handles[1])
}

func TestMigrationsAreIdempotentAndVersioned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wk.db")
	ctx := context.Background()
	for range 2 {
		s, err := store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != latestMigration(t) {
			t.Errorf("schema version = %d, %v", v, err)
		}
		s.Close()
	}
	// A database from a newer Watchkeeper is refused with a clear message.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = store.OpenSQLite(ctx, path)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema is at version 99 but this binary knows only up to %d", latestMigration(t))) {
		t.Fatalf("err = %v", err)
	}
}

func TestWALModeAndCompression(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wk.db")
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	transcript := []byte(strings.Repeat(`{"kind":"tool_end","tool":"prom_query","text":"up{job=\"checkout\"} 1"}`, 2000))
	if err := s.SaveRun(context.Background(), store.Run{ID: "r", Outcome: "answered", Transcript: transcript}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	var stored int
	if err := db.QueryRow(`SELECT length(transcript) FROM runs WHERE id = 'r'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored*20 > len(transcript) {
		t.Errorf("transcript stored as %d bytes for %d raw; not compressed", stored, len(transcript))
	}
}

func TestUnwritableLocation(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenSQLite(context.Background(), filepath.Join(blocker, "wk.db"))
	if err == nil || !strings.Contains(err.Error(), "set store.path to a writable location") {
		t.Fatalf("err = %v", err)
	}
}

// TestSurvivesKill9 runs a writer in a child process, kills it with SIGKILL
// in the middle of writing, and checks that every write the child reported
// as committed is in the database and that the database is intact.
func TestSurvivesKill9(t *testing.T) {
	if os.Getenv("WK_STORE_WRITER") != "" {
		t.Skip("helper process")
	}
	path := filepath.Join(t.TempDir(), "wk.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Writer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WK_STORE_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.After(60 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
read:
	for len(acked) < 200 {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			if id, found := strings.CutPrefix(l, "committed "); found {
				acked[id] = true
			}
		case <-deadline:
			break read
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 50 {
		t.Fatalf("the writer acknowledged only %d writes before the kill", len(acked))
	}

	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	for id := range acked {
		if _, err := s.GetRun(context.Background(), id); err != nil {
			t.Errorf("acknowledged run %s lost: %v", id, err)
		}
	}
	// Every acknowledged run was followed by its audit entry.
	audit, err := s.ListAudit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, e := range audit {
		audited[e.Target] = true
	}
	for id := range acked {
		if !audited[id] {
			t.Errorf("audit entry for acknowledged run %s lost", id)
		}
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
}

// TestKill9Writer is the child of TestSurvivesKill9: it writes until killed,
// printing each committed run ID.
func TestKill9Writer(t *testing.T) {
	path := os.Getenv("WK_STORE_WRITER")
	if path == "" {
		t.Skip("only runs as the helper of TestSurvivesKill9")
	}
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	transcript := []byte(strings.Repeat("x", 4096))
	for i := 0; ; i++ {
		id := fmt.Sprintf("run_%d", i)
		if err := s.SaveRun(context.Background(), store.Run{ID: id, Outcome: "answered", Transcript: transcript}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudit(context.Background(), store.AuditEntry{Actor: "test", Action: "write", Target: id}); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %s\n", id)
	}
}

func BenchmarkSQLiteWrites(b *testing.B) {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "wk.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	transcript := []byte(strings.Repeat(`{"kind":"tool_end","tool":"prom_query","text":"rate(http_requests_total[5m]) 12.5"}`, 200))
	ctx := context.Background()
	b.Run("SaveRun_16KB_transcript", func(b *testing.B) {
		b.ReportAllocs()
		prefix := time.Now().UnixNano() // sub-benchmarks repeat under -count
		i := 0
		for b.Loop() {
			i++
			if err := s.SaveRun(ctx, store.Run{ID: fmt.Sprintf("bench_%d_%d", prefix, i), Outcome: "answered", Transcript: transcript}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendAudit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "U1", Action: "approve", Target: "prop_1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SaveConversation", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SaveConversation(ctx, "c1", transcript); err != nil {
				b.Fatal(err)
			}
		}
	})
}
