package magiclink_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// limiters returns every RateLimiter implementation, fresh, on clock.
func limiters(t *testing.T, clock *storetest.Clock) map[string]magiclink.RateLimiter {
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "rl.db"), boltstore.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return map[string]magiclink.RateLimiter{
		"memory":          magiclink.NewMemoryLimiter(),
		"store/memstore":  magiclink.NewStoreLimiter(memstore.New(memstore.Config{Now: clock.Now})),
		"store/boltstore": magiclink.NewStoreLimiter(bs),
	}
}

func TestRateLimiterRules(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	for name, rl := range limiters(t, clock) {
		t.Run(name, func(t *testing.T) {
			addr := magiclink.Limit{Key: "addr:" + name, Rules: []magiclink.Rule{{Limit: 1, Window: 30 * time.Second}, {Limit: 5, Window: time.Hour}}}
			start := clock.Now()
			allow := func(want bool, wantWait time.Duration, limits ...magiclink.Limit) {
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
			ip := magiclink.Limit{Key: "ip:" + name, Rules: []magiclink.Rule{{Limit: 2, Window: time.Minute}}}
			other := magiclink.Limit{Key: "other:" + name, Rules: []magiclink.Rule{{Limit: 1, Window: time.Minute}}}
			clock.Advance(time.Second)
			allow(true, 0, ip)
			allow(false, 29*time.Second, addr, ip, other) // addr refuses
			allow(true, 0, ip, other)                     // so ip counted once before
			allow(false, time.Minute, ip)
			// The same key twice merges its rules.
			allow(false, time.Minute, other, magiclink.Limit{Key: "other:" + name, Rules: []magiclink.Rule{{Limit: 5, Window: time.Hour}}})

			if _, _, err := rl.Allow(ctx, clock.Now(), magiclink.Limit{Key: "bad", Rules: []magiclink.Rule{{Limit: 0, Window: time.Second}}}); err == nil {
				t.Fatal("a rule with Limit 0 was accepted")
			}
		})
	}
}

// TestRateLimiterConcurrent: of many concurrent Allows on one key, exactly
// Limit succeed, for every implementation.
func TestRateLimiterConcurrent(t *testing.T) {
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
					allowed, _, err := rl.Allow(ctx, clock.Now(), magiclink.Limit{Key: "hot", Rules: []magiclink.Rule{{Limit: limit, Window: time.Minute}}})
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

// TestStoreLimiterSharedByInstances: two Auths on one store, each with its
// own StoreLimiter, share the per-address and per-IP counts; with
// in-memory limiters each would allow its own.
func TestStoreLimiterSharedByInstances(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	st := memstore.New(memstore.Config{Now: clock.Now})
	instance := func(shared bool) *magiclink.Auth {
		lim := magiclink.Limits{}
		if shared {
			lim.Limiter = magiclink.NewStoreLimiter(st)
		}
		a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: st, Mailer: mailtest.New(), Now: clock.Now, Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	ctx := magiclink.WithClientIP(context.Background(), netip.MustParseAddr("203.0.113.9"))
	send := func(a *magiclink.Auth, addr string) error {
		c, _, err := a.Clients.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		si, err := a.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: addr})
		if err != nil {
			return err
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		return err
	}
	for _, shared := range []bool{true, false} {
		one, two := instance(shared), instance(shared)
		addr := map[bool]string{true: "shared@example.com", false: "separate@example.com"}[shared]
		if err := send(one, addr); err != nil {
			t.Fatal(err)
		}
		err := send(two, addr)
		if shared && !errors.Is(err, magiclink.ErrRateLimited) {
			t.Fatalf("second instance, shared limiter: %v; want too_many_requests", err)
		}
		if !shared && err != nil {
			t.Fatalf("second instance, own limiter: %v", err)
		}
		clock.Advance(10 * time.Second) // past the creation window
	}
	// Per-IP creations are shared too: five per 10 s across both.
	one, two := instance(true), instance(true)
	c, _, _ := one.Clients.Create(ctx)
	for i := range 5 {
		a := []*magiclink.Auth{one, two}[i%2]
		if _, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "x@example.com"}); err != nil {
			t.Fatalf("creation %d: %v", i+1, err)
		}
	}
	if _, err := two.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "x@example.com"}); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("sixth creation in 10 s across instances: %v", err)
	}
	// The records are hashed: no address or IP in the store's keys.
	items, _ := st.List(context.Background(), "rl/", 0)
	if len(items) == 0 {
		t.Fatal("the store limiter stored nothing")
	}
	for _, it := range items {
		if len(it.Key) != len("rl/")+64 || it.ExpiresAt.IsZero() {
			t.Fatalf("limiter record %q expires %v", it.Key, it.ExpiresAt)
		}
	}
}

// TestStoreLimiterCorruptRecord: a record that does not decode is counted
// afresh and replaced, not a reason to refuse every send.
func TestStoreLimiterCorruptRecord(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	st := memstore.New(memstore.Config{Now: clock.Now})
	rl := magiclink.NewStoreLimiter(st)
	lim := magiclink.Limit{Key: "k", Rules: []magiclink.Rule{{Limit: 1, Window: time.Minute}}}
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
