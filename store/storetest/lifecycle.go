package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// testReopen checks durability: what Apply committed is there after the
// store is closed and opened again, and expiry follows the new clock.
func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("Harness.Reopen is nil: not a persistent store")
	}
	t.Run("Durable", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(
			store.Put("put", []byte("p"), time.Time{}),
			store.Insert("ins", []byte("i"), time.Time{}),
			store.Put("del", []byte("d"), time.Time{}),
			store.Put("delif", []byte("e"), time.Time{}),
			store.Put("swap", []byte("s0"), time.Time{}),
			store.Put("exp", []byte("x"), start.Add(time.Hour)),
		)
		e.apply(store.Delete("del"), store.DeleteIf("delif", []byte("e")), store.Swap("swap", []byte("s0"), []byte("s1"), time.Time{}))
		e.conflict("swap", store.OpSwap, store.Put("lost", []byte("l"), time.Time{}), store.Swap("swap", []byte("s0"), []byte("s2"), time.Time{}))

		e.reopen()
		e.want("put", "p")
		e.want("ins", "i")
		e.want("swap", "s1")
		e.want("exp", "x")
		e.absent("del")
		e.absent("delif")
		e.absent("lost")
		items := e.list("exp", 0)
		if len(items) != 1 || !items[0].ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("after Reopen, List(%q) = %v, want one record expiring at %v", "exp", items, start.Add(time.Hour))
		}
		// The reopened store is fully working.
		e.conflict("ins", store.OpInsert, store.Insert("ins", []byte("i2"), time.Time{}))
		e.apply(store.Swap("swap", []byte("s1"), []byte("s2"), time.Time{}))
		e.want("swap", "s2")
	})
	t.Run("ExpiryAcrossReopen", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(
			store.Put("soon", []byte("s"), start.Add(time.Minute)),
			store.Put("late", []byte("l"), start.Add(time.Hour)),
			store.Put("never", []byte("n"), time.Time{}),
		)
		e.clock.Advance(time.Minute)
		e.reopen()
		e.absent("soon")
		e.want("late", "l")
		e.want("never", "n")
		e.clock.Advance(time.Hour)
		e.reopen()
		e.absent("late")
		e.want("never", "n")
		if got := keys(e.list("", 0)); !equalStrings(got, []string{"never"}) {
			t.Fatalf("List after expiry and Reopen = %q, want [never]", got)
		}
	})
	t.Run("WatchAfterReopen", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("w", []byte("1"), time.Time{}))
		e.reopen()
		ch := e.watch("w")
		e.apply(store.Swap("w", []byte("1"), []byte("2"), time.Time{}))
		woken(t, ch, "w")
	})
}

func testClose(t *testing.T, h Harness) {
	t.Run("CallsAfterClose", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("v"), time.Time{}))
		if err := e.s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ctx := e.ctx()
		if _, err := e.s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Get after Close = %v, want store.ErrClosed", err)
		}
		if err := e.s.Apply(ctx, store.Put("k", []byte("v2"), time.Time{})); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Apply after Close = %v, want store.ErrClosed", err)
		}
		if _, err := e.s.List(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
			t.Errorf("List after Close = %v, want store.ErrClosed", err)
		}
		if _, err := e.s.Watch(ctx, "k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch after Close = %v, want store.ErrClosed", err)
		}
	})
	t.Run("CloseTwice", func(t *testing.T) {
		e := newEnv(t, h)
		if err := e.s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := e.s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Fatalf("second Close = %v, want nil or store.ErrClosed", err)
		}
	})
	t.Run("CloseWithWatchers", func(t *testing.T) {
		e := newEnv(t, h)
		e.watch("w")
		if err := e.s.Close(); err != nil {
			t.Fatalf("Close with a live watcher: %v", err)
		}
	})
}

// testContext checks that an ended context fails a call and that an
// Apply that failed so wrote nothing.
func testContext(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.apply(store.Put("k", []byte("v"), time.Time{}))
	ctx, cancel := context.WithCancel(e.ctx())
	cancel()
	if _, err := e.s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := e.s.List(ctx, "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context = %v, want context.Canceled", err)
	}
	if err := e.s.Apply(ctx, store.Put("new", []byte("v"), time.Time{}), store.Delete("k")); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context = %v, want context.Canceled", err)
	}
	e.absent("new")
	e.want("k", "v")

	dctx, dcancel := context.WithDeadline(e.ctx(), time.Now().Add(-time.Second))
	defer dcancel()
	if _, err := e.s.Get(dctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with an expired deadline = %v, want context.DeadlineExceeded", err)
	}
}
