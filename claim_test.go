package magiclink_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// crossDeviceSignIn signs addr up on a fresh client, then starts a
// sign-in for it on client a and confirms the link on another client, so
// that the sign-in is complete and its session waits for a.
func crossDeviceSignIn(t *testing.T, e *env, a *magiclink.Client, addr string) *magiclink.SignIn {
	t.Helper()
	ctx := context.Background()
	e.signUp(t, e.client(t), addr)
	si, err := e.auth.SignIns.Create(ctx, a, magiclink.SignInParams{Identifier: addr})
	if err != nil {
		t.Fatal(err)
	}
	n := len(e.mail.Messages()) + 1
	if _, err := si.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
	res, err := e.auth.ConfirmLink(ctx, e.token(t, n), e.client(t))
	if err != nil || res.Status != magiclink.LinkVerified || res.NewSession != nil {
		t.Fatalf("ConfirmLink = %+v, %v; want verified, session elsewhere", res, err)
	}
	return si
}

// TestReadsHandOutNoSession: Get and Wait on a complete sign-in only
// read; the session is still there for ClaimSession afterwards.
func TestReadsHandOutNoSession(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) { c.AllowCrossClient = true })
	ctx := context.Background()
	a := e.client(t)
	si := crossDeviceSignIn(t, e, a, "grace@example.com")
	for range 3 {
		got, err := e.auth.SignIns.Get(ctx, a, si.ID)
		if err != nil || got.Status != magiclink.SignInComplete {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if _, err := e.auth.SignIns.Wait(ctx, a, si.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := e.auth.SignIns.Get(ctx, a, si.ID)
	if _, err := e.auth.Sessions.Get(ctx, got.CreatedSessionID); !errors.Is(err, magiclink.ErrNotFound) {
		t.Fatalf("after reads, the session exists (%v): a read handed it out", err)
	}
	s, err := got.ClaimSession(ctx)
	if err != nil || s == nil {
		t.Fatalf("ClaimSession after reads = %+v, %v; want the session", s, err)
	}
	if _, err := e.auth.Sessions.Lookup(ctx, s.Token); err != nil {
		t.Fatalf("the claimed session does not work: %v", err)
	}
}

// TestHTTPPrepareOnCompleteFlowKeepsSession: a prepare on a sign-in
// completed on another device is refused, and the waiting browser still
// receives the session from its long poll.
func TestHTTPPrepareOnCompleteFlowKeepsSession(t *testing.T) {
	s, b, path, token := linkAsked(t, true)
	id := strings.TrimPrefix(path, "/auth/sign_ins/")
	s.browser(t).confirm(token)

	res := b.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, http.StatusBadRequest)
	if errCode(res) == "" || b.cookie("magiclink_session") != "" {
		t.Fatalf("prepare on a complete sign-in = %v, cookie %q", res, b.cookie("magiclink_session"))
	}
	if _, err := s.auth.Sessions.Get(context.Background(), createdSession(t, s, b, id)); !errors.Is(err, magiclink.ErrNotFound) {
		t.Fatalf("after the refused prepare, the session exists (%v): it was handed out to nobody", err)
	}
	got := b.api("GET", "/auth/sign_ins/"+id, nil, 200)
	if got["status"] != "complete" || b.cookie("magiclink_session") == "" {
		t.Fatalf("after the refused prepare: %v, cookie %q", got, b.cookie("magiclink_session"))
	}
	b.api("GET", "/auth/me", nil, 200)
}

// TestHTTPLostClaimIsRetried: when the answer that carried the session
// is lost, the same browser's next poll gets the session again, with a
// new token (the lost one stops working); once used, it is not handed out
// again, and no other browser ever gets it.
func TestHTTPLostClaimIsRetried(t *testing.T) {
	s, b, path, token := linkAsked(t, true)
	s.browser(t).confirm(token)

	// The first answer is "lost": its Set-Cookie is dropped.
	res, _ := b.do("GET", path, "", "")
	var lost string
	for _, c := range res.Cookies() {
		if c.Name == "magiclink_session" {
			lost = c.Value
		}
	}
	if lost == "" {
		t.Fatal("the first poll handed out no session")
	}
	u, _ := url.Parse(s.srv.URL)
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: "magiclink_session", Value: "", MaxAge: -1}})

	b.api("GET", path, nil, 200)
	got := b.cookie("magiclink_session")
	if got == "" || got == lost {
		t.Fatalf("the retried poll set %q (lost %q); want a new token", got, lost)
	}
	if _, err := s.auth.Sessions.Lookup(context.Background(), lost); err == nil {
		t.Fatal("the lost token still works")
	}
	b.api("GET", "/auth/me", nil, 200) // first use

	res, _ = b.do("GET", path, "", "")
	if len(res.Cookies()) != 0 {
		t.Fatalf("a poll after the session's first use set %v", res.Cookies())
	}
	b.api("GET", "/auth/me", nil, 200)
}

// res2 returns the session id a complete sign-in names, read through the
// Go API so that the HTTP handler's claim does not run.
func createdSession(t *testing.T, s *site, b *browser, id string) string {
	t.Helper()
	c, err := s.auth.Clients.Lookup(context.Background(), b.cookie("magiclink_client"))
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.auth.SignIns.Get(context.Background(), c, id)
	if err != nil || si.CreatedSessionID == "" {
		t.Fatalf("Get = %+v, %v", si, err)
	}
	return si.CreatedSessionID
}

// linkAsked starts a site (same-client binding off when allowCross) where
// ada@example.com has an account, and a browser that starts a sign-in
// for it from Firefox on Linux and asks for the link. It returns the
// sign-in's path and the link's token.
func linkAsked(t *testing.T, allowCross bool) (s *site, b *browser, path, token string) {
	t.Helper()
	s = newSite(t, func(c *magiclink.Config) { c.AllowCrossClient = allowCross })
	s.browser(t).signUp("ada@example.com")
	b = s.browser(t)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "ada@example.com"}, 200)
	path = "/auth/sign_ins/" + si["id"].(string)
	n := len(s.mail.Messages()) + 1
	if res, body := b.do("POST", path+"/prepare_first_factor", "application/json", `{"strategy":"email_link"}`, "User-Agent", firefoxOnLinux); res.StatusCode != 200 {
		t.Fatalf("prepare = %d %s", res.StatusCode, body)
	}
	return s, b, path, s.token(t, n)
}
