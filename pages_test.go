package magiclink_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

var locales = []string{"en", "de", "fr", "es", "pt-BR", "ja", "ar"}

// missingPageKey matches a catalogue key or placeholder left on a page.
var missingPageKey = regexp.MustCompile(`\bpage\.[a-z_]|\{[a-z_]+\}`)

// pageWant is what one page must say.
type pageWant struct {
	title, text, button string // catalogue keys; button "" for none
	action, token       string
}

// getPage fetches path from the handler with an Accept-Language and
// checks the page against want in lang.
func getPage(t *testing.T, e *env, path, header, lang string, want pageWant) {
	t.Helper()
	req := httptest.NewRequest("GET", "https://app.example"+path, nil)
	if header != "" {
		req.Header.Set("Accept-Language", header)
	}
	w := httptest.NewRecorder()
	e.auth.Handler().ServeHTTP(w, req)
	page := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("GET %s = %d", path, w.Code)
	}
	m := msgs(lang)
	tr := func(key string) string {
		return m.T(key, "app", "app.example", "email", "ada@example.com")
	}
	dir := "ltr"
	if lang == "ar" {
		dir = "rtl"
	}
	esc := func(s string) string {
		return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	for _, s := range []string{
		`<html lang="` + lang + `" dir="` + dir + `">`,
		"<title>" + esc(tr(want.title)) + " · app.example</title>",
		"<h1>" + esc(tr(want.title)) + "</h1>",
		"<p>" + esc(tr(want.text)) + "</p>",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("%s in %s lacks %s:\n%s", path, lang, s, page)
		}
	}
	if got := w.Header().Get("Content-Language"); got != lang {
		t.Errorf("Content-Language = %q, want %q", got, lang)
	}
	if missingPageKey.MatchString(page) {
		t.Errorf("%s in %s has a missing message: %s", path, lang, missingPageKey.FindString(page))
	}
	forms := strings.Count(page, "<form ")
	if want.button == "" {
		if forms != 0 || strings.Contains(page, "<button") {
			t.Errorf("%s in %s has a button:\n%s", path, lang, page)
		}
	} else {
		if forms != 1 || strings.Count(page, `name="token" value="`+esc(want.token)+`"`) != 1 ||
			!strings.Contains(page, `<form method="post" action="`+want.action+`">`) ||
			!strings.Contains(page, `<button type="submit" id="confirm">`+esc(tr(want.button))+"</button>") {
			t.Errorf("%s in %s: the confirm form is not as expected:\n%s", path, lang, page)
		}
		if !strings.Contains(page, "<small>"+esc(tr("page.note"))+"</small>") {
			t.Errorf("%s in %s lacks the note", path, lang)
		}
	}
	// The one style element carries the nonce the CSP names.
	csp := w.Header().Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if nonce == nil || strings.Count(page, "<style") != 1 || styleNonce(page) != nonce[1] {
		t.Errorf("style and CSP nonce do not match: %q\n%s", csp, page)
	}
}

// TestEveryPageInEveryLanguage renders each confirm page, in each of its
// outcomes, in each language: a flow's pages in the flow's language, the
// others in the request's.
func TestEveryPageInEveryLanguage(t *testing.T) {
	ctx := context.Background()
	for _, lang := range locales {
		t.Run(lang, func(t *testing.T) {
			e := newEnv(t, nil)
			verify := func(tok string) string { return "/auth/verify?token=" + url.QueryEscape(tok) }
			link := func(title, text, button, tok string) pageWant {
				return pageWant{title: title, text: text, button: button, action: "/auth/verify", token: tok}
			}

			// A sign-up, then a sign-up for the now registered address (it
			// signs in), a sign-in, and an added address.
			c := e.client(t)
			linkOf := func(prepare func() error) string {
				t.Helper()
				n := len(e.mail.Messages()) + 1
				if err := prepare(); err != nil {
					t.Fatal(err)
				}
				return e.token(t, n)
			}
			signUp := func() string {
				su, err := e.auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: "ada@example.com", Locale: lang})
				return linkOf(func() error {
					if err == nil {
						_, err = su.PrepareVerification(ctx, magiclink.PrepareParams{})
					}
					return err
				})
			}
			tok := signUp()
			getPage(t, e, verify(tok), "", lang, link("page.sign_up.title", "page.sign_up.text", "page.sign_up.button", tok))
			res, err := e.auth.ConfirmLink(ctx, tok, c)
			if err != nil || res.NewSession == nil {
				t.Fatalf("ConfirmLink = %+v, %v", res, err)
			}
			// Used: whoever opens it, in the flow's language.
			getPage(t, e, verify(tok), "ja", lang, link("page.link.used.title", "page.link.used.text", "page.continue", tok))

			e.clock.Advance(time.Minute)
			tok = signUp()
			getPage(t, e, verify(tok), "", lang, link("page.sign_in.title", "page.sign_in.text", "page.sign_in.button", tok))

			e.clock.Advance(time.Minute)
			si, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "ada@example.com", Locale: lang})
			tok = linkOf(func() error {
				if err == nil {
					_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
				}
				return err
			})
			getPage(t, e, verify(tok), "", lang, link("page.sign_in.title", "page.sign_in.text", "page.sign_in.button", tok))
			// Expired.
			e.clock.Advance(magiclink.DefaultLinkTTL + time.Second)
			getPage(t, e, verify(tok), "", lang, link("page.link.expired.title", "page.link.expired.text", "page.continue", tok))

			ea, err := e.auth.EmailAddresses.Create(ctx, res.NewSession.UserID, magiclink.EmailAddressParams{EmailAddress: "ada@work.example", Locale: lang})
			tok = linkOf(func() error {
				if err == nil {
					_, err = ea.PrepareVerification(ctx, c, magiclink.PrepareParams{})
				}
				return err
			})
			want := link("page.verify_email.title", "page.verify_email.text", "page.verify_email.button", tok)
			getPageAs(t, e, verify(tok), lang, want, "ada@work.example")

			// A reverification of the session, before a sensitive change:
			// the language of the address it goes to.
			e.clock.Advance(time.Minute)
			rv, err := e.auth.Sessions.StartReverification(ctx, c, res.NewSession.Session)
			tok = linkOf(func() error {
				if err == nil {
					_, err = rv.PrepareVerification(ctx, magiclink.PrepareParams{Strategy: "email_link"})
				}
				return err
			})
			getPage(t, e, verify(tok), "", lang, link("page.reverify.title", "page.reverify.text", "page.reverify.button", tok))

			// No such link: the request's language.
			getPage(t, e, verify("nope"), lang, lang, pageWant{title: "page.link.invalid.title", text: "page.link.invalid.text"})

			// Sign-in tokens: the user's language, else the request's.
			ticket := func(tok string) string { return "/auth/ticket?token=" + url.QueryEscape(tok) }
			st, err := e.auth.SignInTokens.Create(ctx, res.NewSession.UserID, magiclink.SignInTokenParams{ExpiresIn: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			getPage(t, e, ticket(st.Token), lang, lang, pageWant{title: "page.ticket.title", text: "page.ticket.text_address",
				button: "page.ticket.button", action: "/auth/ticket", token: st.Token})
			getPage(t, e, ticket("junk"), lang, lang, pageWant{title: "page.ticket.invalid.title", text: "page.ticket.invalid.text"})
			if _, err := e.auth.SignInTokens.Revoke(ctx, st.ID); err != nil {
				t.Fatal(err)
			}
			getPage(t, e, ticket(st.Token), lang, lang, pageWant{title: "page.ticket.revoked.title", text: "page.ticket.revoked.text"})
			st, err = e.auth.SignInTokens.Create(ctx, res.NewSession.UserID, magiclink.SignInTokenParams{ExpiresIn: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.auth.SignIns.Create(ctx, e.client(t), magiclink.SignInParams{Strategy: "ticket", Ticket: st.Token}); err != nil {
				t.Fatal(err)
			}
			getPage(t, e, ticket(st.Token), lang, lang, pageWant{title: "page.ticket.used.title", text: "page.ticket.used.text"})
			st, err = e.auth.SignInTokens.Create(ctx, res.NewSession.UserID, magiclink.SignInTokenParams{ExpiresIn: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
			getPage(t, e, ticket(st.Token), lang, lang, pageWant{title: "page.ticket.expired.title", text: "page.ticket.expired.text"})
		})
	}
}

// styleNonce returns the nonce of the page's style element.
func styleNonce(page string) string {
	m := regexp.MustCompile(`<style nonce="([^"]*)">`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// getPageAs is getPage for a page that names another address than
// ada@example.com.
func getPageAs(t *testing.T, e *env, path, lang string, want pageWant, email string) {
	t.Helper()
	req := httptest.NewRequest("GET", "https://app.example"+path, nil)
	w := httptest.NewRecorder()
	e.auth.Handler().ServeHTTP(w, req)
	m := msgs(lang)
	page := w.Body.String()
	for _, key := range []string{want.title, want.text, want.button} {
		s := m.T(key, "app", "app.example", "email", email)
		s = strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
		if !strings.Contains(page, s) {
			t.Errorf("%s in %s lacks %q:\n%s", path, lang, s, page)
		}
	}
	if !strings.Contains(page, `<html lang="`+lang+`"`) || missingPageKey.MatchString(page) {
		t.Errorf("%s in %s:\n%s", path, lang, page)
	}
}

// TestPageOverride replaces the page template and some words: the page
// shows them, while the layout, the nonce and the confirm form stay the
// library's.
func TestPageOverride(t *testing.T) {
	over := fstest.MapFS{
		"pages/page.html": {Data: []byte(`{{define "style"}}h1{color:{{.Brand.AccentColor}}}{{end}}` +
			`{{define "main"}}<section class="acme"><h1>{{.Title}}</h1><p>{{.T "app.tagline"}}</p>{{.Form}}</section>{{end}}`)},
		"messages/en.json": {Data: []byte(`{"page.sign_up.button": "Let me in", "app.tagline": "Made by {app}"}`)},
		"messages/de.json": {Data: []byte(`{"app.tagline": "Gemacht von {app}"}`)},
	}
	e := newEnv(t, func(c *magiclink.Config) {
		c.Overrides = over
		c.Brand = mailer.Brand{Name: "Acme", AccentColor: "#0a7c55"}
	})
	ctx := context.Background()
	c, _ := prepareSignUp(t, e.auth, "ada@example.com")
	tok := e.token(t, 1)
	req := httptest.NewRequest("GET", "https://app.example/auth/verify?token="+url.QueryEscape(tok), nil)
	w := httptest.NewRecorder()
	e.auth.Handler().ServeHTTP(w, req)
	page := w.Body.String()
	for _, want := range []string{`<section class="acme">`, "<p>Made by Acme</p>", ">Let me in</button>",
		`<form method="post" action="/auth/verify">`, `value="` + tok + `"`, "h1{color:#0a7c55}", "<title>Finish signing up · Acme</title>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(w.Header().Get("Content-Security-Policy"))
	if nonce == nil || styleNonce(page) != nonce[1] {
		t.Errorf("nonce not the library's:\n%s", page)
	}
	// The confirm form still consumes the link.
	res, err := e.auth.ConfirmLink(ctx, tok, c)
	if err != nil || res.Status != magiclink.LinkVerified {
		t.Errorf("ConfirmLink = %+v, %v", res, err)
	}
}

// TestOverridesFailNew checks that an override that cannot work fails
// New with an error naming its file, never a request or a send.
func TestOverridesFailNew(t *testing.T) {
	page := func(src string) fstest.MapFS { return fstest.MapFS{"pages/page.html": {Data: []byte(src)}} }
	tests := map[string]struct {
		fsys fstest.MapFS
		want string
	}{
		"page without main":   {page(`{{define "style"}}{{end}}`), `pages/page.html lacks the block "main"`},
		"page without style":  {page(`{{define "main"}}{{.Form}}{{end}}`), `pages/page.html lacks the block "style"`},
		"page without form":   {page(`{{define "style"}}{{end}}{{define "main"}}<h1>{{.Title}}</h1>{{end}}`), `pages/page.html: the block "main" must show the confirm form`},
		"page does not parse": {page(`{{define "main"}}{{if}}{{end}}`), "pages/page.html"},
		"page reads the nonce": {page(`{{define "style"}}{{end}}{{define "main"}}<i nonce="{{.Nonce}}"></i>{{.Form}}{{end}}`),
			"pages/page.html"},
		"unknown message":           {fstest.MapFS{"messages/de.json": {Data: []byte(`{"page.sign_in.titel": "x"}`)}}, `de.json: "page.sign_in.titel" is not a message`},
		"unknown placeholder":       {fstest.MapFS{"messages/fr.json": {Data: []byte(`{"page.sign_in.text": "{mail}"}`)}}, "fr.json: \"page.sign_in.text\": unknown placeholder {mail}"},
		"email does not parse":      {fstest.MapFS{"emails/sign_in.subject.txt": {Data: []byte(`{{.AppName`)}, "emails/sign_in.txt": {Data: []byte(`x`)}}, "sign_in.subject.txt"},
		"email cannot execute":      {fstest.MapFS{"emails/sign_in.subject.txt": {Data: []byte(`{{.Nope}}`)}, "emails/sign_in.txt": {Data: []byte(`x`)}}, "sign_in.subject.txt"},
		"email layout lacks a file": {fstest.MapFS{"emails/email.html": {Data: []byte(`x`)}}, "email.subject.txt is missing"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{}), Mailer: mailtest.New(), Overrides: tt.fsys})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want an error with %q", err, tt.want)
			}
		})
	}
	for name, cfg := range map[string]magiclink.Config{
		"default locale without a catalogue": {DefaultLocale: "xx"},
		"bad accent colour":                  {Brand: mailer.Brand{AccentColor: "red; background:url(x)"}},
	} {
		cfg.BaseURL, cfg.Store, cfg.Mailer = "https://app.example", memstore.New(memstore.Config{}), mailtest.New()
		if _, err := magiclink.New(cfg); err == nil {
			t.Errorf("%s: New() = nil error", name)
		}
	}
}

// TestPageLogo shows a logo only from the app's own origin, which the
// CSP then allows, and never one from elsewhere.
func TestPageLogo(t *testing.T) {
	for _, tt := range []struct {
		logo  string
		shown bool
	}{{"https://app.example/logo.png", true}, {"https://cdn.example/logo.png", false}} {
		e := newEnv(t, func(c *magiclink.Config) { c.Brand.LogoURL = tt.logo })
		w := httptest.NewRecorder()
		e.auth.Handler().ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/auth/verify?token=x", nil))
		csp := w.Header().Get("Content-Security-Policy")
		if strings.Contains(w.Body.String(), tt.logo) != tt.shown || strings.Contains(csp, "img-src 'self'") != tt.shown {
			t.Errorf("logo %s: shown=%v, CSP %q\n%s", tt.logo, tt.shown, csp, w.Body.String())
		}
		if w.Code != http.StatusOK {
			t.Errorf("status %d", w.Code)
		}
	}
}

// TestCrossDevicePagesInEveryLanguage opens a link in another browser
// than the one that asked for it, with same-client binding off: the
// warning and its "This wasn't me" button, and the page after pressing
// it, are in the flow's language, whatever the other browser asks for.
func TestCrossDevicePagesInEveryLanguage(t *testing.T) {
	for _, lang := range locales {
		t.Run(lang, func(t *testing.T) {
			s := newSite(t, func(c *magiclink.Config) { c.AllowCrossClient = true })
			asker := s.browser(t)
			su := asker.apiIn("", "POST", "/auth/sign_ups", map[string]any{"email_address": "ada@example.com", "locale": lang}, 200)
			n := len(s.mail.Messages()) + 1
			asker.apiIn("", "POST", "/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
			token := s.token(t, n)
			s.clock.Advance(3 * time.Minute)

			m := msgs(lang)
			other := s.browser(t)
			res, body := other.do("GET", "/auth/verify?token="+url.QueryEscape(token), "", "", "Accept-Language", "zz, ja;q=0.1")
			page := string(body)
			esc := html.EscapeString
			for _, want := range []string{`<html lang="` + lang + `"`, `action="/auth/verify/deny"`,
				`class="secondary">` + esc(m.T("page.cross_device.deny")) + "</button>", esc(m.Duration(3 * time.Minute))} {
				if !strings.Contains(page, want) {
					t.Errorf("cross-device page lacks %s:\n%s", want, page)
				}
			}
			if missingPageKey.MatchString(page) || res.Header.Get("Content-Language") != lang {
				t.Errorf("cross-device page: %v\n%s", res.Header, page)
			}
			res, body = other.do("POST", "/auth/verify/deny", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token), "Accept-Language", "zz")
			if !strings.Contains(string(body), "<h1>"+esc(m.T("page.denied.title"))+"</h1>") || res.Header.Get("Content-Language") != lang {
				t.Errorf("denied page not in %s:\n%s", lang, body)
			}
		})
	}
}
