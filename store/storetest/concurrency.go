package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/store"
)

func testConcurrency(t *testing.T, h Harness) {
	// Single use: every caller reads the token record, then all race to
	// consume it together with a write of their own. Exactly one wins and
	// only the winner's write lands.
	t.Run("SingleUse", func(t *testing.T) {
		const n = 64
		e := newEnv(t, h)
		e.apply(store.Put("token", []byte("flow-1"), start.Add(10*time.Minute)))
		errs := racetest.Run(n, func(i int, start func()) error {
			v, err := e.s.Get(context.Background(), "token")
			if err != nil {
				return fmt.Errorf("store.Get: %w", err)
			}
			start()
			return e.s.Apply(context.Background(),
				store.DeleteIf("token", v),
				store.Insert(fmt.Sprintf("session/%02d", i), []byte("s"), time.Time{}))
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				checkConflict(t, err, "token", store.OpDeleteIf)
			default:
				t.Errorf("caller %d: %v, want nil or store.ErrConflict", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d concurrent consumers succeeded, want exactly 1", wins, n)
		}
		e.absent("token")
		if sessions := e.list("session/", 0); len(sessions) != 1 {
			t.Fatalf("%d sessions written, want 1: %q", len(sessions), keys(sessions))
		}
	})
	t.Run("InsertRace", func(t *testing.T) {
		const n = 64
		e := newEnv(t, h)
		errs := racetest.Run(n, func(i int, start func()) error {
			start()
			return e.s.Apply(context.Background(), store.Insert("k", []byte(strconv.Itoa(i)), time.Time{}))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both inserted the same key", winner, i)
				}
				winner = i
			case errors.Is(err, store.ErrConflict):
				checkConflict(t, err, "k", store.OpInsert)
			default:
				t.Errorf("caller %d: %v, want nil or store.ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("none of %d concurrent inserts succeeded", n)
		}
		e.want("k", strconv.Itoa(winner))
	})
	// Optimistic concurrency: each caller reads the counter and swaps in
	// the next value, retrying on conflict. No increment is lost.
	t.Run("Counter", func(t *testing.T) {
		const n = 32
		e := newEnv(t, h)
		e.apply(store.Insert("counter", []byte("0"), time.Time{}))
		errs := racetest.Run(n, func(_ int, start func()) error {
			start()
			return increment(e.s, "counter")
		})
		noErrors(t, errs)
		e.want("counter", strconv.Itoa(n))
	})
	// Concurrent Applies on different keys do not conflict with each
	// other, and all of them land.
	t.Run("DisjointWriters", func(t *testing.T) {
		const n = 32
		e := newEnv(t, h)
		errs := racetest.Run(n, func(i int, start func()) error {
			start()
			k := fmt.Sprintf("d/%02d", i)
			return e.s.Apply(context.Background(), store.Insert(k, []byte(k), time.Time{}), store.Check("d/none", nil))
		})
		noErrors(t, errs)
		if items := e.list("d/", 0); len(items) != n {
			t.Fatalf("%d records after %d disjoint inserts", len(items), n)
		}
	})
	// Readers running alongside writers always see a whole value.
	t.Run("ReadersAndWriters", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("aaaa"), time.Time{}))
		var (
			done sync.WaitGroup
			stop = make(chan struct{})
			errs = make(chan error, 4)
		)
		for range 4 {
			done.Add(1)
			go func() {
				defer done.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, err := e.s.Get(context.Background(), "k")
					if err != nil {
						errs <- err
						return
					}
					if s := string(v); s != "aaaa" && s != "bbbb" {
						errs <- fmt.Errorf("a Get returned %q, a value never written", s)
						return
					}
				}
			}()
		}
		for i := range 50 {
			v := []byte("aaaa")
			if i%2 == 0 {
				v = []byte("bbbb")
			}
			e.apply(store.Put("k", v, time.Time{}))
		}
		close(stop)
		done.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// increment adds one to the decimal counter at key with a Get and Swap
// retry loop.
func increment(s store.Store, key string) error {
	ctx := context.Background()
	for range 10000 {
		v, err := s.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("store.Get: %w", err)
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("counter holds %q", v)
		}
		err = s.Apply(ctx, store.Swap(key, v, []byte(strconv.Itoa(n+1)), time.Time{}))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("store.Swap: %w", err)
		}
	}
	return errors.New("no progress after 10000 attempts")
}

// noErrors fails t for each caller whose error is not nil.
func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
}
