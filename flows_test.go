package magiclink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/mailer"
)

func TestSignUpThenSignInSameClient(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)

	su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "Ada@Example.COM"})
	if err != nil {
		t.Fatal(err)
	}
	if su.Status != magiclink.SignUpMissingRequirements || su.EmailAddress != "Ada@example.com" {
		t.Fatalf("created sign-up = %s %q", su.Status, su.EmailAddress)
	}
	su, err = su.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/welcome"})
	if err != nil {
		t.Fatal(err)
	}
	if v := su.EmailVerification; v == nil || v.Status != magiclink.VerificationUnverified || !v.ExpireAt.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("verification after prepare = %+v", su.EmailVerification)
	}
	m := e.message(t, 1)
	if m.Kind != mailer.KindSignUp || m.To != "Ada@example.com" {
		t.Fatalf("message = %s to %s", m.Kind, m.To)
	}
	res, err := e.auth.ConfirmLink(ctx, e.token(t, 1), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != magiclink.LinkVerified || res.RedirectURL != "/welcome" || res.NewSession == nil || res.FlowID != su.ID {
		t.Fatalf("ConfirmLink = %+v", res)
	}
	su, err = e.auth.SignUps.Get(ctx, c, su.ID)
	if err != nil {
		t.Fatal(err)
	}
	if su.Status != magiclink.SignUpComplete || su.CreatedUserID == "" || su.CreatedSessionID != res.NewSession.ID ||
		!su.EmailVerification.VerifiedFromTheSameClient {
		t.Fatalf("sign-up after confirm = %+v", su)
	}
	if s, _ := su.ClaimSession(ctx); s != nil {
		t.Fatal("the session was handed out twice")
	}
	sess, err := e.auth.Sessions.Lookup(ctx, res.NewSession.Token)
	if err != nil || sess.UserID != su.CreatedUserID {
		t.Fatalf("Lookup = %+v, %v", sess, err)
	}
	u, err := e.auth.Users.Get(ctx, su.CreatedUserID)
	if err != nil || u.PrimaryEmailAddress() != "Ada@example.com" || u.EmailAddresses[0].Verification.Status != magiclink.VerificationVerified {
		t.Fatalf("user = %+v, %v", u, err)
	}
	// The link is used up.
	if again, _ := e.auth.ConfirmLink(ctx, e.token(t, 1), c); again.Status != magiclink.LinkFailed || again.RedirectURL != "/welcome" {
		t.Fatalf("second ConfirmLink = %+v", again)
	}

	e.clock.Advance(time.Minute)
	si := e.signIn(t, c, "ada@EXAMPLE.com")
	if si.Status != magiclink.SignInNeedsFirstFactor || si.SupportedFirstFactors[0].EmailAddressID != u.PrimaryEmailAddressID {
		t.Fatalf("sign-in = %+v", si)
	}
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{EmailAddressID: u.PrimaryEmailAddressID}); err != nil {
		t.Fatal(err)
	}
	if m := e.message(t, 2); m.Kind != mailer.KindSignIn {
		t.Fatalf("sign-in message kind = %s", m.Kind)
	}
	res, err = e.auth.ConfirmLink(ctx, e.token(t, 2), c)
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil || res.RedirectURL != "/" {
		t.Fatalf("ConfirmLink = %+v, %v", res, err)
	}
	if res.NewSession.Token == sess.ID || res.NewSession.ID == sess.ID {
		t.Fatal("a sign-in reused the previous session")
	}
	si, _ = e.auth.SignIns.Get(ctx, c, si.ID)
	if si.Status != magiclink.SignInComplete || si.CreatedSessionID != res.NewSession.ID {
		t.Fatalf("sign-in after confirm = %+v", si)
	}
}

func TestCrossClient(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "same-client required", true: "cross-client allowed"}[allow], func(t *testing.T) {
			e := newEnv(t, func(c *magiclink.Config) { c.AllowCrossClient = allow })
			ctx := context.Background()
			a, b := e.client(t), e.client(t)
			e.signUp(t, a, "grace@example.com")

			si := e.signIn(t, a, "grace@example.com")
			if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/done"}); err != nil {
				t.Fatal(err)
			}
			tok := e.token(t, 2)
			res, err := e.auth.ConfirmLink(ctx, tok, b)
			if err != nil {
				t.Fatal(err)
			}
			if !allow {
				if res.Status != magiclink.LinkClientMismatch || res.NewSession != nil {
					t.Fatalf("other client: %+v; want client_mismatch and no session", res)
				}
				if _, err := e.auth.SignIns.Get(ctx, b, si.ID); !errors.Is(err, magiclink.ErrNotFound) {
					t.Fatalf("other client read the sign-in: %v", err)
				}
				res, err = e.auth.ConfirmLink(ctx, tok, a)
				if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil {
					t.Fatalf("original client after mismatch: %+v, %v", res, err)
				}
				return
			}
			if res.Status != magiclink.LinkVerified || res.NewSession != nil || res.SessionID == "" {
				t.Fatalf("other client: %+v; want verified, session elsewhere", res)
			}
			got, err := e.auth.SignIns.Get(ctx, a, si.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != magiclink.SignInComplete || got.FirstFactorVerification.VerifiedFromTheSameClient {
				t.Fatalf("sign-in = %s, same client %v", got.Status, got.FirstFactorVerification.VerifiedFromTheSameClient)
			}
			s, err := got.ClaimSession(ctx)
			if err != nil || s == nil || s.ID != res.SessionID {
				t.Fatalf("original client's claim = %+v, %v", s, err)
			}
			if _, err := e.auth.Sessions.Lookup(ctx, s.Token); err != nil {
				t.Fatal(err)
			}
			again, _ := e.auth.SignIns.Get(ctx, a, si.ID)
			if s2, _ := again.ClaimSession(ctx); s2 != nil {
				t.Fatal("the session was handed out twice")
			}
		})
	}
}

func TestStartMagicLinkFlow(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) { c.AllowCrossClient = true })
	ctx := context.Background()
	a, b := e.client(t), e.client(t)
	e.signUp(t, a, "linus@example.com")
	si := e.signIn(t, a, "linus@example.com")
	done := make(chan *magiclink.SignIn, 1)
	go func() {
		out, err := si.StartMagicLinkFlow(ctx, magiclink.FlowParams{RedirectURL: "/x"})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	if _, err := e.auth.ConfirmLink(ctx, e.token(t, 2), b); err != nil {
		t.Fatal(err)
	}
	out := <-done
	if out == nil || out.Status != magiclink.SignInComplete {
		t.Fatalf("StartMagicLinkFlow = %+v", out)
	}
	s, err := out.ClaimSession(ctx)
	if err != nil || s == nil {
		t.Fatalf("waiting side got no session: %v", err)
	}

	// Cancelling ctx stops the wait.
	e.clock.Advance(time.Minute)
	si2, _ := e.auth.SignIns.Create(ctx, a, magiclink.SignInParams{Identifier: "linus@example.com"})
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := si2.StartMagicLinkFlow(cctx, magiclink.FlowParams{})
		errc <- err
	}()
	e.message(t, 3)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled flow returned %v", err)
	}
}

func TestLinkExpiresAndSupersedes(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) { c.LinkTTL = 2 * time.Minute })
	ctx := context.Background()
	c := e.client(t)
	e.signUp(t, c, "kay@example.com")
	si, _ := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "kay@example.com"})
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	first := e.token(t, 2)
	e.clock.Advance(2 * time.Minute)
	if res, _ := e.auth.ConfirmLink(ctx, first, c); res.Status != magiclink.LinkExpired {
		t.Fatalf("expired link: %s", res.Status)
	}
	si, _ = e.auth.SignIns.Get(ctx, c, si.ID)
	if si.FirstFactorVerification.Status != magiclink.VerificationExpired {
		t.Fatalf("verification = %s, want expired", si.FirstFactorVerification.Status)
	}
	// A new link works; the old one stays dead.
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	second := e.token(t, 3)
	e.clock.Advance(time.Minute)
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	third := e.token(t, 4)
	if res, _ := e.auth.ConfirmLink(ctx, second, c); res.Status != magiclink.LinkFailed {
		t.Fatalf("superseded link: %s", res.Status)
	}
	if res, _ := e.auth.ConfirmLink(ctx, third, c); res.Status != magiclink.LinkVerified {
		t.Fatalf("newest link: %s", res.Status)
	}
}

func TestConcurrentConfirmationsYieldOneSession(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := prepareSignUp(t, e.auth, "race@example.com")
	tok := e.token(t, 1)
	confirmRace(t, 64, func() (bool, int, error) {
		res, err := e.auth.ConfirmLink(context.Background(), tok, c)
		if err != nil {
			return false, 0, err
		}
		sessions := 0
		if res.NewSession != nil {
			sessions = 1
		}
		return res.Status == magiclink.LinkVerified, sessions, nil
	})
}

// confirmRace runs n confirmations of one link at once and fails t unless
// exactly one verified it and exactly one session was created. Each
// confirm reports whether it verified the link and how many sessions it
// was handed.
func confirmRace(t *testing.T, n int, confirm func() (verified bool, sessions int, err error)) {
	t.Helper()
	verified, sessions := make([]bool, n), make([]int, n)
	errs := racetest.Run(n, func(i int, start func()) error {
		start()
		var err error
		verified[i], sessions[i], err = confirm()
		return err
	})
	nv, ns := 0, 0
	for i, err := range errs {
		if err != nil {
			t.Error(err)
		}
		if verified[i] {
			nv++
		}
		ns += sessions[i]
	}
	if nv != 1 || ns != 1 {
		t.Fatalf("%d verified, %d sessions; want exactly 1 each", nv, ns)
	}
}

func TestEmailAddressVerification(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)
	s := e.signUp(t, c, "owner@example.com")
	ea, err := e.auth.EmailAddresses.Create(ctx, s.UserID, magiclink.EmailAddressParams{EmailAddress: "second@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if ea.Verification != nil {
		t.Fatalf("new address has a verification: %+v", ea.Verification)
	}
	if _, err := e.auth.EmailAddresses.Create(ctx, s.UserID, magiclink.EmailAddressParams{EmailAddress: "SECOND@example.org"}); !errors.Is(err, magiclink.ErrIdentifierExists) {
		t.Fatalf("adding the same address twice: %v", err)
	}
	if _, err := ea.PrepareVerification(ctx, c, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	if m := e.message(t, 2); m.Kind != mailer.KindVerifyEmail || m.To != "second@example.org" {
		t.Fatalf("message = %s to %s", m.Kind, m.To)
	}
	res, err := e.auth.ConfirmLink(ctx, e.token(t, 2), c)
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession != nil {
		t.Fatalf("ConfirmLink = %+v, %v", res, err)
	}
	ea, _ = e.auth.EmailAddresses.Get(ctx, s.UserID, ea.ID)
	if ea.Verification.Status != magiclink.VerificationVerified {
		t.Fatalf("address status = %s", ea.Verification.Status)
	}
	u, _ := e.auth.Users.Get(ctx, s.UserID)
	if len(u.EmailAddresses) != 2 {
		t.Fatalf("user has %d addresses", len(u.EmailAddresses))
	}
	// The verified address now signs in to the same user.
	if found, err := e.auth.Users.FindByEmail(ctx, "second@example.org"); err != nil || found.ID != s.UserID {
		t.Fatalf("FindByEmail = %v, %v", found, err)
	}
	// Another user cannot read it.
	other := e.signUp(t, e.client(t), "other@example.com")
	if _, err := e.auth.EmailAddresses.Get(ctx, other.UserID, ea.ID); !errors.Is(err, magiclink.ErrNotFound) {
		t.Fatalf("another user read the address: %v", err)
	}
}

func TestEnumerationProtection(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)
	existing := e.signUp(t, c, "known@example.com")

	// Sign-in with an unknown address looks like any other.
	si, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "nobody@example.com"})
	if err != nil || si.Status != magiclink.SignInNeedsFirstFactor || si.SupportedFirstFactors[0].EmailAddressID == "" {
		t.Fatalf("unknown sign-in = %+v, %v", si, err)
	}
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	if m := e.message(t, 2); m.Kind != mailer.KindNoAccount || m.Link != "https://app.example/" {
		t.Fatalf("unknown address got %s with link %q", m.Kind, m.Link)
	}

	// Sign-up with a registered address sends a sign-in link instead.
	su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "known@example.com"})
	if err != nil || su.Status != magiclink.SignUpMissingRequirements {
		t.Fatalf("sign-up of a registered address = %+v, %v", su, err)
	}
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	if m := e.message(t, 3); m.Kind != mailer.KindSignUpExisting {
		t.Fatalf("registered address got %s", m.Kind)
	}
	res, err := e.auth.ConfirmLink(ctx, e.token(t, 3), c)
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil || res.NewSession.UserID != existing.UserID {
		t.Fatalf("ConfirmLink = %+v, %v; want a session for the existing user", res, err)
	}

	off := newEnv(t, func(c *magiclink.Config) { c.DisableEnumerationProtection = true })
	oc := off.client(t)
	off.signUp(t, oc, "known@example.com")
	if _, err := off.auth.SignIns.Create(ctx, oc, magiclink.SignInParams{Identifier: "nobody@example.com"}); magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "form_identifier_not_found" {
		t.Fatalf("unknown sign-in with protection off: %v", err)
	}
	if _, err := off.auth.SignUps.Create(ctx, oc, magiclink.SignUpParams{EmailAddress: "KNOWN@example.com"}); magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "form_identifier_exists" {
		t.Fatalf("registered sign-up with protection off: %v", err)
	}
}

func TestSendLimits(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)
	for _, addr := range []string{"limit@example.com", "unknown-limit@example.com"} {
		si, _ := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: addr})
		if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
			t.Fatal(err)
		}
		_, err := si.PrepareVerification(ctx, magiclink.PrepareParams{})
		ae := magiclink.AsError(err)
		if ae == nil || ae.Code != "too_many_requests" || ae.Status != 429 || ae.RetryAfterSeconds != 30 {
			t.Fatalf("%s: second send = %v", addr, err)
		}
		for range 4 {
			e.clock.Advance(31 * time.Second)
			if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(31 * time.Second)
		if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); !errors.Is(err, magiclink.ErrRateLimited) {
			t.Fatalf("%s: sixth send in an hour = %v", addr, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)
	for _, addr := range []string{"", "no-at-sign", "a@", "@b.com", "a@nodot", "Ada <ada@example.com>", "ada@example.com\r\nBcc: x@y.z",
		"ada@exa mple.com", "a@b..com", "(c)a@b.com"} {
		if _, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: addr}); !errors.Is(err, magiclink.ErrInvalidParam) {
			t.Errorf("identifier %q: %v; want ErrInvalidParam", addr, err)
		}
		if _, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addr}); !errors.Is(err, magiclink.ErrInvalidParam) {
			t.Errorf("email_address %q: %v; want ErrInvalidParam", addr, err)
		}
	}
	for _, id := range []string{"", "sia_", "sia_../../x", "sua_00000000000000000000000000000000", "sia_0196f0c0a1b27c3d8e9f000000000000"} {
		if _, err := e.auth.SignIns.Get(ctx, c, id); !errors.Is(err, magiclink.ErrNotFound) {
			t.Errorf("sign-in %q: %v; want ErrNotFound", id, err)
		}
	}
	for _, tok := range []string{"", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		res, err := e.auth.ConfirmLink(ctx, tok, c)
		if err != nil || res.Status != magiclink.LinkFailed || res.RedirectURL != "/" {
			t.Errorf("token %q: %+v, %v", tok, res, err)
		}
	}
	si, _ := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "r@example.com"})
	for _, u := range []string{"//evil.com", "/\\evil.com", "https:evil.com", "javascript:alert(1)", "https://evil.com/", "https://app.example@evil.com/", "relative"} {
		if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: u}); !errors.Is(err, magiclink.ErrInvalidParam) {
			t.Errorf("redirect_url %q: %v; want ErrInvalidParam", u, err)
		}
	}
	if len(e.mail.Messages()) != 0 {
		t.Fatalf("bad input sent %d messages", len(e.mail.Messages()))
	}
}
