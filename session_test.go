package magiclink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

func TestSessionTimeoutsAndActivity(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) {
		c.SessionIdleTimeout = 30 * time.Minute
		c.SessionLifetime = 2 * time.Hour
	})
	ctx := context.Background()
	s := e.signUp(t, e.client(t), "ada@example.com") // a minute ago
	start := s.CreatedAt
	lookup := func() (*magiclink.Session, error) { return e.auth.Sessions.Lookup(ctx, s.Token) }
	if _, err := lookup(); err != nil {
		t.Fatal(err)
	}

	// Activity is recorded once it is a tenth of the idle timeout stale,
	// and each recorded activity pushes the idle deadline back.
	for i := 1; i <= 4; i++ {
		e.clock.Advance(29 * time.Minute)
		got, err := lookup()
		if err != nil {
			t.Fatalf("after %d idle periods under the timeout: %v", i, err)
		}
		now := e.clock.Now()
		wantExpire := now.Add(30 * time.Minute)
		if end := start.Add(2 * time.Hour); end.Before(wantExpire) {
			wantExpire = end
		}
		if !got.LastActiveAt.Equal(now) || !got.ExpireAt.Equal(wantExpire) {
			t.Fatalf("last_active_at %v, expire_at %v; want %v and %v", got.LastActiveAt, got.ExpireAt, now, wantExpire)
		}
	}
	// Past the absolute lifetime, activity does not help.
	e.clock.Set(start.Add(2 * time.Hour))
	if _, err := lookup(); !errors.Is(err, magiclink.ErrUnauthenticated) {
		t.Fatalf("past the lifetime: %v, want ErrUnauthenticated", err)
	}

	// A session idle for the timeout ends.
	s = e.signUp(t, e.client(t), "grace@example.com") // a minute ago
	e.clock.Advance(29 * time.Minute)
	if _, err := lookup(); !errors.Is(err, magiclink.ErrUnauthenticated) {
		t.Fatalf("idle for the timeout: %v, want ErrUnauthenticated", err)
	}
}

func TestMiddlewareSeesRevocationAtOnce(t *testing.T) {
	// On boltstore, its read cache must not outlive a revocation.
	eachStore(t, func(t *testing.T, onStore func(*magiclink.Config)) {
		e := newEnv(t, onStore)
		s := e.signUp(t, e.client(t), "ada@example.com")
		var seen *magiclink.Session
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = magiclink.SessionFrom(r.Context()) })
		serve := func(h http.Handler, cookie string) int {
			seen = nil
			r := httptest.NewRequest(http.MethodGet, "/account", nil)
			if cookie != "" {
				r.AddCookie(&http.Cookie{Name: e.auth.SessionCookieName(), Value: cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		require, load := e.auth.RequireSession(ok), e.auth.LoadSession(ok)

		if code := serve(require, s.Token); code != http.StatusOK || seen == nil || seen.ID != s.ID || seen.UserID != s.UserID {
			t.Fatalf("RequireSession with the cookie: %d, session %+v", code, seen)
		}
		if code := serve(load, s.Token); code != http.StatusOK || seen == nil || seen.ID != s.ID {
			t.Fatalf("LoadSession with the cookie: %d, session %+v", code, seen)
		}
		if _, err := e.auth.Sessions.Revoke(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
		if code := serve(require, s.Token); code != http.StatusUnauthorized || seen != nil {
			t.Errorf("RequireSession after revocation: %d, session %+v", code, seen)
		}
		if code := serve(load, s.Token); code != http.StatusOK || seen != nil {
			t.Errorf("LoadSession after revocation: %d, session %+v", code, seen)
		}
		for _, bad := range []string{"", "x", s.Token[:42] + "B"} {
			if code := serve(require, bad); code != http.StatusUnauthorized {
				t.Errorf("RequireSession with cookie %q: %d", bad, code)
			}
		}
	})
}
