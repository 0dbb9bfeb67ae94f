// Package racetest starts concurrent callers together, for the tests that
// race them (stores' single use, rate limits across instances).
package racetest

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Run runs f(0) to f(n-1) in n goroutines and returns their errors, by
// caller. Each f calls start when it is ready to race (after any reads of
// its own): no f runs past start until every other has called it or
// returned, so the racing steps run as closely together as the scheduler
// allows. An f that does not call start races from its first line.
func Run(n int, f func(i int, start func()) error) []error {
	var (
		ready sync.WaitGroup
		done  sync.WaitGroup
		begin = make(chan struct{})
		errs  = make([]error, n)
	)
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			var once sync.Once
			arrived := func() { once.Do(ready.Done) }
			defer arrived()
			errs[i] = f(i, func() {
				arrived()
				<-begin
			})
		}()
	}
	ready.Wait()
	close(begin)
	done.Wait()
	return errs
}

// Burst calls allow(0) to allow(n-1) in n goroutines started together and
// returns how many of them were allowed. It fails t for each error.
func Burst(t testing.TB, n int, allow func(i int) (bool, error)) int {
	t.Helper()
	var ok atomic.Int32
	for _, err := range Run(n, func(i int, start func()) error {
		start()
		allowed, err := allow(i)
		if allowed {
			ok.Add(1)
		}
		return err
	}) {
		if err != nil {
			t.Error(err)
		}
	}
	return int(ok.Load())
}
