package magiclink_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/smtp"
)

// outboxEntry is the part of an outbox entry the tests look at.
type outboxEntry struct {
	Attempts   int   `json:"attempts"`
	LeaseUntil int64 `json:"lease_until"`
}

// failedAttempt reports whether raw is an entry whose last attempt failed
// and was recorded (attempted, lease released).
func failedAttempt(raw []byte) bool {
	var e outboxEntry
	return raw != nil && json.Unmarshal(raw, &e) == nil && e.Attempts >= 1 && e.LeaseUntil == 0
}

// The acceptance test: with the SMTP server down, a prepared link
// is accepted; the process restarts; with the server back up, the message
// is delivered exactly once, its link works, and the link it superseded
// does not.
func TestOutboxSurvivesRestartAndSMTPOutage(t *testing.T) {
	ctx := context.Background()
	srv := deliverytest.StartSMTP(t)
	var failures atomic.Int32
	open, clock := newRestarts(t, func(c *magiclink.Config) {
		c.Mailer = srv.Mailer(t)
		c.OnSendFailure = func(context.Context, magiclink.SendFailure) { failures.Add(1) }
	})

	a := open()
	c := newClient(t, a)
	su, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "outage@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/welcome"}); err != nil {
		t.Fatal(err)
	}
	first := srv.Wait(t, 1)[0]
	if first.To != "outage@example.com" {
		t.Fatalf("first message to %s", first.To)
	}
	old := first.Token(t)

	// The server goes down; a new link is asked for and accepted.
	srv.SetMode(deliverytest.Down)
	clock.Advance(time.Minute) // past the send cooldown
	su2, err := su.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/welcome"})
	if err != nil {
		t.Fatalf("PrepareVerification with the mail server down: %v", err)
	}
	if v := su2.EmailVerification; v.Status != magiclink.VerificationUnverified {
		t.Fatalf("verification = %+v", v)
	}
	key := magiclink.OutboxPrefix + su.ID
	waitOutbox(t, a.Store(), key, failedAttempt)

	// The process restarts; the server is back.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages accepted while the server was down", n-1)
	}
	srv.SetMode(deliverytest.Up)
	clock.Advance(time.Minute) // past the retry's backoff
	a = open()
	defer a.Close()
	second := srv.Wait(t, 2)[1]
	waitOutbox(t, a.Store(), key, deliverytest.Gone)
	if second.To != "outage@example.com" {
		t.Fatalf("second message to %s", second.To)
	}
	tok := second.Token(t)

	if res, err := a.ConfirmLink(ctx, old, c); err != nil || res.Status != magiclink.LinkFailed {
		t.Fatalf("superseded link: %+v, %v; want failed", res, err)
	}
	res, err := a.ConfirmLink(ctx, tok, c)
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil || res.RedirectURL != "/welcome" {
		t.Fatalf("delivered link: %+v, %v; want verified with a session", res, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("server accepted %d messages; want 2 (no duplicate)", n)
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("OnSendFailure called %d times for temporary failures", n)
	}
}

// A temporary failure is retried after its backoff, with a new link.
func TestOutboxRetriesTemporaryFailure(t *testing.T) {
	e := newEnv(t, nil)
	e.mail.FailWith(&smtp.Error{Op: "data", Server: "mx.test:25", Code: 451, Err: errors.New("4.3.0 try again later")})
	c, su := prepareSignUp(t, e.auth, "retry@example.com")
	key := magiclink.OutboxPrefix + su.ID
	waitOutbox(t, e.auth.Store(), key, failedAttempt)
	e.mail.FailWith(nil)
	e.clock.Advance(5 * time.Minute)
	magiclink.KickSender(e.auth)
	tok := e.token(t, 1)
	waitOutbox(t, e.auth.Store(), key, deliverytest.Gone)
	ctx := context.Background()
	got, err := e.auth.SignUps.Get(ctx, c, su.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The link's lifetime starts when it is sent.
	if v := got.EmailVerification; v.Status != magiclink.VerificationUnverified || !v.ExpireAt.Equal(e.clock.Now().Add(magiclink.DefaultLinkTTL)) {
		t.Fatalf("verification after the retry = %+v", v)
	}
	if res, err := e.auth.ConfirmLink(ctx, tok, c); err != nil || res.Status != magiclink.LinkVerified {
		t.Fatalf("ConfirmLink = %+v, %v", res, err)
	}
}

// A permanent failure fails the verification (a waiting tab learns it at
// once), is reported to OnSendFailure once without the link, and the flow
// can be prepared again. The same holds for an added email address.
func TestOutboxPermanentFailure(t *testing.T) {
	e, failures := newFailuresEnv(t)
	ctx := context.Background()
	c := e.client(t)
	sess := e.signUp(t, c, "owner@example.com")
	bounce := &smtp.Error{Op: "rcpt", Server: "mx.test:25", Code: 550, Err: errors.New("5.1.1 no such mailbox")}
	failure := func(t *testing.T) magiclink.SendFailure {
		t.Helper()
		select {
		case f := <-failures:
			return f
		case <-time.After(10 * time.Second):
			t.Fatal("OnSendFailure not called within 10s")
		}
		panic("unreachable")
	}

	t.Run("sign-up", func(t *testing.T) {
		su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "bounce@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		e.mail.FailWith(bounce)
		waiting := make(chan *magiclink.SignUp, 1)
		go func() {
			su, err := su.StartMagicLinkFlow(ctx, magiclink.FlowParams{})
			if err != nil {
				t.Error(err)
			}
			waiting <- su
		}()
		f := failure(t)
		if f.FlowID != su.ID || f.Kind != mailer.KindSignUp || f.To != "bounce@example.com" || f.Attempts != 1 ||
			!mailer.IsPermanent(f.Err) || errors.Is(f.Err, magiclink.ErrSendGaveUp) || strings.Contains(f.Err.Error(), "token") {
			t.Fatalf("SendFailure = %+v", f)
		}
		select {
		case got := <-waiting:
			if got == nil || got.EmailVerification.Status != magiclink.VerificationFailed {
				t.Fatalf("StartMagicLinkFlow returned %+v", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting flow did not learn of the failure")
		}
		waitOutbox(t, e.auth.Store(), magiclink.OutboxPrefix+su.ID, deliverytest.Gone)

		// Asking again works once the address accepts mail.
		e.mail.FailWith(nil)
		e.clock.Advance(time.Minute)
		n := len(e.mail.Messages()) + 1
		if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
			t.Fatal(err)
		}
		if res, err := e.auth.ConfirmLink(ctx, e.token(t, n), c); err != nil || res.Status != magiclink.LinkVerified {
			t.Fatalf("ConfirmLink after a new prepare = %+v, %v", res, err)
		}
	})

	t.Run("email address", func(t *testing.T) {
		s, err := e.auth.Sessions.Lookup(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		ea, err := e.auth.EmailAddresses.Create(ctx, s.UserID, magiclink.EmailAddressParams{EmailAddress: "typo@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		e.mail.FailWith(bounce)
		if _, err := ea.PrepareVerification(ctx, c, magiclink.PrepareParams{}); err != nil {
			t.Fatal(err)
		}
		if f := failure(t); f.FlowID != ea.ID || f.Kind != mailer.KindVerifyEmail {
			t.Fatalf("SendFailure = %+v", f)
		}
		got, err := e.auth.EmailAddresses.Wait(ctx, s.UserID, ea.ID, time.Second)
		if err != nil || got.Verification.Status != magiclink.VerificationFailed {
			t.Fatalf("address after the failure = %+v, %v", got, err)
		}
		e.mail.FailWith(nil)
		e.clock.Advance(time.Minute)
		n := len(e.mail.Messages()) + 1
		if _, err := ea.PrepareVerification(ctx, c, magiclink.PrepareParams{}); err != nil {
			t.Fatalf("preparing again after a failed send: %v", err)
		}
		if res, err := e.auth.ConfirmLink(ctx, e.token(t, n), c); err != nil || res.Status != magiclink.LinkVerified {
			t.Fatalf("ConfirmLink after a new prepare = %+v, %v", res, err)
		}
	})

	e.auth.Close()
	select {
	case f := <-failures:
		t.Fatalf("OnSendFailure called again: %+v", f)
	default:
	}
}

// A message that cannot be delivered for a day is given up.
func TestOutboxGivesUp(t *testing.T) {
	e, failures := newFailuresEnv(t)
	ctx := context.Background()
	c := e.client(t)
	si := e.signIn(t, c, "unreachable@example.com")
	e.mail.FailWith(errors.New("connection refused"))
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	key := magiclink.OutboxPrefix + si.ID
	waitOutbox(t, e.auth.Store(), key, failedAttempt)
	e.clock.Advance(25 * time.Hour)
	magiclink.KickSender(e.auth)
	select {
	case f := <-failures:
		if !errors.Is(f.Err, magiclink.ErrSendGaveUp) || !strings.Contains(f.Err.Error(), "connection refused") ||
			f.Attempts != 1 || f.Kind != mailer.KindNoAccount {
			t.Fatalf("SendFailure = %+v (%v)", f, f.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnSendFailure not called within 10s")
	}
	waitOutbox(t, e.auth.Store(), key, deliverytest.Gone)
}

// A request never waits for the mail server.
func TestOutboxPrepareDoesNotWaitForMailer(t *testing.T) {
	bm := newBlockingMailer(8)
	e := newEnv(t, func(c *magiclink.Config) { c.Mailer = bm })
	ctx := context.Background()
	c := e.client(t)
	for i, addr := range []string{"slow1@example.com", "slow2@example.com"} {
		su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addr})
		if err != nil {
			t.Fatal(err)
		}
		// With the first message stuck in the mailer, this returns.
		if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-bm.entered
		}
	}
	close(bm.release)
	if _, err := bm.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
}

// Two instances on one store deliver every message once: claims keep
// them from sending the same entry.
func TestOutboxTwoInstancesDeliverOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *magiclink.Config) { c.Limits.Disabled = true })
	mt := e.mail
	auths := [2]*magiclink.Auth{e.auth, e.instance(t, nil)}
	const n = 40
	type flow struct {
		c  *magiclink.Client
		id string
	}
	flows := map[string]flow{}
	for i := range n {
		addr := "twice" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "@example.com"
		c, su := prepareSignUp(t, auths[i%2], addr)
		magiclink.KickSender(auths[(i+1)%2]) // the other instance competes for it
		flows[addr] = flow{c, su.ID}
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := mt.Wait(wctx, n); err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		waitOutbox(t, e.cfg.Store, magiclink.OutboxPrefix+f.id, deliverytest.Gone)
	}
	for _, a := range auths {
		a.Close()
	}
	msgs := mt.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages for %d prepared links", len(msgs), n)
	}
	seen := map[string]bool{}
	a2 := e.instance(t, func(c *magiclink.Config) { c.Limits = magiclink.Limits{} })
	for _, m := range msgs {
		if seen[m.To] {
			t.Fatalf("%s got two messages", m.To)
		}
		seen[m.To] = true
		tok := authtest.LinkToken(t, m)
		if res, err := a2.ConfirmLink(ctx, tok, flows[m.To].c); err != nil || res.Status != magiclink.LinkVerified {
			t.Fatalf("%s: ConfirmLink = %+v, %v", m.To, res, err)
		}
	}
}

// newFailuresEnv returns an env whose Auth sends each SendFailure it
// reports to the channel (up to 8 unread).
func newFailuresEnv(t *testing.T) (*env, chan magiclink.SendFailure) {
	failures := make(chan magiclink.SendFailure, 8)
	return newEnv(t, func(c *magiclink.Config) {
		c.OnSendFailure = func(_ context.Context, f magiclink.SendFailure) { failures <- f }
	}), failures
}
