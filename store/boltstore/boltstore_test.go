package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/internal/hubtest"
	"github.com/magiclink-go/magiclink/store/storetest"
)

var start = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "magiclink.db") }

func mustOpen(t testing.TB, path string, cfg Config) *Store {
	t.Helper()
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openStopped opens a Store whose committer and sweeper are not running,
// for tests that drive them by hand. It is closed when the test ends.
func openStopped(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := open(tempPath(t), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.db.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, now func() time.Time) store.Store {
			return mustOpen(t, tempPath(t), Config{Now: now})
		},
		Reopen: func(t *testing.T, s store.Store, now func() time.Time) store.Store {
			path := s.(*Store).db.Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return mustOpen(t, path, Config{Now: now})
		},
	})
}

func TestOpenLocked(t *testing.T) {
	path := tempPath(t)
	first := mustOpen(t, path, Config{})
	defer first.Close()

	const timeout = 50 * time.Millisecond
	begin := time.Now()
	second, err := Open(path, Config{Timeout: timeout})
	if err == nil {
		second.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	// A bound against hanging, not a performance assertion.
	if waited := time.Since(begin); waited > 5*time.Second {
		t.Errorf("second Open took %v with Timeout %v", waited, timeout)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := mustOpen(t, path, Config{Timeout: timeout})
	third.Close()
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(tempPath(t), Config{Timeout: -time.Second}); err == nil {
		t.Error("Open with a negative Timeout succeeded")
	}
	path := filepath.Join(t.TempDir(), "missing", "magiclink.db")
	_, err := Open(path, Config{})
	if err == nil || errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open in a missing directory = %v, want an error naming the path", err)
	}
}

// TestRecordFormat checks the stored form: an 8-byte big-endian expiry in
// Unix nanoseconds (0: never), then the value.
func TestRecordFormat(t *testing.T) {
	clock := storetest.NewClock(start)
	s := mustOpen(t, tempPath(t), Config{Now: clock.Now})
	defer s.Close()
	exp := start.Add(time.Hour + 123456789)
	err := s.Apply(t.Context(), store.Put("k", []byte("abc"), exp), store.Put("never", nil, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string][]byte{}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			raw[string(k)] = clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"k":     binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano())),
		"never": make([]byte, 8),
	}
	want["k"] = append(want["k"], "abc"...)
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Fatalf("stored records (-want +got):\n%s", diff)
	}
}

func TestExpiryEncoding(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Time{}, 0},
		{time.Unix(0, 0), 1},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), 1},
		{start, start.UnixNano()},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
	}
	for _, tt := range tests {
		if got := expiryNanos(tt.t); got != tt.want {
			t.Errorf("expiryNanos(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
	if got := expiryTime(start.UnixNano()); !got.Equal(start) {
		t.Errorf("expiryTime round trip = %v, want %v", got, start)
	}
	if got := expiryTime(0); !got.IsZero() {
		t.Errorf("expiryTime(0) = %v, want the zero time", got)
	}
}

// TestValuesCopied checks that values returned by Get and List do not
// alias bbolt's memory map: they are read after Close has unmapped it, so
// an aliasing slice would fault.
func TestValuesCopied(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{})
	ctx := t.Context()
	var ops []store.Op
	for i := range 100 {
		ops = append(ops, store.Put(fmt.Sprintf("k/%03d", i), []byte(strings.Repeat(fmt.Sprint(i%10), 100)), time.Time{}))
	}
	if err := s.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "k/042")
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.List(ctx, "k/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if string(got) != strings.Repeat("2", 100) {
		t.Errorf("Get result after Close = %q", got)
	}
	if len(items) != 100 {
		t.Fatalf("List returned %d items, want 100", len(items))
	}
	for i, it := range items {
		if want := strings.Repeat(fmt.Sprint(i%10), 100); string(it.Value) != want {
			t.Errorf("List item %q after Close = %q, want %q", it.Key, it.Value, want)
		}
	}
}

// rawKeys returns every key in the bucket, expired or not.
func rawKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// fillExpiring writes k/000..k/099: those with i%3 == 0 expire a minute
// after start, i%3 == 1 an hour after, the rest never.
func fillExpiring(t *testing.T, s *Store) {
	t.Helper()
	var ops []store.Op
	for i := range 100 {
		var exp time.Time
		switch i % 3 {
		case 0:
			exp = start.Add(time.Minute)
		case 1:
			exp = start.Add(time.Hour)
		}
		ops = append(ops, store.Put(fmt.Sprintf("k/%03d", i), []byte("v"), exp))
	}
	if err := s.Apply(t.Context(), ops...); err != nil {
		t.Fatal(err)
	}
}

func TestSweep(t *testing.T) {
	clock := storetest.NewClock(start)
	s := mustOpen(t, tempPath(t), Config{Now: clock.Now, SweepInterval: -1})
	defer s.Close()
	// Small chunks, so one sweep takes many transactions.
	s.sweepChunk, s.sweepScan = 7, 20
	fillExpiring(t, s)

	steps := []struct {
		advance time.Duration
		deleted int
		left    int
	}{
		{0, 0, 100},
		{time.Minute, 34, 66},
		{0, 0, 66},
		{time.Hour, 33, 33},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		n, err := s.sweepOnce()
		if err != nil {
			t.Fatalf("sweepOnce: %v", err)
		}
		if n != st.deleted {
			t.Errorf("at %v: sweepOnce deleted %d, want %d", clock.Now(), n, st.deleted)
		}
		if keys := rawKeys(t, s); len(keys) != st.left {
			t.Errorf("at %v: %d records left in the file, want %d", clock.Now(), len(keys), st.left)
		}
		items, err := s.List(t.Context(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != st.left {
			t.Errorf("at %v: List returned %d records, want %d", clock.Now(), len(items), st.left)
		}
	}
}

// TestSweepKeepsRewritten checks that a record written again between
// the sweeper's scan and its delete survives.
func TestSweepKeepsRewritten(t *testing.T) {
	clock := storetest.NewClock(start)
	s := mustOpen(t, tempPath(t), Config{Now: clock.Now, SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	err := s.Apply(ctx,
		store.Put("a", []byte("old"), start.Add(time.Minute)),
		store.Put("b", []byte("old"), start.Add(time.Minute)),
		store.Put("c", []byte("old"), start.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	now := expiryNanos(clock.Advance(time.Minute))
	keys, last, err := s.scanExpired(nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || last != nil {
		t.Fatalf("scanExpired = %q, %q; want the 3 keys and the end", keys, last)
	}
	if err := s.Apply(ctx, store.Insert("a", []byte("new"), time.Time{}), store.Delete("b")); err != nil {
		t.Fatal(err)
	}
	n, err := s.deleteExpired(keys, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("deleteExpired deleted %d records, want 1 (c)", n)
	}
	if got, err := s.Get(ctx, "a"); err != nil || string(got) != "new" {
		t.Errorf(`Get("a") after the sweep = %q, %v; want "new"`, got, err)
	}
	if keys := rawKeys(t, s); !cmp.Equal(keys, []string{"a"}) {
		t.Errorf("records after the sweep: %q, want [a]", keys)
	}
}

// TestSweepLoop checks that the background sweeper runs and stops with
// Close, waiting on its reports rather than on time.
func TestSweepLoop(t *testing.T) {
	clock := storetest.NewClock(start)
	s, err := open(tempPath(t), Config{Now: clock.Now, SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	swept := make(chan int)
	s.onSweep = func(n int, err error) {
		if err != nil {
			t.Errorf("sweep: %v", err)
		}
		select {
		case swept <- n:
		case <-s.stop:
		}
	}
	s.start()
	defer s.Close()
	fillExpiring(t, s)
	clock.Advance(time.Minute)
	timeout := time.After(10 * time.Second)
	for total := 0; total < 34; {
		select {
		case n := <-swept:
			total += n
		case <-timeout:
			t.Fatalf("background sweeper deleted %d records within 10s, want 34", total)
		}
	}
	if keys := rawKeys(t, s); len(keys) != 66 {
		t.Errorf("%d records left after the sweep, want 66", len(keys))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBatch queues several Applies before the committer starts, so they
// commit in one transaction: each is checked against the writes of those
// before it, and one that conflicts does not stop the others.
func TestBatch(t *testing.T) {
	s := openStopped(t, Config{SweepInterval: -1})
	ctx := t.Context()
	reqs := []struct {
		ops  []store.Op
		want error // nil or a *store.ConflictError
	}{
		{[]store.Op{store.Insert("a", []byte("1"), time.Time{})}, nil},
		{[]store.Op{store.Insert("a", []byte("2"), time.Time{})}, &store.ConflictError{Key: "a", Kind: store.OpInsert}},
		{[]store.Op{store.Swap("a", []byte("1"), []byte("3"), time.Time{}), store.Put("b", []byte("b"), time.Time{})}, nil},
		{[]store.Op{store.Put("c", []byte("c"), time.Time{}), store.DeleteIf("b", []byte("wrong"))}, &store.ConflictError{Key: "b", Kind: store.OpDeleteIf}},
		{[]store.Op{store.DeleteIf("b", []byte("b")), store.Check("c", nil)}, nil},
		{[]store.Op{store.Check("a", []byte("3")), store.Insert("b", []byte("b2"), time.Time{})}, nil},
	}
	var queued []*request
	for _, r := range reqs {
		q := newRequest(ctx, r.ops)
		s.queue <- q
		queued = append(queued, q)
	}
	watchA, _ := s.Watch(ctx, "a")
	watchC, _ := s.Watch(ctx, "c")
	s.start()
	defer s.Close()
	for i, q := range queued {
		err := <-q.done
		if diff := cmp.Diff(reqs[i].want, err, cmp.Comparer(func(a, b error) bool {
			return a == nil && b == nil || a != nil && b != nil && a.Error() == b.Error()
		})); diff != "" {
			t.Errorf("Apply %d: result (-want +got):\n%s", i, diff)
		}
	}
	if n := s.commits.Load(); n != 1 {
		t.Errorf("%d commits for one batch, want 1", n)
	}
	want := []store.Item{
		{Key: "a", Value: []byte("3")},
		{Key: "b", Value: []byte("b2")},
	}
	items, err := s.List(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("records after the batch (-want +got):\n%s", diff)
	}
	select {
	case <-watchA:
	default:
		t.Error(`watcher of "a" not woken by the batch`)
	}
	select {
	case <-watchC:
		t.Error(`watcher of "c" woken, but only a failed Apply wrote it`)
	default:
	}
}

// TestBatchLimits checks that one batch takes at most maxBatch Applies
// and stops adding Applies once it holds maxBatchBytes of values.
func TestBatchLimits(t *testing.T) {
	s := openStopped(t, Config{SweepInterval: -1})
	ctx := t.Context()
	drain := func() (n int) {
		for {
			select {
			case <-s.queue:
				n++
			default:
				return n
			}
		}
	}
	for i := range maxBatch {
		s.queue <- newRequest(ctx, []store.Op{store.Put(fmt.Sprint(i), nil, time.Time{})})
	}
	batch := s.gather([]*request{newRequest(ctx, []store.Op{store.Delete("first")})})
	if left := drain(); len(batch) != maxBatch || left != 1 {
		t.Errorf("gather took %d Applies and left %d queued, want %d and 1", len(batch), left, maxBatch)
	}

	big := make([]byte, store.MaxValueLen)
	for i := range 12 {
		s.queue <- newRequest(ctx, []store.Op{store.Put(fmt.Sprint(i), big, time.Time{})})
	}
	batch = s.gather([]*request{newRequest(ctx, []store.Op{store.Put("first", big, time.Time{})})})
	left := drain()
	if wantMax := 1 + maxBatchBytes/store.MaxValueLen; len(batch) > wantMax || left == 0 || len(batch)+left != 13 {
		t.Errorf("gather took %d Applies of 1 MiB and left %d, want at most %d and the rest left", len(batch), left, wantMax)
	}
}

// TestCancelledWhileQueued checks that an Apply whose context ends while
// it is queued is refused before the transaction, and the rest of its
// batch commits.
func TestCancelledWhileQueued(t *testing.T) {
	s := openStopped(t, Config{SweepInterval: -1})
	ctx, cancel := context.WithCancel(t.Context())
	cancelled := newRequest(ctx, []store.Op{store.Put("x", []byte("x"), time.Time{})})
	kept := newRequest(t.Context(), []store.Op{store.Put("y", []byte("y"), time.Time{})})
	cancel()
	s.commit([]*request{cancelled, kept})
	if err := <-cancelled.done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Apply = %v, want context.Canceled", err)
	}
	if err := <-kept.done; err != nil {
		t.Errorf("other Apply of the batch = %v", err)
	}
	if keys := rawKeys(t, s); !cmp.Equal(keys, []string{"y"}) {
		t.Errorf("records after the batch: %q, want [y]", keys)
	}
}

// TestCommitFailure checks that when a transaction fails, every Apply of
// its batch gets the error and no watcher is woken.
func TestCommitFailure(t *testing.T) {
	s := openStopped(t, Config{SweepInterval: -1})
	w, _ := s.Watch(t.Context(), "x")
	reqs := []*request{
		newRequest(t.Context(), []store.Op{store.Put("x", []byte("x"), time.Time{})}),
		newRequest(t.Context(), []store.Op{store.Insert("y", []byte("y"), time.Time{})}),
	}
	s.db.Close() // makes the transaction fail
	s.commit(reqs)
	for i, r := range reqs {
		err := <-r.done
		if !errors.Is(err, berrors.ErrDatabaseNotOpen) || errors.Is(err, store.ErrConflict) {
			t.Errorf("Apply %d of a failed commit = %v, want the commit's error", i, err)
		}
	}
	select {
	case <-w:
		t.Error("watcher woken by a failed commit")
	default:
	}
}

// TestCloseDrainsQueue checks that Applies queued when Close begins are
// committed, not left waiting.
func TestCloseDrainsQueue(t *testing.T) {
	s := openStopped(t, Config{SweepInterval: -1})
	var reqs []*request
	for i := range 5 {
		r := newRequest(t.Context(), []store.Op{store.Put(fmt.Sprint(i), []byte("v"), time.Time{})})
		s.queue <- r
		reqs = append(reqs, r)
	}
	s.closed = true
	close(s.stop)
	s.wg.Add(1)
	s.commitLoop() // returns once the queue is drained
	for i, r := range reqs {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("queued Apply %d = %v", i, err)
			}
		default:
			t.Errorf("queued Apply %d left waiting after the committer stopped", i)
		}
	}
	if keys := rawKeys(t, s); len(keys) != 5 {
		t.Errorf("%d records after the drain, want 5", len(keys))
	}
}

// TestCloseWithApplies closes the store while callers are applying: each
// Apply either commits durably or fails with ErrClosed, and none hangs.
func TestCloseWithApplies(t *testing.T) {
	const callers = 32
	path := tempPath(t)
	s := mustOpen(t, path, Config{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		results  = map[string]error{}
		progress = make(chan struct{}, callers)
	)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("k/%02d/%04d", c, i)
				err := s.Apply(context.Background(), store.Put(key, []byte("v"), time.Time{}))
				mu.Lock()
				results[key] = err
				mu.Unlock()
				if i == 0 {
					progress <- struct{}{}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	for range callers { // every caller has committed once and is applying again
		<-progress
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = mustOpen(t, path, Config{})
	defer s.Close()
	closed := 0
	for key, err := range results {
		_, getErr := s.Get(t.Context(), key)
		switch {
		case err == nil && getErr != nil:
			t.Errorf("Apply of %s succeeded but its record is gone: %v", key, getErr)
		case errors.Is(err, store.ErrClosed):
			closed++
			if !errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("Apply of %s failed with ErrClosed but its record exists", key)
			}
		case err != nil:
			t.Errorf("Apply of %s = %v, want nil or ErrClosed", key, err)
		}
	}
	if closed != callers {
		t.Errorf("%d Applies failed with ErrClosed, want one per caller (%d)", closed, callers)
	}
}

// TestWatchReleased checks that a subscription ends with its context.
func TestWatchReleased(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{})
	defer s.Close()
	hubtest.WatchReleased(t, s, &s.hub)
}

func BenchmarkApply(b *testing.B) {
	s := mustOpen(b, tempPath(b), Config{})
	defer s.Close()
	ctx := context.Background()
	value := make([]byte, 100)
	i := 0
	for b.Loop() {
		if err := s.Apply(ctx, store.Put(fmt.Sprintf("k/%04d", i%1024), value, time.Time{})); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRates(b, s)
}

func BenchmarkApplyParallel(b *testing.B) {
	for _, callers := range []int{8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s := mustOpen(b, tempPath(b), Config{})
			defer s.Close()
			value := make([]byte, 100)
			var ids atomic.Int64
			// RunParallel starts parallelism × GOMAXPROCS goroutines.
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := ids.Add(1)
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					key := fmt.Sprintf("k/%03d/%04d", id, i%1024)
					if err := s.Apply(ctx, store.Put(key, value, time.Time{})); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRates(b, s)
		})
	}
}

func BenchmarkGet(b *testing.B) {
	s := mustOpen(b, tempPath(b), Config{})
	defer s.Close()
	ctx := context.Background()
	var ops []store.Op
	for i := range 1024 {
		ops = append(ops, store.Put(fmt.Sprintf("k/%04d", i), make([]byte, 100), time.Time{}))
	}
	if err := s.Apply(ctx, ops...); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%04d", i)
	}
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, keys[i%1024]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// reportRates reports operations per second and, for Apply benchmarks,
// how many Applies shared each transaction.
func reportRates(b *testing.B, s *Store) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if c := s.commits.Load(); c > 0 {
		b.ReportMetric(float64(b.N)/float64(c), "applies/commit")
	}
}

// BenchmarkBoltUpdate is the baseline for BenchmarkApply: one bbolt
// Update per write, without the Store around it.
func BenchmarkBoltUpdate(b *testing.B) {
	db, err := bolt.Open(tempPath(b), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, headerLen+100)
	i := 0
	for b.Loop() {
		err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).Put(fmt.Appendf(nil, "k/%04d", i%1024), value)
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
