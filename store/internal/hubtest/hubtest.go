// Package hubtest checks, for the tests of the stores built on store.Hub,
// that their subscriptions end with their contexts.
package hubtest

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// WatchReleased subscribes to s three times (twice to one key) and checks
// that hub, the Hub behind s's Watch, counts the three subscriptions and,
// once their context ends, none.
func WatchReleased(t *testing.T, s store.Store, hub *store.Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	for _, k := range []string{"a", "a", "b"} {
		if _, err := s.Watch(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if n := hub.Watchers(); n != 3 {
		t.Fatalf("%d watchers after 3 Watch calls", n)
	}
	cancel()
	waitWatchers(t, hub, 0)
}

// waitWatchers waits until hub has n subscriptions. The hub releases a
// subscription in a goroutine started when the context ends and reports
// no event for it, so this polls, with a generous deadline.
func waitWatchers(t *testing.T, hub *store.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for hub.Watchers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers after 10s, want %d", hub.Watchers(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
