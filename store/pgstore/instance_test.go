package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/internal/benchmetric"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// The tests in this file run magiclink as a deployment of several
// instances would: two Auth values, each with its own HTTP server, its own
// pgx pool and its own pgstore.Store (so its own listening connection),
// over one database, behind one load balancer that terminates TLS for the
// one BaseURL. Browsers are cookie jars that see only that URL; each
// request is sent to the instance the test picks, as a load balancer
// without sticky sessions may.

// baseURL is the deployment's one public URL. It is https, so cookies
// carry Secure and the __Host- prefix, as in production; the instances
// themselves speak plain HTTP behind the load balancer.
const baseURL = "https://app.example"

// Instance indexes.
const (
	A = 0
	B = 1
)

// instance is one magiclink process.
type instance struct {
	auth    *magiclink.Auth
	store   *pgstore.Store
	srv     *httptest.Server
	watches chan string // keys of the Watch calls on its store

	mu      sync.Mutex
	commits map[string]time.Time // when an Apply writing each key last returned
}

// committed returns when the last Apply through the instance that wrote
// key returned (zero: none did).
func (in *instance) committed(key string) time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.commits[key]
}

// cluster is two instances on one database, with one capture mailer for
// the emails both send.
type cluster struct {
	inst [2]*instance
	mail *mailtest.Mailer
	lb   *loadBalancer
}

// watchSignal is a store that reports each Watch subscription, so that a
// test can wait until a long poll is really waiting, and records when
// each Apply returned.
type watchSignal struct {
	store.Store
	in *instance
}

// Apply implements store.Store.
func (w watchSignal) Apply(ctx context.Context, ops ...store.Op) error {
	err := w.Store.Apply(ctx, ops...)
	if err == nil {
		now := time.Now()
		w.in.mu.Lock()
		for _, op := range ops {
			if op.Kind != store.OpCheck {
				w.in.commits[op.Key] = now
			}
		}
		w.in.mu.Unlock()
	}
	return err
}

// Watch implements store.Store.
func (w watchSignal) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	ch, err := w.Store.Watch(ctx, key)
	if err == nil {
		select {
		case w.in.watches <- key:
		default:
		}
	}
	return ch, err
}

// newCluster starts two instances on a new database. mod, if not nil,
// adjusts the Config both share.
func newCluster(tb testing.TB, mod func(*magiclink.Config)) *cluster {
	tb.Helper()
	dsn := pgtest.Start(tb)
	c := &cluster{mail: mailtest.New()}
	for i := range c.inst {
		c.inst[i] = newInstance(tb, dsn, c.mail, mod)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	tb.Cleanup(tr.CloseIdleConnections)
	c.lb = &loadBalancer{next: tr}
	for i, in := range c.inst {
		c.lb.addrs[i] = in.srv.Listener.Addr().String()
	}
	return c
}

// newInstance starts one instance as an application would: its own pool,
// Migrate (idempotent, so every instance may run it at start-up), its own
// Store, Auth and HTTP server.
func newInstance(tb testing.TB, dsn string, m *mailtest.Mailer, mod func(*magiclink.Config)) *instance {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := openInstanceStore(tb, dsn, pgstore.Config{Logger: logger})
	in := &instance{store: st, watches: make(chan string, 256), commits: map[string]time.Time{}}
	cfg := magiclink.Config{
		BaseURL: baseURL,
		Store:   watchSignal{st, in},
		Mailer:  m,
		Logger:  logger,
	}
	in.auth = authtest.New(tb, &cfg, mod)
	mux := http.NewServeMux()
	mux.Handle("/auth/", in.auth.Handler())
	in.srv = httptest.NewServer(mux)
	tb.Cleanup(in.srv.Close)
	return in
}

// openInstanceStore opens a Store as an instance does at start-up: on a
// pool of its own to dsn, after Migrate (idempotent, so every instance may
// run it). Both close when tb ends.
func openInstanceStore(tb testing.TB, dsn string, cfg pgstore.Config) *pgstore.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := pgstore.Migrate(ctx, pool, pgstore.Config{}); err != nil {
		tb.Fatal(err)
	}
	st, err := pgstore.New(ctx, pool, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// logWriter writes to a test's log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// subscribed waits until a waiter on instance i has subscribed to the
// store key of the flow with id, and returns that key.
func (c *cluster) subscribed(tb testing.TB, i int, id string) string {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case key := <-c.inst[i].watches:
			if strings.HasSuffix(key, "/"+id) {
				return key
			}
		case <-deadline:
			tb.Fatalf("nobody on instance %d started waiting for %s within 10s", i, id)
			return ""
		}
	}
}

// link waits until n emails have been sent in all and returns the link of
// the last one sent to addr.
func (c *cluster) link(tb testing.TB, n int, addr string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.mail.Wait(ctx, n); err != nil {
		tb.Fatal(err)
	}
	l := c.mail.LinkFor(addr)
	if !strings.HasPrefix(l, baseURL+"/auth/verify?token=") {
		tb.Fatalf("link to %s = %q; want one on %s", addr, l, baseURL)
	}
	return l
}

// sentOnce closes both instances, which waits for their email senders,
// and checks that want emails were sent in all: every link went out once,
// from one instance, however the instances shared the work.
func (c *cluster) sentOnce(tb testing.TB, want int) {
	tb.Helper()
	for _, in := range c.inst {
		if err := in.auth.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	if got := len(c.mail.Messages()); got != want {
		tb.Fatalf("%d emails sent; want %d", got, want)
	}
}

// instanceKey is the context key of the instance a request goes to.
type instanceKey struct{}

// loadBalancer is the http.RoundTripper of every browser: it stands for a
// load balancer terminating TLS for baseURL, and forwards each request over
// plain HTTP to the instance named in the request's context, keeping the
// Host header. Cookie jars never see the instances' addresses.
type loadBalancer struct {
	addrs [2]string
	next  http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (lb *loadBalancer) RoundTrip(req *http.Request) (*http.Response, error) {
	i, ok := req.Context().Value(instanceKey{}).(int)
	if !ok {
		return nil, errors.New("loadBalancer: the request names no instance")
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", lb.addrs[i], req.URL.Host
	out.Header.Set("X-Forwarded-Proto", "https")
	res, err := lb.next.RoundTrip(out)
	if res != nil {
		res.Request = req
	}
	return res, err
}

// browser is one client: a cookie jar for baseURL. It does not follow
// redirects, so tests see them.
type browser struct {
	tb   testing.TB
	c    *cluster
	http *http.Client
}

func (c *cluster) browser(tb testing.TB) *browser {
	h := authtest.Browser()
	h.Transport = c.lb
	return &browser{tb: tb, c: c, http: h}
}

// send sends a request for target (a path, or a URL on baseURL) to
// instance i and returns the response with its body read. It may be
// called from any goroutine.
func (b *browser) send(i int, method, target, contentType, body string) (*http.Response, []byte, error) {
	if strings.HasPrefix(target, "/") {
		target = baseURL + target
	}
	ctx := context.WithValue(context.Background(), instanceKey{}, i)
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := b.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res, data, err
}

// do is send, failing the test on a transport error.
func (b *browser) do(i int, method, target, contentType, body string) (*http.Response, []byte) {
	b.tb.Helper()
	res, data, err := b.send(i, method, target, contentType, body)
	if err != nil {
		b.tb.Fatal(err)
	}
	return res, data
}

// api sends JSON to instance i and decodes the JSON answer, checking its
// status.
func (b *browser) api(i int, method, path string, body any, wantStatus int) map[string]any {
	b.tb.Helper()
	var raw string
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			b.tb.Fatal(err)
		}
		raw = string(j)
	}
	res, data := b.do(i, method, path, "application/json", raw)
	if res.StatusCode != wantStatus {
		b.tb.Fatalf("%s %s on instance %d = %d %s; want %d", method, path, i, res.StatusCode, data, wantStatus)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		b.tb.Fatalf("%s %s on instance %d: body is not JSON: %q", method, path, i, data)
	}
	return out
}

// open opens an emailed link on instance i: the confirm page, which
// changes nothing. It returns the link's token.
func (b *browser) open(i int, link string) string {
	b.tb.Helper()
	res, body := b.do(i, "GET", link, "", "")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="token"`) {
		b.tb.Fatalf("confirm page on instance %d = %d %s", i, res.StatusCode, body)
	}
	u, err := url.Parse(link)
	if err != nil {
		b.tb.Fatal(err)
	}
	return u.Query().Get("token")
}

// submit posts the confirm page's form to instance i and returns where it
// redirects.
func (b *browser) submit(i int, token string) *url.URL {
	b.tb.Helper()
	res, body := b.do(i, "POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token))
	if res.StatusCode != http.StatusSeeOther {
		b.tb.Fatalf("POST /auth/verify on instance %d = %d %s", i, res.StatusCode, body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		b.tb.Fatal(err)
	}
	return u
}

// cookie returns the value of the cookie name in b's jar.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(baseURL)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// startSignIn creates a sign-in for addr on instance i and has the link
// sent, returning the sign-in's id.
func (b *browser) startSignIn(i int, addr string) string {
	b.tb.Helper()
	si := b.api(i, "POST", "/auth/sign_ins", map[string]any{"identifier": addr}, http.StatusOK)
	id, _ := si["id"].(string)
	if si["status"] != "needs_first_factor" || id == "" {
		b.tb.Fatalf("sign-in = %v", si)
	}
	b.api(i, "POST", "/auth/sign_ins/"+id+"/prepare_first_factor",
		map[string]any{"strategy": "email_link", "redirect_url": "/done"}, http.StatusOK)
	return id
}

// poll is the answer to a long poll.
type poll struct {
	status  int
	body    map[string]any
	cookies []*http.Cookie
	at      time.Time // when the answer arrived
	err     error
}

// longPoll starts GET /auth/sign_ins/{id}?wait=30 on instance i and
// delivers its answer on the channel returned.
func (b *browser) longPoll(i int, id string) <-chan poll {
	done := make(chan poll, 1)
	go func() {
		res, data, err := b.send(i, "GET", "/auth/sign_ins/"+id+"?wait=30", "", "")
		p := poll{at: time.Now(), err: err}
		if err == nil {
			p.status, p.cookies = res.StatusCode, res.Cookies()
			p.err = json.Unmarshal(data, &p.body)
		}
		done <- p
	}()
	return done
}

// answer waits for a long poll's answer (the wait is 30 s; the guard is
// longer, so that a poll that was not woken shows as one that timed out).
func answer(tb testing.TB, ch <-chan poll) poll {
	tb.Helper()
	select {
	case p := <-ch:
		if p.err != nil || p.status != http.StatusOK {
			tb.Fatalf("long poll = %d, %v", p.status, p.err)
		}
		return p
	case <-time.After(45 * time.Second):
		tb.Fatal("long poll did not answer within 45s")
		return poll{}
	}
}

// newUser creates a user with addr, as an app's backend would (the user is
// then known to every instance).
func (c *cluster) newUser(tb testing.TB, i int, addr string) *magiclink.User {
	tb.Helper()
	u, err := c.inst[i].auth.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: addr})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestInstanceSignInAcrossInstances starts a sign-in on instance A,
// confirms it on instance B while A holds a long poll, and uses and ends
// the session on both.
func TestInstanceSignInAcrossInstances(t *testing.T) {
	c := newCluster(t, nil)
	user := c.newUser(t, A, "ada@example.com")
	b := c.browser(t)
	sessionCookie := c.inst[A].auth.SessionCookieName()
	if sessionCookie != "__Host-magiclink_session" || c.inst[B].auth.SessionCookieName() != sessionCookie {
		t.Fatalf("session cookie names %q, %q", sessionCookie, c.inst[B].auth.SessionCookieName())
	}

	id := b.startSignIn(A, "ada@example.com")
	link := c.link(t, 1, "ada@example.com")

	polled := b.longPoll(A, id)
	key := c.subscribed(t, A, id) // A's poll waits on its store before B confirms
	token := b.open(B, link)
	sent := time.Now()
	u := b.submit(B, token)
	confirmed := time.Now()
	if u.Path != "/done" || u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("confirmation on B landed on %s", u)
	}
	sessID := u.Query().Get("magiclink_created_session")
	if sessID == "" || b.cookie(sessionCookie) == "" {
		t.Fatalf("confirmation on B gave no session: %s", u)
	}

	p := answer(t, polled)
	t.Logf("A's long poll answered %v after B's commit returned, %v after B's confirmation response arrived, %v after the POST was sent",
		p.at.Sub(c.inst[B].committed(key)), p.at.Sub(confirmed), p.at.Sub(sent))
	// The poll waits up to 30 s; only a wake-up from B's commit makes it
	// answer this early. (BenchmarkInstanceWakeup measures the delay.)
	if d := p.at.Sub(sent); d > 10*time.Second {
		t.Errorf("A's long poll answered %v after the confirmation: not woken by it", d)
	}
	if p.body["status"] != "complete" || p.body["created_session_id"] != sessID {
		t.Fatalf("long poll on A = %v; want complete with session %s", p.body, sessID)
	}
	if v, _ := p.body["first_factor_verification"].(map[string]any); v["status"] != "verified" || v["verified_from_the_same_client"] != true {
		t.Fatalf("verification = %v", p.body["first_factor_verification"])
	}
	for _, ck := range p.cookies {
		if ck.Name == sessionCookie {
			t.Fatal("the long poll handed out a second session; B's confirmation had given it")
		}
	}

	// The session works on both instances.
	for _, i := range []int{A, B} {
		me := b.api(i, "GET", "/auth/me", nil, http.StatusOK)
		if me["id"] != user.ID {
			t.Fatalf("GET /auth/me on instance %d = %v; want user %s", i, me, user.ID)
		}
		s := b.api(i, "GET", "/auth/session", nil, http.StatusOK)
		if s["id"] != sessID || s["status"] != "active" {
			t.Fatalf("GET /auth/session on instance %d = %v", i, s)
		}
	}
	// The link is used up, on both instances.
	for _, i := range []int{A, B} {
		if u := b.submit(i, token); u.Query().Get("magiclink_status") != "failed" {
			t.Fatalf("second confirmation on instance %d landed on %s", i, u)
		}
	}

	// Signing out on A ends the session on B at once.
	old := b.cookie(sessionCookie)
	if s := b.api(A, "DELETE", "/auth/session", nil, http.StatusOK); s["status"] != "ended" {
		t.Fatalf("DELETE /auth/session on A = %v", s)
	}
	if b.cookie(sessionCookie) != "" {
		t.Fatal("sign-out left the session cookie")
	}
	replay := c.browser(t)
	base, _ := url.Parse(baseURL)
	replay.http.Jar.SetCookies(base, []*http.Cookie{{Name: sessionCookie, Value: old, Path: "/", Secure: true}})
	if replay.cookie(sessionCookie) != old {
		t.Fatal("could not replay the old cookie")
	}
	for _, i := range []int{B, A} {
		replay.api(i, "GET", "/auth/me", nil, http.StatusUnauthorized)
		b.api(i, "GET", "/auth/me", nil, http.StatusUnauthorized)
	}
	c.sentOnce(t, 1)
}

// TestInstanceConcurrentConfirmations confirms one link 32 times at once,
// spread over both instances: exactly one confirmation wins and exactly
// one session exists.
func TestInstanceConcurrentConfirmations(t *testing.T) {
	c := newCluster(t, nil)
	user := c.newUser(t, A, "grace@example.com")
	b := c.browser(t)
	b.startSignIn(B, "grace@example.com")
	token := b.open(A, c.link(t, 1, "grace@example.com"))
	sessionCookie := c.inst[A].auth.SessionCookieName()

	const n = 32
	var verified, failed, sessions atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range n {
		wg.Go(func() {
			<-start
			res, body, err := b.send(k%2, "POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token))
			if err != nil {
				t.Error(err)
				return
			}
			if res.StatusCode != http.StatusSeeOther {
				t.Errorf("POST /auth/verify on instance %d = %d %s", k%2, res.StatusCode, body)
				return
			}
			u, err := url.Parse(res.Header.Get("Location"))
			if err != nil {
				t.Error(err)
				return
			}
			switch st := u.Query().Get("magiclink_status"); st {
			case "verified":
				verified.Add(1)
			case "failed":
				failed.Add(1)
			default:
				t.Errorf("confirmation on instance %d landed on %s", k%2, u)
			}
			for _, ck := range res.Cookies() {
				if ck.Name == sessionCookie && ck.Value != "" {
					sessions.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if verified.Load() != 1 || failed.Load() != n-1 || sessions.Load() != 1 {
		t.Fatalf("%d verified, %d failed, %d session cookies; want 1, %d, 1", verified.Load(), failed.Load(), sessions.Load(), n-1)
	}
	for _, i := range []int{A, B} {
		b.api(i, "GET", "/auth/me", nil, http.StatusOK)
	}
	// Exactly one session was stored: revoking all of the user's sessions
	// finds one, and the cookie then fails on both instances.
	got, err := c.inst[B].auth.Sessions.RevokeUser(context.Background(), user.ID)
	if err != nil || got != 1 {
		t.Fatalf("RevokeUser = %d, %v; want exactly 1 session", got, err)
	}
	for _, i := range []int{A, B} {
		b.api(i, "GET", "/auth/me", nil, http.StatusUnauthorized)
	}
	c.sentOnce(t, 1)
}

// TestInstanceCrossClient turns same-client binding off: a link confirmed
// on another device, through instance B, completes the sign-in, and the
// original browser's long poll on instance A receives the session cookie.
func TestInstanceCrossClient(t *testing.T) {
	c := newCluster(t, func(cfg *magiclink.Config) { cfg.AllowCrossClient = true })
	user := c.newUser(t, B, "katherine@example.com")
	laptop, phone := c.browser(t), c.browser(t)
	sessionCookie := c.inst[A].auth.SessionCookieName()

	id := laptop.startSignIn(A, "katherine@example.com")
	link := c.link(t, 1, "katherine@example.com")
	polled := laptop.longPoll(A, id)
	key := c.subscribed(t, A, id)
	u := phone.submit(B, phone.open(B, link))
	confirmed := time.Now()
	if u.Query().Get("magiclink_status") != "verified" || u.Query().Has("magiclink_created_session") {
		t.Fatalf("the phone landed on %s; want verified without a session", u)
	}
	for _, i := range []int{A, B} {
		phone.api(i, "GET", "/auth/me", nil, http.StatusUnauthorized)
	}

	p := answer(t, polled)
	t.Logf("A's long poll answered %v after B's commit returned, %v after B's confirmation response arrived (it claimed the session first)",
		p.at.Sub(c.inst[B].committed(key)), p.at.Sub(confirmed))
	if d := p.at.Sub(confirmed); d > 10*time.Second {
		t.Errorf("A's long poll answered %v after the confirmation: not woken by it", d)
	}
	if p.body["status"] != "complete" || p.body["created_session_id"] == nil {
		t.Fatalf("long poll on A = %v", p.body)
	}
	if v, _ := p.body["first_factor_verification"].(map[string]any); v["verified_from_the_same_client"] != false {
		t.Fatalf("verification = %v", p.body["first_factor_verification"])
	}
	got := false
	for _, ck := range p.cookies {
		got = got || (ck.Name == sessionCookie && ck.Value != "")
	}
	if !got || laptop.cookie(sessionCookie) == "" {
		t.Fatal("the long poll on A did not set the session cookie")
	}
	for _, i := range []int{A, B} {
		if me := laptop.api(i, "GET", "/auth/me", nil, http.StatusOK); me["id"] != user.ID {
			t.Fatalf("GET /auth/me on instance %d = %v", i, me)
		}
		s := laptop.api(i, "GET", "/auth/session", nil, http.StatusOK)
		if s["id"] != p.body["created_session_id"] {
			t.Fatalf("GET /auth/session on instance %d = %v", i, s)
		}
	}
	// The session is handed out once: polling again, on either instance,
	// sets no cookie.
	for _, i := range []int{B, A} {
		res, _ := laptop.do(i, "GET", "/auth/sign_ins/"+id, "", "")
		for _, ck := range res.Cookies() {
			if ck.Name == sessionCookie {
				t.Fatalf("GET /auth/sign_ins/%s on instance %d handed out the session again", id, i)
			}
		}
	}
	c.sentOnce(t, 1)
}

// TestInstanceSharedLimits gives each instance a ratelimit.Store on its
// store: the send limits then count across instances, so a second link
// asked for through B within the cooldown of one sent by A is refused.
func TestInstanceSharedLimits(t *testing.T) {
	c := newCluster(t, func(cfg *magiclink.Config) { cfg.Limits.Limiter = ratelimit.NewStore(cfg.Store) })
	c.newUser(t, A, "lin@example.com")
	b := c.browser(t)
	id := b.startSignIn(A, "lin@example.com")
	res, body := b.do(B, "POST", "/auth/sign_ins/"+id+"/prepare_first_factor", "application/json", `{"strategy":"email_link"}`)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second link through B = %d (Retry-After %q) %s; want 429", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	c.link(t, 1, "lin@example.com")
	c.sentOnce(t, 1)
}

// chanMailer passes each link sent to a channel.
type chanMailer chan string

func (m chanMailer) Send(ctx context.Context, msg *mailer.Message) error {
	select {
	case m <- msg.Link:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BenchmarkInstanceWakeup measures how soon instance A's long poll on a
// sign-in answers once instance B has confirmed its link: a change
// crossing instances through PostgreSQL's NOTIFY, end to end over HTTP.
// Each iteration is a whole sign-in (start on A, poll on A, confirm on B).
// Reported as percentiles in milliseconds: commit-wake from the return of
// B's Apply that completed the sign-in (the notification is sent at its
// commit) to the poll's answer arriving, resp-wake from B's answer to the
// confirmation arriving to the poll's. Either may be negative: A can
// answer before B has.
func BenchmarkInstanceWakeup(b *testing.B) {
	links := make(chanMailer, 1)
	c := newClusterMailer(b, links)
	c.newUser(b, A, "bench@example.com")
	br := c.browser(b)
	fromCommit := make([]time.Duration, 0, b.N)
	fromResponse := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		id := br.startSignIn(A, "bench@example.com")
		var link string
		select {
		case link = <-links:
		case <-time.After(10 * time.Second):
			b.Fatal("no email within 10s")
		}
		polled := br.longPoll(A, id)
		key := c.subscribed(b, A, id)
		token := strings.TrimPrefix(link, baseURL+"/auth/verify?token=")
		if u := br.submit(B, token); u.Query().Get("magiclink_status") != "verified" {
			b.Fatalf("confirmation landed on %s", u)
		}
		confirmed := time.Now()
		p := answer(b, polled)
		if p.body["status"] != "complete" {
			b.Fatalf("long poll = %v", p.body)
		}
		fromCommit = append(fromCommit, p.at.Sub(c.inst[B].committed(key)))
		fromResponse = append(fromResponse, p.at.Sub(confirmed))
	}
	b.StopTimer()
	reportPercentiles(b, fromCommit, "commit-wake")
	reportPercentiles(b, fromResponse, "resp-wake")
}

// BenchmarkInstanceConsume measures confirmations of magic links per
// second, by 1 and 16 concurrent requests alternating between the two
// instances. The links are prepared before the timer starts; each
// confirmation consumes its token, completes its sign-in and creates a
// session.
func BenchmarkInstanceConsume(b *testing.B) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			links := make(chanMailer, b.N)
			c := newClusterMailer(b, links)
			c.newUser(b, A, "bench@example.com")
			br := c.browser(b)
			tokens := make([]string, b.N)
			for k := range tokens {
				br.startSignIn(k%2, "bench@example.com")
				select {
				case l := <-links:
					tokens[k] = strings.TrimPrefix(l, baseURL+"/auth/verify?token=")
				case <-time.After(10 * time.Second):
					b.Fatal("no email within 10s")
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range workers {
				wg.Go(func() {
					for {
						k := next.Add(1) - 1
						if k >= int64(b.N) {
							return
						}
						res, body, err := br.send(w%2, "POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+tokens[k])
						if err != nil {
							b.Error(err)
							return
						}
						if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "magiclink_status=verified") {
							b.Errorf("confirmation %d = %d %s %s", k, res.StatusCode, loc, body)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "confirms/s")
		})
	}
}

// newClusterMailer is newCluster with the mailer m and no send limits
// (every iteration sends to one address).
func newClusterMailer(b *testing.B, m chanMailer) *cluster {
	b.Helper()
	return newCluster(b, func(cfg *magiclink.Config) {
		cfg.Mailer = m
		cfg.Limits.Disabled = true
	})
}

// reportPercentiles reports the 50th and 99th percentiles and the maximum
// of ds, in milliseconds.
func reportPercentiles(b *testing.B, ds []time.Duration, name string) {
	benchmetric.Percentiles(b, ds, name+"-", time.Millisecond, "ms")
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
	}
}
