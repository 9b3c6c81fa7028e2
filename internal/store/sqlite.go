package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite is the embedded store: one file, no server. It is safe for
// concurrent use by one process.
type SQLite struct{ sqlDB }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at path, and brings its
// schema up to date. The parent directory is created.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create the database directory: %w; set store.path to a writable location", err)
		}
	}
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		// FULL: a committed transaction is on disk before Commit returns,
		// so an approval or audit entry survives power loss, not only a
		// crash of the process.
		"synchronous(FULL)",
		"foreign_keys(ON)",
	} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock up front, so two writers queue on
	// busy_timeout instead of failing with SQLITE_BUSY on upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One writer at a time is all SQLite allows; a few connections let
	// readers proceed alongside it under WAL.
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	base, err := open(ctx, db, dialectSQLite)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &SQLite{base}, nil
}
