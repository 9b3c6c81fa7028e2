package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// latestMigration is the highest migration number shipped.
func latestMigration(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	latest := 0
	for _, e := range es {
		n, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("migration %s", e.Name())
		}
		latest = max(latest, v)
	}
	return latest
}

// migrateTo applies the dialect's migrations up to version by hand, as an
// older Watchkeeper would have left the database.
func migrateTo(t *testing.T, db *sql.DB, dialect string, version int) {
	t.Helper()
	es, err := os.ReadDir(filepath.Join("migrations", dialect))
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		n, _, _ := strings.Cut(e.Name(), "_")
		v, _ := strconv.Atoi(n)
		if v > version {
			break
		}
		b, err := os.ReadFile(filepath.Join("migrations", dialect, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (` + n + `, '` + e.Name() + `', 0)`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationIndexesExistingIncidentGroups: incidents stored before the
// group index existed — including the groups a storm merged into them —
// are found by group after the upgrade, on both dialects.
func TestMigrationIndexesExistingIncidentGroups(t *testing.T) {
	ctx := context.Background()
	insert := `INSERT INTO incidents (id, group_key, status, title, severity, channel, thread_ts, started_at, updated_at, data)
		VALUES ('inc_old', 'g1', 'open', 'HighLatency', 'critical', 'C1', '1.0001', 1, 1, $1)`
	// A NUL in a string (Go writes \u0000) must not stop the upgrade.
	data := []byte(`{"groupKeys":["g1","g2"],"alerts":{},"timeline":[{"text":"nul \u0000 here"}]}`)
	for _, tt := range []struct {
		dialect string
		open    func(t *testing.T) (*sql.DB, func() (store.Store, error))
	}{
		{"sqlite", func(t *testing.T) (*sql.DB, func() (store.Store, error)) {
			path := filepath.Join(t.TempDir(), "old.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			return db, func() (store.Store, error) { return store.OpenSQLite(ctx, path) }
		}},
		{"postgres", func(t *testing.T) (*sql.DB, func() (store.Store, error)) {
			dsn := testserver.SharedPostgres(t).NewDatabase(t)
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return db, func() (store.Store, error) { return store.OpenPostgres(ctx, dsn) }
		}},
	} {
		t.Run(tt.dialect, func(t *testing.T) {
			db, open := tt.open(t)
			migrateTo(t, db, tt.dialect, 3)
			q := insert
			if tt.dialect == "sqlite" {
				q = strings.Replace(q, "$1", "?", 1)
			}
			if _, err := db.Exec(q, data); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, k := range []string{"g1", "g2"} {
				if in, err := s.OpenIncidentByGroup(ctx, k); err != nil || in.ID != "inc_old" {
					t.Errorf("group %s after the upgrade: %+v, %v", k, in, err)
				}
			}
			if in, err := s.IncidentByThread(ctx, "C1", "1.0001"); err != nil || in.ID != "inc_old" {
				t.Errorf("thread after the upgrade: %+v, %v", in, err)
			}
		})
	}
}
