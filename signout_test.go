package magiclink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// sessionRequest returns a request from the browser of client c carrying
// the session cookie of s (nil: none).
func sessionRequest(e *env, s *magiclink.NewSession) *http.Request {
	r := httptest.NewRequest("POST", "https://app.example/sign-out", nil)
	if s != nil {
		r.AddCookie(&http.Cookie{Name: e.auth.SessionCookieName(), Value: s.Token})
	}
	return r
}

// TestSignOut: SignOut ends the session everywhere and expires its
// cookie with the attributes browsers need to accept the expiry (on https
// the __Host- name, Secure and Path=/).
func TestSignOut(t *testing.T) {
	e := newEnv(t, nil)
	s := e.signUp(t, e.client(t), "ada@example.com")
	w := httptest.NewRecorder()
	ended, err := e.auth.SignOut(w, sessionRequest(e, s))
	if err != nil || ended == nil || ended.ID != s.ID || ended.Status != magiclink.SessionEnded {
		t.Fatalf("SignOut = %+v, %v; want session %s ended", ended, err, s.ID)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("SignOut set %d cookies; want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != "__Host-magiclink_session" || c.Value != "" || c.MaxAge >= 0 || !c.Secure || c.Path != "/" || !c.HttpOnly || c.Domain != "" {
		t.Fatalf("expiring cookie %+v; want __Host-magiclink_session, empty, Max-Age=0, Secure, HttpOnly, Path=/", c)
	}
	if _, err := e.auth.Sessions.Lookup(context.Background(), s.Token); !errors.Is(err, magiclink.ErrUnauthenticated) {
		t.Fatalf("the session still works after SignOut: %v", err)
	}

	// The same cookie again: no session to end, the cookie expired all the same.
	w = httptest.NewRecorder()
	if ended, err := e.auth.SignOut(w, sessionRequest(e, s)); ended != nil || err != nil {
		t.Fatalf("second SignOut = %v, %v; want nil, nil", ended, err)
	}
	if len(w.Result().Cookies()) != 1 {
		t.Fatal("a stale session cookie was not expired")
	}
	// No cookie: nothing to do, nothing written.
	w = httptest.NewRecorder()
	if ended, err := e.auth.SignOut(w, sessionRequest(e, nil)); ended != nil || err != nil || len(w.Header()) != 0 {
		t.Fatalf("SignOut without a cookie = %v, %v, headers %v", ended, err, w.Header())
	}
}

// TestRequestClientCarriesIP: the per-IP limits apply to Go calls made
// with a client from RequestClient, without the caller passing the IP on,
// and to Go calls made in a page behind the session middleware.
func TestRequestClientCarriesIP(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background() // no IP in the context
	r := httptest.NewRequest("POST", "https://app.example/sign-in", nil)
	r.RemoteAddr = "203.0.113.5:4000"
	c, err := e.auth.RequestClient(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range magiclink.DefaultIPCreatesPer10s {
		if _, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "a@example.com"}); err != nil {
			t.Fatalf("sign-in %d: %v", i+1, err)
		}
	}
	if _, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "a@example.com"}); !errors.Is(err, magiclink.ErrRateLimited) {
		t.Fatalf("sign-in %d from one IP within 10 s: %v; want too_many_requests", magiclink.DefaultIPCreatesPer10s+1, err)
	}
	// A client of another IP is not held back by the first one's count.
	r.RemoteAddr = "198.51.100.7:4000"
	other, err := e.auth.RequestClient(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.SignIns.Create(ctx, other, magiclink.SignInParams{Identifier: "a@example.com"}); err != nil {
		t.Fatalf("another IP: %v", err)
	}

	// Behind LoadSession, the request's context answers its IP.
	s := e.signUp(t, e.client(t), "ada@example.com")
	req := sessionRequest(e, s)
	req.RemoteAddr = "192.0.2.44:1234"
	var got netip.Addr
	e.auth.LoadSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = magiclink.ClientIPFrom(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), req)
	if got != netip.MustParseAddr("192.0.2.44") {
		t.Fatalf("client IP in a page behind LoadSession = %v; want 192.0.2.44", got)
	}
}
