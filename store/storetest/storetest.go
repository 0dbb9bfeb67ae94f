// Package storetest is the conformance suite every store.Store
// implementation must pass.
//
// A store's own tests call Run with a Harness that opens fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Open: func(t *testing.T, now func() time.Time) store.Store {
//				return memstore.New(memstore.Config{Now: now})
//			},
//		})
//	}
//
// Beyond the semantics documented on store.Store and store.Op, the suite
// holds a store to these details:
//
//   - keys are listed in byte order, whatever a database's collation says;
//   - a present record's value is never nil, even when empty;
//   - Get and Watch reject an invalid key with store.ErrInvalid;
//   - a call with an ended context fails with an error wrapping ctx.Err(),
//     and such an Apply writes nothing;
//   - Close may be called twice (the second call returns nil or
//     store.ErrClosed), and every later call returns store.ErrClosed.
//
// It cannot see whether a Watch subscription is released when its context
// ends; each store's own tests check that.
//
// The suite drives expiry with a fake Clock, so a store must decide expiry
// only with the clock it was opened with. Times the suite uses are whole
// milliseconds, so a store that keeps expiry times to the microsecond (as
// PostgreSQL does) round-trips them exactly.
//
// Watch tests never sleep: they wait on the watch channel with a generous
// timeout. To show that a watcher was NOT woken, they commit a write to a
// second, watched key and wait for that wake-up first, so a store must
// deliver notifications in commit order.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Harness opens stores for the suite.
type Harness struct {
	// Open returns a new, empty store whose expiry clock is now.
	Open func(t *testing.T, now func() time.Time) store.Store
	// Reopen, for persistent stores, closes s and opens the same data again with clock now; nil for memory stores.
	Reopen func(t *testing.T, s store.Store, now func() time.Time) store.Store
}

// Run runs the conformance suite against the stores h opens, one fresh
// store per subtest. Every store it opens is closed when its subtest ends.
// Subtests that need Reopen are skipped when it is nil.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	t.Run("Get", func(t *testing.T) { testGet(t, h) })
	t.Run("Ops", func(t *testing.T) { testOps(t, h) })
	t.Run("Atomicity", func(t *testing.T) { testAtomicity(t, h) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, h) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, h) })
	t.Run("List", func(t *testing.T) { testList(t, h) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, h) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
	t.Run("Close", func(t *testing.T) { testClose(t, h) })
	t.Run("Context", func(t *testing.T) { testContext(t, h) })
}

// start is where every test's clock starts: a whole second, far from the
// limits of any encoding.
var start = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// waitTimeout bounds every wait for an event. It is generous: a wait
// that times out is a failure, never the normal path.
const waitTimeout = 10 * time.Second

// env is one subtest's store and clock.
type env struct {
	t     *testing.T
	h     Harness
	clock *Clock
	s     store.Store
}

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	e := &env{t: t, h: h, clock: NewClock(start)}
	e.s = e.track(h.Open(t, e.clock.Now))
	return e
}

// track closes s when the test ends.
func (e *env) track(s store.Store) store.Store {
	e.t.Helper()
	if s == nil {
		e.t.Fatal("storetest: the harness returned a nil store")
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes the store and opens its data again with the same clock.
func (e *env) reopen() {
	e.t.Helper()
	e.s = e.track(e.h.Reopen(e.t, e.s, e.clock.Now))
}

func (e *env) ctx() context.Context { return e.t.Context() }

// apply runs ops and fails the test if Apply fails.
func (e *env) apply(ops ...store.Op) {
	e.t.Helper()
	if err := e.s.Apply(e.ctx(), ops...); err != nil {
		e.t.Fatalf("Apply(%s): %v", fmtOps(ops), err)
	}
}

// conflict runs ops and fails the test unless Apply reports a conflict
// of the op of kind on key.
func (e *env) conflict(key string, kind store.OpKind, ops ...store.Op) {
	e.t.Helper()
	err := e.s.Apply(e.ctx(), ops...)
	if err == nil {
		e.t.Fatalf("Apply(%s) succeeded, want a conflict on %s %q", fmtOps(ops), kind, key)
	}
	checkConflict(e.t, err, key, kind)
}

// get returns key's value, failing the test if Get fails.
func (e *env) get(key string) []byte {
	e.t.Helper()
	v, err := e.s.Get(e.ctx(), key)
	if err != nil {
		e.t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

// want fails the test unless key holds value.
func (e *env) want(key, value string) {
	e.t.Helper()
	got, err := e.s.Get(e.ctx(), key)
	if err != nil {
		e.t.Fatalf("Get(%q): %v, want %q", key, err, value)
	}
	if string(got) != value {
		e.t.Fatalf("Get(%q) = %q, want %q", key, got, value)
	}
}

// absent fails the test unless Get reports key as not found.
func (e *env) absent(key string) {
	e.t.Helper()
	got, err := e.s.Get(e.ctx(), key)
	if !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("Get(%q) = %q, %v; want store.ErrNotFound", key, got, err)
	}
	if got != nil {
		e.t.Fatalf("Get(%q) returned %q with ErrNotFound, want nil", key, got)
	}
}

// list returns List(prefix, limit) or fails the test.
func (e *env) list(prefix string, limit int) []store.Item {
	e.t.Helper()
	items, err := e.s.List(e.ctx(), prefix, limit)
	if err != nil {
		e.t.Fatalf("List(%q, %d): %v", prefix, limit, err)
	}
	return items
}

// watch subscribes to key for the rest of the test, or fails it.
func (e *env) watch(key string) <-chan struct{} {
	e.t.Helper()
	ch, err := e.s.Watch(e.ctx(), key)
	if err != nil {
		e.t.Fatalf("Watch(%q): %v", key, err)
	}
	return ch
}

// checkConflict fails t unless err is a *store.ConflictError wrapping
// store.ErrConflict and naming kind and key.
func checkConflict(t *testing.T, err error, key string, kind store.OpKind) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("error %v does not wrap store.ErrConflict", err)
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *store.ConflictError", err, err)
	}
	if ce.Key != key || ce.Kind != kind {
		t.Fatalf("ConflictError names %s %q, want %s %q", ce.Kind, ce.Key, kind, key)
	}
}

// woken fails t unless ch receives within waitTimeout.
func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("watcher of %s not woken within %v", what, waitTimeout)
	}
}

// quiet fails t if ch holds a wake-up. Callers first wait for a later
// event (a barrier), so a wrong wake-up would already be there.
func quiet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("watcher of %s woken, want no wake-up", what)
	default:
	}
}

// fmtOps formats ops for failure messages.
func fmtOps(ops []store.Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %q", op.Kind, op.Key)
		if op.Old != nil {
			fmt.Fprintf(&b, " old=%q", shorten(op.Old))
		}
		if op.Value != nil {
			fmt.Fprintf(&b, " value=%q", shorten(op.Value))
		}
		if !op.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, " expires=%s", op.ExpiresAt.Format(time.RFC3339Nano))
		}
	}
	return b.String()
}

func shorten(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], "…"...)
	}
	return b
}
