package boltstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// TestCacheNeverStale checks that the read cache is exact: once an Apply
// has returned, every Get sees its write, and no reader ever sees a value
// older than one it saw before, while writes and cached reads interleave.
func TestCacheNeverStale(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	read := func(key string) int {
		v, err := s.Get(ctx, key)
		if err != nil {
			t.Error(err)
			return -1
		}
		n, _ := strconv.Atoi(string(v))
		return n
	}
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		if err := s.Apply(ctx, store.Put(k, []byte("0"), time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	const writes = 100
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 2 {
		wg.Go(func() {
			last := map[string]int{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[r%len(keys)]
				n := read(k)
				if n < last[k] {
					t.Errorf("reader %d: %s went back from %d to %d", r, k, last[k], n)
					return
				}
				last[k] = n
			}
		})
	}
	for i := 1; i <= writes; i++ {
		k := keys[i%len(keys)]
		if err := s.Apply(ctx, store.Put(k, []byte(strconv.Itoa(i)), time.Time{})); err != nil {
			t.Fatal(err)
		}
		if n := read(k); n != i {
			t.Fatalf("Get after Apply of %d returned %d", i, n)
		}
	}
	close(stop)
	wg.Wait()
	// Deletes and failed conditions too.
	if err := s.Apply(ctx, store.Delete("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete = %v", err)
	}
	before := read("b")
	err := s.Apply(ctx, store.Put("b", []byte("-1"), time.Time{}), store.Check("a", []byte("x")))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply with a failing check = %v", err)
	}
	if n := read("b"); n != before {
		t.Errorf("a failed Apply changed the cached value: %d, want %d", n, before)
	}
}

// TestCacheExpiry checks that a cached record expires on the store's clock
// and that one the sweeper deleted is gone even if the clock goes back.
func TestCacheExpiry(t *testing.T) {
	clock := storetest.NewClock(start)
	s := mustOpen(t, tempPath(t), Config{Now: clock.Now, SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	if err := s.Apply(ctx, store.Put("k", []byte("v"), start.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("live record: %v", err)
		}
	}
	clock.Advance(time.Minute)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired record: %v", err)
	}
	if n, err := s.sweepOnce(); n != 1 || err != nil {
		t.Fatalf("sweepOnce = %d, %v", n, err)
	}
	clock.Set(start)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("swept record, clock set back: %v", err)
	}
}

// TestCacheBounded checks that the cache stays within its limit and skips
// large values, while every Get stays correct.
func TestCacheBounded(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{SweepInterval: -1})
	defer s.Close()
	const limit = 64 << 10
	s.cache.limit = limit
	ctx := context.Background()
	value := strings.Repeat("v", 2000)
	const n = 3 * limit / 2000
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Put(fmt.Sprintf("k/%06d", i), []byte(value), time.Time{}))
		if len(ops) == 200 || i == n-1 {
			if err := s.Apply(ctx, ops...); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	for i := range n {
		v, err := s.Get(ctx, fmt.Sprintf("k/%06d", i))
		if err != nil || string(v) != value {
			t.Fatalf("Get k/%06d = %d bytes, %v", i, len(v), err)
		}
	}
	if err := s.Apply(ctx, store.Put("big", make([]byte, maxCacheValue+1), time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	if s.cache.bytes > limit || len(s.cache.recs) == 0 {
		t.Errorf("cache holds %d bytes in %d records, want (0, %d]", s.cache.bytes, len(s.cache.recs), limit)
	}
	if _, ok := s.cache.recs["big"]; ok {
		t.Error("a value over maxCacheValue was cached")
	}
	total := 0
	for k, r := range s.cache.recs {
		total += len(k) + len(r.value)
	}
	if total != s.cache.bytes {
		t.Errorf("cache counts %d bytes, holds %d", s.cache.bytes, total)
	}
}

// TestCacheRejectsRacingRead checks that a record read before a commit,
// and offered to the cache after it, is not cached: it may be the value
// the commit replaced.
func TestCacheRejectsRacingRead(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	if err := s.Apply(ctx, store.Put("k", []byte("old"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	_, _, gen := s.cache.get("k") // a Get begins, misses...
	if err := s.Apply(ctx, store.Put("k", []byte("new"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	s.cache.add("k", cached{value: []byte("old")}, gen) // ...and offers what it read before the commit
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "new" {
		t.Errorf("Get = %q, %v; want \"new\"", v, err)
	}
}

// TestCacheWriteWindow checks the bracket around a write transaction:
// between begin and end its keys are neither served nor added, and a read
// that started before either is not added after it.
func TestCacheWriteWindow(t *testing.T) {
	var c cache
	c.limit = maxCacheBytes
	_, _, gen := c.get("k")
	c.add("k", cached{value: []byte("old")}, gen)
	if _, ok, _ := c.get("k"); !ok {
		t.Fatal("not cached")
	}
	_, _, before := c.get("other")
	c.begin([]string{"k"})
	if _, ok, _ := c.get("k"); ok {
		t.Error("a key being written is served")
	}
	_, _, during := c.get("k")
	c.add("k", cached{value: []byte("old")}, during)
	if _, ok, _ := c.get("k"); ok {
		t.Error("a key being written was added")
	}
	c.add("other", cached{value: []byte("x")}, before)
	if _, ok, _ := c.get("other"); ok {
		t.Error("a read that began before the write transaction was added")
	}
	c.add("other", cached{value: []byte("x")}, during)
	if _, ok, _ := c.get("other"); !ok {
		t.Error("a key the transaction does not write was not added")
	}
	c.end([]string{"k"})
	c.add("k", cached{value: []byte("old")}, during)
	if _, ok, _ := c.get("k"); ok {
		t.Error("a read that began before end was added")
	}
	_, _, after := c.get("k")
	c.add("k", cached{value: []byte("new")}, after)
	if r, ok, _ := c.get("k"); !ok || string(r.value) != "new" {
		t.Error("a read after the transaction was not added")
	}
}

// TestCacheAgreesWithReads checks that once any read sees a commit, Get
// serves nothing older: two keys are written together, and a reader that
// lists one must then Get at least that value of the other.
func TestCacheAgreesWithReads(t *testing.T) {
	s := mustOpen(t, tempPath(t), Config{SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()
	put := func(i int) {
		v := []byte(strconv.Itoa(i))
		if err := s.Apply(ctx, store.Put("a", v, time.Time{}), store.Put("b", v, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				items, err := s.List(ctx, "b", 0)
				if err != nil || len(items) != 1 {
					t.Errorf("List = %v, %v", items, err)
					return
				}
				b, _ := strconv.Atoi(string(items[0].Value))
				v, err := s.Get(ctx, "a")
				if err != nil {
					t.Error(err)
					return
				}
				if a, _ := strconv.Atoi(string(v)); a < b {
					t.Errorf("listed b=%d, then Get served a=%d", b, a)
					return
				}
			}
		})
	}
	for i := 1; i <= 200; i++ {
		put(i)
	}
	close(stop)
	wg.Wait()
}
