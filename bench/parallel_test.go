package bench

import (
	"sync"
	"sync/atomic"
	"testing"
)

// runN runs op(w, i) for every i from 0 to b.N-1, from workers goroutines
// (w is the worker), with the timer running only around them. A worker
// stops at its first error, which fails b.
func runN(b *testing.B, workers int, op func(w, i int) error) {
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := op(w, int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

// eachIndex calls f(0) to f(n-1) from workers goroutines, each taking the
// next index, and waits for them. A worker stops at its first error,
// which fails tb.
func eachIndex(tb testing.TB, workers, n int, f func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
