package pgstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store/storetest"
	"github.com/magiclink-go/magiclink/webhook"
)

// TestInstanceWebhooksShared: two instances share one webhook queue in
// PostgreSQL. The receiver is down while both make changes; one instance
// stops for good; the receiver comes back: the other delivers every event,
// its own and those the stopped one had queued and leased.
func TestInstanceWebhooksShared(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	secret := webhook.NewSecret()
	var mu sync.Mutex
	down := true
	got := map[string]int{} // webhook-id → deliveries answered 204
	more := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v := webhook.Verifier{Secrets: []string{secret}, Now: clock.Now}
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got[r.Header.Get(webhook.HeaderID)]++
		select {
		case more <- struct{}{}:
		default:
		}
	}))
	defer rcv.Close()
	c := newCluster(t, func(cfg *magiclink.Config) {
		cfg.Now = clock.Now
		cfg.Webhooks = []magiclink.WebhookEndpoint{{URL: rcv.URL, Secrets: []string{secret}}}
	})
	ctx := context.Background()
	for i := range 6 {
		c.newUser(t, i%2, fmt.Sprintf("user%d@example.com", i))
	}
	page, err := c.inst[B].auth.Events.List(ctx, magiclink.EventQuery{Limit: magiclink.MaxEventLimit})
	if err != nil || len(page.Events) != 6 {
		t.Fatalf("events: %d, %v", len(page.Events), err)
	}
	if err := c.inst[A].auth.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	clock.Advance(3 * time.Hour)        // past A's leases and every backoff
	c.newUser(t, B, "last@example.com") // wakes B's dispatcher
	deadline := time.After(30 * time.Second)
	for _, e := range page.Events {
		for {
			mu.Lock()
			n := got[e.ID]
			mu.Unlock()
			if n > 0 {
				break
			}
			select {
			case <-more:
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("event %s (%s) never delivered", e.ID, e.Type)
			}
		}
	}
}
