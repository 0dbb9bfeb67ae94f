package magiclink_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// TestStoreLimiterSharedByInstances: two Auths on one store, each with its
// own ratelimit.Store, share the per-address and per-IP counts; with
// in-memory limiters each would allow its own.
func TestStoreLimiterSharedByInstances(t *testing.T) {
	e := newEnv(t, nil)
	instance := func(shared bool) *magiclink.Auth {
		return e.instance(t, func(c *magiclink.Config) {
			if shared {
				c.Limits.Limiter = ratelimit.NewStore(c.Store)
			}
		})
	}
	ctx := magiclink.WithClientIP(context.Background(), netip.MustParseAddr("203.0.113.9"))
	send := func(a *magiclink.Auth, addr string) error {
		c := newClient(t, a)
		si, err := a.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: addr})
		if err != nil {
			return err
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		return err
	}
	for _, shared := range []bool{true, false} {
		one, two := instance(shared), instance(shared)
		addr := map[bool]string{true: "shared@example.com", false: "separate@example.com"}[shared]
		if err := send(one, addr); err != nil {
			t.Fatal(err)
		}
		err := send(two, addr)
		if shared && !errors.Is(err, magiclink.ErrRateLimited) {
			t.Fatalf("second instance, shared limiter: %v; want too_many_requests", err)
		}
		if !shared && err != nil {
			t.Fatalf("second instance, own limiter: %v", err)
		}
		e.clock.Advance(10 * time.Second) // past the creation window
	}
	// Per-IP creations are shared too: five per 10 s across both.
	one, two := instance(true), instance(true)
	c, _, _ := one.Clients.Create(ctx)
	for i := range 5 {
		a := []*magiclink.Auth{one, two}[i%2]
		if _, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "x@example.com"}); err != nil {
			t.Fatalf("creation %d: %v", i+1, err)
		}
	}
	if _, err := two.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "x@example.com"}); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("sixth creation in 10 s across instances: %v", err)
	}
	// The records are hashed: no address or IP in the store's keys.
	items, _ := e.cfg.Store.List(context.Background(), "rl/", 0)
	if len(items) == 0 {
		t.Fatal("the store limiter stored nothing")
	}
	for _, it := range items {
		// rl/<sha-256 in hex>, with /<share> for a limit counted in shares.
		hash, _, _ := strings.Cut(strings.TrimPrefix(it.Key, "rl/"), "/")
		if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" || it.ExpiresAt.IsZero() {
			t.Fatalf("limiter record %q expires %v", it.Key, it.ExpiresAt)
		}
	}
}
