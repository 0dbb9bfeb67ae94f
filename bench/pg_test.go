package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// pgPool returns a pool of maxConns connections on a new database of its
// own, with pgstore's schema migrated.
func pgPool(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	return pgPoolOn(tb, pgtest.Start(tb), maxConns)
}

// pgPoolOn returns a pool of maxConns connections on dsn, with pgstore's
// schema migrated.
func pgPoolOn(tb testing.TB, dsn string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := pgstore.Migrate(context.Background(), pool, pgstore.Config{}); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// pgStore returns a pgstore.Store on pool, closed when tb ends.
func pgStore(tb testing.TB, pool *pgxpool.Pool) *pgstore.Store {
	tb.Helper()
	st, err := pgstore.New(context.Background(), pool, pgstore.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// pgCPU is a snapshot of the CPU time used by the PostgreSQL server this
// process started (pgtest's private server: the postmaster is a child of
// this process, its backends are its children), per process.
type pgCPU map[int]time.Duration

// serverCPU takes a pgCPU snapshot. It is empty when the server is not
// this process's child (MAGICLINK_POSTGRES_DSN).
func serverCPU() pgCPU {
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	type proc struct {
		ppid int
		cpu  time.Duration
		pg   bool
	}
	all := map[int]proc{}
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		all[pid] = proc{ppid: ppid, cpu: time.Duration(ut+st) * time.Second / 100, pg: strings.HasPrefix(s[open+1:end], "postgres")}
	}
	snap := pgCPU{}
	for pid, p := range all {
		if p.pg && (p.ppid == self || all[p.ppid].pg && all[p.ppid].ppid == self) {
			snap[pid] = p.cpu
		}
	}
	return snap
}

// since returns the CPU time the server used from snapshot s0 to now,
// counting the processes alive now (a backend that exited meanwhile, as
// those of a closed pool do, is left out rather than subtracted).
func (s0 pgCPU) since() time.Duration {
	var d time.Duration
	for pid, c := range serverCPU() {
		d += c - s0[pid]
	}
	return d
}

// pgDSN returns the connection string of a new database with pgstore's
// schema migrated.
func pgDSN(tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.Start(tb)
	pgPoolOn(tb, dsn, 2)
	return dsn
}
