package store_test

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/store/storetest"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestPostgresConformance runs the store contract against a real
// PostgreSQL server.
func TestPostgresConformance(t *testing.T) {
	pg := testserver.SharedPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenPostgres(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgresIncidentChangesAcrossReplicas: two stores on one database,
// as two replicas have.
func TestPostgresIncidentChangesAcrossReplicas(t *testing.T) {
	pg := testserver.SharedPostgres(t)
	dsn := pg.NewDatabase(t)
	var handles [2]store.Store
	for i := range handles {
		s, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		handles[i] = s
	}
	storetest.ConcurrentIncidentChanges(t, handles[0], handles[1])
}

func TestPostgresMigrations(t *testing.T) {
	pg := testserver.SharedPostgres(t)
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	// Two replicas starting at once migrate one after the other.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := store.OpenPostgres(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if want := latestMigration(t); err != nil || v != want {
		t.Errorf("schema version = %d, %v; want %d", v, err, want)
	}
	if err := s.Ping(ctx); err != nil {
		t.Error(err)
	}

	if _, err := store.OpenPostgres(ctx, "postgres://watchkeeper@"+pg.Addr+"/no_such_db?sslmode=disable"); err == nil ||
		!strings.Contains(err.Error(), `connect to PostgreSQL at 127.0.0.1`) || !strings.Contains(err.Error(), `database "no_such_db"`) {
		t.Errorf("missing database: %v", err)
	}
	if _, err := store.OpenPostgres(ctx, "postgres://%zz"); err == nil || !strings.Contains(err.Error(), "store.dsn") {
		t.Errorf("bad DSN: %v", err)
	}
}

// TestMigrationsMatch keeps the two dialects' migrations in step: the same
// files, and the same tables and columns.
func TestMigrationsMatch(t *testing.T) {
	names := func(dir string) []string {
		es, err := fs.ReadDir(os.DirFS("migrations"), dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	lite, pg := names("sqlite"), names("postgres")
	if !slices.Equal(lite, pg) {
		t.Fatalf("sqlite migrations %v, postgres %v", lite, pg)
	}
	for _, n := range lite {
		a, _ := os.ReadFile("migrations/sqlite/" + n)
		b, _ := os.ReadFile("migrations/postgres/" + n)
		if ca, cb := columns(string(a)), columns(string(b)); len(ca) == 0 || !slices.Equal(ca, cb) {
			t.Errorf("%s: sqlite declares %v, postgres %v", n, ca, cb)
		}
	}
}

// columns lists "table.column" and index names a migration declares.
func columns(sql string) []string {
	var out []string
	table := ""
	for _, l := range strings.Split(sql, "\n") {
		f := strings.Fields(strings.TrimSpace(l))
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "--"):
		case len(f) >= 3 && f[0] == "CREATE" && f[1] == "TABLE":
			table = f[2]
		case len(f) >= 3 && f[0] == "CREATE" && f[1] == "INDEX":
			out = append(out, "index "+f[2])
		case len(f) >= 6 && f[0] == "ALTER":
			out = append(out, f[2]+"."+f[5])
		case f[0] == ");":
			table = ""
		case table != "" && f[0] != "PRIMARY":
			out = append(out, table+"."+f[0])
		}
	}
	slices.Sort(out)
	return out
}
