package pgstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkApply measures consuming magic-link tokens: an Apply of
// DeleteIf(token) and Put(session), as confirming a link does, by 1, 8 and
// 64 concurrent callers on one Store (a pool of 16 connections), against
// a server that fsyncs every commit.
func BenchmarkApply(b *testing.B) {
	pool := newPool(b)
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("consume/callers=%d", callers), func(b *testing.B) {
			ctx := ctxT(b)
			s := newStore(b, pool, nil)
			if _, err := pool.Exec(ctx, "INSERT INTO "+s.channel+".records SELECT convert_to('token/' || i, 'UTF8'), 'flow', NULL FROM generate_series(0, $1) i", b.N); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						err := s.Apply(ctx, store.DeleteIf(fmt.Sprintf("token/%d", i), []byte("flow")),
							store.Put(fmt.Sprintf("session/%d", i), []byte("session"), time.Time{}))
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkWake measures a change crossing instances: a watcher on one
// Store, an Apply (Put) on a second Store with a pool of its own; ns/op is
// from the start of the Apply to the watcher's wake-up. apply-ns/op is the
// Apply alone, so the difference is the cost of the notification's trip.
func BenchmarkWake(b *testing.B) {
	ctx := ctxT(b)
	pool := newPool(b)
	watcher := newStore(b, pool, nil)
	writer := openStore(b, newPoolOn(b, pool), Config{Schema: watcher.channel, SweepInterval: -1})
	ch, err := watcher.Watch(ctx, "flow")
	if err != nil {
		b.Fatal(err)
	}
	var applying time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := writer.Apply(ctx, store.Put("flow", []byte{byte(i)}, time.Time{})); err != nil {
			b.Fatal(err)
		}
		applying += time.Since(start)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			b.Fatal("no wake-up within 10s")
		}
	}
	b.ReportMetric(float64(applying.Nanoseconds())/float64(b.N), "apply-ns/op")
}
