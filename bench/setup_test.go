package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
)

// linkMailer is a no-op mailer that captures the link's token and the
// code of every message it is asked to send, per recipient. Benchmarks
// take them from it, never from magiclink's internals, so they hold
// whether a token is minted when the link is prepared or later, when a
// background sender sends it.
type linkMailer struct {
	sents mailboxes[sent]
}

// sent is what one message carried.
type sent struct{ token, code string }

func newLinkMailer() *linkMailer { return &linkMailer{sents: mailboxes[sent]{size: 1024}} }

func (m *linkMailer) inbox(to string) chan sent { return m.sents.of(to) }

// mailboxes hands out one buffered channel of size per address, made on
// first use.
type mailboxes[T any] struct {
	size int
	mu   sync.Mutex
	m    map[string]chan T
}

func (b *mailboxes[T]) of(addr string) chan T {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.m[addr]
	if ch == nil {
		if b.m == nil {
			b.m = map[string]chan T{}
		}
		ch = make(chan T, b.size)
		b.m[addr] = ch
	}
	return ch
}

// Send implements mailer.Mailer.
func (m *linkMailer) Send(_ context.Context, msg *mailer.Message) error {
	u, err := url.Parse(msg.Link)
	if err != nil {
		return err
	}
	if tok := u.Query().Get("token"); tok != "" {
		m.inbox(msg.To) <- sent{tok, msg.Code}
	}
	return nil
}

// await returns what the next message sent to addr carried.
func (m *linkMailer) await(tb testing.TB, addr string) sent {
	select {
	case s := <-m.inbox(addr):
		return s
	case <-time.After(10 * time.Second):
		tb.Fatalf("no link sent to %s within 10s", addr)
		return sent{}
	}
}

// watchSignal is a store that reports each Watch, so that a benchmark can
// confirm a link only once its waiter is listening, and counts Applies.
type watchSignal struct {
	store.Store
	watching chan string
	applies  atomic.Int64
}

// Apply implements store.Store.
func (w *watchSignal) Apply(ctx context.Context, ops ...store.Op) error {
	w.applies.Add(1)
	return w.Store.Apply(ctx, ops...)
}

// Watch implements store.Store.
func (w *watchSignal) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	ch, err := w.Store.Watch(ctx, key)
	if err == nil {
		select {
		case w.watching <- key:
		default:
		}
	}
	return ch, err
}

// env is an Auth on a fresh boltstore (durable writes, the default) in a
// temporary folder, with a capturing mailer and send limits off.
type env struct {
	auth  *magiclink.Auth
	mail  *linkMailer
	watch *watchSignal
}

func newEnv(tb testing.TB, mods ...func(*magiclink.Config)) *env {
	tb.Helper()
	bs, err := boltstore.Open(filepath.Join(tb.TempDir(), "magiclink.db"), boltstore.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bs.Close() })
	return newEnvOn(tb, bs, mods...)
}

// newEnvOn is an Auth on st, which the caller closes, with a capturing
// mailer and send limits off; mods change its Config further.
func newEnvOn(tb testing.TB, st store.Store, mods ...func(*magiclink.Config)) *env {
	tb.Helper()
	e := &env{mail: newLinkMailer(), watch: &watchSignal{Store: st, watching: make(chan string, 1)}}
	cfg := magiclink.Config{
		BaseURL: "http://app.test",
		Store:   e.watch,
		Mailer:  e.mail,
		Limits:  magiclink.Limits{Disabled: true},
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	var err error
	e.auth, err = magiclink.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.auth.Close() })
	return e
}

// user is one signed-up user with the client (browser) it signs in from.
type user struct {
	addr        string
	client      *magiclink.Client
	clientToken string
}

// userSeq numbers the users of a run, so that envs sharing a store never
// create the same address twice.
var userSeq atomic.Int64

// users creates n users, each with its own address and client.
func (e *env) users(tb testing.TB, n int) []*user {
	tb.Helper()
	ctx := context.Background()
	us := make([]*user, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range us {
		wg.Go(func() {
			u := &user{addr: fmt.Sprintf("user%d@example.com", userSeq.Add(1))}
			if _, err := e.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: u.addr}); err != nil {
				errs <- err
				return
			}
			c, tok, err := e.auth.Clients.Create(ctx)
			if err != nil {
				errs <- err
				return
			}
			u.client, u.clientToken = c, tok
			us[i] = u
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return us
}

// prepare starts a sign-in for u and sends its link; it returns the
// sign-in and what its email carried.
func (e *env) prepare(tb testing.TB, u *user) (*magiclink.SignIn, sent) {
	ctx := context.Background()
	si, err := e.auth.SignIns.Create(ctx, u.client, magiclink.SignInParams{Identifier: u.addr})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/done"}); err != nil {
		tb.Fatal(err)
	}
	return si, e.mail.await(tb, u.addr)
}

// signIn runs one complete sign-in flow for u: create, prepare (the link
// goes to the mailer), confirm in u's browser, and the session it creates.
// It returns the session's cookie value.
func (e *env) signIn(tb testing.TB, u *user) string {
	_, s := e.prepare(tb, u)
	res, err := e.auth.ConfirmLink(context.Background(), s.token, u.client)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Status != magiclink.LinkVerified || res.NewSession == nil {
		tb.Fatalf("confirming the link: %s, session %v", res.Status, res.NewSession != nil)
	}
	return res.NewSession.Token
}

// signInByCode is signIn with the email's code typed in u's browser
// instead of its link confirmed there.
func (e *env) signInByCode(tb testing.TB, u *user) string {
	ctx := context.Background()
	si, s := e.prepare(tb, u)
	si, err := si.AttemptFirstFactor(ctx, magiclink.AttemptParams{Strategy: magiclink.StrategyEmailCode, Code: s.code})
	if err != nil {
		tb.Fatal(err)
	}
	ns, err := si.ClaimSession(ctx)
	if err != nil || ns == nil {
		tb.Fatalf("claiming the code's session: %v, %v", ns, err)
	}
	return ns.Token
}
