package magiclink_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// createToken makes a user and a token through the Backend API.
func (s *tserver) createToken(t *testing.T, addr string, ttl int) (uid string, tok map[string]any) {
	t.Helper()
	code, u := s.api(t, "POST", "/users", map[string]any{"email_address": addr})
	if code != 200 {
		t.Fatalf("POST /users = %d %v", code, u)
	}
	body := map[string]any{"user_id": u["id"]}
	if ttl > 0 {
		body["expires_in_seconds"] = ttl
	}
	code, tok = s.api(t, "POST", "/sign_in_tokens", body)
	if code != 200 {
		t.Fatalf("POST /sign_in_tokens = %d %v", code, tok)
	}
	return u["id"].(string), tok
}

// status reads a token's status through the Backend API.
func (s *tserver) status(t *testing.T, id string) string {
	t.Helper()
	_, out := s.api(t, "GET", "/sign_in_tokens/"+id, nil)
	st, _ := out["status"].(string)
	return st
}

// postTicket submits the confirm page's form and returns the redirect.
func (s *tserver) postTicket(t *testing.T, c *http.Client, token string) (*url.URL, http.Header) {
	t.Helper()
	code, h, out := s.do(t, c, "POST", "/auth/ticket", "", url.Values{"token": {token}})
	if code != http.StatusSeeOther {
		t.Fatalf("POST /auth/ticket = %d %v; want 303", code, out)
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc, h
}

func TestHTTPTicketConfirmPage(t *testing.T) {
	s := newTicketServer(t, nil)
	uid, tok := s.createToken(t, "ada@example.com", 0)
	link, id := tok["url"].(string), tok["id"].(string)
	path := strings.TrimPrefix(link, s.srv.URL)

	// Opening the link (as a mail scanner would, with GET and HEAD, again
	// and again) changes nothing.
	c := s.browser(t)
	for range 3 {
		code, h, out := s.do(t, c, "GET", path, "", nil)
		body, _ := out["body"].(string)
		if code != 200 || !strings.Contains(body, `action="/auth/ticket"`) || !strings.Contains(body, "ada@example.com") ||
			!strings.Contains(body, tok["token"].(string)) || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("Cache-Control") != "no-store" || h.Get("Set-Cookie") != "" {
			t.Fatalf("GET confirm page = %d %v %q", code, h, body)
		}
		if code, _, _ := s.do(t, c, "HEAD", path, "", nil); code != 200 {
			t.Fatalf("HEAD confirm page = %d", code)
		}
	}
	if st := s.status(t, id); st != "pending" {
		t.Fatalf("status after opening the link = %s; want pending", st)
	}
	s.wantSessions(t, uid, 0)

	// The page's button signs this browser in, with no cookie beforehand.
	loc, h := s.postTicket(t, c, tok["token"].(string))
	if loc.Path != "/home" || loc.Query().Get("magiclink_status") != "verified" ||
		!strings.HasPrefix(loc.Query().Get("magiclink_created_session"), "sess_") {
		t.Fatalf("redirect = %s", loc)
	}
	if h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatal("the POST answer lacks the page headers")
	}
	code, _, sess := s.do(t, c, "GET", "/auth/session", "", nil)
	if code != 200 || sess["user_id"] != uid || sess["id"] != loc.Query().Get("magiclink_created_session") {
		t.Fatalf("GET /auth/session after the ticket = %d %v", code, sess)
	}
	if st := s.status(t, id); st != "accepted" {
		t.Fatalf("status = %s; want accepted", st)
	}

	// Used: the page says so and has no button; posting again fails.
	_, _, out := s.do(t, s.browser(t), "GET", path, "", nil)
	if body := out["body"].(string); !strings.Contains(body, "already been used") || strings.Contains(body, "<form") {
		t.Fatalf("confirm page of a used token: %q", body)
	}
	other := s.browser(t)
	loc, _ = s.postTicket(t, other, tok["token"].(string))
	if loc.Query().Get("magiclink_status") != "failed" || loc.Query().Has("magiclink_created_session") {
		t.Fatalf("redirect of a used token = %s", loc)
	}
	if code, _, _ := s.do(t, other, "GET", "/auth/session", "", nil); code != 401 {
		t.Fatalf("the second browser is signed in: %d", code)
	}
	s.wantSessions(t, uid, 1)
}

func TestHTTPTicketFailures(t *testing.T) {
	s := newTicketServer(t, nil)
	_, short := s.createToken(t, "ada@example.com", 60)
	_, revoked := s.api(t, "POST", "/sign_in_tokens", map[string]any{"user_id": short["user_id"]})
	if code, _ := s.api(t, "POST", "/sign_in_tokens/"+revoked["id"].(string)+"/revoke", nil); code != 200 {
		t.Fatal("revoke failed")
	}

	// Junk: a failed redirect, no cookie of any kind.
	for _, junk := range []string{"", "junk", strings.Repeat("A", 10000), "a.b.c"} {
		code, h, out := s.do(t, nil, "POST", "/auth/ticket", "", url.Values{"token": {junk}})
		loc, _ := url.Parse(h.Get("Location"))
		if code != 303 || loc.Query().Get("magiclink_status") != "failed" || h.Get("Set-Cookie") != "" {
			t.Fatalf("POST /auth/ticket %.20q = %d %v %v", junk, code, h, out)
		}
	}
	if code, _, out := s.do(t, nil, "GET", "/auth/ticket?token=junk", "", nil); code != 200 || strings.Contains(out["body"].(string), "<form") {
		t.Fatalf("confirm page of junk = %d %v", code, out)
	}

	loc, _ := s.postTicket(t, s.browser(t), revoked["token"].(string))
	if loc.Query().Get("magiclink_status") != "failed" {
		t.Fatalf("revoked: redirect = %s", loc)
	}

	s.clock.Advance(61 * time.Second)
	_, _, out := s.do(t, nil, "GET", "/auth/ticket?token="+short["token"].(string), "", nil)
	if body := out["body"].(string); !strings.Contains(body, "expired") || strings.Contains(body, "<form") {
		t.Fatalf("confirm page of an expired token: %q", body)
	}
	loc, _ = s.postTicket(t, s.browser(t), short["token"].(string))
	if loc.Query().Get("magiclink_status") != "expired" {
		t.Fatalf("expired: redirect = %s", loc)
	}
	code, _, out := s.do(t, s.browser(t), "POST", "/auth/sign_ins", "", map[string]any{"strategy": "ticket", "ticket": short["token"]})
	if code != 400 || errCode(out) != "ticket_expired_code" {
		t.Fatalf("sign-in with an expired token = %d %v", code, out)
	}
	if st := s.status(t, short["id"].(string)); st != "pending" {
		t.Fatalf("status of the expired token = %s; want pending", st)
	}
}

func TestHTTPTicketSignIn(t *testing.T) {
	s := newTicketServer(t, nil)
	uid, tok := s.createToken(t, "ada@example.com", 0)
	c := s.browser(t)

	// The seeds' custom flow: signIn.create({strategy: "ticket", ticket}).
	code, h, si := s.do(t, c, "POST", "/auth/sign_ins", "", map[string]any{"strategy": "ticket", "ticket": tok["token"]})
	if code != 200 || si["status"] != "complete" || si["object"] != "sign_in_attempt" || si["created_session_id"] == nil {
		t.Fatalf("POST /auth/sign_ins (ticket) = %d %v", code, si)
	}
	if !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "magiclink_session=") {
		t.Fatalf("no session cookie set: %v", h.Values("Set-Cookie"))
	}
	v, _ := si["first_factor_verification"].(map[string]any)
	if v["strategy"] != "ticket" || v["status"] != "verified" || v["object"] != "verification_ticket" {
		t.Fatalf("first_factor_verification = %v", v)
	}
	code, _, back := s.do(t, c, "GET", "/auth/sign_ins/"+si["id"].(string), "", nil)
	if code != 200 || back["status"] != "complete" || back["created_session_id"] != si["created_session_id"] {
		t.Fatalf("GET /auth/sign_ins/{id} = %d %v", code, back)
	}
	code, _, me := s.do(t, c, "GET", "/auth/me", "", nil)
	if code != 200 || me["id"] != uid {
		t.Fatalf("GET /auth/me = %d %v", code, me)
	}
	code, _, out := s.do(t, s.browser(t), "POST", "/auth/sign_ins", "", map[string]any{"strategy": "ticket", "ticket": tok["token"]})
	if code != 400 || errCode(out) != "sign_in_token_already_used_code" {
		t.Fatalf("second redemption = %d %v", code, out)
	}
	code, _, out = s.do(t, s.browser(t), "POST", "/auth/sign_ins", "", map[string]any{"strategy": "ticket", "ticket": strings.Repeat("x", 1<<13)})
	if code != 400 || errCode(out) != "ticket_invalid_code" {
		t.Fatalf("junk ticket = %d %v", code, out)
	}
}

func TestHTTPJWKS(t *testing.T) {
	s := newTicketServer(t, nil)
	code, h, out := s.do(t, nil, "GET", "/auth/.well-known/jwks.json", "", nil)
	if code != 200 || !strings.Contains(h.Get("Cache-Control"), "max-age=") {
		t.Fatalf("GET jwks = %d %v", code, h)
	}
	keys, _ := out["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks = %v", out)
	}
	k := keys[0].(map[string]any)
	if len(k) != 6 || k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["x"] == nil || k["kid"] == nil {
		t.Fatalf("jwk = %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("the JWKS serves private key material")
	}
	_, tok := s.createToken(t, "ada@example.com", 0)
	h2, _, _ := sitParts(t, tok["token"].(string))
	if h2["kid"] != k["kid"] {
		t.Fatalf("token kid %v not in the JWKS (%v)", h2["kid"], k["kid"])
	}
}

// TestHTTPAmbiguousSignInInput: a ticket without strategy ticket, or
// beside an identifier, is refused naming the fields, never half read.
func TestHTTPAmbiguousSignInInput(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	for _, c := range []struct {
		body  map[string]any
		names []any
	}{
		{map[string]any{"identifier": "ada@example.com", "ticket": "x.y.z"}, []any{"identifier", "ticket"}},
		{map[string]any{"strategy": "ticket", "identifier": "ada@example.com", "ticket": "x.y.z"}, []any{"identifier", "ticket"}},
		{map[string]any{"strategy": "email_link", "ticket": "x.y.z"}, []any{"strategy", "ticket"}},
		{map[string]any{"ticket": "x.y.z"}, []any{"strategy", "ticket"}},
	} {
		out := b.api("POST", "/auth/sign_ins", c.body, http.StatusUnprocessableEntity)
		meta := out["errors"].([]any)[0].(map[string]any)["meta"].(map[string]any)
		if errCode(out) != "form_param_value_invalid" || fmt.Sprint(meta["param_names"]) != fmt.Sprint(c.names) {
			t.Errorf("%v = %v; want form_param_value_invalid naming %v", c.body, out, c.names)
		}
	}
}
