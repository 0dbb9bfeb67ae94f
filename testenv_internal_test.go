package magiclink

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// testEnv is what the package's own tests build an Auth from: a fake
// clock, a memstore whose expiry follows it and a capture mailer.
type testEnv struct {
	clock *storetest.Clock
	st    store.Store
	mail  *mailtest.Mailer
}

func newTestEnv() *testEnv {
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	return &testEnv{clock: clock, st: memstore.New(memstore.Config{Now: clock.Now}), mail: mailtest.New()}
}

// config is a configuration on e's store, mailer and clock.
func (e *testEnv) config() Config {
	return Config{BaseURL: "https://app.example", Store: e.st, Mailer: e.mail, Now: e.clock.Now}
}

// open returns an Auth made of e's configuration changed by mod (when
// not nil), closed when t ends. It fails t if New refuses it.
func (e *testEnv) open(t testing.TB, mod func(*Config)) *Auth {
	t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// prepareSignUp starts a sign-up of addr on a new client of a and
// prepares its link, failing t on an error.
func prepareSignUp(t testing.TB, a *Auth, addr string) (*Client, *SignUp) {
	t.Helper()
	ctx := context.Background()
	c, _, err := a.Clients.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	su, err := a.SignUps.Create(ctx, c, SignUpParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := su.PrepareVerification(ctx, PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	return c, su
}
