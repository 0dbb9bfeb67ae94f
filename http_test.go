package magiclink_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

// site is the Frontend API served over loopback.
type site struct {
	*env
	srv *httptest.Server
}

func newSite(t *testing.T, mod func(*magiclink.Config)) *site {
	t.Helper()
	return newSiteBehind(t, "", mod)
}

// newSiteBehind is newSite behind a reverse proxy that strips path: the
// BaseURL ends in path, the server sees what follows it.
func newSiteBehind(t *testing.T, path string, mod func(*magiclink.Config)) *site {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String() + path
	e := newEnv(t, func(c *magiclink.Config) {
		c.BaseURL = base
		if mod != nil {
			mod(c)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/auth/", e.auth.Handler())
	mux.Handle("/private", e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := magiclink.UserFrom(r.Context())
		if err != nil {
			http.Error(w, "no user", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "hello "+u.PrimaryEmailAddress())
	})))
	srv.Config.Handler = http.StripPrefix(path, mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return &site{env: e, srv: srv}
}

// browser is one client with its own cookie jar; it does not follow
// redirects, so tests see them.
type browser struct {
	t    *testing.T
	s    *site
	http *http.Client
}

func (s *site) browser(t *testing.T) *browser {
	return &browser{t: t, s: s, http: authtest.Browser()}
}

// do sends a request and returns the response with its body read.
func (b *browser) do(method, path, contentType, body string, hdr ...string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

// api sends JSON and decodes the JSON answer, checking the status.
// prepareSignUp starts a sign-up for addr and sends its link, failing the
// test unless both answer 200. It returns the sign-up's id.
func (b *browser) prepareSignUp(addr string) string {
	b.t.Helper()
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": addr}, 200)
	b.api("POST", "/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	return su["id"].(string)
}

func (b *browser) api(method, path string, body any, wantStatus int) map[string]any {
	b.t.Helper()
	return b.apiIn("", method, path, body, wantStatus)
}

// errCode returns the first error code of an error body.
func errCode(m map[string]any) string {
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// sitSecretKey is the Backend API key of tserver. A test value, not a
// secret.
const sitSecretKey = "sk_test_backend_key"

// tserver serves an Auth the way an app mounts it: the Frontend API at
// /auth/ and the Backend API at /v1/.
type tserver struct {
	*tenv
	srv *httptest.Server
}

func newTicketServer(t *testing.T, mod func(*magiclink.Config)) *tserver {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := newTicketEnv(t, func(c *magiclink.Config) {
		c.BaseURL = srv.URL
		c.AfterSignInURL = "/home"
		if mod != nil {
			mod(c)
		}
	})
	mux.Handle("/auth/", e.auth.Handler())
	mux.Handle("/v1/", e.auth.BackendHandler(sitSecretKey))
	return &tserver{tenv: e, srv: srv}
}

// browser returns an HTTP client with a cookie jar that does not follow
// redirects.
func (s *tserver) browser(t *testing.T) *http.Client { return authtest.Browser() }

// do sends a request with an optional body (JSON unless it is
// url.Values) and returns the status and the decoded JSON answer (nil if
// it is not JSON).
func (s *tserver) do(t *testing.T, c *http.Client, method, path, auth string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	r, ct := authtest.Body(t, body)
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if c == nil {
		c = &http.Client{CheckRedirect: authtest.NoRedirects}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
		switch v := v.(type) {
		case map[string]any:
			out = v
		case []any:
			out = map[string]any{"list": v}
		}
	} else if len(raw) > 0 {
		out = map[string]any{"body": string(raw)}
	}
	return resp.StatusCode, resp.Header, out
}

// api calls the Backend API with the right key.
func (s *tserver) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	code, _, out := s.do(t, nil, method, "/v1"+path, "Bearer "+sitSecretKey, body)
	return code, out
}

// confirm opens a link's confirm page and submits it, returning the
// redirect target.
func (b *browser) confirm(token string) *url.URL {
	b.t.Helper()
	res, body := b.do("GET", "/auth/verify?token="+url.QueryEscape(token), "", "")
	if res.StatusCode != 200 || !strings.Contains(string(body), `name="token"`) {
		b.t.Fatalf("confirm page = %d %s", res.StatusCode, body)
	}
	res, body = b.do("POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token))
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST /auth/verify = %d %s", res.StatusCode, body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.s.srv.URL)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// signUp registers addr over HTTP and leaves b signed in.
func (b *browser) signUp(addr string) {
	b.t.Helper()
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": addr}, 200)
	n := len(b.s.mail.Messages()) + 1
	b.api("POST", "/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link", "redirect_url": "/welcome"}, 200)
	u := b.confirm(b.s.token(b.t, n))
	if u.Query().Get("magiclink_status") != "verified" || u.Query().Get("magiclink_created_session") == "" {
		b.t.Fatalf("sign-up confirmation landed on %s", u)
	}
	b.s.clock.Advance(time.Minute)
}

func TestHTTPSignUpSignInSignOut(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.api("GET", "/auth/me", nil, 401)

	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "ada@example.com"}, 200)
	if su["object"] != "sign_up_attempt" || su["status"] != "missing_requirements" || !strings.HasPrefix(su["id"].(string), "sua_") {
		t.Fatalf("sign-up = %v", su)
	}
	id := su["id"].(string)
	su = b.api("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_link", "redirect_url": "/welcome?x=1"}, 200)
	v := su["verifications"].(map[string]any)["email_address"].(map[string]any)
	if v["status"] != "unverified" || v["strategy"] != "email_link" || v["object"] != "verification_email_link" {
		t.Fatalf("verification = %v", v)
	}
	u := b.confirm(s.token(t, 1))
	if u.Path != "/welcome" || u.Query().Get("x") != "1" || u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("landed on %s", u)
	}
	sessID := u.Query().Get("magiclink_created_session")
	su = b.api("GET", "/auth/sign_ups/"+id, nil, 200)
	if su["status"] != "complete" || su["created_session_id"] != sessID || su["created_user_id"] == nil {
		t.Fatalf("sign-up after confirm = %v", su)
	}
	me := b.api("GET", "/auth/me", nil, 200)
	if me["object"] != "user" || me["id"] != su["created_user_id"] {
		t.Fatalf("me = %v", me)
	}
	sess := b.api("GET", "/auth/session", nil, 200)
	if sess["id"] != sessID || sess["status"] != "active" {
		t.Fatalf("session = %v", sess)
	}
	if res, body := b.do("GET", "/private", "", ""); res.StatusCode != 200 || string(body) != "hello ada@example.com" {
		t.Fatalf("protected page = %d %q", res.StatusCode, body)
	}

	// Sign out, then replay the old cookie.
	old := b.cookie("magiclink_session")
	ended := b.api("DELETE", "/auth/session", nil, 200)
	if ended["status"] != "ended" {
		t.Fatalf("DELETE /session = %v", ended)
	}
	if b.cookie("magiclink_session") != "" {
		t.Fatal("sign-out left the session cookie")
	}
	replay := s.browser(t)
	u0, _ := url.Parse(s.srv.URL)
	replay.http.Jar.SetCookies(u0, []*http.Cookie{{Name: "magiclink_session", Value: old}})
	replay.api("GET", "/auth/me", nil, 401)
	if res, _ := replay.do("GET", "/private", "", ""); res.StatusCode != 401 {
		t.Fatalf("protected page with the old cookie = %d", res.StatusCode)
	}

	// Sign in again: a new session value.
	s.clock.Advance(time.Minute)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "ada@example.com"}, 200)
	if si["object"] != "sign_in_attempt" || si["status"] != "needs_first_factor" {
		t.Fatalf("sign-in = %v", si)
	}
	factor := si["supported_first_factors"].([]any)[0].(map[string]any)
	if factor["strategy"] != "email_link" || factor["safe_identifier"] != "ada@example.com" {
		t.Fatalf("factor = %v", factor)
	}
	b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor",
		map[string]any{"strategy": "email_link", "email_address_id": factor["email_address_id"]}, 200)
	u = b.confirm(s.token(t, 2))
	if u.Path != "/" || u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("landed on %s", u)
	}
	if nv := b.cookie("magiclink_session"); nv == "" || nv == old {
		t.Fatal("sign-in did not set a new session value")
	}
	b.api("GET", "/auth/me", nil, 200)
}

func TestHTTPScannerChangesNothing(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	id := b.prepareSignUp("scan@example.com")
	tok := s.token(t, 1)
	scanner := s.browser(t)
	for _, m := range []string{"GET", "HEAD", "GET"} {
		res, body := scanner.do(m, "/auth/verify?token="+tok, "", "")
		if res.StatusCode != 200 {
			t.Fatalf("%s confirm page = %d", m, res.StatusCode)
		}
		for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := res.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", m, h, got, want)
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP = %q", csp)
		}
		if m == "GET" && (strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") || strings.Contains(string(body), "<script")) {
			t.Errorf("confirm page loads or links elsewhere or runs script: %s", body)
		}
	}
	got := b.api("GET", "/auth/sign_ups/"+id, nil, 200)
	if got["status"] != "missing_requirements" {
		t.Fatalf("a scanner's GET changed the flow: %v", got)
	}
	if u := b.confirm(tok); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("after the scanner, the person's click landed on %s", u)
	}
}

func TestHTTPCrossClient(t *testing.T) {
	t.Run("required", func(t *testing.T) {
		s := newSite(t, nil)
		a, other := s.browser(t), s.browser(t)
		a.signUp("c1@example.com")
		si := a.api("POST", "/auth/sign_ins", map[string]any{"identifier": "c1@example.com"}, 200)
		a.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link", "redirect_url": "/done"}, 200)
		tok := s.token(t, 2)
		if u := other.confirm(tok); u.Path != "/done" || u.Query().Get("magiclink_status") != "client_mismatch" || u.Query().Has("magiclink_created_session") {
			t.Fatalf("other browser landed on %s", u)
		}
		other.api("GET", "/auth/me", nil, 401)
		other.api("GET", "/auth/sign_ins/"+si["id"].(string), nil, 404)
		if u := a.confirm(tok); u.Query().Get("magiclink_status") != "verified" {
			t.Fatalf("original browser landed on %s", u)
		}
	})
	t.Run("allowed, long poll receives the session", func(t *testing.T) {
		s := newSite(t, func(c *magiclink.Config) { c.AllowCrossClient = true })
		a, phone := s.browser(t), s.browser(t)
		a.signUp("c2@example.com")
		a.api("DELETE", "/auth/session", nil, 200)
		si := a.api("POST", "/auth/sign_ins", map[string]any{"identifier": "c2@example.com"}, 200)
		id := si["id"].(string)
		a.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
		tok := s.token(t, 2)
		polled := make(chan map[string]any, 1)
		go func() {
			var out map[string]any
			res, data := a.do("GET", "/auth/sign_ins/"+id+"?wait=30", "", "")
			if res.StatusCode == 200 {
				json.Unmarshal(data, &out)
			}
			polled <- out
		}()
		s.subscribed(t)
		u := phone.confirm(tok)
		if u.Query().Get("magiclink_status") != "verified" || u.Query().Has("magiclink_created_session") {
			t.Fatalf("phone landed on %s", u)
		}
		phone.api("GET", "/auth/me", nil, 401)
		got := <-polled
		if got == nil || got["status"] != "complete" || got["created_session_id"] == nil {
			t.Fatalf("long poll answered %v", got)
		}
		if got["first_factor_verification"].(map[string]any)["verified_from_the_same_client"] != false {
			t.Fatalf("verified_from_the_same_client = %v", got["first_factor_verification"])
		}
		me := a.api("GET", "/auth/me", nil, 200)
		if me["object"] != "user" {
			t.Fatalf("me = %v", me)
		}
	})
}

func TestHTTPSingleUseUnderConcurrency(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.prepareSignUp("many@example.com")
	tok := s.token(t, 1)
	confirmRace(t, 32, func() (bool, int, error) {
		req, _ := http.NewRequest("POST", s.srv.URL+"/auth/verify", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range b.http.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		res, err := (&http.Client{CheckRedirect: b.http.CheckRedirect}).Do(req)
		if err != nil {
			return false, 0, err
		}
		res.Body.Close()
		u, _ := url.Parse(res.Header.Get("Location"))
		sessions := 0
		for _, c := range res.Cookies() {
			if c.Name == "magiclink_session" && c.Value != "" {
				sessions++
			}
		}
		return u.Query().Get("magiclink_status") == "verified", sessions, nil
	})
}

func TestHTTPCookieAttributes(t *testing.T) {
	e := newEnv(t, nil) // BaseURL https://app.example
	h := e.auth.Handler()
	req := httptest.NewRequest("POST", "https://app.example/auth/sign_ups", strings.NewReader(`{"email_address":"c@example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("POST /sign_ups = %d %s", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-magiclink_client" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || len(c.Value) != 43 {
		t.Fatalf("client cookie = %+v", c)
	}
	// A planted client value is never adopted.
	req = httptest.NewRequest("POST", "https://app.example/auth/sign_ups", strings.NewReader(`{"email_address":"c@example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "__Host-magiclink_client", Value: strings.Repeat("A", 43)})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].Value == strings.Repeat("A", 43) {
		t.Fatalf("planted client cookie adopted: %v", cs)
	}
}

func TestHTTPErrors(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             []string
		status                          int
		code                            string
	}{
		{"malformed JSON", "POST", "/auth/sign_ins", "application/json", `{"identifier":`, nil, 400, "malformed_request"},
		{"two JSON values", "POST", "/auth/sign_ins", "application/json", `{} {}`, nil, 400, "malformed_request"},
		{"JSON array", "POST", "/auth/sign_ins", "application/json", `[1]`, nil, 400, "malformed_request"},
		{"oversized body", "POST", "/auth/sign_ins", "application/json", `{"identifier":"` + strings.Repeat("a", 20000) + `"}`, nil, 413, "request_body_too_large"},
		{"wrong type", "POST", "/auth/sign_ins", "application/json", `{"identifier":5}`, nil, 422, "form_param_format_invalid"},
		{"bad address", "POST", "/auth/sign_ins", "application/json", `{"identifier":"Ada <a@b.com>"}`, nil, 422, "form_param_format_invalid"},
		{"missing address", "POST", "/auth/sign_ups", "application/json", `{}`, nil, 422, "form_param_missing"},
		{"CRLF address", "POST", "/auth/sign_ups", "application/x-www-form-urlencoded", "email_address=a%40b.com%0d%0aBcc%3a+c%40d.com", nil, 422, "form_param_format_invalid"},
		{"unknown media type", "POST", "/auth/sign_ups", "text/plain", `x`, nil, 415, "unsupported_media_type"},
		{"unknown sign-in", "GET", "/auth/sign_ins/sia_0196f0c0a1b27c3d8e9f000000000000", "", "", nil, 404, "resource_not_found"},
		{"garbage id", "GET", "/auth/sign_ups/sua_..%2F..%2Fetc", "", "", nil, 404, "resource_not_found"},
		{"bad wait", "GET", "/auth/sign_ins/sia_x?wait=abc", "", "", nil, 422, "form_param_format_invalid"},
		{"no session", "GET", "/auth/me", "", "", nil, 401, "authentication_invalid"},
		{"no session to end", "DELETE", "/auth/session", "", "", nil, 401, "authentication_invalid"},
		{"add address signed out", "POST", "/auth/me/email_addresses", "application/json", `{"email_address":"x@y.com"}`, nil, 401, "authentication_invalid"},
		{"cross-site POST", "POST", "/auth/sign_ins", "application/json", `{"identifier":"a@b.com"}`, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "cross_origin_request"},
		{"unknown route", "GET", "/auth/nope", "", "", nil, 404, "resource_not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, data := b.do(c.method, c.path, c.ctype, c.body, c.hdr...)
			var out map[string]any
			json.Unmarshal(data, &out)
			if res.StatusCode != c.status || errCode(out) != c.code {
				t.Fatalf("= %d %s; want %d %s", res.StatusCode, data, c.status, c.code)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
	if n := len(s.mail.Messages()); n != 0 {
		t.Fatalf("bad requests sent %d messages", n)
	}
	// A sign-in prepared with a bad redirect_url is refused and sends nothing.
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "r@example.com"}, 200)
	out := b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link", "redirect_url": "//evil.com"}, 422)
	if errCode(out) != "form_param_format_invalid" {
		t.Fatalf("bad redirect = %v", out)
	}
	out = b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "phone_code"}, 422)
	if errCode(out) != "form_param_value_invalid" {
		t.Fatalf("bad strategy = %v", out)
	}
	b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	res, _ := b.do("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", "application/json", `{"strategy":"email_link"}`)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "30" {
		t.Fatalf("second send = %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestHTTPEmailAddress(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.signUp("first@example.com")
	ea := b.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "second@example.com"}, 200)
	if ea["object"] != "email_address" || ea["verification"] != nil {
		t.Fatalf("address = %v", ea)
	}
	id := ea["id"].(string)
	b.api("POST", "/auth/me/email_addresses/"+id+"/prepare_verification", map[string]any{"strategy": "email_link", "redirect_url": "/account"}, 200)
	polled := make(chan map[string]any, 1)
	go func() {
		res, data := b.do("GET", "/auth/me/email_addresses/"+id+"?wait=30", "", "")
		var out map[string]any
		if res.StatusCode == 200 {
			json.Unmarshal(data, &out)
		}
		polled <- out
	}()
	s.subscribed(t)
	u := b.confirm(s.token(t, 2))
	if u.Path != "/account" || u.Query().Get("magiclink_status") != "verified" || u.Query().Has("magiclink_created_session") {
		t.Fatalf("landed on %s", u)
	}
	got := <-polled
	if got == nil || got["verification"].(map[string]any)["status"] != "verified" {
		t.Fatalf("long poll = %v", got)
	}
	me := b.api("GET", "/auth/me", nil, 200)
	if n := len(me["email_addresses"].([]any)); n != 2 {
		t.Fatalf("user has %d addresses", n)
	}
}

func TestHTTPLongPollTimesOut(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "w@example.com"}, 200)
	start := time.Now()
	got := b.api("GET", "/auth/sign_ins/"+si["id"].(string)+"?wait=0.05", nil, 200)
	if got["status"] != "needs_first_factor" {
		t.Fatalf("= %v", got)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the long poll ignored its wait")
	}
}

func TestJSHelperServed(t *testing.T) {
	s := newSite(t, nil)
	res, body := s.browser(t).do("GET", "/auth/magiclink.js", "", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(body), "startMagicLinkFlow") || !strings.Contains(string(body), "handleMagicLinkVerification") {
		t.Fatalf("magiclink.js = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestHTTPConfirmPageSaysWhenALinkIsDead(t *testing.T) {
	s := newSite(t, func(c *magiclink.Config) { c.LinkTTL = time.Minute })
	b := s.browser(t)
	id := b.prepareSignUp("dead@example.com")
	tok := s.token(t, 1)
	page := func() string {
		_, body := b.do("GET", "/auth/verify?token="+tok, "", "")
		return string(body)
	}
	if p := page(); !strings.Contains(p, "Finish signing up") {
		t.Fatalf("live link page: %s", p)
	}
	s.clock.Advance(2 * time.Minute)
	if p := page(); !strings.Contains(p, "This link has expired") {
		t.Fatalf("expired link page: %s", p)
	}
	s.clock.Advance(time.Minute)
	b.api("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	if p := page(); !strings.Contains(p, "no longer valid") {
		t.Fatalf("superseded link page: %s", p)
	}
	if u := b.confirm(s.token(t, 2)); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("new link landed on %s", u)
	}
}

func TestHTTPSessionSurvivesRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "magiclink.db")
	mt := mailtest.New()
	start := func() (*httptest.Server, *magiclink.Auth) {
		srv := httptest.NewUnstartedServer(nil)
		a, err := magiclink.New(magiclink.Config{BaseURL: "http://" + srv.Listener.Addr().String(), DBPath: dbPath, Mailer: mt, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = a.Handler()
		srv.Start()
		return srv, a
	}
	srv, a := start()
	c := authtest.Browser()
	c.CheckRedirect = nil // follows the confirm page's redirect
	post := func(path, body string) map[string]any {
		res, err := c.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return out
	}
	su := post("/auth/sign_ups", `{"email_address":"durable@example.com"}`)
	post("/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", `{"strategy":"email_link"}`)
	msgs, err := mt.Wait(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	link, _ := url.Parse(msgs[0].Link)
	res, err := c.PostForm(srv.URL+"/auth/verify", url.Values{"token": {link.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := c.Jar.Cookies(res.Request.URL)

	srv.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	srv, a = start() // a new process on the same file, another port
	defer srv.Close()
	defer a.Close()
	u, _ := url.Parse(srv.URL)
	c.Jar.SetCookies(u, cookies)
	res, err = c.Get(srv.URL + "/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me map[string]any
	json.NewDecoder(res.Body).Decode(&me)
	if res.StatusCode != 200 || me["object"] != "user" {
		t.Fatalf("after the restart GET /auth/me = %d %v", res.StatusCode, me)
	}
}
