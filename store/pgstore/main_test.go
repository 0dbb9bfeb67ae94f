package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool returns a pool on a new database of its own for t.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.Start(tb))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 16 // enough for the races to meet in the database
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

var schemaSeq atomic.Int64

// newSchema migrates a new, empty schema on pool and returns its name.
func newSchema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	schema := fmt.Sprintf("t%d", schemaSeq.Add(1))
	if err := Migrate(context.Background(), pool, Config{Schema: schema}); err != nil {
		tb.Fatal(err)
	}
	return schema
}

// openStore returns a Store on pool with cfg, closed when tb ends. Its
// log goes to tb's.
func openStore(tb testing.TB, pool *pgxpool.Pool, cfg Config) *Store {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(context.Background(), pool, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newStore returns a Store on a new, empty schema, with clock c (nil:
// time.Now) and no background sweeps.
func newStore(tb testing.TB, pool *pgxpool.Pool, c *storetest.Clock) *Store {
	tb.Helper()
	cfg := Config{Schema: newSchema(tb, pool), SweepInterval: -1}
	if c != nil {
		cfg.Now = c.Now
	}
	return openStore(tb, pool, cfg)
}

// tbWriter writes to a test's log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newClock returns a settable clock for expiry.
func newClock() *storetest.Clock {
	return storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// ctxT returns a context that ends with the test, bounded to a minute.
func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// woken waits for a receive on ch, failing tb after a generous deadline
// (a failure guard: the receive is the event awaited).
func woken(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: no wake-up within 10s", what)
	}
}

// notWoken fails tb if ch holds a wake-up right now.
func notWoken(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
		tb.Fatalf("%s: unexpected wake-up", what)
	default:
	}
}

// newPoolOn returns a second pool on pool's database, as another instance
// of an application would have.
func newPoolOn(tb testing.TB, pool *pgxpool.Pool) *pgxpool.Pool {
	tb.Helper()
	p, err := pgxpool.NewWithConfig(context.Background(), pool.Config())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}
