package storetest

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func testExpiry(t *testing.T, h Harness) {
	t.Run("GetHidesExpired", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("v"), start.Add(10*time.Second)))
		e.clock.Advance(10*time.Second - time.Millisecond)
		e.want("k", "v")
		e.clock.Advance(time.Millisecond) // ExpiresAt == now: expired
		e.absent("k")
	})
	t.Run("AlreadyExpired", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("v"), start.Add(-time.Second)))
		e.absent("k")
		if items := e.list("", 0); len(items) != 0 {
			t.Fatalf("List returned %d records written already expired, want 0: %v", len(items), keys(items))
		}
		e.apply(store.Insert("k", []byte("v2"), time.Time{}))
		e.want("k", "v2")
	})
	t.Run("ZeroNeverExpires", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("v"), time.Time{}))
		e.clock.Advance(10 * 365 * 24 * time.Hour)
		e.want("k", "v")
	})
	t.Run("ListSkipsExpired", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(
			store.Put("p/1", []byte("1"), start.Add(time.Minute)),
			store.Put("p/2", []byte("2"), start.Add(2*time.Minute)),
			store.Put("p/3", []byte("3"), time.Time{}),
			store.Put("p/4", []byte("4"), start.Add(time.Minute)),
		)
		if got := keys(e.list("p/", 0)); !equalStrings(got, []string{"p/1", "p/2", "p/3", "p/4"}) {
			t.Fatalf("List before expiry = %q", got)
		}
		e.clock.Advance(time.Minute)
		if got := keys(e.list("p/", 0)); !equalStrings(got, []string{"p/2", "p/3"}) {
			t.Fatalf("List after p/1 and p/4 expired = %q, want [p/2 p/3]", got)
		}
		// Expired records do not count against the limit.
		if got := keys(e.list("p/", 1)); !equalStrings(got, []string{"p/2"}) {
			t.Fatalf("List limit 1 after p/1 expired = %q, want [p/2]", got)
		}
		e.clock.Advance(time.Minute)
		if got := keys(e.list("p/", 0)); !equalStrings(got, []string{"p/3"}) {
			t.Fatalf("List after p/2 expired = %q, want [p/3]", got)
		}
	})
	t.Run("ExpiresAtRoundTrips", func(t *testing.T) {
		e := newEnv(t, h)
		want := map[string]time.Time{
			"x/never":  {},
			"x/hour":   start.Add(time.Hour),
			"x/millis": start.Add(90*time.Minute + 123*time.Millisecond),
			"x/year":   start.AddDate(1, 0, 0),
			"x/local":  start.Add(time.Hour).In(time.FixedZone("UTC+5", 5*3600)),
		}
		var ops []store.Op
		for k, exp := range want {
			ops = append(ops, store.Put(k, []byte(k), exp))
		}
		e.apply(ops...)
		items := e.list("x/", 0)
		if len(items) != len(want) {
			t.Fatalf("List returned %q, want %d records", keys(items), len(want))
		}
		for _, it := range items {
			exp := want[it.Key]
			if exp.IsZero() != it.ExpiresAt.IsZero() || !exp.Equal(it.ExpiresAt) {
				t.Errorf("List: %q has ExpiresAt %v, want %v", it.Key, it.ExpiresAt, exp)
			}
		}
	})
}

func keys(items []store.Item) []string {
	ks := make([]string, len(items))
	for i, it := range items {
		ks[i] = it.Key
	}
	return ks
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
