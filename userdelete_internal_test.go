package magiclink

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/store"
)

// applyMeter is a store that records the largest Apply and can be made
// to fail every Apply after a number of them, as a process dying would.
type applyMeter struct {
	store.Store
	largest atomic.Int64
	left    atomic.Int64 // Applies allowed before failing; negative: no limit
}

var errDied = errors.New("the process died")

func (m *applyMeter) Apply(ctx context.Context, ops ...store.Op) error {
	if m.left.Load() >= 0 && m.left.Add(-1) < 0 {
		return errDied
	}
	for {
		cur := m.largest.Load()
		if int64(len(ops)) <= cur || m.largest.CompareAndSwap(cur, int64(len(ops))) {
			break
		}
	}
	return m.Store.Apply(ctx, ops...)
}

// meteredUser opens an Auth on an applyMeter (no limit yet) and creates
// a user with the address addr and n sessions, whose cookie values it
// returns.
func meteredUser(t *testing.T, addr string, n int) (*Auth, *applyMeter, *User, []string) {
	t.Helper()
	e := newTestEnv()
	st := &applyMeter{Store: e.st}
	st.left.Store(-1)
	a := e.open(t, func(c *Config) { c.Store = st })
	u, err := a.Users.Create(context.Background(), UserParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	return a, st, u, manySessions(t, a, u.ID, n)
}

// manySessions gives the user with id n sessions and returns their
// cookie values.
func manySessions(t *testing.T, a *Auth, id string, n int) []string {
	t.Helper()
	var tokens []string
	var ops []store.Op
	for i := range n {
		s, sops := a.newSession(context.Background(), newID(prefixSession), id, newID(prefixClient), a.now(), false)
		tokens = append(tokens, s.Token)
		ops = append(ops, sops...)
		if len(ops) >= 3000 || i == n-1 {
			if err := a.st.Apply(context.Background(), ops...); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	return tokens
}

// Deleting a user with 10,000 sessions writes in Applies of bounded
// size, and after it no session works and no record names the user.
func TestDeleteManySessionsBounded(t *testing.T) {
	ctx := context.Background()
	a, st, u, tokens := meteredUser(t, "many@example.com", 10000)
	for range 300 {
		if _, err := a.SignInTokens.Create(ctx, u.ID, SignInTokenParams{}); err != nil {
			t.Fatal(err)
		}
	}
	st.largest.Store(0)
	if err := a.Users.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, limit := st.largest.Load(), int64(3*deleteBatch); got > limit {
		t.Errorf("the largest Apply of the deletion has %d ops; want at most %d", got, limit)
	}
	for _, tok := range []string{tokens[0], tokens[5000], tokens[9999]} {
		if _, err := a.Sessions.Lookup(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("a session of the deleted user still works: %v", err)
		}
	}
	assertNothingNames(t, st, u.ID, "many@example.com")
}

// A process that dies in the middle of a deletion leaves a user that is
// already gone to every reader, and the next New finishes the deletion.
func TestDeleteResumesAfterCrash(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	for _, dieAfter := range []int64{0, 1, 2, 4} {
		st := &applyMeter{Store: e.st}
		st.left.Store(-1)
		onMeter := func(c *Config) { c.Store = st }
		a := e.open(t, onMeter)
		u, err := a.Users.Create(ctx, UserParams{EmailAddress: "crash@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		tokens := manySessions(t, a, u.ID, 3*deleteBatch)
		st.left.Store(dieAfter)
		err = a.Users.Delete(ctx, u.ID)
		a.Close()
		if !errors.Is(err, errDied) {
			t.Fatalf("die after %d: Delete = %v", dieAfter, err)
		}
		st.left.Store(-1)
		if dieAfter > 0 {
			// The first Apply committed: the user is gone to readers.
			if _, err := a.Users.Get(ctx, u.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("die after %d: the half-deleted user is still there: %v", dieAfter, err)
			}
		}
		// Restart.
		a = e.open(t, onMeter)
		if dieAfter == 0 {
			// Nothing was written: the user is intact; delete it now.
			if _, err := a.Users.Get(ctx, u.ID); err != nil {
				t.Fatalf("a deletion that wrote nothing lost the user: %v", err)
			}
			if err := a.Users.Delete(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.Sessions.Lookup(ctx, tokens[len(tokens)-1]); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("die after %d: a session survived the resumed deletion: %v", dieAfter, err)
		}
		assertNothingNames(t, st, u.ID, "crash@example.com")
		a.Close()
	}
}

// An address added while a deletion is under way (its tombstone written,
// its sessions not yet gone) is refused as the user is absent, so that the
// finished deletion leaves nothing naming the user or the address.
func TestDeleteRefusesAddressMidway(t *testing.T) {
	ctx := context.Background()
	a, st, u, _ := meteredUser(t, "midway@example.com", 1)
	st.left.Store(1) // the tombstone commits, the rest does not
	if err := a.Users.Delete(ctx, u.ID); !errors.Is(err, errDied) {
		t.Fatalf("Delete = %v", err)
	}
	st.left.Store(-1)
	if ea, err := a.EmailAddresses.Create(ctx, u.ID, EmailAddressParams{EmailAddress: "added@example.com"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("adding an address to a user being deleted = %+v, %v; want resource_not_found", ea, err)
	}
	if err := a.Users.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingNames(t, st, u.ID, "midway@example.com", "added@example.com")
}

// assertNothingNames fails if a record's key or value holds one of
// names.
func assertNothingNames(t *testing.T, st store.Store, names ...string) {
	t.Helper()
	items, err := st.List(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if deletedEvent(it, names[0]) {
			continue
		}
		for _, n := range names {
			if strings.Contains(it.Key, n) || strings.Contains(string(it.Value), n) {
				t.Errorf("record %s still names %s", it.Key, n)
			}
		}
	}
}

// deletedEvent reports whether it is the user.deleted event of the user
// with id, or its index entry: the one record a deletion leaves that
// names the user (by id alone).
func deletedEvent(it store.Item, id string) bool {
	return strings.HasPrefix(it.Key, keyUserEvent+id+"/") && string(it.Value) == string(EventUserDeleted) ||
		strings.HasPrefix(it.Key, keyEvent) && strings.Contains(string(it.Value), `"type":"user.deleted"`) &&
			strings.Contains(string(it.Value), `"data":{"object":"user","id":"`+id+`","deleted":true}`)
}

// contendedStore refuses with store.ErrConflict, writing nothing, every
// Apply with an op on a key under prefix while prefix is set, as a store
// whose record changes under every round would; it counts the refusals.
type contendedStore struct {
	store.Store
	prefix  atomic.Pointer[string]
	refused atomic.Int32
}

func (s *contendedStore) Apply(ctx context.Context, ops ...store.Op) error {
	if p := s.prefix.Load(); p != nil {
		for _, op := range ops {
			if strings.HasPrefix(op.Key, *p) {
				s.refused.Add(1)
				return store.ErrConflict
			}
		}
	}
	return s.Store.Apply(ctx, ops...)
}

// contend makes every later Apply touching a key under prefix lose, and
// zeroes the count of lost rounds.
func (s *contendedStore) contend(prefix string) {
	s.refused.Store(0)
	s.prefix.Store(&prefix)
}

// isUserChanged reports whether err is the error of a change that lost
// every round to concurrent changes of its user.
func isUserChanged(err error) bool {
	e := AsError(err)
	return e != nil && e.Code == "verification_status_invalid" && e.long == "user_changed"
}

// An operation that loses every compare-and-swap round gives up after
// maxRetries rounds with the error its callers know it by.
func TestRetriesExhausted(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	st := &contendedStore{Store: e.st}
	e.st = st
	st.contend(keyInstance)
	if _, err := New(e.config()); !errors.Is(err, store.ErrConflict) || st.refused.Load() != maxRetries {
		t.Fatalf("New with the instance record always contended = %v after %d rounds; want store.ErrConflict after %d", err, st.refused.Load(), maxRetries)
	}
	st.prefix.Store(nil)
	a := e.open(t, nil)
	const addr = "contended@example.com"
	u, err := a.Users.Create(ctx, UserParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.EmailAddresses.Create(ctx, u.ID, EmailAddressParams{EmailAddress: "second@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	client, _ := a.newClient()
	tokens := manySessions(t, a, u.ID, 1)
	for _, c := range []struct {
		name, contended string
		run             func() error
		want            func(error) bool
	}{
		{"SignIns.Create", keyAddress + addressKey(addr), func() error {
			_, err := a.SignIns.Create(ctx, client, SignInParams{Identifier: addr})
			return err
		}, isUserChanged},
		{"EmailAddresses.Create", keyUser + u.ID, func() error {
			_, err := a.EmailAddresses.Create(ctx, u.ID, EmailAddressParams{EmailAddress: "third@example.com"})
			return err
		}, isUserChanged},
		{"EmailAddresses.Delete", keyUser + u.ID, func() error { return a.EmailAddresses.Delete(ctx, u.ID, second.ID) }, isUserChanged},
		// The deletion's first step never happened: the user stays, with
		// its session.
		{"Users.Delete", keyUser + u.ID, func() error { return a.Users.Delete(ctx, u.ID) }, isUserChanged},
	} {
		st.contend(c.contended)
		if err := c.run(); !c.want(err) || st.refused.Load() != maxRetries {
			t.Errorf("%s, always contended = %v after %d rounds", c.name, err, st.refused.Load())
		}
	}
	st.prefix.Store(nil)
	if got, err := a.Users.Get(ctx, u.ID); err != nil || len(got.EmailAddresses) != 2 {
		t.Fatalf("after the lost rounds the user is %v, %v; want it with its two addresses", got, err)
	}
	if _, err := a.Sessions.Lookup(ctx, tokens[0]); err != nil {
		t.Fatalf("after the lost deletion the user's session = %v; want it working", err)
	}
	if err := a.Users.Delete(ctx, u.ID); err != nil {
		t.Errorf("Users.Delete once the contention is over = %v", err)
	}
}
