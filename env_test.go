package magiclink_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// env is an Auth on a memstore with a fake clock and a capture mailer.
type env struct {
	auth    *magiclink.Auth
	cfg     magiclink.Config // what auth was made of
	mail    *mailtest.Mailer
	clock   *storetest.Clock
	watches chan string
}

// watchSignal is a store that reports each Watch subscription, so tests
// can wait until a long poll is really waiting.
type watchSignal struct {
	store.Store
	watches chan string
}

func (w watchSignal) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	ch, err := w.Store.Watch(ctx, key)
	select {
	case w.watches <- key:
	default:
	}
	return ch, err
}

// subscribed waits until some waiter has subscribed to a store key.
func (e *env) subscribed(t *testing.T) {
	t.Helper()
	select {
	case <-e.watches:
	case <-time.After(10 * time.Second):
		t.Fatal("nobody started waiting within 10s")
	}
}

func newEnv(t testing.TB, mod func(*magiclink.Config)) *env {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	mt := mailtest.New()
	watches := make(chan string, 64)
	cfg := magiclink.Config{
		BaseURL: "https://app.example",
		Store:   watchSignal{memstore.New(memstore.Config{Now: clock.Now}), watches},
		Mailer:  mt,
		Now:     clock.Now,
	}
	a := authtest.New(t, &cfg, mod)
	return &env{auth: a, cfg: cfg, mail: mt, clock: clock, watches: watches}
}

// newRestarts returns open, which makes an Auth on one bbolt file in a
// temporary folder each time it is called, as a process restarting on its
// database does, and the fake clock they share. Each Auth has the tests'
// BaseURL and a capture mailer, changed by mod; the caller closes each
// before it opens the next (each is also closed when t ends).
func newRestarts(t *testing.T, mod func(*magiclink.Config)) (open func() *magiclink.Auth, clock *storetest.Clock) {
	db := filepath.Join(t.TempDir(), "magiclink.db")
	clock = storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	return func() *magiclink.Auth {
		t.Helper()
		cfg := magiclink.Config{BaseURL: "https://app.example", DBPath: db, Mailer: mailtest.New(), Now: clock.Now}
		return authtest.New(t, &cfg, mod)
	}, clock
}

// instance returns another Auth made of e's configuration changed by mod
// (when not nil), closed when t ends: a second process on the same
// store, clock and mailer.
func (e *env) instance(t testing.TB, mod func(*magiclink.Config)) *magiclink.Auth {
	t.Helper()
	cfg := e.cfg
	return authtest.New(t, &cfg, mod)
}

// newClient creates a client of a, as a browser's first visit does.
func newClient(t testing.TB, a *magiclink.Auth) *magiclink.Client { return authtest.Client(t, a) }

func (e *env) client(t *testing.T) *magiclink.Client {
	return newClient(t, e.auth)
}

// message waits for the n-th message (1-based) and returns it.
func (e *env) message(t *testing.T, n int) *mailer.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := e.mail.Wait(ctx, n)
	if err != nil {
		t.Fatalf("waiting for message %d: %v", n, err)
	}
	return msgs[n-1]
}

// token returns the token of the n-th message's link.
func (e *env) token(t *testing.T, n int) string {
	t.Helper()
	return authtest.LinkToken(t, e.message(t, n))
}

// prepareSignUp starts a sign-up for addr in a new client and prepares
// its link.
func prepareSignUp(t *testing.T, a *magiclink.Auth, addr string) (*magiclink.Client, *magiclink.SignUp) {
	t.Helper()
	ctx := context.Background()
	c := newClient(t, a)
	su, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	return c, su
}

// signIn starts a sign-in of addr on client c through the Go API,
// failing t if it cannot.
func (e *env) signIn(t testing.TB, c *magiclink.Client, addr string) *magiclink.SignIn {
	t.Helper()
	si, err := e.auth.SignIns.Create(context.Background(), c, magiclink.SignInParams{Identifier: addr})
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// signUp registers addr through the Go API and returns the new session.
func (e *env) signUp(t *testing.T, c *magiclink.Client, addr string) *magiclink.NewSession {
	t.Helper()
	ctx := context.Background()
	su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	n := len(e.mail.Messages()) + 1
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/welcome"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.auth.ConfirmLink(ctx, e.token(t, n), c)
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil {
		t.Fatalf("ConfirmLink = %+v, %v; want verified with a session", res, err)
	}
	e.clock.Advance(time.Minute) // past the send cooldown
	return res.NewSession
}
