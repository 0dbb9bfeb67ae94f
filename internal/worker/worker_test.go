package worker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKickNeverBlocks(t *testing.T) {
	c := make(chan struct{}, 1)
	Kick(c)
	Kick(c) // the slot is taken: returns at once
	<-c
	select {
	case <-c:
		t.Fatal("two wake-ups pending; want one")
	default:
	}
}

// TestDispatch: a pass at once, one per kick, one when the time the last
// pass returned comes, none after stop.
func TestDispatch(t *testing.T) {
	stop, kick := make(chan struct{}), make(chan struct{}, 1)
	passes := make(chan int, 10)
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Dispatch(stop, kick, time.Hour, time.Now, func() time.Time {
			i := int(n.Add(1))
			passes <- i
			if i == 2 {
				return time.Now() // due at once: a third pass follows without a kick
			}
			return time.Time{}
		})
	}()
	if i := <-passes; i != 1 {
		t.Fatalf("pass %d first", i)
	}
	Kick(kick)
	<-passes
	<-passes // the one the second pass asked for
	close(stop)
	<-done
	select {
	case i := <-passes:
		t.Fatalf("pass %d after stop", i)
	default:
	}
}

func TestEvery(t *testing.T) {
	calls := 0
	Every(make(chan struct{}), time.Millisecond, func() bool {
		calls++
		return calls < 3
	})
	if calls != 3 {
		t.Fatalf("%d calls; want 3 (until f returned false)", calls)
	}
	stop := make(chan struct{})
	close(stop)
	Every(stop, time.Millisecond, func() bool {
		t.Fatal("called after stop")
		return false
	})
}

func TestBackoff(t *testing.T) {
	lo, hi := time.Second, time.Minute
	for n, want := range map[int]time.Duration{1: lo, 2: 2 * lo, 6: 32 * lo, 7: hi, 21: hi, 1000: hi} {
		for range 100 {
			if d := Backoff(n, lo, hi); d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %v; want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestDoubling(t *testing.T) {
	w := NewDoubling(100*time.Millisecond, time.Second)
	var got []time.Duration
	for range 6 {
		got = append(got, w.Next())
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v; want %v ms", got, want)
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep reported its context done")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep waited out an hour on a cancelled context")
	}
}

// TestDrain: work that stops when cancelled is drained; work that ignores
// cancellation is reported; cancel is called either way.
func TestDrain(t *testing.T) {
	var work sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	work.Add(1)
	go func() {
		defer work.Done()
		<-ctx.Done()
	}()
	if !Drain(&work, time.Millisecond, cancel) {
		t.Fatal("work that stops on cancel not drained")
	}

	stuck := make(chan struct{})
	defer close(stuck)
	var cancelled atomic.Bool
	work.Add(1)
	go func() {
		defer work.Done()
		<-stuck
	}()
	if Drain(&work, time.Millisecond, func() { cancelled.Store(true) }) {
		t.Fatal("work that ignores cancellation reported drained")
	}
	if !cancelled.Load() {
		t.Fatal("cancel not called")
	}
}

// TestShutdown: stop is closed once, the dispatchers are waited for, and
// work still running after the grace period is logged.
func TestShutdown(t *testing.T) {
	var once sync.Once
	var loops, work sync.WaitGroup
	stop := make(chan struct{})
	loops.Add(1)
	go func() {
		defer loops.Done()
		<-stop
	}()
	stuck := make(chan struct{})
	defer close(stuck)
	work.Add(1)
	go func() {
		defer work.Done()
		<-stuck
	}()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 2 { // a second call does nothing (closing stop twice would panic)
		Shutdown(&once, stop, &loops, &work, time.Millisecond, func() {}, log, "still running")
	}
	if n := strings.Count(buf.String(), "still running"); n != 1 {
		t.Fatalf("logged %d times; want once: %s", n, buf.String())
	}
}

func TestLeaseClaimRelease(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	var l Lease
	l.Claim(now, "p1", time.Minute, func(n int) time.Duration { return time.Duration(n) * time.Second })
	l.Claim(now, "p1", time.Minute, func(n int) time.Duration { return time.Duration(n) * time.Second })
	want := Lease{Attempts: 2, NextAt: now.Add(2 * time.Second).UnixMilli(), LeaseUntil: now.Add(time.Minute).UnixMilli(), Owner: "p1"}
	if l != want {
		t.Fatalf("after two claims %+v; want %+v", l, want)
	}
	l.Release(strings.Repeat("x", MaxError+1))
	want.LeaseUntil, want.Owner, want.LastError = 0, "", strings.Repeat("x", MaxError)
	if l != want {
		t.Fatalf("after release %+v; want %+v", l, want)
	}
}
