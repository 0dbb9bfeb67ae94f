package pgstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func TestSweep(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	c := newClock()
	s := newStore(t, pool, c)
	count := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+s.channel+".records").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// More expired rows than one chunk, some live and some never expiring.
	const expired = 2*sweepChunk + 10
	if _, err := pool.Exec(ctx, "INSERT INTO "+s.channel+".records SELECT convert_to('e/' || i, 'UTF8'), '', $1 FROM generate_series(1, $2) i",
		c.Now().Add(time.Second), expired); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, store.Put("live", nil, c.Now().Add(time.Hour)), store.Put("never", nil, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep before expiry = %d, %v; want 0", n, err)
	}
	c.Advance(time.Second)
	if n, err := s.Sweep(ctx); err != nil || n != expired {
		t.Fatalf("Sweep = %d, %v; want %d", n, err, expired)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows left, want 2", n)
	}
	for _, k := range []string{"live", "never"} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Get %q after sweep: %v", k, err)
		}
	}
}

// TestSweepSkipsLocked: the sweeper neither waits for nor disturbs an
// Apply holding an expired row.
func TestSweepSkipsLocked(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	c := newClock()
	s := newStore(t, pool, c)
	if err := s.Apply(ctx, store.Put("a", nil, c.Now().Add(time.Second)), store.Put("b", nil, c.Now().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, fmt.Sprintf("SELECT 1 FROM %s.records WHERE key = 'a' FOR UPDATE", s.channel)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep with a locked expired row = %d, %v; want 1", n, err)
	}
	tx.Rollback(ctx)
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep after unlock = %d, %v; want 1", n, err)
	}
}

// TestSweeper: the background sweeper runs every SweepInterval and stops
// with Close.
func TestSweeper(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	c := newClock()
	schema := newSchema(t, pool)
	swept := make(chan struct{}, 1)
	s := openStore(t, pool, Config{Schema: schema, Now: c.Now, SweepInterval: 10 * time.Millisecond,
		hooks: &hooks{swept: func(n int64) {
			if n > 0 {
				select {
				case swept <- struct{}{}:
				default:
				}
			}
		}}})
	if err := s.Apply(ctx, store.Put("k", nil, c.Now().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	woken(t, swept, "the sweeper")
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".records").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after the sweeper ran: %d, %v", n, err)
	}
	s.Close() // waits for the sweeper to stop
}
