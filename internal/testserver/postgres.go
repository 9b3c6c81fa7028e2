package testserver

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Postgres is a running PostgreSQL server (the Debian package's binaries),
// listening on 127.0.0.1 with trust authentication for the user
// watchkeeper.
type Postgres struct {
	// Addr is host:port.
	Addr string
	n    atomic.Int64
}

// PostgresBinDir finds the newest installed PostgreSQL's bin directory.
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// StartPostgres initialises a cluster in a temporary directory and starts
// it for the test alone, stopped when it ends. PostgreSQL refuses to run
// as root, so under root it runs as the postgres user the Debian package
// creates. Tests that take a database each (NewDatabase) share one server
// per package instead: SharedPostgres.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	began := time.Now()
	p := startPostgres(t)
	t.Logf("testserver: started a PostgreSQL in %s, for this test alone", time.Since(began).Round(time.Millisecond))
	return p
}

// startPostgres starts a PostgreSQL whose processes t's cleanup stops: a
// test's, or a shared server's boot.
func startPostgres(t tb) *Postgres {
	t.Helper()
	bin := PostgresBinDir()
	initdb := need(t, "initdb", filepath.Join(bin, "initdb"))
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	var cred *syscall.Credential
	dir, err := os.MkdirTemp("", "watchkeeper-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user (the Debian package creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "watchkeeper", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	addr := startRetryingWhen(t, func(addr string) (*process, func() error) {
		_, port, _ := strings.Cut(addr, ":")
		logs := &syncBuffer{}
		cmd := exec.Command(postgres, "-D", data, "-h", "127.0.0.1", "-p", port, "-k", dir,
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Stdout, cmd.Stderr = logs, logs
		p := launch(t, cmd, logs)
		return p, func() error { return pingPostgres("postgres://watchkeeper@" + addr + "/postgres?sslmode=disable") }
	})
	return &Postgres{Addr: addr}
}

func pingPostgres(dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// NewDatabase creates an empty database and returns its DSN. Its name is
// new on this server (wk_1, wk_2, …), so tests sharing the server never
// meet each other's tables.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("wk_%d", p.n.Add(1))
	db, err := sql.Open("pgx", p.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return p.DSN(name)
}

// DSN is the URL of database name.
func (p *Postgres) DSN(name string) string {
	return "postgres://watchkeeper@" + p.Addr + "/" + name + "?sslmode=disable"
}
