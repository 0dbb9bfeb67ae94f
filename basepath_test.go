package magiclink_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// TestHTTPBaseURLWithPath: behind a reverse proxy that strips /app, with
// BaseURL ending in /app, everything a browser follows carries /app:
// the link, the confirm page's form, the redirect after it, the redirect
// to the sign-in page, and the ticket page's form.
func TestHTTPBaseURLWithPath(t *testing.T) {
	s := newSiteBehind(t, "/app", func(c *magiclink.Config) { c.SignInURL = "/sign-in" })
	e, base := s.env, s.env.cfg.BaseURL
	b := s.browser(t)

	su := b.api("POST", "/app/auth/sign_ups", map[string]any{"email_address": "ada@example.com"}, 200)
	b.api("POST", "/app/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link", "redirect_url": "/welcome"}, 200)
	link := s.message(t, 1).Link
	if !strings.HasPrefix(link, base+"/auth/verify?token=") {
		t.Fatalf("link = %s; want it under %s/auth/verify", link, base)
	}
	u, _ := url.Parse(link)
	res, page := b.do("GET", u.RequestURI(), "", "")
	if res.StatusCode != 200 || !strings.Contains(string(page), `action="/app/auth/verify"`) {
		t.Fatalf("confirm page = %d, want a form posting to /app/auth/verify:\n%s", res.StatusCode, page)
	}
	res, _ = b.do("POST", "/app/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(u.Query().Get("token")))
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/app/welcome?") || !strings.Contains(loc, "magiclink_status=verified") {
		t.Fatalf("POST /app/auth/verify = %d to %q; want 303 to /app/welcome", res.StatusCode, loc)
	}
	if res, body := b.do("GET", "/app/private", "", ""); res.StatusCode != 200 || string(body) != "hello ada@example.com" {
		t.Fatalf("GET /app/private signed in = %d %s", res.StatusCode, body)
	}
	b.api("DELETE", "/app/auth/session", nil, 200)
	res, _ = b.do("GET", "/app/private", "", "", "Accept", "text/html")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/app/sign-in?redirect_url=%2Fprivate" {
		t.Fatalf("GET /app/private signed out = %d to %q; want 303 to /app/sign-in?redirect_url=%%2Fprivate", res.StatusCode, loc)
	}

	// A sign-in token's link and page.
	users, err := e.auth.Users.FindByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.auth.SignInTokens.Create(t.Context(), users.ID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.URL, base+"/auth/ticket?token=") {
		t.Fatalf("sign-in token URL = %s", tok.URL)
	}
	tu, _ := url.Parse(tok.URL)
	if _, page := b.do("GET", tu.RequestURI(), "", ""); !strings.Contains(string(page), `action="/app/auth/ticket"`) {
		t.Fatalf("ticket page does not post to /app/auth/ticket:\n%s", page)
	}
	res, _ = b.do("POST", "/app/auth/ticket", "application/x-www-form-urlencoded", "token="+url.QueryEscape(tu.Query().Get("token")))
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/app/?") {
		t.Fatalf("POST /app/auth/ticket = %d to %q; want 303 to /app/", res.StatusCode, loc)
	}
}
