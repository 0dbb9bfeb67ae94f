package bench

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
)

// BenchmarkSweep measures what removing many expired records does to the
// latency of Applies running meanwhile. The store is filled with 10k
// expired records (1M with MAGICLINK_BENCH_GROWTH=1M; the shapes and sizes
// of an abandoned sign-in's records, bulk-loaded as in BenchmarkGrowth);
// then 4 callers run Applies of one Put each, first for 2 seconds with
// nothing else going on (idle), then while the store deletes the expired
// records (sweep: pgstore's Sweep; boltstore's background sweeper,
// started by reopening the file with a short interval, whose end its log
// reports). It reports the Applies' 99th percentile in each phase, their
// ratio (target: at most 3), and the records swept per second.
func BenchmarkSweep(b *testing.B) {
	n := 10_000
	if sizes := growthSizes(b); sizes[len(sizes)-1] == 1_000_000 {
		n = 1_000_000
	}
	var expired []store.Item
	for _, it := range growthTemplate(b) {
		if !it.ExpiresAt.IsZero() && it.ExpiresAt.Before(time.Now()) {
			expired = append(expired, it)
		}
	}
	for _, kind := range []string{"bolt", "pg"} {
		b.Run(kind+"/expired="+sizeLabel(n), func(b *testing.B) {
			ctx := context.Background()
			// idle is the store to measure idle Applies on; sweeping
			// returns the store that sweeps and a function that waits for
			// the sweep's end.
			var idle store.Store
			var sweeping func() (store.Store, func())
			switch kind {
			case "bolt":
				path := filepath.Join(b.TempDir(), "magiclink.db")
				bs, err := boltstore.Open(path, boltstore.Config{SweepInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				fill(b, expired, n/len(expired), func(batch []store.Op) error { return bs.Apply(ctx, batch...) })
				idle = bs
				sweeping = func() (store.Store, func()) {
					// bbolt locks its file: the sweeping store is the same
					// file reopened with a short interval.
					bs.Close()
					swept := make(chan struct{}, 1)
					nb, err := boltstore.Open(path, boltstore.Config{SweepInterval: 10 * time.Millisecond, Logger: slog.New(&sweepSignal{ch: swept})})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { nb.Close() })
					return nb, func() { <-swept }
				}
			default:
				pool := pgPool(b, 0)
				fill(b, expired, n/len(expired), func(batch []store.Op) error { return copyRecords(ctx, pool, batch) })
				ps := pgStore(b, pool)
				idle = ps
				sweeping = func() (store.Store, func()) {
					return ps, func() {
						if _, err := ps.Sweep(ctx); err != nil {
							b.Error(err)
						}
					}
				}
			}
			b.ResetTimer()
			calm := applyDuring(b, idle, func() { time.Sleep(2 * time.Second) })
			st, sweep := sweeping()
			start := time.Now()
			during := applyDuring(b, st, sweep)
			took := time.Since(start)
			b.StopTimer()
			reportMillis(b, calm, "idle")
			reportMillis(b, during, "sweep")
			b.ReportMetric(p99(during)/p99(calm), "p99-ratio")
			b.ReportMetric(float64(n)/took.Seconds(), "swept/s")
		})
	}
}

// applyDuring runs Applies of one Put from 4 callers while f runs, and
// returns their latencies.
func applyDuring(b *testing.B, st store.Store, f func()) []time.Duration {
	var stop atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				t0 := time.Now()
				if err := st.Apply(context.Background(), store.Put("bench/"+strconv.Itoa(c)+"/"+strconv.Itoa(i%100), []byte("v"), time.Time{})); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	f()
	stop.Store(true)
	wg.Wait()
	return lat
}

func p99(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*99/100)])
}

// sweepSignal is a slog.Handler that signals each "swept" record of
// boltstore's sweeper.
type sweepSignal struct{ ch chan struct{} }

func (h *sweepSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *sweepSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "boltstore: swept expired records" {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *sweepSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *sweepSignal) WithGroup(string) slog.Handler      { return h }
