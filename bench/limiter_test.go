package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

// BenchmarkPGLimiter is the shared send limit across instances under a
// burst: 4 instances (each a pgstore.Store with a pool of its own, and a
// ratelimit.Store on it) on one database, and in each iteration 400
// sends at once, 100 per instance, each an Allow of the global limit (300
// per minute, a new key per iteration) and of its own address's
// cooldown, as magiclink's sends are. Exactly 300 should be allowed.
// It reports per burst the sends allowed, the wrongful refusals (300
// minus those allowed: refusals and errors that should not have
// happened), the sends allowed beyond the limit, the compare-and-swap
// conflicts per send, and the 99th percentile of an Allow's latency.
func BenchmarkPGLimiter(b *testing.B) {
	const instances, perInstance, limit = 4, 100, 300
	dsn := pgDSN(b)
	var conflicts atomic.Int64
	var lims []ratelimit.Limiter
	for range instances {
		cfg, err := pgstore.PoolConfig(dsn)
		if err != nil {
			b.Fatal(err)
		}
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		lims = append(lims, ratelimit.NewStore(&conflictCounter{Store: pgStore(b, pool), n: &conflicts}))
	}
	ctx := context.Background()
	var allowed, errs, calls int64
	var lat []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	for iter := range b.N {
		global := ratelimit.Limit{Key: fmt.Sprintf("send/all/%d", iter), Rules: []ratelimit.Rule{{Limit: limit, Window: time.Minute}}}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, lim := range lims {
			for j := range perInstance {
				wg.Go(func() {
					addr := ratelimit.Limit{Key: fmt.Sprintf("send/addr/%d/%d/%d", iter, i, j), Rules: []ratelimit.Rule{{Limit: 1, Window: 30 * time.Second}}}
					<-start
					t0 := time.Now()
					ok, _, err := lim.Allow(ctx, time.Now(), addr, global)
					d := time.Since(t0)
					mu.Lock()
					defer mu.Unlock()
					lat = append(lat, d)
					calls++
					switch {
					case err != nil:
						errs++
					case ok:
						allowed++
					}
				})
			}
		}
		close(start)
		wg.Wait()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(allowed)/n, "allowed/burst")
	b.ReportMetric(max(0, float64(limit*b.N-int(allowed)))/n, "wrongful/burst")
	b.ReportMetric(max(0, float64(int(allowed)-limit*b.N))/n, "over/burst")
	b.ReportMetric(float64(errs)/n, "errors/burst")
	b.ReportMetric(float64(conflicts.Load())/float64(calls), "conflicts/send")
	reportMillis(b, lat, "allow")
}

// conflictCounter counts the Applies of a store that end in a conflict.
type conflictCounter struct {
	store.Store
	n *atomic.Int64
}

// Apply implements store.Store.
func (c *conflictCounter) Apply(ctx context.Context, ops ...store.Op) error {
	err := c.Store.Apply(ctx, ops...)
	if errors.Is(err, store.ErrConflict) {
		c.n.Add(1)
	}
	return err
}
