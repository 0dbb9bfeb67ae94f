// Package accounttest is the account-lifecycle suite: users, their
// fields, metadata, addresses and sessions, bans, deletion and
// reverification, driven over HTTP (the Frontend API at /auth, the
// Backend API at /v1) and through the Go API. Every store runs it: the
// root package's tests on memstore and boltstore, store/pgstore's on
// PostgreSQL.
package accounttest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// OpenStore opens an empty store whose expiry follows now.
type OpenStore func(t *testing.T, now func() time.Time) store.Store

// secretKey is the Backend API key of the suite's servers. A test value.
const secretKey = "sk_test_account_suite"

// UA is the User-Agent the suite's browsers send.
const UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// env is an Auth on the store under test, served over loopback.
type env struct {
	t     *testing.T
	auth  *magiclink.Auth
	st    store.Store
	mail  *mailtest.Mailer
	clock *storetest.Clock
	srv   *httptest.Server
}

func newEnv(t *testing.T, open OpenStore, mod func(*magiclink.Config)) *env {
	t.Helper()
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	st := open(t, clock.Now)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mt := mailtest.New()
	cfg := magiclink.Config{BaseURL: srv.URL, Store: st, Mailer: mt, Now: clock.Now, Limits: magiclink.Limits{Disabled: true}}
	a := authtest.New(t, &cfg, mod)
	mux.Handle("/auth/", a.Handler())
	mux.Handle("/v1/", a.BackendHandler(secretKey))
	mux.Handle("/sensitive", a.RequireReverification(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sensitive ok")
	})))
	return &env{t: t, auth: a, st: st, mail: mt, clock: clock, srv: srv}
}

// browser is one client with its own cookie jar.
type browser struct {
	e    *env
	http *http.Client
}

func (e *env) browser() *browser {
	return &browser{e: e, http: authtest.Browser()}
}

// do sends a request (JSON body unless body is a string of form data for
// /auth/verify) and returns the status and raw answer.
func (e *env) do(c *http.Client, method, path, bearer string, body any) (int, []byte) {
	e.t.Helper()
	r, ct := authtest.Body(e.t, body)
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("User-Agent", UA)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// call sends a request and decodes the JSON answer, checking the status.
func (e *env) call(c *http.Client, method, path, bearer string, body any, want int) any {
	e.t.Helper()
	status, data := e.do(c, method, path, bearer, body)
	if status != want {
		e.t.Fatalf("%s %s = %d %s; want %d", method, path, status, data, want)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		e.t.Fatalf("%s %s: not JSON: %q", method, path, data)
	}
	return out
}

// api is call for a browser, answering an object.
func (b *browser) api(method, path string, body any, want int) obj {
	b.e.t.Helper()
	o, _ := b.e.call(b.http, method, path, "", body, want).(map[string]any)
	return o
}

// list is call for a browser, answering an array.
func (b *browser) list(method, path string, want int) []any {
	b.e.t.Helper()
	l, _ := b.e.call(b.http, method, path, "", nil, want).([]any)
	return l
}

// backend calls the Backend API, answering an object.
func (e *env) backend(method, path string, body any, want int) obj {
	e.t.Helper()
	o, _ := e.call(http.DefaultClient, method, "/v1"+path, secretKey, body, want).(map[string]any)
	return o
}

// backendList calls the Backend API, answering an array.
func (e *env) backendList(path string) []any {
	e.t.Helper()
	l, _ := e.call(http.DefaultClient, "GET", "/v1"+path, secretKey, nil, 200).([]any)
	return l
}

type obj = map[string]any

// code returns the first error code of an error answer.
func code(o obj) string {
	errs, _ := o["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	c, _ := errs[0].(map[string]any)["code"].(string)
	return c
}

// message waits for the n-th message (1-based).
func (e *env) message(n int) *mailer.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := e.mail.Wait(ctx, n)
	if err != nil {
		e.t.Fatalf("waiting for message %d: %v", n, err)
	}
	return msgs[n-1]
}

// confirmStatus posts a link's token as the confirm page does and
// returns the magiclink_status it redirects with.
func (b *browser) confirmStatus(tok string) string {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+"/auth/verify", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.http.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("POST /auth/verify = %d", res.StatusCode)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u.Query().Get("magiclink_status")
}

// newUser creates a user through the Backend API and returns its id.
func (e *env) newUser(addr string) string {
	e.t.Helper()
	return e.backend("POST", "/users", obj{"email_address": addr}, 200)["id"].(string)
}

// signInTicket signs b in as userID with a sign-in token.
func (b *browser) signInTicket(userID string) obj {
	b.e.t.Helper()
	tok := b.e.backend("POST", "/sign_in_tokens", obj{"user_id": userID}, 200)["token"].(string)
	si := b.api("POST", "/auth/sign_ins", obj{"strategy": "ticket", "ticket": tok}, 200)
	if si["status"] != "complete" {
		b.e.t.Fatalf("ticket sign-in: %v", si)
	}
	return si
}

// signInLink signs b in to addr by email link; it fails the test unless
// the link signs in.
func (b *browser) signInLink(addr string) {
	b.e.t.Helper()
	si := b.api("POST", "/auth/sign_ins", obj{"identifier": addr}, 200)
	n := len(b.e.mail.Messages()) + 1
	b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", obj{"strategy": "email_link"}, 200)
	m := b.e.message(n)
	if m.Kind != mailer.KindSignIn {
		b.e.t.Fatalf("sign-in email is %s", m.Kind)
	}
	if got := b.confirmStatus(authtest.LinkToken(b.e.t, m)); got != "verified" {
		b.e.t.Fatalf("sign-in link: %s", got)
	}
}
