// Package pgtest gives tests a PostgreSQL database of their own.
//
// A test binary that uses it calls Main from TestMain; each test then calls
// Start for the connection string of a new, empty database:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Start(t)
//		...
//	}
//
// The server is either the one named by MAGICLINK_POSTGRES_DSN (its role
// needs the CREATEDB privilege; databases are dropped when their test ends)
// or, when that is unset, a private server that Main starts on first use:
// initdb into a temporary directory, postgres listening on a free port of
// 127.0.0.1 with its unix socket in that directory, stopped with a fast
// shutdown and removed when the tests end. The binaries are looked up on
// PATH, then under /usr/lib/postgresql/*/bin (newest version first).
// PostgreSQL refuses to run as root: when the tests run as root, the server
// runs as the user postgres, or nobody if there is no such user.
//
// When no server can be had, Start skips the test with the reason, unless
// MAGICLINK_REQUIRE_POSTGRES=1, when it fails it instead.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by this package.
const (
	// EnvDSN names an existing server to use instead of starting one.
	EnvDSN = "MAGICLINK_POSTGRES_DSN"
	// EnvRequire, set to 1, turns a missing server into a test failure.
	EnvRequire = "MAGICLINK_REQUIRE_POSTGRES"
)

var (
	inMain   atomic.Bool
	once     sync.Once
	srv      *server // the private server, if one was started
	adminDSN string  // a connection string for creating databases
	skipWhy  string  // why no server can be had, if none can
	failErr  error   // why starting the server failed, if it did
	dbSeq    atomic.Int64
)

// Main runs the tests of m, stops the server if one was started, removes
// its files and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	inMain.Store(true)
	code := m.Run()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Start returns the connection string of a new, empty database for tb,
// starting the server on first use. It skips tb when no server can be had
// (fails it when MAGICLINK_REQUIRE_POSTGRES=1).
func Start(tb testing.TB) string {
	tb.Helper()
	if !inMain.Load() {
		tb.Fatal("pgtest: call pgtest.Main(m) from TestMain before pgtest.Start")
	}
	once.Do(setup)
	switch {
	case failErr != nil:
		tb.Fatalf("pgtest: %v", failErr)
	case skipWhy != "":
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("pgtest: %s (and %s=1)", skipWhy, EnvRequire)
		}
		tb.Skipf("pgtest: %s; set %s or install PostgreSQL", skipWhy, EnvDSN)
	}
	name := fmt.Sprintf("pgtest_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := admin(func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	}); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	if srv == nil { // a shared server: leave nothing behind
		tb.Cleanup(func() {
			err := admin(func(c *pgx.Conn) error {
				_, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
				return err
			})
			if err != nil {
				tb.Errorf("pgtest: drop database: %v", err)
			}
		})
	}
	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// setup finds or starts the server, once per test binary.
func setup() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		adminDSN = dsn
		return
	}
	bin, why := findBinaries()
	if why != "" {
		skipWhy = why
		return
	}
	s, why, err := startServer(bin)
	if why != "" || err != nil {
		skipWhy, failErr = why, err
		return
	}
	srv = s
	adminDSN = s.dsn("postgres")
}

// admin runs f on a fresh connection to the server's admin database.
func admin(f func(*pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return f(c)
}

// withDatabase returns dsn, a URL or keyword/value connection string, with
// its database set to name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}
