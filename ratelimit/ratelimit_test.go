package ratelimit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/racetest"
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
			ok := racetest.Burst(t, n, func(int) (bool, error) {
				allowed, _, err := rl.Allow(ctx, clock.Now(), Limit{Key: "hot", Rules: []Rule{{Limit: limit, Window: time.Minute}}})
				return allowed, err
			})
			if ok != limit {
				t.Fatalf("%d of %d concurrent Allows succeeded; want %d", ok, n, limit)
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

// TestStoreShards: a limit allowing many events is counted in several
// records, and behaves exactly as one: of concurrent Allows from several
// Stores on one store (instances sharing a database), exactly Limit
// succeed; once the limit is used, the wait is until its oldest event
// leaves the window, and then one more event is allowed, not more.
func TestStoreShards(t *testing.T) {
	ctx := context.Background()
	if n := shards([]Rule{{Limit: 300, Window: time.Minute}}); n < 2 {
		t.Fatalf("a limit of 300 is counted in %d record(s); the test wants several", n)
	}
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "rl.db"), boltstore.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	for name, st := range map[string]store.Store{"memstore": memstore.New(memstore.Config{Now: clock.Now}), "boltstore": bs} {
		t.Run(name, func(t *testing.T) {
			const limit, calls = 300, 400
			all := Limit{Key: "send/all", Rules: []Rule{{Limit: limit, Window: time.Minute}}}
			instances := []*Store{NewStore(st), NewStore(st), NewStore(st), NewStore(st)}
			t0 := clock.Now()
			ok := racetest.Burst(t, calls, func(i int) (bool, error) {
				allowed, wait, err := instances[i%len(instances)].Allow(ctx, t0, all)
				if err == nil && !allowed && wait != time.Minute {
					t.Errorf("refused with a wait of %v; want %v", wait, time.Minute)
				}
				return allowed, err
			})
			if ok != limit {
				t.Fatalf("%d of %d concurrent Allows succeeded; want %d", ok, calls, limit)
			}
			items, err := st.List(ctx, keyRateLimit, 0)
			if err != nil || len(items) < 2 {
				t.Fatalf("%d records, %v; want the limit counted in several", len(items), err)
			}

			// A minute later, the events leave one at a time: at
			// t1+i·100ms, with the limit used again since t1.
			t1 := t0.Add(time.Minute)
			for i := range limit {
				if allowed, _, err := instances[i%4].Allow(ctx, t1.Add(time.Duration(i)*100*time.Millisecond), all); !allowed || err != nil {
					t.Fatalf("event %d after the window: %v, %v", i, allowed, err)
				}
			}
			at := t1.Add(31 * time.Second)
			if allowed, wait, err := instances[0].Allow(ctx, at, all); allowed || err != nil || wait != 29*time.Second {
				t.Fatalf("full at +31s: %v, %v, %v; want a wait of 29s", allowed, wait, err)
			}
			at = t1.Add(time.Minute + time.Millisecond)
			if allowed, _, err := instances[1].Allow(ctx, at, all); !allowed || err != nil {
				t.Fatalf("once the oldest event left: %v, %v", allowed, err)
			}
			if allowed, wait, err := instances[2].Allow(ctx, at, all); allowed || err != nil || wait != 99*time.Millisecond {
				t.Fatalf("a second event then: %v, %v, %v; want a wait of 99ms", allowed, wait, err)
			}
		})
	}
}
