package pgstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// TestConflictOrder: of two failed conditions, the one given first is
// reported, even when its key sorts after the other's (the one-round-trip
// transaction stops at the first failure in key order and never sees it).
func TestConflictOrder(t *testing.T) {
	ctx := ctxT(t)
	s := newStore(t, newPool(t), nil)
	if err := s.Apply(ctx, store.Put("a", []byte("1"), time.Time{}), store.Put("b", []byte("1"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	err := s.Apply(ctx, store.Insert("b", []byte("2"), time.Time{}), store.DeleteIf("a", []byte("wrong")))
	assertConflict(t, err, "b", store.OpInsert)
	err = s.Apply(ctx, store.DeleteIf("a", []byte("wrong")), store.Insert("b", []byte("2"), time.Time{}))
	assertConflict(t, err, "a", store.OpDeleteIf)
	// A failure after an op that held, in key order and in the caller's.
	err = s.Apply(ctx, store.Check("a", []byte("1")), store.Swap("b", []byte("wrong"), []byte("2"), time.Time{}))
	assertConflict(t, err, "b", store.OpSwap)
}

// TestConflictKeepsConnections: a failed condition ends its transaction
// with a ROLLBACK on the same connection, which goes back to the pool
// rather than being closed and replaced.
func TestConflictKeepsConnections(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	sent := make(chan struct{}, 1)
	s := openStore(t, pool, Config{Schema: newSchema(t, pool), SweepInterval: -1, hooks: &hooks{
		notified: func(int) { sent <- struct{}{} },
	}})
	if err := s.Apply(ctx, store.Put("k", []byte("1"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	await(t, sent, "the notification of k") // the notifier is done with its connection
	before := pool.Stat().NewConnsCount()
	for range 50 {
		err := s.Apply(ctx, store.Put("other", nil, time.Time{}), store.Insert("k", []byte("2"), time.Time{}))
		assertConflict(t, err, "k", store.OpInsert)
	}
	if n := pool.Stat().NewConnsCount() - before; n != 0 {
		t.Fatalf("%d connections opened during 50 conflicting Applies, want 0", n)
	}
	if _, err := s.Get(ctx, "other"); err == nil {
		t.Fatal("the Put of a conflicting Apply was committed")
	}
}

// TestNotifyMany: an Apply writing many long keys wakes the other
// instance's watchers of every one of them (several payloads).
func TestNotifyMany(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	a := newStore(t, pool, nil)
	b := openStore(t, newPoolOn(t, pool), Config{Schema: a.channel, SweepInterval: -1})
	var ops []store.Op
	var chs []<-chan struct{}
	for i := range 100 {
		key := fmt.Sprintf("%03d", i) + strings.Repeat("\x00", store.MaxKeyLen-3)
		ch, err := a.Watch(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, ch)
		ops = append(ops, store.Put(key, nil, time.Time{}))
	}
	if err := b.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chs {
		woken(t, ch, fmt.Sprintf("watcher of key %d", i))
	}
}

// TestNotifyOnClose: notifications still pending when a Store closes are
// sent before Close returns.
func TestNotifyOnClose(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	a := newStore(t, pool, nil)
	for range 20 {
		b, err := New(ctx, newPoolOn(t, pool), Config{Schema: a.channel, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := a.Watch(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(ctx, store.Put("k", nil, time.Time{})); err != nil {
			t.Fatal(err)
		}
		b.Close()
		woken(t, ch, "watcher of k after the writer closed")
	}
}

func TestPayloads(t *testing.T) {
	var keys []string
	for i := range 200 {
		keys = append(keys, strings.Repeat(string(rune('a'+i%26)), 1+i))
	}
	keys = append(keys, "\xff\x00,:", strings.Repeat("\xff", store.MaxKeyLen))
	ps := payloads("0123456789abcdef", keys)
	var got []string
	for _, p := range ps {
		if len(p) > maxPayload {
			t.Fatalf("payload of %d bytes, limit %d", len(p), maxPayload)
		}
		sender, ks, ok := parsePayload(p)
		if !ok || sender != "0123456789abcdef" {
			t.Fatalf("parsePayload(%.40q…) = %q, %v", p, sender, ok)
		}
		got = append(got, ks...)
	}
	if strings.Join(got, "|") != strings.Join(keys, "|") {
		t.Fatalf("keys out of the payloads differ from the keys in")
	}
	if len(ps) < 2 {
		t.Fatalf("%d payload(s) for %d keys: the test wants several", len(ps), len(keys))
	}
}

func TestPoolConfig(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want int32
	}{
		{"postgres://app@db.internal/app", DefaultMaxConns},
		{"postgres://app@db.internal/app?pool_max_conns=3", 3},
		{"host=db.internal user=app pool_max_conns=40", 40},
	} {
		cfg, err := PoolConfig(tc.conn)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxConns != tc.want {
			t.Errorf("PoolConfig(%q).MaxConns = %d, want %d", tc.conn, cfg.MaxConns, tc.want)
		}
	}
	if _, err := PoolConfig("postgres://app@db.internal/app?pool_max_conns=x"); err == nil {
		t.Error("PoolConfig accepted pool_max_conns=x")
	}
}
