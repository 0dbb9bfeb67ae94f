package magiclink_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/i18n"
)

// apiIn sends JSON with an Accept-Language header (none when lang is
// empty) and decodes the JSON answer, checking the status.
func (b *browser) apiIn(lang, method, path string, body any, wantStatus int) map[string]any {
	b.t.Helper()
	var raw string
	if body != nil {
		j, _ := json.Marshal(body)
		raw = string(j)
	}
	var hdr []string
	if lang != "" {
		hdr = []string{"Accept-Language", lang}
	}
	res, data := b.do(method, path, "application/json", raw, hdr...)
	if res.StatusCode != wantStatus {
		b.t.Fatalf("%s %s = %d %s; want %d", method, path, res.StatusCode, data, wantStatus)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		b.t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
	}
	return out
}

// msgs returns the embedded catalogue of lang.
func msgs(lang string) *i18n.Printer { return i18n.Default().Printer(lang) }

// startSignUp starts and prepares a sign-up over HTTP, the first request
// in lang (its Accept-Language) with body's extra fields, and returns the
// message it sent.
func (b *browser) startSignUp(lang, addr string, extra map[string]any) (id string, n int) {
	b.t.Helper()
	body := map[string]any{"email_address": addr}
	for k, v := range extra {
		body[k] = v
	}
	su := b.apiIn(lang, "POST", "/auth/sign_ups", body, 200)
	id = su["id"].(string)
	n = len(b.s.mail.Messages()) + 1
	// The prepare comes in another language: the flow keeps the one it
	// started in.
	b.apiIn("fr", "POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	return id, n
}

func TestHTTPSignUpInGerman(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	_, n := b.startSignUp("de-DE,de;q=0.9,en;q=0.5", "ada@example.com", nil)
	msg := s.message(t, n)
	host := strings.TrimPrefix(s.srv.URL, "http://")
	host = host[:strings.LastIndexByte(host, ':')]
	if want := "Bestätigen Sie Ihre E-Mail-Adresse für " + host; msg.Subject != want {
		t.Errorf("subject = %q, want %q", msg.Subject, want)
	}
	for _, want := range []string{"Mit diesem Link bestätigen Sie Ihre E-Mail-Adresse", "in 10 Minuten ab"} {
		if !strings.Contains(msg.Text, want) || !strings.Contains(msg.HTML, want) {
			t.Errorf("email lacks %q:\n%s", want, msg.Text)
		}
	}
	if !strings.Contains(msg.HTML, `<html lang="de" dir="ltr">`) {
		t.Errorf("html email is not marked German:\n%s", msg.HTML)
	}

	// The confirm page, opened anywhere, speaks the flow's language.
	other := s.browser(t)
	res, body := other.do("GET", "/auth/verify?token="+url.QueryEscape(s.token(t, n)), "", "")
	page := string(body)
	if res.StatusCode != 200 || !strings.Contains(page, `<html lang="de" dir="ltr">`) || res.Header.Get("Content-Language") != "de" {
		t.Fatalf("confirm page = %d %v\n%s", res.StatusCode, res.Header, page)
	}
	for _, want := range []string{"<h1>Registrierung abschließen</h1>", ">Bestätigen und weiter</button>", "Dieser Link funktioniert nur einmal."} {
		if !strings.Contains(page, want) {
			t.Errorf("confirm page lacks %q:\n%s", want, page)
		}
	}

	// API errors speak the request's language; their codes do not change.
	e := b.apiIn("de", "POST", "/auth/sign_ups", map[string]any{"email_address": "nope"}, 422)
	first := e["errors"].([]any)[0].(map[string]any)
	if first["code"] != "form_param_format_invalid" || first["message"] != "ist ungültig" ||
		first["long_message"] != "email_address muss eine gültige E-Mail-Adresse sein." {
		t.Errorf("German error = %v", first)
	}
	e = b.apiIn("", "POST", "/auth/sign_ups", map[string]any{"email_address": "nope"}, 422)
	if first := e["errors"].([]any)[0].(map[string]any); first["long_message"] != "email_address must be a valid email address." {
		t.Errorf("English error = %v", first)
	}
}

// TestHTTPLocaleOrder checks the order in which a flow's language is
// chosen: its locale parameter, then Accept-Language, then the default;
// unmatched and malformed values fall back without failing.
func TestHTTPLocaleOrder(t *testing.T) {
	tests := []struct {
		name, header string
		extra        map[string]any
		def          string
		want         string
	}{
		{"locale over Accept-Language", "de", map[string]any{"locale": "ja-JP"}, "", "ja"},
		{"unknown locale: Accept-Language", "fr-CA,fr;q=0.9", map[string]any{"locale": "zz"}, "", "fr"},
		{"pt-PT gets Brazilian Portuguese", "", map[string]any{"locale": "pt-PT"}, "", "pt-BR"},
		{"right to left", "ar-EG", nil, "", "ar"},
		{"malformed header and locale: default", "de;q=nope,,;;=", map[string]any{"locale": "!!"}, "es", "es"},
		{"a locale that is not a string", "", map[string]any{"locale": 42}, "", "en"},
		{"nothing: default", "", nil, "", "en"},
		{"nothing matches: the configured default", "zz, xx;q=0.5", nil, "ja", "ja"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, func(c *magiclink.Config) { c.DefaultLocale = tt.def })
			_, n := s.browser(t).startSignUp(tt.header, "ada@example.com", tt.extra)
			msg := s.message(t, n)
			if want := `<html lang="` + tt.want + `"`; !strings.Contains(msg.HTML, want) {
				t.Errorf("email not in %s:\n%s", tt.want, msg.HTML)
			}
			intro := msgs(tt.want).T("email.sign_up.intro", "app", "127.0.0.1")
			if !strings.Contains(msg.Text, intro) {
				t.Errorf("text lacks %q:\n%s", intro, msg.Text)
			}
		})
	}
}

// TestHTTPErrorsInEveryLanguage checks that a refused request is
// answered in the request's language, with the same code and status.
func TestHTTPErrorsInEveryLanguage(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	for _, lang := range []string{"en", "de", "fr", "es", "pt-BR", "ja", "ar"} {
		e := b.apiIn(lang, "GET", "/auth/sign_ins/sia_nope", nil, http.StatusNotFound)
		first := e["errors"].([]any)[0].(map[string]any)
		m := msgs(lang)
		if first["code"] != "resource_not_found" || first["message"] != m.T("error.message.not_found") ||
			first["long_message"] != m.T("error.long.not_found.sign_in") {
			t.Errorf("%s: %v", lang, first)
		}
	}
}

// TestErrorFor: a page of the app's own gets an API error in the
// request's language, as the Frontend API would answer it, and a store
// failure as an internal_error that does not show it.
func TestErrorFor(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.auth.SignIns.Get(context.Background(), e.client(t), "sia_nope")
	for _, lang := range []string{"en", "de", "ja"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", lang)
		got, m := e.auth.ErrorFor(r, err), msgs(lang)
		if got == nil || got.Code != "resource_not_found" || got.Status != 404 || !errors.Is(got, magiclink.ErrNotFound) ||
			got.Message != m.T("error.message.not_found") || got.LongMessage != m.T("error.long.not_found.sign_in") {
			t.Errorf("%s: ErrorFor = %+v", lang, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	if got := e.auth.ErrorFor(r, errors.New("corrupt page 7")); got == nil || got.Code != "internal_error" || got.Status != 500 ||
		strings.Contains(got.Error(), "corrupt") {
		t.Errorf("a store failure: ErrorFor = %+v", got)
	}
	if got := e.auth.ErrorFor(r, nil); got != nil {
		t.Errorf("ErrorFor(nil) = %+v", got)
	}
}

// TestHTTPStoredLocaleWins sets a user's locale through PATCH /me: their
// emails and pages are then in it, whatever the browser asks for; a
// malformed one is refused and changes nothing.
func TestHTTPStoredLocaleWins(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	b.signUp("ada@example.com")
	me := b.apiIn("de", "PATCH", "/auth/me", map[string]any{"locale": "ja-jp"}, 200)
	if me["locale"] != "ja-JP" {
		t.Fatalf("PATCH /me locale: user %v", me)
	}
	e := b.apiIn("de", "PATCH", "/auth/me", map[string]any{"locale": "not a tag!"}, 422)
	if first := e["errors"].([]any)[0].(map[string]any); first["code"] != "form_param_format_invalid" ||
		first["long_message"] != "locale muss ein BCP-47-Sprach-Tag sein, etwa de oder pt-BR." {
		t.Errorf("malformed locale: %v", first)
	}
	me = b.apiIn("", "GET", "/auth/me", nil, 200)
	if me["locale"] != "ja-JP" {
		t.Errorf("a refused PATCH changed the locale: %v", me["locale"])
	}
	userID := me["id"].(string)
	b.apiIn("", "DELETE", "/auth/session", nil, 200)

	// A sign-in asked for in German with locale fr: the user's Japanese wins.
	si := b.apiIn("de", "POST", "/auth/sign_ins", map[string]any{"identifier": "ada@example.com", "locale": "fr"}, 200)
	n := len(s.mail.Messages()) + 1
	b.apiIn("de", "POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	msg := s.message(t, n)
	if !strings.Contains(msg.HTML, `<html lang="ja"`) || !strings.Contains(msg.Subject, "のログインリンク") {
		t.Errorf("email not in Japanese: %q\n%s", msg.Subject, msg.HTML)
	}
	res, body := s.browser(t).do("GET", "/auth/verify?token="+url.QueryEscape(s.token(t, n)), "", "", "Accept-Language", "es")
	if res.Header.Get("Content-Language") != "ja" || !strings.Contains(string(body), "<h1>") {
		t.Errorf("confirm page in %q, want ja:\n%s", res.Header.Get("Content-Language"), body)
	}

	// The Backend API's update (Users.Update) sets and clears it too.
	pt, none := "pt-br", ""
	u, err := s.auth.Users.Update(context.Background(), userID, magiclink.UserUpdate{Locale: &pt})
	if err != nil || u.Locale != "pt-BR" {
		t.Errorf("Update(locale pt-br) = %v, %v", u, err)
	}
	if u, err = s.auth.Users.Update(context.Background(), userID, magiclink.UserUpdate{Locale: &none}); err != nil || u.Locale != "" {
		t.Errorf("Update(locale \"\") = %v, %v", u, err)
	}
}

// TestHTTPAccountEmailsKeepTheSignUpLanguage: a user who signed up in
// German, without choosing a locale, gets the reverification email in
// German too, whatever the browser asking for it says.
func TestHTTPAccountEmailsKeepTheSignUpLanguage(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	_, n := b.startSignUp("de", "ada@example.com", nil)
	if u := b.confirm(s.token(t, n)); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("sign-up landed on %s", u)
	}
	s.clock.Advance(time.Minute) // past the address's send cooldown
	b.apiIn("en", "POST", "/auth/session/verify", nil, 200)
	n = len(s.mail.Messages()) + 1
	b.apiIn("en", "POST", "/auth/session/verify/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	if msg := s.message(t, n); msg.Kind != "reverification" || !strings.Contains(msg.HTML, `<html lang="de"`) {
		t.Errorf("reverification email %s not in German: %q", msg.Kind, msg.Subject)
	}
}
