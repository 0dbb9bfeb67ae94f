// Package worker holds what the library's background work has in common,
// whatever it works on: waking a dispatcher and its loop of passes over a
// queue (the outbox's sender, each webhook consumer), a task repeated at
// an interval (renewing a lease, sweeping a store), waits that double
// between tries, with or without jitter, and shutting down within a grace
// period.
package worker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// MinWake is the shortest wait Dispatch makes before a pass it was asked
// for at a time: a time already past, or nearly, still lets the loop
// breathe.
const MinWake = 10 * time.Millisecond

// Kick wakes a dispatcher through its kick channel c (buffered, one
// slot); it never blocks: a wake-up already pending is enough.
func Kick(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Dispatch is the loop of a queue's dispatcher: a pass at once, then at
// every kick, every scan interval, and when the time the last pass
// returned comes (zero: none), until stop is closed. The times pass
// returns follow the clock now (which may be a test's); the wait uses a
// real timer for the same duration, at least MinWake.
func Dispatch(stop, kick <-chan struct{}, scan time.Duration, now func() time.Time, pass func() time.Time) {
	tick := time.NewTicker(scan)
	defer tick.Stop()
	wake := time.NewTimer(0)
	defer wake.Stop()
	for {
		select {
		case <-stop:
			return
		case <-kick:
		case <-tick.C:
		case <-wake.C:
		}
		next := pass()
		wake.Stop()
		if !next.IsZero() {
			wake.Reset(max(next.Sub(now()), MinWake))
		}
	}
}

// Every calls f every interval d until stop is closed or f returns false.
// The first call is one interval after Every is called.
func Every(stop <-chan struct{}, d time.Duration, f func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !f() {
			return
		}
	}
}

// Jitter returns a random duration from half of d to all of it, so that
// instances and entries retrying after the same d do not do so in step.
func Jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Backoff returns the wait after the n-th failed attempt (n >= 1): lo
// doubling up to hi, with Jitter.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n <= 20 {
		d = min(lo<<(n-1), hi)
	}
	return Jitter(d)
}

// Doubling is a sequence of waits between tries: its first is lo, each
// next twice the last, up to hi.
type Doubling struct{ next, hi time.Duration }

// NewDoubling returns the waits from lo doubling up to hi.
func NewDoubling(lo, hi time.Duration) *Doubling { return &Doubling{next: lo, hi: hi} }

// Next returns the next wait.
func (w *Doubling) Next() time.Duration {
	d := w.next
	w.next = min(2*w.next, w.hi)
	return d
}

// Sleep waits for d, or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Shutdown stops a queue once: it closes stop, waits for its dispatchers
// (loops), then drains work as Drain does within grace; work still
// running after that is logged as msg.
func Shutdown(once *sync.Once, stop chan struct{}, loops, work *sync.WaitGroup, grace time.Duration,
	cancel context.CancelFunc, log *slog.Logger, msg string) {
	once.Do(func() {
		close(stop)
		loops.Wait()
		if !Drain(work, grace, cancel) {
			log.Error(msg)
		}
	})
}

// Drain waits for work to finish for up to grace, then cancels it and
// waits up to grace again. It calls cancel in any case and reports
// whether the work finished.
func Drain(work *sync.WaitGroup, grace time.Duration, cancel context.CancelFunc) bool {
	defer cancel()
	done := make(chan struct{})
	go func() {
		work.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	}
	cancel()
	t.Reset(grace)
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// MaxError is how many bytes of an error a Lease keeps.
const MaxError = 500

// Lease is the state of a queued entry that the workers of several
// processes may claim, one at a time: the outbox's entries and the
// webhook deliveries embed it, and its JSON fields are theirs. Times are
// Unix milliseconds.
type Lease struct {
	Attempts   int    `json:"attempts"`
	NextAt     int64  `json:"next_at"`               // no attempt before this
	LeaseUntil int64  `json:"lease_until,omitempty"` // claimed by a worker until this
	Owner      string `json:"owner,omitempty"`       // the process holding the claim
	CreatedAt  int64  `json:"created_at"`
	LastError  string `json:"last_error,omitempty"` // of the last failed attempt
}

// Claim counts an attempt by the process owner at now: the entry is
// leased to it for lease, and its next attempt is due backoff(n) later,
// n the attempts counted so far. The caller writes the claim with a
// compare-and-swap, so that of several workers one wins.
func (l *Lease) Claim(now time.Time, owner string, lease time.Duration, backoff func(n int) time.Duration) {
	l.Attempts++
	l.LeaseUntil = now.Add(lease).UnixMilli()
	l.Owner = owner
	l.NextAt = now.Add(backoff(l.Attempts)).UnixMilli()
}

// Release gives up the claim of a failed attempt and records why, at
// most MaxError bytes of it; the next attempt stays due when Claim
// scheduled it.
func (l *Lease) Release(why string) {
	l.LeaseUntil, l.Owner = 0, ""
	if len(why) > MaxError {
		why = why[:MaxError]
	}
	l.LastError = why
}
