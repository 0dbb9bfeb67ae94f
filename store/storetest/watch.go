package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func testWatch(t *testing.T, h Harness) {
	v1, v2 := []byte("v1"), []byte("v2")
	present := []store.Op{store.Put("w", v1, time.Time{})}
	wakes := []struct {
		name  string
		setup []store.Op
		op    store.Op
	}{
		{"Put", nil, store.Put("w", v1, time.Time{})},
		{"PutSameValue", present, store.Put("w", v1, time.Time{})},
		{"Insert", nil, store.Insert("w", v1, time.Time{})},
		{"Swap", present, store.Swap("w", v1, v2, time.Time{})},
		{"Delete", present, store.Delete("w")},
		{"DeleteIf", present, store.DeleteIf("w", v1)},
	}
	for _, tt := range wakes {
		t.Run("WokenBy"+tt.name, func(t *testing.T) {
			e := newEnv(t, h)
			if len(tt.setup) > 0 {
				e.apply(tt.setup...)
			}
			ch := e.watch("w")
			e.apply(tt.op)
			woken(t, ch, "w")
		})
	}
	t.Run("WokenByMultiKeyApply", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("b", v1, time.Time{}))
		a, b, c := e.watch("a"), e.watch("b"), e.watch("c")
		e.apply(store.Insert("a", v1, time.Time{}), store.DeleteIf("b", v1), store.Put("c", v2, time.Time{}))
		woken(t, a, "a")
		woken(t, b, "b")
		woken(t, c, "c")
	})
	t.Run("EveryWatcherWoken", func(t *testing.T) {
		e := newEnv(t, h)
		chs := []<-chan struct{}{e.watch("w"), e.watch("w"), e.watch("w")}
		e.apply(store.Put("w", v1, time.Time{}))
		for _, ch := range chs {
			woken(t, ch, "w")
		}
	})
	t.Run("WokenAgain", func(t *testing.T) {
		e := newEnv(t, h)
		ch := e.watch("w")
		for i := range 3 {
			e.apply(store.Put("w", []byte{byte(i)}, time.Time{}))
			woken(t, ch, "w")
			e.want("w", string([]byte{byte(i)}))
		}
	})
	// The documented pattern: subscribe, read, wait, read again.
	t.Run("SubscribeReadWait", func(t *testing.T) {
		e := newEnv(t, h)
		ch := e.watch("w")
		e.absent("w")
		errc := make(chan error, 1)
		go func() { errc <- e.s.Apply(context.Background(), store.Put("w", v1, time.Time{})) }()
		woken(t, ch, "w")
		if err := <-errc; err != nil {
			t.Fatalf("Apply: %v", err)
		}
		e.want("w", "v1")
	})

	// The "quiet" tests commit a write to a second watched key, "barrier",
	// after the action under test and wait for its wake-up: a store that
	// delivers notifications in commit order has by then delivered any
	// wrong wake-up of "w".
	barrier := func(e *env) {
		e.t.Helper()
		ch := e.watch("barrier")
		e.apply(store.Put("barrier", v1, time.Time{}))
		woken(e.t, ch, "barrier")
	}
	t.Run("QuietOnFailedApply", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("taken", v1, time.Time{}))
		ch := e.watch("w")
		e.conflict("taken", store.OpInsert, store.Put("w", v1, time.Time{}), store.Insert("taken", v2, time.Time{}))
		barrier(e)
		quiet(t, ch, "w")
	})
	t.Run("QuietOnInvalidApply", func(t *testing.T) {
		e := newEnv(t, h)
		ch := e.watch("w")
		if err := e.s.Apply(e.ctx(), store.Put("w", v1, time.Time{}), store.Put("", v1, time.Time{})); err == nil {
			t.Fatal("Apply with an empty key succeeded")
		}
		barrier(e)
		quiet(t, ch, "w")
	})
	t.Run("QuietOnCheck", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("w", v1, time.Time{}))
		ch := e.watch("w")
		e.apply(store.Check("w", v1), store.Put("other", v1, time.Time{}))
		barrier(e)
		quiet(t, ch, "w")
	})
	t.Run("QuietOnOtherKeys", func(t *testing.T) {
		e := newEnv(t, h)
		ch := e.watch("w")
		e.apply(store.Put("w2", v1, time.Time{}))
		e.apply(store.Put("w/x", v1, time.Time{}), store.Put("W", v1, time.Time{}))
		e.apply(store.Put("ww", v1, time.Time{}))
		barrier(e)
		quiet(t, ch, "w")
	})
	// A watcher that never reads must not hold up writers: wake-ups
	// coalesce.
	t.Run("NeverBlocksWriters", func(t *testing.T) {
		e := newEnv(t, h)
		ch := e.watch("w")
		errc := make(chan error, 1)
		go func() {
			for i := range 100 {
				if err := e.s.Apply(context.Background(), store.Put("w", []byte{byte(i)}, time.Time{})); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		timer := time.NewTimer(waitTimeout)
		defer timer.Stop()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
		case <-timer.C:
			t.Fatalf("100 writes to a key whose watcher does not read did not finish within %v", waitTimeout)
		}
		woken(t, ch, "w")
	})
	// A watch whose context ended costs writers nothing and wakes no one
	// who is still watching by mistake. (That the subscription is freed
	// is for each store's own tests: the interface cannot show it.)
	t.Run("CancelledWatch", func(t *testing.T) {
		e := newEnv(t, h)
		ctx, cancel := context.WithCancel(e.ctx())
		if _, err := e.s.Watch(ctx, "w"); err != nil {
			t.Fatalf("Watch: %v", err)
		}
		cancel()
		live := e.watch("w")
		e.apply(store.Put("w", v1, time.Time{}))
		woken(t, live, "w")
	})
}
