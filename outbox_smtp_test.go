package magiclink_test

import (
	"testing"

	"github.com/magiclink-go/magiclink/internal/deliverytest"
)

// waitOutbox blocks until the outbox entry at key satisfies cond (raw is
// nil when there is none), waking on each change of the entry.
func waitOutbox(t *testing.T, st deliverytest.Watcher, key string, cond func(raw []byte) bool) {
	t.Helper()
	deliverytest.WaitKey(t, st, key, cond)
}
