package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Behind a reverse proxy that serves the app under /app and strips it,
// with -base-url ending in /app: sign-up, the link, its confirm page, the
// landing page, the session and sign-out work in Chromium, and the page's
// script (magiclink.js) talks to /app/auth.
func TestBehindPathProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appAddr := l.Addr().String()
	l.Close() // the app binds it next
	target, _ := url.Parse("http://" + appAddr)
	strip := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/app")
		r.Out.URL.RawPath = ""
		r.Out.Host = r.In.Host
	}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/favicon.ico": // asked for by every browser at the root
			w.WriteHeader(http.StatusNoContent)
			return
		case !strings.HasPrefix(r.URL.Path, "/app/"):
			http.NotFound(w, r) // nothing but the app is served here
			return
		}
		strip.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	base := proxy.URL + "/app"
	a := startApp(t, "-addr", appAddr, "-base-url", base)
	addr := "ada@example.com"

	b := newBrowser(t, "a")
	waiting := b.tab("waiting")
	waiting.navigate(base + "/sign-up")
	waiting.waitPage("/app/sign-up", "Create your account")
	waiting.fillAndSubmit("form#start", "input#email", addr)
	waiting.waitText("[data-step=wait] h1", waitingHeading)

	link := a.waitMail(addr).link(t, base, "/app"+verifyPath)
	tab2 := b.newTab("link")
	tab2.confirmLink(link, "Confirm and continue")
	tab2.waitPage("/app/verified", signedInHeading)
	tab2.signedInAs(addr)

	waiting.waitPage("/app/account", accountHeading)
	waiting.signedInAs(addr)
	waiting.wantAPIStatus("/app/auth/me", http.StatusOK)
	waiting.do("signing out", chromedp.Click(chromedp.CSS("header.top button[data-sign-out]")))
	waiting.waitPage("/app/", "Sign in without a password")
	waiting.wantAPIStatus("/app/auth/me", http.StatusUnauthorized)
	waiting.screenshot("final")
}
