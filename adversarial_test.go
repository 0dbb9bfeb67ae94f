package magiclink_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// The adversarial suite: one test (or more) per threat, each failing when
// its defence is removed. See SECURITY.md for the threat model.

// TestAttackRedirect: every redirect_url that could send a browser to
// another origin, or run script, is refused when the link is prepared
// (422), and nothing is sent.
func TestAttackRedirect(t *testing.T) {
	s := newSite(t, func(c *magiclink.Config) {
		c.RedirectOrigins = []string{"https://allowed.example:8443", "http://localhost:3000"}
	})
	b := s.browser(t)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "r@example.com"}, 200)
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "r2@example.com"}, 200)
	paths := []string{"/auth/sign_ins/" + si["id"].(string) + "/prepare_first_factor", "/auth/sign_ups/" + su["id"].(string) + "/prepare_verification"}
	attacks := append([]string{"//" + s.srv.Listener.Addr().String() + ".evil.com", "http://" + s.srv.Listener.Addr().String() + "@evil.com/"}, magiclink.RedirectAttacks...)
	for _, u := range attacks {
		for _, p := range paths {
			out := b.api("POST", p, map[string]any{"strategy": "email_link", "redirect_url": u}, 422)
			if errCode(out) != "form_param_format_invalid" {
				t.Errorf("redirect_url %q: %v", u, out)
			}
		}
	}
	// The allowed ones pass.
	for i, u := range []string{"/welcome?x=1", "https://allowed.example:8443/cb", s.srv.URL + "/done"} {
		s.clock.Advance(time.Minute)
		b.api("POST", paths[0], map[string]any{"strategy": "email_link", "redirect_url": u}, 200)
		s.message(t, i+1) // delivered before the next one supersedes it
	}
	s.auth.Close()
	if n := len(s.mail.Messages()); n != 3 {
		t.Fatalf("%d messages sent; want only the 3 with allowed redirects", n)
	}
}

// TestAttackHostHeader: a request claiming another host (Host,
// X-Forwarded-Host, X-Forwarded-Proto, Forwarded) gets links built from
// BaseURL only: magic links, the no-account email's sign-up link and
// sign-in-token URLs.
func TestAttackHostHeader(t *testing.T) {
	s := newSite(t, func(c *magiclink.Config) {
		c.TrustedProxies, c.ClientIPHeader = []string{"127.0.0.0/8", "::1"}, "X-Forwarded-For"
	})
	base := s.srv.URL
	evil := []string{"X-Forwarded-Host", "evil.com", "X-Forwarded-Proto", "https", "Forwarded", "host=evil.com;proto=https",
		"X-Host", "evil.com", "X-Original-URL", "https://evil.com/"}
	b := s.browser(t)
	post := func(path string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(string(raw)))
		req.Host = "evil.com"
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(evil); i += 2 {
			req.Header.Set(evil[i], evil[i+1])
		}
		res, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode != 200 {
			t.Fatalf("POST %s with Host evil.com = %d %v", path, res.StatusCode, out)
		}
		return out
	}
	su := post("/auth/sign_ups", map[string]any{"email_address": "host@example.com"})
	post("/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"})
	si := post("/auth/sign_ins", map[string]any{"identifier": "nobody@example.com"})
	post("/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"})
	for _, m := range []*mailer.Message{s.message(t, 1), s.message(t, 2)} {
		if !strings.HasPrefix(m.Link, base+"/") || strings.Contains(m.Text+m.HTML, "evil.com") {
			t.Fatalf("%s message links to %q (BaseURL %s)", m.Kind, m.Link, base)
		}
	}
	// Sign-in tokens through the Backend API.
	u, err := s.auth.Users.Create(t.Context(), magiclink.UserParams{EmailAddress: "tok@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "http://evil.com/v1/sign_in_tokens", strings.NewReader(`{"user_id":"`+u.ID+`"}`))
	req.Header.Set("Authorization", "Bearer sk_test")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(evil); i += 2 {
		req.Header.Set(evil[i], evil[i+1])
	}
	rec := httptest.NewRecorder()
	s.auth.BackendHandler("sk_test").ServeHTTP(rec, req)
	var tok map[string]any
	json.Unmarshal(rec.Body.Bytes(), &tok)
	if rec.Code != 200 || !strings.HasPrefix(tok["url"].(string), base+"/auth/ticket?token=") {
		t.Fatalf("sign-in token = %d %s", rec.Code, rec.Body)
	}
}

// TestAttackSpoofedForwardedFor: without a trusted proxy, a fresh
// X-Forwarded-For on every request does not reset the per-IP creation
// limit; behind a trusted proxy the header is honoured, so clients
// behind it are counted apart.
func TestAttackSpoofedForwardedFor(t *testing.T) {
	create := func(b *browser, xff string) (int, string) {
		raw := `{"identifier":"xff@example.com"}`
		res, _ := b.do("POST", "/auth/sign_ins", "application/json", raw, "X-Forwarded-For", xff, "Forwarded", "for="+xff)
		return res.StatusCode, res.Header.Get("Retry-After")
	}
	t.Run("no trusted proxy", func(t *testing.T) {
		s := newSite(t, nil)
		b := s.browser(t)
		for i := range 5 {
			if st, _ := create(b, "198.51.100."+string(rune('1'+i))); st != 200 {
				t.Fatalf("creation %d = %d", i+1, st)
			}
		}
		s.clock.Advance(4 * time.Second)
		if st, retry := create(b, "203.0.113.77"); st != http.StatusTooManyRequests || retry != "6" {
			t.Fatalf("sixth creation with a new X-Forwarded-For = %d, Retry-After %q; want 429, 6", st, retry)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		s := newSite(t, func(c *magiclink.Config) {
			c.TrustedProxies, c.ClientIPHeader = []string{"127.0.0.0/8", "::1"}, "X-Forwarded-For"
		})
		b := s.browser(t)
		for i := range 8 {
			if st, _ := create(b, "6.6.6.6, 198.51.100."+string(rune('1'+i))); st != 200 {
				t.Fatalf("client %d behind the proxy = %d", i+1, st)
			}
		}
		for i := range 5 {
			if st, _ := create(b, "203.0.113.5"); st != 200 {
				t.Fatalf("creation %d of one client = %d", i+1, st)
			}
		}
		if st, _ := create(b, "6.6.6.7, 203.0.113.5"); st != http.StatusTooManyRequests {
			t.Fatalf("sixth creation of one client, behind a spoofed prefix = %d; want 429", st)
		}
	})
}

// TestAttackSendLimitsPerIP: one client IP cannot make the app mail many
// addresses; the Go API is limited too when its context carries the IP.
func TestAttackSendLimitsPerIP(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) { c.Limits.IPSendsPerHour = 3 })
	ctx := magiclink.WithClientIP(t.Context(), mustAddr("198.51.100.20"))
	c := e.client(t)
	for i := range 4 {
		si, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "victim" + string(rune('a'+i)) + "@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		if i < 3 && err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		if i == 3 && (magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "too_many_requests") {
			t.Fatalf("fourth send from one IP in an hour: %v", err)
		}
		e.clock.Advance(10 * time.Second)
	}
	// Another IP is not affected.
	other := magiclink.WithClientIP(t.Context(), mustAddr("198.51.100.21"))
	si, _ := e.auth.SignIns.Create(other, c, magiclink.SignInParams{Identifier: "victime@example.com"})
	if _, err := si.PrepareVerification(other, magiclink.PrepareParams{}); err != nil {
		t.Fatal(err)
	}
}

// TestAttackGlobalSendCeiling: however many addresses and IPs, no more
// than GlobalSendsPerMinute links go out in any minute.
func TestAttackGlobalSendCeiling(t *testing.T) {
	e := newEnv(t, func(c *magiclink.Config) { c.Limits.GlobalSendsPerMinute = 4 })
	c := e.client(t)
	for i := range 6 {
		ctx := magiclink.WithClientIP(t.Context(), mustAddr("198.51.100."+string(rune('1'+i))))
		si, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "g" + string(rune('a'+i)) + "@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		if limited := magiclink.AsError(err) != nil && magiclink.AsError(err).Code == "too_many_requests"; limited != (i >= 4) {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	e.clock.Advance(time.Minute)
	si, _ := e.auth.SignIns.Create(t.Context(), c, magiclink.SignInParams{Identifier: "gz@example.com"})
	if _, err := si.PrepareVerification(t.Context(), magiclink.PrepareParams{}); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}

// TestAttackSessionFixation: a session cookie value planted in the
// browser is never adopted, and the value a browser had before signing
// in stops working once the sign-in gives it a new one.
func TestAttackSessionFixation(t *testing.T) {
	s := newSite(t, nil)
	victim := s.browser(t)
	victim.signUp("fix@example.com")
	before := victim.cookie("magiclink_session")
	victim.api("GET", "/auth/me", nil, 200)

	// The attacker plants a well-formed value.
	planted := randomToken()
	u0, _ := url.Parse(s.srv.URL)
	victim.http.Jar.SetCookies(u0, []*http.Cookie{{Name: "magiclink_session", Value: planted, Path: "/"}})
	victim.api("GET", "/auth/me", nil, 401)
	si := victim.api("POST", "/auth/sign_ins", map[string]any{"identifier": "fix@example.com"}, 200)
	victim.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	victim.confirm(s.token(t, 2))
	after := victim.cookie("magiclink_session")
	if after == "" || after == planted || after == before {
		t.Fatal("the sign-in did not set a fresh session value")
	}
	attacker := s.browser(t)
	attacker.http.Jar.SetCookies(u0, []*http.Cookie{{Name: "magiclink_session", Value: planted, Path: "/"}})
	attacker.api("GET", "/auth/me", nil, 401)

	// Signing in again, with a live session: the old value dies.
	s.clock.Advance(time.Minute)
	si = victim.api("POST", "/auth/sign_ins", map[string]any{"identifier": "fix@example.com"}, 200)
	victim.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	victim.confirm(s.token(t, 3))
	rotated := victim.cookie("magiclink_session")
	if rotated == after {
		t.Fatal("signing in again kept the session value")
	}
	victim.api("GET", "/auth/me", nil, 200)
	stale := s.browser(t)
	stale.http.Jar.SetCookies(u0, []*http.Cookie{{Name: "magiclink_session", Value: after, Path: "/"}})
	stale.api("GET", "/auth/me", nil, 401)
	if _, err := s.auth.Sessions.Lookup(t.Context(), after); err == nil {
		t.Fatal("the session value from before the sign-in still works")
	}
}

// snapshot is every live record of the store, once every email already
// handed to the mailer has been recorded as sent (the outbox deletes its
// entry and appends the email's event after the mailer returns, so a
// snapshot taken sooner could catch that bookkeeping half-way).
func snapshot(t *testing.T, st store.Store) []store.Item {
	t.Helper()
	pending, err := st.List(context.Background(), "outbox/", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range pending {
		deliverytest.WaitKey(t, st, it.Key, func(raw []byte) bool { return raw == nil })
	}
	items, err := st.List(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// unsafeRoutes lists every route of the Frontend API that changes state.
func unsafeRoutes(s *site, b *browser) [][2]string {
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "u@example.com"}, 200)
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "u2@example.com"}, 200)
	ea := b.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "u3@example.com"}, 200)
	return [][2]string{
		{"POST", "/auth/sign_ins"}, {"POST", "/auth/sign_ins/" + si["id"].(string) + "/prepare_first_factor"},
		{"POST", "/auth/sign_ups"}, {"POST", "/auth/sign_ups/" + su["id"].(string) + "/prepare_verification"},
		{"POST", "/auth/me/email_addresses"}, {"POST", "/auth/me/email_addresses/" + ea["id"].(string) + "/prepare_verification"},
		{"DELETE", "/auth/session"}, {"POST", "/auth/verify"}, {"POST", "/auth/ticket"},
	}
}

// TestAttackCrossSite: a state-changing request from another site is
// refused with 403 on every unsafe route, and changes nothing.
func TestAttackCrossSite(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.signUp("csrf@example.com")
	routes := unsafeRoutes(s, b)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "csrf@example.com"}, 200)
	b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	tok := s.token(t, 2)
	jwt, err := s.auth.SignInTokens.Create(t.Context(), b.api("GET", "/auth/me", nil, 200)["id"].(string), magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{"/auth/verify": "token=" + tok, "/auth/ticket": "token=" + jwt.Token}
	before := snapshot(t, s.auth.Store())
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://sub.example"},
		{"Origin", "https://evil.example"},
	} {
		for _, r := range routes {
			body := bodies[r[1]]
			if body == "" {
				body = "identifier=x%40example.com&email_address=y%40example.com&strategy=email_link"
			}
			res, data := b.do(r[0], r[1], "application/x-www-form-urlencoded", body, hdr...)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with %v = %d %s; want 403", r[0], r[1], hdr, res.StatusCode, data)
			}
		}
	}
	if d := cmp.Diff(before, snapshot(t, s.auth.Store())); d != "" {
		t.Fatalf("cross-site requests changed the store:\n%s", d)
	}
	// The link and the token still work from the site itself.
	if u := b.confirm(tok); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("after the cross-site attempts the link landed on %s", u)
	}
}

// TestAttackBadBodies: oversized and malformed bodies on every route that
// reads one are refused (413, 400, 415 or 422) and change nothing.
func TestAttackBadBodies(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.signUp("body@example.com")
	routes := unsafeRoutes(s, b)
	before := snapshot(t, s.auth.Store())
	sent := len(s.mail.Messages())
	huge := strings.Repeat("a", 17<<10)
	for _, c := range []struct {
		ctype, body string
		status      int
	}{
		{"application/json", `{"identifier":"` + huge + `"}`, 413},
		{"application/x-www-form-urlencoded", "token=" + huge, 413},
		{"application/json", `{"email_address":`, 400},
		{"application/json", `{"identifier":"a@b.com"} {"x":1}`, 400},
		{"application/json", `["a@b.com"]`, 400},
		{"application/json", `"a@b.com"`, 400},
		{"application/json", "\xff\xfe{", 400},
		{"application/json", strings.Repeat("[", 5000), 400},
		{"application/x-www-form-urlencoded", "token=%zz", 400},
		{"application/x-www-form-urlencoded", "a=1;b=2", 400},
		{"text/plain", "token=x", 415},
		{"multipart/form-data; boundary=x", "--x--", 415},
	} {
		for _, r := range routes {
			if r[0] == "DELETE" {
				continue // reads no body
			}
			res, data := b.do(r[0], r[1], c.ctype, c.body)
			if res.StatusCode != c.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s %s %.40q = %d %.200s; want %d JSON", r[0], r[1], c.ctype, c.body, res.StatusCode, data, c.status)
			}
		}
	}
	if d := cmp.Diff(before, snapshot(t, s.auth.Store())); d != "" {
		t.Fatalf("bad bodies changed the store:\n%s", d)
	}
	if n := len(s.mail.Messages()); n != sent {
		t.Fatalf("bad bodies sent %d messages", n-sent)
	}
}

// TestAttackHeaderInjection: addresses carrying CR or LF (raw, encoded or
// trimmed into the middle) are refused at every entry point, and no
// message is ever composed for them. FuzzNormalizeAddress checks the
// general property.
func TestAttackHeaderInjection(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	for _, addr := range []string{"a@b.com\r\nBcc: eve@evil.com", "a@b.com\nBcc: eve@evil.com", "a@b.com\rBcc: eve@evil.com",
		"a\r\n@b.com", "a@b.com\r\n\r\nbody", "a@b.com%0d%0aBcc:eve@evil.com", "a@b.com\u0085Bcc: eve@evil.com",
		"a@b.com\u2028Bcc: eve@evil.com", "a\u0085@b.com"} {
		for _, r := range [][2]string{{"/auth/sign_ins", "identifier"}, {"/auth/sign_ups", "email_address"}} {
			out := b.api("POST", r[0], map[string]any{r[1]: addr}, 422)
			if errCode(out) != "form_param_format_invalid" {
				t.Errorf("%s %q: %v", r[0], addr, out)
			}
			res, _ := b.do("POST", r[0], "application/x-www-form-urlencoded", r[1]+"="+url.QueryEscape(addr))
			if res.StatusCode != 422 {
				t.Errorf("%s form %q = %d", r[0], addr, res.StatusCode)
			}
		}
	}
	s.auth.Close()
	if n := len(s.mail.Messages()); n != 0 {
		t.Fatalf("%d messages composed", n)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// randomToken returns a well-formed but unissued secret.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
