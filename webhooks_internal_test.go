package magiclink

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/webhook"
)

// TestDeliveryLeaseOfAnotherInstance: on a store several processes share,
// a delivery leased by another process is left alone until its lease
// lapses, then delivered.
func TestDeliveryLeaseOfAnotherInstance(t *testing.T) {
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer rcv.Close()
	e := newTestEnv()
	st, clock := e.st, e.clock
	a := e.open(t, func(c *Config) {
		c.Webhooks = []WebhookEndpoint{{URL: rcv.URL, Secrets: []string{webhook.NewSecret()}, Types: []EventType{EventSessionRevoked}}}
	})
	ctx := context.Background()
	// An event another process queued and leased, then died holding.
	now := clock.Now()
	id := newID(prefixEvent)
	c := a.deliver.endpoints[0]
	key := keyDelivery + c.id + "/" + id
	err := st.Apply(ctx, store.Insert(keyEvent+invertID(id), encode(eventRec{ID: id, Type: EventSessionRevoked, Timestamp: ms(now)}), time.Time{}),
		store.Insert(key, encode(deliveryRec{Attempts: 1, NextAt: ms(now), LeaseUntil: ms(now.Add(deliveryLease)), Owner: "another process", CreatedAt: ms(now)}), time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if next := c.pass(); !next.Equal(now.Add(deliveryLease)) {
		t.Fatalf("pass during the lease: next %v, want the lease's end %v", next, now.Add(deliveryLease))
	}
	if _, busy := c.busy.Load(key); busy {
		t.Fatal("an attempt started on another process's lease")
	}
	clock.Advance(deliveryLease)
	c.pass()
	deliverytest.WaitKey(t, st, key, deliverytest.Gone) // delivered after the lease lapsed
	if hits.Load() != 1 {
		t.Fatalf("receiver got %d requests", hits.Load())
	}
}
