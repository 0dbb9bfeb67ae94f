package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer"
)

// testApp is the app behind an httptest server whose URL is its BaseURL.
type testApp struct {
	*app
	url string
}

func newTestApp(t *testing.T, args ...string) *testApp {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	o, err := parseFlags(append([]string{"-db", filepath.Join(t.TempDir(), "test.db"), "-base-url", base}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := a.close(); err != nil {
			t.Error(err)
		}
	})
	return &testApp{app: a, url: base}
}

// browser returns a client with a cookie jar that does not follow
// redirects on its own unless follow is set.
func browser(t *testing.T, follow bool) *http.Client {
	t.Helper()
	c := authtest.Browser()
	if follow {
		c.CheckRedirect = nil
	}
	return c
}

// get fetches url as a browser navigating would, and returns the status
// and body.
// confirmLink opens link in c, checks that its confirm page posts to the
// /auth/verify of base (the app's URL, with any path prefix), presses its
// button and returns the page it lands on.
func confirmLink(t *testing.T, c *http.Client, base, link string) (*http.Response, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	res, body := get(t, c, link)
	if res.StatusCode != 200 || !strings.Contains(body, `action="`+u.Path+`/auth/verify"`) {
		t.Fatalf("confirm page: %d\n%s", res.StatusCode, body)
	}
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)
	if token == nil {
		t.Fatalf("no token on the confirm page:\n%s", body)
	}
	res, err = c.PostForm(base+"/auth/verify", url.Values{"token": {token[1]}})
	return readAnswer(t, res, err)
}

// readAnswer fails t on err, the error of a request, and returns its
// answer res with the body read.
func readAnswer(t *testing.T, res *http.Response, err error) (*http.Response, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(raw)
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	return readAnswer(t, res, err)
}

// postJSON posts body and decodes the JSON answer into out.
func postJSON(t *testing.T, c *http.Client, url string, body any, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Post(url, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", url, res.Status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, raw)
	}
}

// waitMessage waits until the inbox holds a message to addr and returns
// the newest such.
func waitMessage(t *testing.T, in *inbox, addr string) *inboxMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		msgs, _, changed := in.messages()
		for _, m := range msgs {
			if m.To == addr {
				return m
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no message to %s", addr)
		}
	}
}

// startSignUp posts a sign-up for addr and prepares its link.
func startSignUp(t *testing.T, c *http.Client, base, addr string) string {
	t.Helper()
	var su struct{ ID, Status string }
	postJSON(t, c, base+"/auth/sign_ups", map[string]string{"email_address": addr}, &su)
	if su.Status != "missing_requirements" {
		t.Fatalf("sign-up status %q", su.Status)
	}
	postJSON(t, c, base+"/auth/sign_ups/"+su.ID+"/prepare_verification",
		map[string]string{"strategy": "email_link", "redirect_url": "/verified"}, &su)
	return su.ID
}

func TestPages(t *testing.T) {
	ta := newTestApp(t)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/", 200, "Sign in without a password"},
		{"/sign-in", 200, "Email me a sign-in link"},
		{"/sign-in", 200, "magiclink.signIn.create"},
		{"/sign-in", 200, `autocomplete="one-time-code"`},
		{"/sign-in", 200, "Or enter the 6-digit code from the email"},
		{"/sign-up", 200, `autocomplete="one-time-code"`},
		{"/sign-up", 200, "Email me a sign-up link"},
		{"/sign-up", 200, `"/verified?flow=sign-up"`},
		{"/verified?magiclink_status=verified&magiclink_created_session=sess_x", 200, "You’re signed in"},
		{"/verified?magiclink_status=verified", 200, "Return to your original tab"},
		{"/verified?magiclink_status=verified&flow=email", 200, "Email address verified"},
		{"/verified?magiclink_status=client_mismatch", 200, "Type the code from the email in your first tab"},
		{"/verified?magiclink_status=expired", 200, "This link has expired"},
		{"/verified?magiclink_status=expired", 200, `href="/sign-in"`},
		{"/verified?magiclink_status=expired&flow=sign-up", 200, `href="/sign-up"`},
		{"/verified?magiclink_status=failed&flow=email", 200, `href="/account"`},
		{"/verified?magiclink_status=failed", 200, "This link is no longer valid"},
		{"/accept-token", 200, "No token provided."},
		{"/accept-token?token=abc", 200, "Signing you in…"},
		{"/accept-token?token=abc", 200, `strategy: "ticket"`},
		{"/dev/mail", 200, "Development tool"},
		{"/dev/mail/7", 404, "Page not found"},
		{"/static/app.css", 200, "--accent"},
		{"/auth/magiclink.js", 200, "startMagicLinkFlow"},
		{"/nowhere", 404, "Page not found"},
		{"/v1/users/user_x", 401, "authentication_invalid"},
	}
	c := browser(t, false)
	for _, tt := range tests {
		res, body := get(t, c, ta.url+tt.path)
		if res.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d, want %d and a body with %q:\n%.300s", tt.path, res.StatusCode, tt.status, tt.want, body)
		}
	}

	res, _ := get(t, c, ta.url+"/account")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/sign-in?redirect_url=%2Faccount" {
		t.Errorf("GET /account without a session: %d to %q, want 303 to the sign-in page", res.StatusCode, loc)
	}
}

func TestInboxListsSignUp(t *testing.T) {
	ta := newTestApp(t)
	c := browser(t, false)
	startSignUp(t, c, ta.url, "ada@example.com")
	m := waitMessage(t, ta.inbox, "ada@example.com")
	if m.Kind != mailer.KindSignUp || m.Link == "" {
		t.Fatalf("message kind %q, link %q", m.Kind, m.Link)
	}
	_, body := get(t, c, ta.url+"/dev/mail")
	for _, want := range []string{"ada@example.com", html.EscapeString(m.Subject), "sign_up", `<a href="` + html.EscapeString(m.Link) + `">`} {
		if !strings.Contains(body, want) {
			t.Errorf("/dev/mail lacks %q", want)
		}
	}
	_, body = get(t, c, ta.url+"/dev/mail/1")
	if !strings.Contains(body, html.EscapeString(m.Link)) {
		t.Errorf("/dev/mail/1 lacks the link")
	}
}

func TestSignUpThroughHTTP(t *testing.T) {
	ta := newTestApp(t)
	c := browser(t, true)
	id := startSignUp(t, c, ta.url, "grace@example.com")
	link := waitMessage(t, ta.inbox, "grace@example.com").Link
	if !strings.HasPrefix(link, ta.url+"/auth/verify?token=") {
		t.Fatalf("link %q", link)
	}

	res, raw := confirmLink(t, c, ta.url, link)
	if res.Request.URL.Path != "/verified" || res.Request.URL.Query().Get("magiclink_status") != "verified" ||
		!strings.Contains(raw, "You’re signed in") {
		t.Fatalf("after confirming: %s %s\n%s", res.Status, res.Request.URL, raw)
	}

	res, body := get(t, c, ta.url+"/account")
	if res.StatusCode != 200 || !strings.Contains(body, "grace@example.com") || !strings.Contains(body, `<span class="badge verified">verified</span>`) {
		t.Fatalf("/account: %d\n%s", res.StatusCode, body)
	}
	var su struct{ Status string }
	req, _ := http.NewRequest(http.MethodGet, ta.url+"/auth/sign_ups/"+id, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&su); err != nil || su.Status != "complete" {
		t.Fatalf("sign-up: %v %+v", err, su)
	}
	_, body = get(t, c, ta.url+"/")
	if !strings.Contains(body, "Welcome back") {
		t.Errorf("home page does not show the signed-in state")
	}
}

func TestBackendAPI(t *testing.T) {
	t.Setenv("MAGICLINK_SECRET_KEY", "sk_test_0123456789")
	ta := newTestApp(t)
	req, _ := http.NewRequest(http.MethodPost, ta.url+"/v1/users", strings.NewReader(`{"email_address":"ada@example.com"}`))
	req.Header.Set("Authorization", "Bearer sk_test_0123456789")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var u struct{ Object, ID string }
	if err := json.NewDecoder(res.Body).Decode(&u); err != nil || res.StatusCode != 200 || u.Object != "user" {
		t.Fatalf("POST /v1/users: %d %v %+v", res.StatusCode, err, u)
	}
}

func TestSender(t *testing.T) {
	tests := []struct{ smtp, base, want string }{
		{"", "http://localhost:8080", "magiclink demo <no-reply@localhost>"},
		{"", "https://demo.example", "magiclink demo <no-reply@demo.example>"},
		{"", "http://[::1]:8080", "magiclink demo <no-reply@localhost>"},
		{"smtp://ada%40mail.example:pw@smtp.example:587", "http://localhost:8080", "magiclink demo <ada@mail.example>"},
		{"smtp://apikey:pw@smtp.example:587", "https://demo.example", "magiclink demo <no-reply@demo.example>"},
	}
	for _, tt := range tests {
		if got := sender(&options{smtpURL: tt.smtp, baseURL: tt.base}); got != tt.want {
			t.Errorf("sender(%q, %q) = %q, want %q", tt.smtp, tt.base, got, tt.want)
		}
	}
}

func TestMailDir(t *testing.T) {
	dir := t.TempDir()
	ta := newTestApp(t, "-mail-dir", dir, "-dev-inbox")
	startSignUp(t, browser(t, false), ta.url, "ada@example.com")
	waitMessage(t, ta.inbox, "ada@example.com") // the maildir mailer runs first
	emls, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(emls) != 1 {
		t.Fatalf(".eml files: %v %v", emls, err)
	}
	b, err := os.ReadFile(emls[0])
	if err != nil || !strings.Contains(string(b), "ada@example.com") {
		t.Fatalf("%s: %v\n%s", emls[0], err, b)
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("MAGICLINK_SECRET_KEY", "sk_test")
	opt := cmp.AllowUnexported(options{}, optBool{})
	tests := []struct {
		args []string
		want options
	}{
		{nil, options{addr: "localhost:8080", db: "magiclink-basic.db", clientIPHeader: "X-Forwarded-For", linkTTL: 10 * time.Minute, reverifyAfter: 10 * time.Minute, sameClient: true, rateLimits: true, secretKey: "sk_test"}},
		{[]string{"-addr", "127.0.0.1:0", "-db", "x.db", "-base-url", "https://demo.example", "-mail-dir", "mail",
			"-smtp", "smtp://u:p@mail.example:587", "-link-ttl", "2s", "-require-same-client=false", "-rate-limits=false"},
			options{addr: "127.0.0.1:0", db: "x.db", clientIPHeader: "X-Forwarded-For", baseURL: "https://demo.example", mailDir: "mail", smtpURL: "smtp://u:p@mail.example:587",
				linkTTL: 2 * time.Second, reverifyAfter: 10 * time.Minute, secretKey: "sk_test"}},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if diff := cmp.Diff(&tt.want, got, opt); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.args, diff)
		}
	}
	for _, args := range [][]string{{"-link-ttl", "0s"}, {"-link-ttl", "soon"}, {"-nope"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestRun(t *testing.T) {
	t.Setenv("MAGICLINK_SECRET_KEY", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "run.db")}, w, io.Discard)
		w.Close()
	}()

	lines := bufio.NewScanner(out)
	var base, key string
	for key == "" && lines.Scan() {
		line := lines.Text()
		if u, ok := strings.CutPrefix(line, "magiclink demo listening on "); ok {
			base = u
		}
		if strings.HasPrefix(line, "  sk_") {
			key = strings.TrimSpace(line)
		}
	}
	go io.Copy(io.Discard, out)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") || len(key) < 40 {
		t.Fatalf("start-up output: base %q, key %q", base, key)
	}

	res, body := get(t, browser(t, false), base+"/sign-in")
	if res.StatusCode != 200 || !strings.Contains(body, "Sign in") {
		t.Fatalf("GET /sign-in: %d", res.StatusCode)
	}

	// A long poll in flight (if it got there in time) does not hold the
	// shutdown up (run would fail after shutdownTimeout): it is cut short
	// with an answer that tells magiclink.js to retry.
	c := browser(t, false)
	id := startSignUp(t, c, base, "ada@example.com")
	polled := make(chan *http.Response, 1)
	go func() {
		res, err := c.Get(base + "/auth/sign_ups/" + id + "?wait=30")
		if err != nil {
			polled <- nil
			return
		}
		res.Body.Close()
		polled <- res
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if res := <-polled; res != nil && res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("long poll cut by the shutdown: %d, want 503", res.StatusCode)
	}
}

func TestRetryWhenCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := retryWhenCut(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/sign_ins/x?wait=25", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("cut request: %d %v", rec.Code, rec.Header())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("request that was not cut: %d", rec.Code)
	}
}

func TestSegments(t *testing.T) {
	m := &inboxMessage{Message: &mailer.Message{Text: "Sign in:\nhttp://x.example/auth/verify?token=a_b-c\n\nOr https://x.example/."}}
	want := []segment{
		{Text: "Sign in:\n"}, {Text: "http://x.example/auth/verify?token=a_b-c", URL: "http://x.example/auth/verify?token=a_b-c"},
		{Text: "\n\nOr "}, {Text: "https://x.example/.", URL: "https://x.example/."}, {Text: ""},
	}
	if diff := cmp.Diff(want, m.Segments(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBehindPathProxy: with -base-url ending in /app, behind a reverse
// proxy that strips /app, the whole sign-up works through the proxy:
// pages whose links, forms and scripts carry /app, the emailed link, the
// confirm page, the landing page, the session, and sign-out.
func TestBehindPathProxy(t *testing.T) {
	proxy := httptest.NewUnstartedServer(nil)
	base := "http://" + proxy.Listener.Addr().String() + "/app"
	o, err := parseFlags([]string{"-db", filepath.Join(t.TempDir(), "test.db"), "-base-url", base}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(a.handler)
	appURL, _ := url.Parse(app.URL)
	proxy.Config.Handler = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(appURL)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/app")
		r.Out.URL.RawPath = ""
		r.Out.Host = r.In.Host // the app is reached under its public name
	}}
	proxy.Start()
	t.Cleanup(func() {
		proxy.Close()
		app.Close()
		if err := a.close(); err != nil {
			t.Error(err)
		}
	})
	onlyApp := func(what, body string) {
		t.Helper()
		for _, m := range regexp.MustCompile(`(?:href|src|action|data-return)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "/app/") {
				t.Errorf("%s refers to %s, outside /app", what, m[1])
			}
		}
	}

	c := browser(t, true)
	res, body := get(t, c, base+"/sign-up")
	if res.StatusCode != 200 || !strings.Contains(body, `src="/app/auth/magiclink.js"`) || !strings.Contains(body, `data-base="/app"`) {
		t.Fatalf("/app/sign-up: %d\n%s", res.StatusCode, body)
	}
	onlyApp("the sign-up page", body)

	startSignUp(t, c, base, "grace@example.com")
	link := waitMessage(t, a.inbox, "grace@example.com").Link
	if !strings.HasPrefix(link, base+"/auth/verify?token=") {
		t.Fatalf("link %q", link)
	}
	res, raw := confirmLink(t, c, base, link)
	if res.Request.URL.Path != "/app/verified" || res.Request.URL.Query().Get("magiclink_status") != "verified" ||
		!strings.Contains(raw, "You’re signed in") {
		t.Fatalf("after confirming: %s %s\n%s", res.Status, res.Request.URL, raw)
	}
	onlyApp("the landing page", raw)

	res, body = get(t, c, base+"/account")
	if res.StatusCode != 200 || !strings.Contains(body, "grace@example.com") {
		t.Fatalf("/app/account: %d\n%s", res.StatusCode, body)
	}
	onlyApp("the account page", body)

	req, _ := http.NewRequest(http.MethodDelete, base+"/auth/session", nil)
	if res, err = c.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("sign-out: %v %v", res, err)
	}
	res.Body.Close()
	c.CheckRedirect = authtest.NoRedirects
	res, _ = get(t, c, base+"/account")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/app/sign-in?redirect_url=%2Faccount" {
		t.Fatalf("/app/account signed out: %d to %q", res.StatusCode, loc)
	}
}

// TestDevInbox: the dev inbox, which shows every link to anyone, is
// served by default only when mail goes nowhere else; -smtp or -mail-dir
// turn it off unless -dev-inbox says otherwise.
func TestDevInbox(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		on   bool
	}{
		{nil, true},
		{[]string{"-dev-inbox=false"}, false},
		{[]string{"-mail-dir", dir}, false},
		{[]string{"-smtp", "smtp://127.0.0.1:1"}, false},
		{[]string{"-mail-dir", dir, "-dev-inbox"}, true},
	} {
		ta := newTestApp(t, c.args...)
		c1 := browser(t, false)
		res, body := get(t, c1, ta.url+"/dev/mail")
		if got := res.StatusCode == 200 && strings.Contains(body, "not for production"); got != c.on {
			t.Errorf("%q: GET /dev/mail = %d; want served %v", c.args, res.StatusCode, c.on)
		}
		if _, home := get(t, c1, ta.url+"/"); strings.Contains(home, `href="/dev/mail"`) != c.on {
			t.Errorf("%q: the home page links to the dev inbox: %v; want %v", c.args, !c.on, c.on)
		}
		if !c.on {
			startSignUp(t, c1, ta.url, "ada@example.com")
			if msgs, _, _ := ta.inbox.messages(); len(msgs) != 0 {
				t.Errorf("%q: the inbox kept %d messages while off", c.args, len(msgs))
			}
		}
	}
}

// TestServerLimits: the example's server bounds how long a client may
// take to send a request and how long a connection may idle, and lets
// the longest answer (a long poll) be written.
func TestServerLimits(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<16 {
		t.Fatalf("server limits: header %v, read %v, idle %v, header bytes %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	if srv.WriteTimeout <= srv.ReadTimeout+longestAnswer {
		t.Fatalf("WriteTimeout %v does not leave room for a request read in %v and a %v long poll", srv.WriteTimeout, srv.ReadTimeout, longestAnswer)
	}
}
