package magiclink

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

// The fuzz targets of the package. FuzzParseTicket (sign-in tokens) lives
// in ticket_fuzz_test.go. Each seed corpus holds the adversarial cases of
// adversarial_test.go.

// fuzzAuth is an Auth on a test store and clock, send limits off.
func fuzzAuth(f testing.TB, mod func(*Config)) (*Auth, *mailtest.Mailer) {
	f.Helper()
	e := newTestEnv()
	return e.open(f, func(c *Config) {
		c.Limits = Limits{Disabled: true}
		c.RedirectOrigins = []string{"https://allowed.example:8443", "http://localhost:3000"}
		if mod != nil {
			mod(c)
		}
	}), e.mail
}

// FuzzConfirmLink feeds arbitrary strings to ConfirmLink while one real
// link is live: nothing panics, nothing but the real token is verified,
// and the real link still works afterwards.
func FuzzConfirmLink(f *testing.F) {
	a, mt := fuzzAuth(f, nil)
	ctx := context.Background()
	c, _ := prepareSignUp(f, a, "fuzz@example.com")
	msgs, err := mt.Wait(ctx, 1)
	if err != nil {
		f.Fatal(err)
	}
	lu, _ := url.Parse(msgs[0].Link)
	real := lu.Query().Get("token")
	raw, _ := base64.RawURLEncoding.DecodeString(real)
	last := real[:len(real)-1]
	for _, s := range []string{
		"", "short", strings.Repeat("A", tokenLen), strings.Repeat("A", tokenLen+1), strings.Repeat("\x00", tokenLen),
		last + "B", last + "=", real + "=", real + "\n", " " + real, strings.ToUpper(real), strings.ToLower(real),
		base64.URLEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), hashToken(real),
		strings.NewReplacer("-", "+", "_", "/").Replace(real), "../../link/" + hashToken(real),
	} {
		if s != real {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validToken(s) && len(s) != tokenLen {
			t.Fatalf("validToken(%q) with length %d", s, len(s))
		}
		res, err := a.ConfirmLink(ctx, s, c)
		if err != nil {
			t.Fatalf("ConfirmLink(%q): %v", s, err)
		}
		if res.Status == LinkVerified && s != real {
			t.Fatalf("ConfirmLink(%q) verified without the real token", s)
		}
		if s != real && res.Status != LinkFailed {
			t.Fatalf("ConfirmLink(%q) = %s; want failed", s, res.Status)
		}
	})
}

// FuzzNormalizeAddress checks address parsing: an accepted address is its
// own normal form, has no CR, LF, space or angle bracket, and renders into
// a message whose header block has exactly the intended recipient and no
// header of its own (no header injection).
func FuzzNormalizeAddress(f *testing.F) {
	tpl := mailer.DefaultTemplates()
	for _, s := range []string{
		"ada@example.com", " Ada@Example.COM ", "ada@example.com\r\nBcc: eve@evil.com", "ada@example.com\nBcc: eve@evil.com",
		"ada@example.com\r", "\r\nada@example.com", "ada\r\n@example.com", "Ada <ada@example.com>", "<ada@example.com>",
		"ada@exa mple.com", "a@b..com", "(c)a@b.com", "a@b.com (c)", `"a b"@example.com`, "a@[127.0.0.1]", "a@b",
		"a@b.com\x00", "a\u2028@b.com", "a\u0085b@b.com", "a\u202eb@b.com", "a\u00a0b@b.com", "é@exämple.com", "a@b.com,eve@evil.com", "a@b.com;eve@evil.com",
		"=?utf-8?q?a=0D=0ABcc:_e@v.il?=@b.com", "a%0d%0abcc:e@v.il@b.com", strings.Repeat("a", 250) + "@b.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeAddress(s)
		if err != nil {
			if AsError(err) == nil {
				t.Fatalf("NormalizeAddress(%q): untyped error %v", s, err)
			}
			return
		}
		if strings.ContainsAny(n, "\r\n <>\t") || strings.IndexFunc(n, func(r rune) bool {
			return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Zs, unicode.Cf)
		}) >= 0 {
			t.Fatalf("NormalizeAddress(%q) = %q", s, n)
		}
		if again, err := NormalizeAddress(n); err != nil || again != n {
			t.Fatalf("NormalizeAddress(%q) = %q, but again = %q, %v", s, n, again, err)
		}
		if addressKey(n) != addressKey(strings.ToLower(n)) {
			t.Fatalf("addressKey(%q) depends on case", n)
		}
		msg, err := tpl.Render(mailer.KindSignIn, mailer.Data{AppName: "App", To: n, Link: "https://app.example/auth/verify?token=x"})
		if err != nil {
			t.Fatal(err)
		}
		msg.From = "App <no-reply@app.example>"
		var b bytes.Buffer
		if err := mailer.WriteMIME(&b, msg, time.Unix(0, 0)); err != nil {
			t.Fatalf("an accepted address %q makes an unsendable message: %v", n, err)
		}
		m, err := mail.ReadMessage(&b)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"Date": true, "From": true, "To": true, "Subject": true, "Message-Id": true,
			"Mime-Version": true, "Auto-Submitted": true, "Content-Type": true, "Content-Transfer-Encoding": true}
		for k, v := range m.Header {
			if !want[k] || len(v) != 1 {
				t.Fatalf("address %q produced header %s: %q", n, k, v)
			}
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != n {
			t.Fatalf("address %q: To header = %v, %v", n, to, err)
		}
	})
}

// FuzzCheckRedirect checks redirect_url validation against an oracle that
// resolves URLs as browsers do (WHATWG URL): whatever is accepted, and the
// Location finally served for it, lands on BaseURL's origin or an allowed
// one.
func FuzzCheckRedirect(f *testing.F) {
	a, _ := fuzzAuth(f, nil)
	for _, s := range redirectAttacks {
		f.Add(s)
	}
	for _, s := range []string{"/", "/welcome?x=1#top", "https://app.example/a", "https://allowed.example:8443/x",
		"http://localhost:3000/cb", "HTTPS://APP.EXAMPLE/", "/a/../b", "/.//evil.com", "/%2e%2e/x", "https://app.example:443/"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://app.example/auth/verify")
	f.Fuzz(func(t *testing.T, s string) {
		stored, err := a.checkRedirect(s)
		if err != nil {
			if AsError(err) == nil {
				t.Fatalf("checkRedirect(%q): untyped error %v", s, err)
			}
			return
		}
		if stored == "" {
			if s != "" {
				t.Fatalf("checkRedirect(%q) = \"\"", s)
			}
			return
		}
		for _, ref := range []string{s, stored} {
			if o := browserOrigin(base, ref); !a.origins[o] {
				t.Fatalf("checkRedirect(%q) accepted it, but a browser resolves %q to origin %q", s, ref, o)
			}
		}
		if !strings.HasPrefix(stored, "/") {
			if u, err := url.Parse(stored); err != nil || !a.origins[origin(u)] {
				t.Fatalf("checkRedirect(%q) = %q, not on an allowed origin", s, stored)
			}
		} else if strings.HasPrefix(stored, "//") {
			t.Fatalf("checkRedirect(%q) = %q, scheme-relative", s, stored)
		}
		// The Location the confirm POST answers with.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest("POST", base.String(), nil),
			withQuery(stored, url.Values{"magiclink_status": {"verified"}}), http.StatusSeeOther)
		loc := rec.Header().Get("Location")
		if o := browserOrigin(base, loc); !a.origins[o] {
			t.Fatalf("checkRedirect(%q): Location %q resolves to origin %q", s, loc, o)
		}
	})
}

// browserOrigin returns the origin a browser navigates to when it follows
// ref from a page at base, per the WHATWG URL standard for the parts that
// matter here: tabs and newlines are dropped and C0 controls and spaces
// trimmed, schemes are case-insensitive, a backslash counts as a slash in
// http(s) URLs, any number of slashes may precede the authority, a
// same-scheme URL without slashes is relative, the host follows the last
// "@" and is percent-decoded and lower-cased, and default ports vanish.
// Origins of other schemes are returned as "scheme:" (opaque).
func browserOrigin(base *url.URL, ref string) string {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= 0x20 })
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(ref)
	scheme, rest := base.Scheme, ref
	if i := strings.IndexByte(ref, ':'); i > 0 && isScheme(ref[:i]) {
		scheme, rest = strings.ToLower(ref[:i]), ref[i+1:]
		if scheme != "http" && scheme != "https" {
			return scheme + ":"
		}
		if scheme == base.Scheme && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "\\") {
			return origin(base) // a relative reference in disguise
		}
	} else if !strings.HasPrefix(rest, "//") && !strings.HasPrefix(rest, "\\\\") && !strings.HasPrefix(rest, "/\\") && !strings.HasPrefix(rest, "\\/") {
		return origin(base) // a path
	}
	rest = strings.TrimLeft(rest, "/\\")
	if i := strings.IndexAny(rest, "/\\?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
	}
	if h, err := url.PathUnescape(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			return "invalid:"
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = ""
		} else {
			port = strconv.Itoa(n)
		}
	}
	if port != "" {
		return scheme + "://" + host + ":" + port
	}
	return scheme + "://" + host
}

func isScheme(s string) bool {
	for i, c := range s {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// fuzzRoutes are the routes whose bodies FuzzRequestBody posts to; the
// backend routes go to BackendHandler.
var fuzzRoutes = []string{
	"/auth/sign_ins", "/auth/sign_ups", "/auth/sign_ins/{sia}/prepare_first_factor",
	"/auth/sign_ups/{sua}/prepare_verification", "/auth/me/email_addresses",
	"/auth/me/email_addresses/{idn}/prepare_verification", "/auth/verify", "/auth/ticket",
	"backend:/v1/sign_in_tokens", "backend:/v1/users",
}

var fuzzContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "", "text/plain",
	"application/json; charset=utf-8", "application/vnd.api+json", "multipart/form-data; boundary=x"}

// FuzzRequestBody posts arbitrary bodies to every route that reads one,
// signed in and with live flows, under every content type: no answer is a
// 500, and every non-redirect answer is JSON.
func FuzzRequestBody(f *testing.F) {
	var (
		mu   sync.Mutex
		fx   *bodyFixture
		runs int
	)
	for _, s := range []string{`{"identifier":"a@b.com"}`, `{"email_address":"a@b.com"}`, `{"strategy":"email_link","redirect_url":"/x"}`,
		`{"strategy":"ticket","ticket":"a.b.c"}`, `{"user_id":"user_x","expires_in_seconds":1e999}`, `{"expires_in_seconds":"-1"}`,
		`token=abc`, `identifier=a%40b.com&identifier=c%40d.com`, `%zz`, `{`, `[]`, `null`, `{} {}`, `{"a":{"b":[1,2,{"c":null}]}}`,
		`{"identifier":"\u0000"}`, `{"redirect_url":"//evil.com","strategy":"email_link"}`, "\xff\xfe", strings.Repeat("[", 10000)} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), uint8(0), s)
			f.Add(uint8(i), uint8(1), s)
		}
	}
	f.Fuzz(func(t *testing.T, route, ctype uint8, body string) {
		mu.Lock()
		if fx == nil || runs%2000 == 0 {
			if fx != nil {
				fx.a.Close()
			}
			fx = newBodyFixture(t)
		}
		runs++
		x := fx
		mu.Unlock()
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest("POST", "https://app.example"+x.expand(path), strings.NewReader(body))
		if ct := fuzzContentTypes[int(ctype)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.AddCookie(&http.Cookie{Name: x.a.ClientCookieName(), Value: x.clientTok})
		req.AddCookie(&http.Cookie{Name: x.a.SessionCookieName(), Value: x.sessTok})
		h := x.h
		if strings.HasPrefix(path, "backend:") {
			h = x.backend
			req.Header.Set("Authorization", "Bearer "+fuzzSecret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q = %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusSeeOther && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("POST %s %q = %d with Content-Type %q", path, body, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

const fuzzSecret = "sk_test_fuzz"

// bodyFixture is a signed-in client with a live sign-in, sign-up and added
// address, for FuzzRequestBody.
type bodyFixture struct {
	a                   *Auth
	h, backend          http.Handler
	clientTok, sessTok  string
	signIn, signUp, idn string
}

func newBodyFixture(t testing.TB) *bodyFixture {
	// Not closed when t ends: the fixture outlives the input that made it.
	env := newTestEnv()
	cfg := env.config()
	cfg.Limits = Limits{Disabled: true}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, ctok, err := a.Clients.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.Users.Create(ctx, UserParams{EmailAddress: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s, ops := a.newSession(context.Background(), newID(prefixSession), u.ID, c.ID, env.clock.Now(), false)
	if err := a.st.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	si, err := a.SignIns.Create(ctx, c, SignInParams{Identifier: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	su, err := a.SignUps.Create(ctx, c, SignUpParams{EmailAddress: "new@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.EmailAddresses.Create(ctx, u.ID, EmailAddressParams{EmailAddress: "second@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return &bodyFixture{a: a, h: a.Handler(), backend: a.BackendHandler(fuzzSecret), clientTok: ctok, sessTok: s.Token,
		signIn: si.ID, signUp: su.ID, idn: e.ID}
}

func (x *bodyFixture) expand(path string) string {
	path = strings.TrimPrefix(path, "backend:")
	return strings.NewReplacer("{sia}", x.signIn, "{sua}", x.signUp, "{idn}", x.idn).Replace(path)
}
