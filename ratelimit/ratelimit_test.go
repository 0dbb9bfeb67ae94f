package ratelimit

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// limiters returns every Limiter implementation, fresh, on clock.
func limiters(t *testing.T, clock *storetest.Clock) map[string]Limiter {
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "rl.db"), boltstore.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return map[string]Limiter{
		"memory":          NewMemory(),
		"store/memstore":  NewStore(memstore.New(memstore.Config{Now: clock.Now})),
		"store/boltstore": NewStore(bs),
	}
}

func TestRules(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	for name, rl := range limiters(t, clock) {
		t.Run(name, func(t *testing.T) {
			addr := Limit{Key: "addr:" + name, Rules: []Rule{{Limit: 1, Window: 30 * time.Second}, {Limit: 5, Window: time.Hour}}}
			start := clock.Now()
			allow := func(want bool, wantWait time.Duration, limits ...Limit) {
				t.Helper()
				ok, wait, err := rl.Allow(ctx, clock.Now(), limits...)
				if err != nil || ok != want || wait != wantWait {
					t.Fatalf("at +%v: Allow = %v, %v, %v; want %v, %v", clock.Now().Sub(start), ok, wait, err, want, wantWait)
				}
			}
			allow(true, 0, addr)
			clock.Advance(10 * time.Second)
			allow(false, 20*time.Second, addr)
			for range 4 {
				clock.Advance(20 * time.Second)
				allow(true, 0, addr)
				clock.Advance(10 * time.Second)
			}
			// Five sends in the last 2 minutes: the first leaves the hour
			// at start+1h.
			clock.Advance(30 * time.Second)
			allow(false, time.Hour-clock.Now().Sub(start), addr)
			clock.Set(start.Add(time.Hour))
			allow(true, 0, addr)

			// Several keys: all or nothing.
			ip := Limit{Key: "ip:" + name, Rules: []Rule{{Limit: 2, Window: time.Minute}}}
			other := Limit{Key: "other:" + name, Rules: []Rule{{Limit: 1, Window: time.Minute}}}
			clock.Advance(time.Second)
			allow(true, 0, ip)
			allow(false, 29*time.Second, addr, ip, other) // addr refuses
			allow(true, 0, ip, other)                     // so ip counted once before
			allow(false, time.Minute, ip)
			// The same key twice merges its rules.
			allow(false, time.Minute, other, Limit{Key: "other:" + name, Rules: []Rule{{Limit: 5, Window: time.Hour}}})

			if _, _, err := rl.Allow(ctx, clock.Now(), Limit{Key: "bad", Rules: []Rule{{Limit: 0, Window: time.Second}}}); err == nil {
				t.Fatal("a rule with Limit 0 was accepted")
			}
		})
	}
}

// TestConcurrent: of many concurrent Allows on one key, exactly
// Limit succeed, for every implementation.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	for name, rl := range limiters(t, clock) {
		t.Run(name, func(t *testing.T) {
			const n, limit = 40, 7
			var ok atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					allowed, _, err := rl.Allow(ctx, clock.Now(), Limit{Key: "hot", Rules: []Rule{{Limit: limit, Window: time.Minute}}})
					if err != nil {
						t.Error(err)
					}
					if allowed {
						ok.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if ok.Load() != limit {
				t.Fatalf("%d of %d concurrent Allows succeeded; want %d", ok.Load(), n, limit)
			}
		})
	}
}

// TestStoreCorruptRecord: a record that does not decode is counted
// afresh and replaced, not a reason to refuse every send.
func TestStoreCorruptRecord(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	st := memstore.New(memstore.Config{Now: clock.Now})
	rl := NewStore(st)
	lim := Limit{Key: "k", Rules: []Rule{{Limit: 1, Window: time.Minute}}}
	if ok, _, err := rl.Allow(t.Context(), clock.Now(), lim); !ok || err != nil {
		t.Fatal(ok, err)
	}
	items, _ := st.List(t.Context(), "rl/", 0)
	if len(items) != 1 {
		t.Fatalf("%d records", len(items))
	}
	if err := st.Apply(t.Context(), store.Put(items[0].Key, []byte("{not json"), items[0].ExpiresAt)); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := rl.Allow(t.Context(), clock.Now(), lim); !ok || err != nil {
		t.Fatalf("after corruption: %v, %v", ok, err)
	}
	if ok, _, _ := rl.Allow(t.Context(), clock.Now(), lim); ok {
		t.Fatal("the replaced record does not count")
	}
}
