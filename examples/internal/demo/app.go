// Package demo is the app of examples/basic (bbolt) and examples/postgres
// (PostgreSQL, its own module so that pgx stays out of the root module's
// graph): sign-up, sign-in, the page magic links land on, an account page,
// sign-out, the seeds' /accept-token page and a development inbox. See
// examples/basic for its flags.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/maildir"
	"github.com/magiclink-go/magiclink/mailer/smtp"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// shutdownTimeout bounds a graceful shutdown.
const shutdownTimeout = 10 * time.Second

// StoreFlag is a command-line flag that keeps the data in another store
// than the bbolt file, as examples/postgres adds -postgres.
type StoreFlag struct {
	Name, Usage string
	// Open opens the store the flag's value names. The store is shared
	// by every instance using it, and so are the limits' counts. close
	// is called after magiclink is closed.
	Open func(ctx context.Context, value string, logger *slog.Logger) (st store.Store, close func() error, err error)
}

// Main runs the app named name with the process's arguments until
// SIGINT or SIGTERM, and exits non-zero on failure.
func Main(name string, extra ...StoreFlag) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, extra...)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	addr, db, baseURL, mailDir, smtpURL string
	stores                              []storeChoice
	trustedProxies                      string // comma-separated CIDRs
	clientIPHeader                      string
	linkTTL, reverifyAfter              time.Duration
	sameClient, rateLimits              bool
	devInbox                            optBool // -dev-inbox; unset: on only when mail goes nowhere else
	secretKey                           string  // from MAGICLINK_SECRET_KEY
	webhook, webhookSecret              string
	webhookInsecure                     bool
	metrics                             string // listen address; empty: none
}

// storeChoice is a StoreFlag and its value.
type storeChoice struct {
	flag  StoreFlag
	value *string
}

func parseFlags(args []string, stderr io.Writer, extra ...StoreFlag) (*options, error) {
	var o options
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "localhost:8080", "listen `address`")
	fs.StringVar(&o.db, "db", "magiclink-basic.db", "bbolt `file` the data is kept in")
	for _, f := range extra {
		o.stores = append(o.stores, storeChoice{f, fs.String(f.Name, "", f.Usage)})
	}
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated `CIDRs` of reverse proxies whose -client-ip-header is believed (for per-IP limits behind a load balancer)")
	fs.StringVar(&o.clientIPHeader, "client-ip-header", "X-Forwarded-For", "the one `header` the -trusted-proxies set to the client's address (X-Forwarded-For, Forwarded, X-Real-IP, …)")
	fs.StringVar(&o.baseURL, "base-url", "", "`URL` links are built from (default http:// + addr)")
	fs.StringVar(&o.mailDir, "mail-dir", "", "also write each email as an .eml file in `dir`")
	fs.StringVar(&o.smtpURL, "smtp", "", "also send emails through this SMTP server: smtp://user:pass@host:587 or smtps://…")
	fs.DurationVar(&o.linkTTL, "link-ttl", magiclink.DefaultLinkTTL, "how long a magic link works")
	fs.DurationVar(&o.reverifyAfter, "reverify-after", magiclink.DefaultReverificationMaxAge, "how long after signing in (or confirming it is them) a person may change their primary address, remove an address or delete their account without confirming again")
	fs.BoolVar(&o.sameClient, "require-same-client", true, "links work only in the browser that asked for them")
	fs.BoolVar(&o.rateLimits, "rate-limits", true, "limit how often links are sent (false for load tests)")
	fs.Var(&o.devInbox, "dev-inbox", "serve the dev inbox at /dev/mail, which shows every link to anyone: development only (default: on unless -smtp or -mail-dir send the mail elsewhere)")
	fs.StringVar(&o.webhook, "webhook", "", "deliver every event to this `URL`, signed per Standard Webhooks (https, or http to a loopback host)")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "the `whsec_…` secret deliveries are signed with (default $MAGICLINK_WEBHOOK_SECRET)")
	fs.BoolVar(&o.webhookInsecure, "webhook-insecure", false, "allow an http -webhook URL to a host that is not loopback")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics at http://`address`/metrics")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.linkTTL <= 0 {
		return nil, fmt.Errorf("-link-ttl must be positive, got %v", o.linkTTL)
	}
	if o.reverifyAfter <= 0 {
		return nil, fmt.Errorf("-reverify-after must be positive, got %v", o.reverifyAfter)
	}
	o.secretKey = os.Getenv("MAGICLINK_SECRET_KEY")
	return &o, nil
}

// run serves the app until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...StoreFlag) error {
	o, err := parseFlags(args, stderr, extra...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.baseURL == "" {
		o.baseURL = "http://" + listenAddr(o.addr, ln.Addr())
	}
	generated := o.secretKey == ""
	if generated {
		o.secretKey = newSecretKey()
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := newApp(o, logger)
	if err != nil {
		return err
	}
	defer a.close()

	// Long polls (a waiting tab, the inbox page) would hold a graceful
	// shutdown up: their requests' context ends when it starts.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := newServer(a.handler, logger)
	srv.BaseContext = func(net.Listener) context.Context { return reqCtx }
	srv.RegisterOnShutdown(endRequests)

	fmt.Fprintf(stdout, "magiclink demo listening on %s\n", o.baseURL)
	if o.devInbox.on(o) {
		fmt.Fprintf(stdout, "dev inbox (development only: it shows every link to anyone): %s/dev/mail\n", o.baseURL)
	}
	if generated { // the one secret printed, deliberately, for local development
		fmt.Fprintf(stdout, "Backend API at %s/v1, key (generated for this run; set MAGICLINK_SECRET_KEY to choose one):\n  %s\n", o.baseURL, o.secretKey)
	} else {
		fmt.Fprintf(stdout, "Backend API at %s/v1, key from MAGICLINK_SECRET_KEY\n", o.baseURL)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return a.close()
}

// The server's limits: no client holds a connection, a goroutine or a
// buffer for long without sending what it should. magiclink bounds
// request bodies (16 KiB) and long polls (?wait is capped at 30 s); these
// bound the rest.
const (
	// readHeaderTimeout: a client has 10 s to send its request's headers
	// (slowloris).
	readHeaderTimeout = 10 * time.Second
	// readTimeout: and 30 s to send the whole request, body included: no
	// request body of this app is more than a few KiB, so a body trickled
	// a byte at a time is cut off.
	readTimeout = 30 * time.Second
	// writeTimeout: an answer must be written within 75 s of the request's
	// headers: above the longest one, a long poll (at most 30 s, the
	// inbox's 25 s) after a request read in at most readTimeout.
	writeTimeout = 75 * time.Second
	// idleTimeout: a keep-alive connection idle for 30 s is closed.
	idleTimeout = 30 * time.Second
	// maxHeaderBytes: request headers are at most 64 KiB (cookies
	// included), not the default 1 MiB.
	maxHeaderBytes = 64 << 10
	// longestAnswer is the longest a handler of this app takes to answer:
	// a long poll.
	longestAnswer = 30 * time.Second
)

// newServer returns the HTTP server of handler, with the limits above.
// Copy them: an http.Server without them lets a client hold a connection
// open for ever.
func newServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// listenAddr is the host:port to build the default base URL from: the
// host as given (so "localhost" stays "localhost", which matters to
// cookies), with the port actually bound (for ":0").
func listenAddr(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	_, port, err2 := net.SplitHostPort(bound.String())
	if err != nil || err2 != nil {
		return bound.String()
	}
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// newSecretKey returns a random Backend API key.
func newSecretKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "sk_" + base64.RawURLEncoding.EncodeToString(b)
}

// app is the wired application.
type app struct {
	auth       *magiclink.Auth
	inbox      *inbox
	handler    http.Handler
	closeStore func() error // closes a StoreFlag's store, after auth
	store      store.Store  // the store given to magiclink; nil: its bbolt file
	metrics    *metrics     // the -metrics server, or nil
}

// Wired is the app wired from a command line, for the tests of the
// examples built on this package.
type Wired struct {
	Auth    *magiclink.Auth
	Store   store.Store // a StoreFlag's store; nil: the bbolt file
	Handler http.Handler
	Close   func() error // closes magiclink, then the store
}

// Wire parses args as the command line and wires the app, without
// listening.
func Wire(args []string, logger *slog.Logger, extra ...StoreFlag) (*Wired, error) {
	o, err := parseFlags(args, io.Discard, extra...)
	if err != nil {
		return nil, err
	}
	a, err := newApp(o, logger)
	if err != nil {
		return nil, err
	}
	return &Wired{Auth: a.auth, Store: a.store, Handler: a.handler, Close: a.close}, nil
}

// newApp opens the store and wires the mailers, magiclink and the routes.
func newApp(o *options, logger *slog.Logger) (*app, error) {
	// The maildir mailer goes first, so a message is in its folder by the
	// time the inbox shows it; a slow SMTP server delays neither.
	in := newInbox()
	from := sender(o)
	var mailers []mailer.Mailer
	if o.mailDir != "" {
		m, err := maildir.New(o.mailDir, maildir.Config{From: from})
		if err != nil {
			return nil, err
		}
		mailers = append(mailers, m)
	}
	devInbox := o.devInbox.on(o)
	if devInbox {
		mailers = append(mailers, in)
	}
	if o.smtpURL != "" {
		m, err := smtp.FromURL(o.smtpURL, from)
		if err != nil {
			return nil, err
		}
		mailers = append(mailers, m)
	}
	hooks, err := webhookEndpoints(o)
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(o.metrics, logger)
	if err != nil {
		return nil, err
	}
	var st store.Store // nil: the bbolt file at o.db
	closeStore := func() error { return nil }
	limits := magiclink.Limits{Disabled: !o.rateLimits}
	for _, c := range o.stores {
		if *c.value == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, closeS, err := c.flag.Open(ctx, *c.value, logger)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("-%s: %w", c.flag.Name, err)
		}
		st, closeStore = s, closeS
		// Instances sharing the store share the limits' counts too.
		limits.Limiter = ratelimit.NewStore(s)
		break
	}
	auth, err := magiclink.New(magiclink.Config{
		BaseURL:              o.baseURL,
		Brand:                mailer.Brand{Name: "magiclink demo"},
		Store:                st,
		DBPath:               o.db,
		Mailer:               mailer.Multi(mailers...),
		LinkTTL:              o.linkTTL,
		AllowCrossClient:     !o.sameClient,
		ReverificationMaxAge: o.reverifyAfter,
		Limits:               limits,
		TrustedProxies:       splitList(o.trustedProxies),
		ClientIPHeader:       clientIPHeader(o),
		FallbackURL:          "/verified",
		AfterSignInURL:       "/account",
		SignUpURL:            "/sign-up",
		SignInURL:            "/sign-in",
		Logger:               logger,
		Webhooks:             hooks,
		Observer:             met.observer(),
	})
	if err != nil {
		met.close()
		closeStore()
		return nil, err
	}
	if err := met.serve(auth, logger); err != nil {
		auth.Close()
		met.close()
		closeStore()
		return nil, err
	}
	pages, err := parsePages(basePath(o.baseURL), devInbox)
	if err != nil {
		auth.Close()
		met.close()
		closeStore()
		return nil, err
	}
	s := &site{auth: auth, inbox: in, linkTTL: mailer.FormatDuration(o.linkTTL), log: logger, pages: pages}

	mux := http.NewServeMux()
	mux.Handle("/auth/", retryWhenCut(auth.Handler()))
	mux.Handle("/v1/", backendAPI(auth, o.secretKey))
	mux.Handle("GET /static/", http.FileServerFS(files))
	mux.HandleFunc("GET /favicon.ico", noFavicon)
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, auth.LoadSession(h)) }
	page("GET /{$}", s.home)
	page("GET /sign-in", s.signIn)
	page("GET /sign-up", s.signUp)
	page("GET /verified", s.verified)
	mux.Handle("GET /account", auth.RequireSession(http.HandlerFunc(s.account)))
	page("GET /accept-token", s.acceptToken)
	if devInbox {
		page("GET /dev/mail", s.handleInbox)
		page("GET /dev/mail/{n}", s.handleMessage)
		mux.HandleFunc("GET /dev/mail/wait", s.handleInboxWait)
	}
	page("/", s.notFound)
	return &app{auth: auth, inbox: in, handler: mux, closeStore: closeStore, store: st, metrics: met}, nil
}

// noFavicon answers the request every browser makes for /favicon.ico,
// also on magiclink's confirm pages, with 204 (cacheable): the demo has
// no icon, and a 404 page would be an error in every page's console.
func noFavicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusNoContent)
}

// sender is the From of the emails: the SMTP user when it is an address
// (many servers insist on it), else no-reply at the base URL's host.
func sender(o *options) string {
	if u, err := url.Parse(o.smtpURL); err == nil && u.User != nil {
		if a, err := mail.ParseAddress(u.User.Username()); err == nil {
			return "magiclink demo <" + a.Address + ">"
		}
	}
	if u, err := url.Parse(o.baseURL); err == nil {
		if a, err := mail.ParseAddress("no-reply@" + u.Hostname()); err == nil {
			return "magiclink demo <" + a.Address + ">"
		}
	}
	return "magiclink demo <no-reply@localhost>"
}

// close closes magiclink, which closes the bbolt file, then the
// PostgreSQL store if there is one. It may be called more than once.
func (a *app) close() error {
	a.metrics.close()
	return errors.Join(a.auth.Close(), a.closeStore())
}

// backendAPI returns the Backend API (sign-in tokens, users) to mount at
// /v1, guarded by secretKey.
func backendAPI(auth *magiclink.Auth, secretKey string) http.Handler {
	return auth.BackendHandler(secretKey)
}

// retryWhenCut answers 503 with Retry-After to requests whose handler
// returned without answering because their context ended (the server is
// shutting down and cut a long poll short), so that a waiting page's
// magiclink.js retries the poll (and reaches the restarted server)
// instead of reading an empty 200.
func retryWhenCut(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aw := &answerWriter{ResponseWriter: w}
		next.ServeHTTP(aw, r)
		if !aw.answered && r.Context().Err() != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"errors":[{"code":"service_unavailable","message":"The server is restarting.","long_message":"The server is restarting. Try again in a moment.","meta":{}}]}`)
		}
	})
}

// answerWriter records whether a handler answered.
type answerWriter struct {
	http.ResponseWriter
	answered bool
}

func (w *answerWriter) WriteHeader(code int) {
	w.answered = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	w.answered = true
	return w.ResponseWriter.Write(b)
}

func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// clientIPHeader is -client-ip-header when -trusted-proxies is set: the
// header is read only from trusted proxies.
func clientIPHeader(o *options) string {
	if o.trustedProxies == "" {
		return ""
	}
	return o.clientIPHeader
}

// basePath is the path of the base URL, without a trailing slash: what a
// proxy that serves the app under it strips.
func basePath(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// optBool is a boolean flag that knows whether it was set.
type optBool struct{ set, v bool }

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

func (b *optBool) IsBoolFlag() bool { return true }

// on reports whether the dev inbox is served: as -dev-inbox says, else
// only when mail goes nowhere else (no -smtp, no -mail-dir), because it
// shows every link to anyone who opens it.
func (b optBool) on(o *options) bool {
	if b.set {
		return b.v
	}
	return o.smtpURL == "" && o.mailDir == ""
}
