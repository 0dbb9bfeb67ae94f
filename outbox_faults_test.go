package magiclink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
)

// leaseOf returns the lease end (Unix ms) of an outbox entry, 0 when
// unclaimed or absent.
func leaseOf(raw []byte) int64 {
	var e outboxEntry
	if raw == nil || json.Unmarshal(raw, &e) != nil {
		return 0
	}
	return e.LeaseUntil
}

// live reports whether a link can still be used, without using it: with
// same-client binding on, a live link confirmed without a client answers
// client_mismatch and nothing changes.
func live(t *testing.T, a *magiclink.Auth, token string) bool {
	t.Helper()
	res, err := a.ConfirmLink(context.Background(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status == magiclink.LinkClientMismatch
}

// Fault: the mail server accepts a message but the sender does not learn
// it (the connection drops after DATA), so the same send is retried.
// Rule: a retry never kills a link that may have been delivered — both
// links work until one is used, and then neither does.
func TestOutboxRetryKeepsEarlierLink(t *testing.T) {
	lost := newLostAnswer()
	lost.fail.Store(true)
	e := newEnv(t, func(c *magiclink.Config) { c.Mailer = lost })
	e.mail = lost.Mailer
	ctx := context.Background()
	c, su := prepareSignUp(t, e.auth, "twice@example.com")
	m1 := e.message(t, 1)
	first := authtest.LinkToken(t, m1)
	waitOutbox(t, e.auth.Store(), magiclink.OutboxPrefix+su.ID, failedAttempt)
	lost.fail.Store(false)
	e.clock.Advance(2 * time.Second) // past the first retry's backoff
	magiclink.KickSender(e.auth)
	m2 := e.message(t, 2)
	second := authtest.LinkToken(t, m2)
	waitOutbox(t, e.auth.Store(), magiclink.OutboxPrefix+su.ID, deliverytest.Gone)
	if first == second {
		t.Fatal("the retry sent the same token")
	}
	// The code of the send is the same in both emails, so either works.
	if m1.Code == "" || m1.Code != m2.Code {
		t.Fatalf("codes of two attempts of one send: %q, %q; want the same", m1.Code, m2.Code)
	}
	if !live(t, e.auth, first) || !live(t, e.auth, second) {
		t.Fatalf("after a retry of the same send: first link live %v, second %v; want both", live(t, e.auth, first), live(t, e.auth, second))
	}
	if res, err := e.auth.ConfirmLink(ctx, first, c); err != nil || res.Status != magiclink.LinkVerified {
		t.Fatalf("the first email's link: %+v, %v; want verified", res, err)
	}
	if live(t, e.auth, second) {
		t.Fatal("the second link still works after the first was used")
	}
	// A new prepare by the person still supersedes every earlier link.
	e.clock.Advance(time.Minute)
	si := e.signIn(t, c, "twice@example.com")
	for i := range 2 {
		if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
			t.Fatal(err)
		}
		tok := authtest.LinkToken(t, e.message(t, 3+i))
		waitOutbox(t, e.auth.Store(), magiclink.OutboxPrefix+si.ID, deliverytest.Gone)
		if i == 0 {
			first = tok
			e.clock.Advance(time.Minute) // past the send cooldown
			continue
		}
		if live(t, e.auth, first) || !live(t, e.auth, tok) {
			t.Fatalf("after a new prepare: old link live %v, new %v; want only the new", live(t, e.auth, first), live(t, e.auth, tok))
		}
	}
}

// Fault: a slow mail server, with more emails waiting than the sender
// sends at once. Rule: an entry is claimed when a worker is ready to send
// it, not in bulk: the ones waiting stay unclaimed, and another instance
// sends them at once.
func TestOutboxClaimsOnlyWhatItSends(t *testing.T) {
	ctx := context.Background()
	bm := newBlockingMailer(64)
	e := newEnv(t, func(c *magiclink.Config) { c.Mailer, c.Limits.Disabled = bm, true })
	a := e.auth
	const n, workers = 24, 16
	for i := range n {
		prepareSignUp(t, a, fmt.Sprintf("queued%d@example.com", i))
	}
	for range workers {
		<-bm.entered
	}
	// A second instance starts: the emails the first is not sending are
	// free for it, though the clock does not move.
	other := mailtest.New()
	b := e.instance(t, func(c *magiclink.Config) { c.Mailer = other })
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := other.Wait(wctx, n-workers); err != nil {
		t.Fatalf("the emails waiting behind a slow mail server were claimed ahead of time: %v", err)
	}
	close(bm.release)
	if _, err := bm.Wait(wctx, workers); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	seen := map[string]bool{}
	for _, m := range append(bm.Messages(), other.Messages()...) {
		if seen[m.To] {
			t.Fatalf("%s got two emails", m.To)
		}
		seen[m.To] = true
	}
	if len(seen) != n {
		t.Fatalf("%d addresses got an email; want %d", len(seen), n)
	}
}

// Fault: a message takes longer to send than a lease lasts. Rule: the
// sender renews the lease while it works, so another instance does not
// take the entry over and send it again.
func TestOutboxRenewsLeaseWhileSending(t *testing.T) {
	deliverytest.ShortLeases(t, time.Minute, 10*time.Millisecond) // renewals come in real time; the lease runs on the test's clock
	ctx := context.Background()
	bm := newBlockingMailer(8)
	e := newEnv(t, func(c *magiclink.Config) { c.Mailer = bm })
	a, st, clock := e.auth, e.cfg.Store, e.clock
	_, su := prepareSignUp(t, a, "slow@example.com")
	<-bm.entered // being sent, and slow about it
	key := magiclink.OutboxPrefix + su.ID
	raw, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	claimedUntil := leaseOf(raw)
	clock.Advance(time.Minute) // the claim's lease has run out...
	waitOutbox(t, st, key, func(raw []byte) bool { return leaseOf(raw) > claimedUntil })
	// ...but it was renewed: another instance starting now leaves it.
	b := e.instance(t, nil)
	magiclink.KickSender(b)
	close(bm.release)
	waitOutbox(t, st, key, deliverytest.Gone)
	a.Close()
	b.Close()
	if n := len(bm.Messages()); n != 1 {
		t.Fatalf("%d messages sent; want 1 (the renewed lease kept the other instance off)", n)
	}
}

// flakyStore fails every Apply that deletes an outbox entry while down,
// as a database restarting right after a send does, and reports each
// failure on failed.
type flakyStore struct {
	store.Store
	mu     sync.Mutex
	down   bool
	failed chan struct{}
}

func (s *flakyStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *flakyStore) Apply(ctx context.Context, ops ...store.Op) error {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down && ops[0].Kind == store.OpDeleteIf && strings.HasPrefix(ops[0].Key, magiclink.OutboxPrefix) {
		select {
		case s.failed <- struct{}{}:
		default:
		}
		return fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return s.Store.Apply(ctx, ops...)
}

// Fault: the database restarts right after the mail server accepted a
// message, so recording it as sent fails a few times. Rule: the record is
// retried with backoff until the database is back: no second email, and
// the first link works.
func TestOutboxRecordsSendAcrossStoreRestart(t *testing.T) {
	var fs *flakyStore
	e := newEnv(t, func(c *magiclink.Config) {
		fs = &flakyStore{Store: c.Store, failed: make(chan struct{}, 1)}
		c.Store = fs
	})
	a, mt := e.auth, e.mail
	ctx := context.Background()
	fs.setDown(true)
	c, su := prepareSignUp(t, a, "blip@example.com")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := mt.Wait(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // the first try and three retries fail
		select {
		case <-fs.failed:
		case <-wctx.Done():
			t.Fatal("the sender stopped trying to record the send")
		}
	}
	fs.setDown(false)
	key := magiclink.OutboxPrefix + su.ID
	waitOutbox(t, fs, key, deliverytest.Gone)
	if res, err := a.ConfirmLink(ctx, authtest.LinkToken(t, msgs[0]), c); err != nil || res.Status != magiclink.LinkVerified {
		t.Fatalf("the first email's link: %+v, %v; want verified", res, err)
	}
	a.Close()
	if n := len(mt.Messages()); n != 1 {
		t.Fatalf("%d emails; want 1", n)
	}
}
