package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

func TestStore(t *testing.T) {
	pool := newPool(t)

	t.Run("get put delete", func(t *testing.T) {
		ctx := ctxT(t)
		s := newStore(t, pool, nil)
		if _, err := s.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of absent key: %v, want ErrNotFound", err)
		}
		if err := s.Apply(ctx, store.Put("a", []byte("1"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "a")
		if err != nil || string(got) != "1" {
			t.Fatalf("Get = %q, %v; want 1", got, err)
		}
		if err := s.Apply(ctx, store.Delete("a"), store.Delete("never")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after delete: %v, want ErrNotFound", err)
		}
	})

	t.Run("any bytes in keys and values", func(t *testing.T) {
		ctx := ctxT(t)
		s := newStore(t, pool, nil)
		keys := []string{"\x00", "a\x00b", "\xff\xfe", "é", strings.Repeat("\xff", store.MaxKeyLen)}
		for _, k := range keys {
			if err := s.Apply(ctx, store.Put(k, []byte(k+"\x00\xff"), time.Time{})); err != nil {
				t.Fatalf("Put %q: %v", k, err)
			}
		}
		for _, k := range keys {
			got, err := s.Get(ctx, k)
			if err != nil || string(got) != k+"\x00\xff" {
				t.Fatalf("Get %q = %q, %v", k, got, err)
			}
		}
	})

	t.Run("empty and nil values", func(t *testing.T) {
		ctx := ctxT(t)
		s := newStore(t, pool, nil)
		if err := s.Apply(ctx, store.Put("nil", nil, time.Time{}), store.Put("empty", []byte{}, time.Time{})); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"nil", "empty"} {
			if got, err := s.Get(ctx, k); err != nil || len(got) != 0 {
				t.Fatalf("Get %q = %q, %v; want empty", k, got, err)
			}
		}
		// An empty value equals nil, as bytes.Equal has it.
		if err := s.Apply(ctx, store.Swap("nil", []byte{}, []byte("x"), time.Time{}), store.DeleteIf("empty", nil)); err != nil {
			t.Fatal(err)
		}
		// Check(key, nil) means absent, not empty.
		if err := s.Apply(ctx, store.Put("e2", nil, time.Time{})); err != nil {
			t.Fatal(err)
		}
		assertConflict(t, s.Apply(ctx, store.Check("e2", nil)), "e2", store.OpCheck)
		if err := s.Apply(ctx, store.Check("e2", []byte{})); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("expiry by the injected clock", func(t *testing.T) {
		ctx := ctxT(t)
		c := newClock()
		s := newStore(t, pool, c)
		exp := c.Now().Add(time.Minute)
		if err := s.Apply(ctx, store.Put("k", []byte("v"), exp), store.Put("forever", []byte("f"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute - time.Microsecond)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("Get before expiry: %v", err)
		}
		c.Advance(time.Microsecond) // now == ExpiresAt: expired
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get at expiry: %v, want ErrNotFound", err)
		}
		items, err := s.List(ctx, "", 0)
		if err != nil || len(items) != 1 || items[0].Key != "forever" {
			t.Fatalf("List = %v, %v; want only forever", items, err)
		}
		// Expired counts as absent for every condition.
		assertConflict(t, s.Apply(ctx, store.DeleteIf("k", []byte("v"))), "k", store.OpDeleteIf)
		assertConflict(t, s.Apply(ctx, store.Swap("k", []byte("v"), []byte("w"), time.Time{})), "k", store.OpSwap)
		assertConflict(t, s.Apply(ctx, store.Check("k", []byte("v"))), "k", store.OpCheck)
		if err := s.Apply(ctx, store.Check("k", nil)); err != nil {
			t.Fatalf("Check(expired, nil): %v", err)
		}
		if err := s.Apply(ctx, store.Insert("k", []byte("new"), time.Time{})); err != nil {
			t.Fatalf("Insert over expired: %v", err)
		}
		if got, err := s.Get(ctx, "k"); err != nil || string(got) != "new" {
			t.Fatalf("Get = %q, %v; want new", got, err)
		}
	})

	t.Run("list", func(t *testing.T) {
		ctx := ctxT(t)
		c := newClock()
		s := newStore(t, pool, c)
		exp := c.Now().Add(time.Hour)
		var ops []store.Op
		for _, k := range []string{"a", "b/1", "b/2", "b/3", "b0", "b\xff", "b\xff\xff", "b\xff\x00", "c", "\xff", "\xff\xff"} {
			ops = append(ops, store.Put(k, []byte("v"+k), exp))
		}
		ops = append(ops, store.Put("b/gone", []byte("x"), c.Now().Add(time.Second)))
		if err := s.Apply(ctx, ops...); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
		keys := func(prefix string, limit int) []string {
			items, err := s.List(ctx, prefix, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ks []string
			for _, it := range items {
				if string(it.Value) != "v"+it.Key || !it.ExpiresAt.Equal(exp) {
					t.Errorf("item %q: value %q, expires %v", it.Key, it.Value, it.ExpiresAt)
				}
				ks = append(ks, it.Key)
			}
			return ks
		}
		for _, tc := range []struct {
			prefix string
			limit  int
			want   []string
		}{
			{"b/", 0, []string{"b/1", "b/2", "b/3"}},
			{"b/", 2, []string{"b/1", "b/2"}},
			{"b", -1, []string{"b/1", "b/2", "b/3", "b0", "b\xff", "b\xff\x00", "b\xff\xff"}},
			{"b\xff", 0, []string{"b\xff", "b\xff\x00", "b\xff\xff"}},
			{"\xff", 0, []string{"\xff", "\xff\xff"}},
			{"", 3, []string{"a", "b/1", "b/2"}},
			{"", 0, []string{"a", "b/1", "b/2", "b/3", "b0", "b\xff", "b\xff\x00", "b\xff\xff", "c", "\xff", "\xff\xff"}},
			{"z", 0, nil},
		} {
			if diff := cmp.Diff(tc.want, keys(tc.prefix, tc.limit), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("List(%q, %d) (-want +got):\n%s", tc.prefix, tc.limit, diff)
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		ctx := ctxT(t)
		s := newStore(t, pool, nil)
		for _, ops := range [][]store.Op{
			nil,
			{store.Put("", nil, time.Time{})},
			{store.Put(strings.Repeat("k", store.MaxKeyLen+1), nil, time.Time{})},
			{store.Put("k", nil, time.Time{}), store.Delete("k")},
			{{Kind: 99, Key: "k"}},
		} {
			if err := s.Apply(ctx, ops...); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Apply(%v) = %v, want ErrInvalid", ops, err)
			}
		}
		if _, err := s.Watch(ctx, ""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Watch(\"\") = %v, want ErrInvalid", err)
		}
	})

	t.Run("durable across reopen", func(t *testing.T) {
		ctx := ctxT(t)
		schema := newSchema(t, pool)
		s := openStore(t, pool, Config{Schema: schema})
		if err := s.Apply(ctx, store.Put("k", []byte("v"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := openStore(t, pool, Config{Schema: schema})
		if got, err := s2.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Fatalf("Get after reopen = %q, %v", got, err)
		}
	})

	t.Run("close", func(t *testing.T) {
		ctx := ctxT(t)
		s := newStore(t, pool, nil)
		pid := s.listen.pid.Load()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Get after Close: %v", err)
		}
		if err := s.Apply(ctx, store.Put("k", nil, time.Time{})); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Apply after Close: %v", err)
		}
		if _, err := s.List(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
			t.Errorf("List after Close: %v", err)
		}
		if _, err := s.Watch(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch after Close: %v", err)
		}
		if _, err := s.Sweep(ctx); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Sweep after Close: %v", err)
		}
		// Close has closed the listening connection: the server no
		// longer has its backend. (pg_stat_activity is a snapshot per
		// transaction; a backend that got Terminate may linger an instant.)
		waitGone(t, pool, pid)
	})
}

func TestOpen(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	schema := newSchema(t, pool)
	s, err := Open(ctx, pool.Config().ConnString(), Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, store.Put("k", []byte("v"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.pool.Ping(ctx); err == nil {
		t.Error("the pool Open made is still open after Close")
	}
	if _, err := Open(ctx, "postgres://%zz", Config{}); err == nil {
		t.Error("Open with a bad connection string succeeded")
	}
}

func TestMigrate(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	if _, err := New(ctx, pool, Config{Schema: "never_migrated"}); err == nil || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("New before Migrate: %v, want an error naming Migrate", err)
	}
	for _, bad := range []string{"Upper", "1abc", "a-b", "a.b", strings.Repeat("a", 64), `a"b`} {
		if err := Migrate(ctx, pool, Config{Schema: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Migrate schema %q: %v, want ErrInvalid", bad, err)
		}
		if _, err := New(ctx, pool, Config{Schema: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("New schema %q: %v, want ErrInvalid", bad, err)
		}
	}
	// Concurrent and repeated migrations of one schema all succeed.
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- Migrate(ctx, pool, Config{Schema: "concurrent"}) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if err := Migrate(ctx, pool, Config{Schema: "concurrent"}); err != nil {
		t.Fatal(err)
	}
	// nil options: the default schema.
	if err := Migrate(ctx, pool, Config{}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, pool, Config{})
	if err := s.Apply(ctx, store.Put("k", nil, time.Time{})); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM magiclink.records").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in magiclink.records: %d, %v", n, err)
	}
}

func assertConflict(tb testing.TB, err error, key string, kind store.OpKind) {
	tb.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) {
		tb.Fatalf("err = %v, want a *store.ConflictError", err)
	}
	if ce.Key != key || ce.Kind != kind {
		tb.Fatalf("conflict on %s %q, want %s %q", ce.Kind, ce.Key, kind, key)
	}
}

// waitGone waits until the server has no backend pid. A backend leaves
// pg_stat_activity shortly after its client hangs up, with no event to
// wait on, so this polls within a bounded deadline.
func waitGone(tb testing.TB, pool *pgxpool.Pool, pid uint32) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("backend %d still there 10s after its connection was closed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
