package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// pgBaseline holds BenchmarkPGBaseline's transactions per second by
// number of clients, for BenchmarkPGConsume to compare with.
var pgBaseline sync.Map // int → float64

// BenchmarkPGBaseline is PostgreSQL's own limit on this machine, which
// BenchmarkPGConsume is compared with: single-row UPSERT transactions
// (INSERT … ON CONFLICT DO UPDATE of one of 100,000 rows, autocommit, as
// pgbench's simple updates), by 1, 8 and 64 clients each on a connection
// of its own, against the server pgtest starts (fsync and
// synchronous_commit on). It reports transactions per second and the
// server's CPU time per transaction.
func BenchmarkPGBaseline(b *testing.B) {
	for _, clients := range []int{1, 8, 64} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			ctx := context.Background()
			pool := pgPool(b, int32(clients))
			if _, err := pool.Exec(ctx, `CREATE TABLE baseline (id int PRIMARY KEY, n bigint NOT NULL);
				INSERT INTO baseline SELECT i, 0 FROM generate_series(0, 99999) i`); err != nil {
				b.Fatal(err)
			}
			const upsert = `INSERT INTO baseline (id, n) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET n = baseline.n + 1`
			rate, cpu := parallel(b, clients, func(int) error {
				_, err := pool.Exec(ctx, upsert, rand.IntN(100000))
				return err
			})
			pgBaseline.Store(clients, rate)
			b.ReportMetric(rate, "tx/s")
			b.ReportMetric(cpu, "pg-cpu-µs/tx")
		})
	}
}

// BenchmarkPGConsume is pgstore consuming magic-link tokens as a
// confirmation does, Apply(DeleteIf(token), Put(session)), by 1, 8 and 64
// callers on one Store whose pool has a connection per caller (and two
// for the listener and the notifier). It reports consumes per second,
// their ratio to BenchmarkPGBaseline's transactions per second at as many
// clients in the same run (of-baseline), and the server's CPU time per
// consume.
func BenchmarkPGConsume(b *testing.B) {
	for _, callers := range []int{1, 8, 64} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			ctx := context.Background()
			pool := pgPool(b, int32(callers+2))
			s := pgStore(b, pool)
			if _, err := pool.Exec(ctx, `INSERT INTO magiclink.records
				SELECT convert_to('token/' || i, 'UTF8'), 'flow', NULL FROM generate_series(0, $1) i`, b.N); err != nil {
				b.Fatal(err)
			}
			rate, cpu := parallel(b, callers, func(i int) error {
				return s.Apply(ctx, store.DeleteIf(fmt.Sprintf("token/%d", i), []byte("flow")),
					store.Put(fmt.Sprintf("session/%d", i), []byte("session"), time.Time{}))
			})
			b.ReportMetric(rate, "consumes/s")
			b.ReportMetric(cpu, "pg-cpu-µs/op")
			if base, ok := pgBaseline.Load(callers); ok {
				b.ReportMetric(rate/base.(float64), "of-baseline")
			}
		})
	}
}

// parallel runs op(i) for every i from 0 to b.N-1 from n goroutines and
// returns the operations per second and the PostgreSQL server's CPU time
// per operation in µs.
func parallel(b *testing.B, n int, op func(i int) error) (rate, cpuMicros float64) {
	cpu0 := serverCPU()
	runN(b, n, func(_, i int) error { return op(i) })
	return float64(b.N) / b.Elapsed().Seconds(), float64(cpu0.since().Microseconds()) / float64(b.N)
}
