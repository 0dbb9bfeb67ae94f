package deliverytest

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/sendtiming"
)

// Watcher is the part of a store WaitKey uses.
type Watcher interface {
	Get(context.Context, string) ([]byte, error)
	Watch(context.Context, string) (<-chan struct{}, error)
}

// WaitKey blocks until the record at key satisfies cond (raw is nil when
// there is none), for up to 30 s, without polling: it wakes on each change
// of the record.
func WaitKey(t testing.TB, st Watcher, key string, cond func(raw []byte) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changes, err := st.Watch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for {
		raw, _ := st.Get(ctx, key)
		if cond(raw) {
			return
		}
		select {
		case <-changes:
		case <-ctx.Done():
			t.Fatalf("%s: condition not met within 30s; it is %s", key, raw)
		}
	}
}

// Gone is a WaitKey condition: there is no record.
func Gone(raw []byte) bool { return raw == nil }

// ShortLeases sets the outbox's claim lease and renewal interval
// (package sendtiming) for the rest of t, which must start its instances
// after the call.
func ShortLeases(t testing.TB, lease, renew time.Duration) {
	t.Helper()
	l, r := sendtiming.Lease, sendtiming.Renew
	sendtiming.Lease, sendtiming.Renew = lease, renew
	t.Cleanup(func() { sendtiming.Lease, sendtiming.Renew = l, r })
}
