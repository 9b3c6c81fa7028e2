package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the store for several replicas: every replica opens the same
// database, and the conditional updates and unique keys that make a
// decision, a claim or an incident happen once in SQLite make it happen
// once across processes here. It is safe for concurrent use.
type Postgres struct{ sqlDB }

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the database at dsn (a postgres:// URL or
// key=value string, as libpq takes) and brings its schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store.dsn: %w; give a URL such as postgres://watchkeeper@db:5432/watchkeeper?sslmode=require", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d (database %q, user %q): %w", cfg.Host, cfg.Port, cfg.Database, cfg.User, err)
	}
	base, err := open(ctx, db, dialectPostgres)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	return &Postgres{base}, nil
}

// Backend is a store with its lifecycle: what the program opens from its
// configuration.
type Backend interface {
	Store
	Ping(ctx context.Context) error
	Close() error
}

// Open opens the store the configuration names: "sqlite" (path) or
// "postgres" (dsn).
func Open(ctx context.Context, driver, path, dsn string) (Backend, error) {
	// Each case returns a nil interface on error, never a typed nil.
	switch driver {
	case "", "sqlite":
		s, err := OpenSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "postgres":
		s, err := OpenPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("store.driver %q is not sqlite or postgres", driver)
}
