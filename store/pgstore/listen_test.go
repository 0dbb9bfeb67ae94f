package pgstore

import (
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func TestWatch(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	a := newStore(t, pool, nil)
	// b is another instance: its own pool and listening connection.
	b := openStore(t, newPoolOn(t, pool), Config{Schema: a.channel, SweepInterval: -1})
	put := func(s *Store, key string) {
		t.Helper()
		if err := s.Apply(ctx, store.Put(key, []byte("v"), time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	watch := func(s *Store, key string) <-chan struct{} {
		t.Helper()
		ch, err := s.Watch(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}

	k, other := watch(a, "k"), watch(a, "other")
	put(b, "k")
	woken(t, k, "watcher of k on a, after b wrote k")
	put(a, "k")
	woken(t, k, "watcher of k on a, after a wrote k")

	// Failed and check-only Applies notify nothing. Notifications arrive
	// in commit order, so once the marker's arrives, any of theirs would
	// have.
	if err := b.Apply(ctx, store.DeleteIf("k", []byte("wrong")), store.Put("other", nil, time.Time{})); err == nil {
		t.Fatal("DeleteIf with the wrong value succeeded")
	}
	if err := b.Apply(ctx, store.Check("k", []byte("v"))); err != nil {
		t.Fatal(err)
	}
	marker := watch(a, "marker")
	put(b, "marker")
	woken(t, marker, "watcher of marker")
	// Nor does a's own write of k echo back to it.
	notWoken(t, k, "watcher of k after a check")
	notWoken(t, other, "watcher of other, whose write was rolled back")

	// Every kind of write wakes the watchers, on both instances.
	for _, op := range []store.Op{
		store.Swap("k", []byte("v"), []byte("w"), time.Time{}),
		store.DeleteIf("k", []byte("w")),
		store.Insert("k", []byte("v"), time.Time{}),
		store.Delete("k"),
	} {
		ka, kb := watch(a, "k"), watch(b, "k")
		if err := b.Apply(ctx, op); err != nil {
			t.Fatal(err)
		}
		woken(t, ka, "watcher on a after "+op.Kind.String())
		woken(t, kb, "watcher on b after "+op.Kind.String())
	}

	// The longest keys, of any bytes, are notified whole.
	long := strings.Repeat("\xff", store.MaxKeyLen-1) + "\x00"
	lk := watch(a, long)
	put(b, long)
	woken(t, lk, "watcher of a long binary key")
}

// TestListenerReconnect kills the listening connection of one instance
// and shows that a change made while it is down still wakes its watchers
// (every watcher is woken once it listens again), and that later changes
// arrive through the new connection.
func TestListenerReconnect(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	schema := newSchema(t, pool)
	disconnected, reconnected := make(chan struct{}), make(chan struct{})
	proceed, done := make(chan struct{}), make(chan struct{})
	a := openStore(t, pool, Config{Schema: schema, SweepInterval: -1, hooks: &hooks{
		disconnected: func() {
			disconnected <- struct{}{}
			select { // hold the reconnection until the test has written
			case <-proceed:
			case <-done:
			}
		},
		reconnected: func() {
			select {
			case reconnected <- struct{}{}:
			case <-done:
			}
		},
	}})
	t.Cleanup(func() { close(done) }) // runs before a.Close
	b := openStore(t, newPoolOn(t, pool), Config{Schema: schema, SweepInterval: -1})

	w, err := a.Watch(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	pid := a.listen.pid.Load()
	var killed bool
	if err := pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	await(t, disconnected, "the listener noticing its connection died")

	// Written while a listens to nothing: its notification is lost.
	if err := b.Apply(ctx, store.Put("k", []byte("1"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	notWoken(t, w, "watcher while a is disconnected")
	close(proceed)
	await(t, reconnected, "the listener reconnecting")
	woken(t, w, "watcher after reconnection (wake-all)")
	if p := a.listen.pid.Load(); p == pid || p == 0 {
		t.Fatalf("listener pid %d after reconnection; was %d", p, pid)
	}

	// A later change arrives through the new connection.
	if err := b.Apply(ctx, store.Put("k", []byte("2"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "watcher after a change following reconnection")
}

// TestListenerIdlePing: after idle timeouts and pings the connection still
// delivers notifications, without reconnecting.
func TestListenerIdlePing(t *testing.T) {
	ctx := ctxT(t)
	pool := newPool(t)
	schema := newSchema(t, pool)
	pinged := make(chan struct{}, 1)
	a := openStore(t, pool, Config{Schema: schema, SweepInterval: -1, hooks: &hooks{
		idleCheck: 20 * time.Millisecond,
		pinged: func() {
			select { // never holds up the listener
			case pinged <- struct{}{}:
			default:
			}
		},
		disconnected: func() { t.Error("the listener reconnected") },
	}})
	b := openStore(t, pool, Config{Schema: schema, SweepInterval: -1})
	w, err := a.Watch(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		await(t, pinged, "a ping")
	}
	if err := b.Apply(ctx, store.Put("k", nil, time.Time{})); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "watcher after pings")
}

// await waits for a send on ch, failing tb after a generous deadline.
func await(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	woken(tb, ch, what)
}
