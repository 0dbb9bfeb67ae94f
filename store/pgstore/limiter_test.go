package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// TestStoreLimiterAcrossStores: two processes' worth of stores (each its
// own pool) on one database, each with its own ratelimit.Store, checking one
// key concurrently: exactly the rule's limit is allowed in all, and the
// retry-after both report for the next event agrees.
func TestStoreLimiterAcrossStores(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var limiters [2]ratelimit.Limiter
	for i := range limiters {
		limiters[i] = ratelimit.NewStore(openInstanceStore(t, dsn, pgstore.Config{}))
	}
	now := time.Now()
	lim := ratelimit.Limit{Key: "send/all", Rules: []ratelimit.Rule{{Limit: 7, Window: time.Minute}}}
	ok := racetest.Burst(t, 40, func(i int) (bool, error) {
		allowed, _, err := limiters[i%2].Allow(ctx, now, lim)
		return allowed, err
	})
	if ok != 7 {
		t.Fatalf("%d of 40 concurrent Allows across two stores succeeded; want 7", ok)
	}
	for _, l := range limiters {
		if allowed, wait, err := l.Allow(ctx, now.Add(time.Second), lim); allowed || err != nil || wait != 59*time.Second {
			t.Fatalf("the eighth = %v, %v, %v; want refused for 59s", allowed, wait, err)
		}
	}
}
