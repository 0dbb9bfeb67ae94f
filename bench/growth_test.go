package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// growthEnv sets the largest store BenchmarkGrowth fills: "10k" (the
// default, which CI runs), "100k" or "1M".
const growthEnv = "MAGICLINK_BENCH_GROWTH"

// growthSizes returns the numbers of users BenchmarkGrowth fills stores
// with.
func growthSizes(tb testing.TB) []int {
	all := []int{10_000, 100_000, 1_000_000}
	upTo := os.Getenv(growthEnv)
	if upTo == "" {
		upTo = "10k"
	}
	for i, n := range all {
		if sizeLabel(n) == upTo {
			return all[:i+1]
		}
	}
	tb.Fatalf("%s=%q: want 10k, 100k or 1M", growthEnv, upTo)
	return nil
}

func sizeLabel(n int) string {
	if n >= 1_000_000 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	return strconv.Itoa(n/1000) + "k"
}

// BenchmarkGrowth measures the session check and the flow against stores
// already holding 10k, 100k or 1M users (up to MAGICLINK_BENCH_GROWTH),
// on boltstore and on pgstore, to show how their cost grows with the
// data. Each store is filled once per size: every filler user has the
// records a real one leaves after signing in (user, address, identity,
// client, session with its token and user index records) and one expired
// sign-in with its link, copied from a real sign-in made through the API
// and stored under random keys of the same shapes (bulk-loaded: Applies of
// 1000 Puts on bbolt, COPY on PostgreSQL). It reports the store's size
// (bbolt file, or the PostgreSQL table with its indexes) per million
// users (with the session benchmark's figures). Then, against the filled
// store:
//
//   - session: RequireSession on a request with a session cookie, as
//     BenchmarkSessionCheck, spread over 1000 real sessions;
//   - flow: complete sign-ins through the Go API by 16 callers, as
//     BenchmarkFlow, with its CPU time per flow.
func BenchmarkGrowth(b *testing.B) {
	tmpl := growthTemplate(b)
	for _, kind := range []string{"bolt", "pg"} {
		b.Run(kind, func(b *testing.B) {
			for _, n := range growthSizes(b) {
				b.Run("users="+sizeLabel(n), func(b *testing.B) {
					st, size := growthStore(b, kind, tmpl, n)
					e := newEnvOn(b, st)
					perM := func() float64 { return float64(size()) / float64(n) * 1e6 / (1 << 20) }
					b.Run("session", func(b *testing.B) { growthSession(b, e, perM) })
					b.Run("flow", func(b *testing.B) { growthFlow(b, e) })
				})
			}
		})
	}
}

// growthStore returns a store of kind filled with n users' records, and a
// function returning its size in bytes.
func growthStore(b *testing.B, kind string, tmpl []store.Item, n int) (store.Store, func() int64) {
	ctx := context.Background()
	switch kind {
	case "bolt":
		dir, err := os.MkdirTemp("", "magiclink-growth-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "magiclink.db")
		bs, err := boltstore.Open(path, boltstore.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bs.Close() })
		fill(b, tmpl, n, func(batch []store.Op) error { return bs.Apply(ctx, batch...) })
		return bs, func() int64 {
			fi, err := os.Stat(path)
			if err != nil {
				return 0
			}
			return fi.Size()
		}
	default:
		pool := pgPool(b, 0)
		fill(b, tmpl, n, func(batch []store.Op) error { return copyRecords(ctx, pool, batch) })
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE magiclink.records"); err != nil {
			b.Fatal(err)
		}
		return pgStore(b, pool), func() int64 {
			var size int64
			if err := pool.QueryRow(ctx, "SELECT pg_total_relation_size('magiclink.records')").Scan(&size); err != nil {
				return 0
			}
			return size
		}
	}
}

// growthTemplate returns the records one user leaves after a sign-in, and
// after a second sign-in started and left to expire, made through the API
// on a memstore.
func growthTemplate(tb testing.TB) []store.Item {
	ms := memstore.New(memstore.Config{})
	e := newEnvOn(tb, ms)
	u := e.users(tb, 1)[0]
	e.signIn(tb, u)
	before, err := ms.List(context.Background(), "", 0)
	if err != nil {
		tb.Fatal(err)
	}
	e.prepare(tb, u)
	after, err := ms.List(context.Background(), "", 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []store.Item
	keep := map[string]bool{"addr": true, "client": true, "idn": true, "user": true, "sess": true, "stok": true, "usess": true}
	for _, it := range before {
		if p, _, _ := strings.Cut(it.Key, "/"); keep[p] {
			out = append(out, it)
		}
	}
	for _, it := range after {
		// The flow left to expire: its sign-in and its link.
		if p, _, _ := strings.Cut(it.Key, "/"); (p == "sia" || p == "link") && !slices.ContainsFunc(before, func(o store.Item) bool { return o.Key == it.Key }) {
			it.ExpiresAt = time.Now().Add(-time.Hour)
			out = append(out, it)
		}
	}
	if len(out) < 9 {
		tb.Fatalf("template of %d records: %v", len(out), out)
	}
	return out
}

// fill writes n copies of tmpl under random keys of the same shapes (the
// template key's prefix, then as many random hex digits as it had
// characters), in batches of 1000 written by put from 4 goroutines, keys
// in order within each batch.
func fill(b *testing.B, tmpl []store.Item, n int, put func([]store.Op) error) {
	const batch, workers = 1000, 4
	per := batch / len(tmpl) // copies a batch
	eachIndex(b, workers, (n+per-1)/per, func(k int) error {
		ops := make([]store.Op, 0, batch)
		for i := k * per; i < min(n, (k+1)*per); i++ {
			for _, it := range tmpl {
				ops = append(ops, store.Put(randomLike(it.Key), it.Value, it.ExpiresAt))
			}
		}
		slices.SortFunc(ops, func(x, y store.Op) int { return strings.Compare(x.Key, y.Key) })
		return put(ops)
	})
	if b.Failed() {
		b.FailNow()
	}
}

// randomLike returns a random key of key's shape: its prefix up to the
// first slash, then random hex digits as long as the rest.
func randomLike(key string) string {
	p, rest, _ := strings.Cut(key, "/")
	buf := make([]byte, (len(rest)+1)/2)
	rand.Read(buf)
	return p + "/" + hex.EncodeToString(buf)[:len(rest)]
}

// growthSession is BenchmarkSessionCheck's magiclink case on e's store,
// spread over 1000 sessions of real users.
func growthSession(b *testing.B, e *env, perM func() float64) {
	users := e.users(b, 1000)
	cookies := make([]*http.Cookie, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			cookies[i] = &http.Cookie{Name: e.auth.SessionCookieName(), Value: e.signIn(b, u)}
		})
		if i%16 == 15 {
			wg.Wait()
		}
	}
	wg.Wait()
	h := e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sink = magiclink.SessionFrom(r.Context()).UserID
	}))
	reqs := make([]*http.Request, len(cookies))
	for i, c := range cookies {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/account", nil)
		reqs[i].AddCookie(c)
	}
	w := &discardWriter{h: http.Header{}}
	order := mrand.Perm(len(reqs))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		clear(w.h)
		sink = ""
		h.ServeHTTP(w, reqs[order[i%len(order)]])
		i++
	}
	b.StopTimer()
	if sink == "" {
		b.Fatalf("the handler did not see the session (status %d)", w.code)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(perM(), "MiB/M-users")
}

// growthFlow is BenchmarkFlow at 16 callers on e's store.
func growthFlow(b *testing.B, e *env) {
	cpu := runFlows(b, e, e.users(b, 16), e.signIn)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/flow")
}

// copyRecords writes the Puts of batch into pgstore's table with COPY.
func copyRecords(ctx context.Context, pool *pgxpool.Pool, batch []store.Op) error {
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"magiclink", "records"}, []string{"key", "value", "expires_at"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			op := batch[i]
			var exp any
			if !op.ExpiresAt.IsZero() {
				exp = op.ExpiresAt
			}
			return []any{[]byte(op.Key), op.Value, exp}, nil
		}))
	return err
}
