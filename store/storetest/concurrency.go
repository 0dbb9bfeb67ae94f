package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

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
		var (
			read  sync.WaitGroup
			done  sync.WaitGroup
			begin = make(chan struct{})
			errs  = make([]error, n)
		)
		read.Add(n)
		done.Add(n)
		for i := range n {
			go func() {
				defer done.Done()
				v, err := e.s.Get(context.Background(), "token")
				read.Done()
				if err != nil {
					errs[i] = fmt.Errorf("Get: %w", err)
					return
				}
				<-begin
				errs[i] = e.s.Apply(context.Background(),
					store.DeleteIf("token", v),
					store.Insert(fmt.Sprintf("session/%02d", i), []byte("s"), time.Time{}))
			}()
		}
		read.Wait()
		close(begin)
		done.Wait()
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
		var (
			done  sync.WaitGroup
			begin = make(chan struct{})
			errs  = make([]error, n)
		)
		done.Add(n)
		for i := range n {
			go func() {
				defer done.Done()
				<-begin
				errs[i] = e.s.Apply(context.Background(), store.Insert("k", []byte(strconv.Itoa(i)), time.Time{}))
			}()
		}
		close(begin)
		done.Wait()
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
		var (
			done  sync.WaitGroup
			begin = make(chan struct{})
			errs  = make([]error, n)
		)
		done.Add(n)
		for i := range n {
			go func() {
				defer done.Done()
				<-begin
				errs[i] = increment(e.s, "counter")
			}()
		}
		close(begin)
		done.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
		e.want("counter", strconv.Itoa(n))
	})
	// Concurrent Applies on different keys do not conflict with each
	// other, and all of them land.
	t.Run("DisjointWriters", func(t *testing.T) {
		const n = 32
		e := newEnv(t, h)
		var (
			done  sync.WaitGroup
			begin = make(chan struct{})
			errs  = make([]error, n)
		)
		done.Add(n)
		for i := range n {
			go func() {
				defer done.Done()
				<-begin
				k := fmt.Sprintf("d/%02d", i)
				errs[i] = e.s.Apply(context.Background(), store.Insert(k, []byte(k), time.Time{}), store.Check("d/none", nil))
			}()
		}
		close(begin)
		done.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		}
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
						errs <- fmt.Errorf("Get returned %q, a value never written", s)
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
			return fmt.Errorf("Get: %w", err)
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
			return fmt.Errorf("Swap: %w", err)
		}
	}
	return errors.New("no progress after 10000 attempts")
}
