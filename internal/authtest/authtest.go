// Package authtest stands up an Auth for the tests of several packages,
// and talks to it over HTTP as a browser would.
package authtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

// New applies mod to *cfg (when mod is not nil, and in place, so the
// caller sees what mod set) and returns an Auth made of it, closed when t
// ends. It fails t if magiclink.New refuses the configuration.
func New(t testing.TB, cfg *magiclink.Config, mod func(*magiclink.Config)) *magiclink.Auth {
	t.Helper()
	if mod != nil {
		mod(cfg)
	}
	a, err := magiclink.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Client creates a client of a, as a browser's first visit does, failing
// t if it cannot.
func Client(t testing.TB, a *magiclink.Auth) *magiclink.Client {
	t.Helper()
	c, _, err := a.Clients.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Browser returns an HTTP client with a cookie jar of its own that does
// not follow redirects, so that a test sees each one.
func Browser() *http.Client {
	jar, _ := cookiejar.New(nil) // cookiejar.New never fails without options
	return &http.Client{Jar: jar, CheckRedirect: NoRedirects}
}

// NoRedirects is a CheckRedirect that hands every redirect back to the
// caller.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Body encodes a request body: url.Values as a form, a string as JSON
// already written, nil as no body, anything else as JSON. It returns
// the body and its Content-Type, "" when there is no body.
func Body(t testing.TB, body any) (io.Reader, string) {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil, ""
	case url.Values:
		return strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		return strings.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return strings.NewReader(string(raw)), "application/json"
	}
}

// LinkToken returns the token in the link of m, a captured email, failing
// t if it has none.
func LinkToken(t testing.TB, m *mailer.Message) string {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("%s email has no token in its link %q", m.Kind, m.Link)
	}
	return u.Query().Get("token")
}
