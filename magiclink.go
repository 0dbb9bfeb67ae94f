// Package magiclink gives a net/http application passwordless email
// authentication: sign-up, sign-in and email-address verification by magic
// link, and backend-issued one-time sign-in tokens, with sessions, session
// cookies and middleware.
//
// The object model follows Clerk's (SignIn, SignUp, EmailAddress,
// Verification, Session, SignInToken), with safer defaults: links are
// scanner-safe (opening one changes nothing; a confirm page's POST does),
// bound to the browser that asked for them, single use, stored only as
// SHA-256 hashes, and the waiting tab completes the instant the link is
// confirmed.
//
// Start with New, mount Auth.Handler under /auth, and protect pages with
// Auth.RequireSession.
package magiclink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/internal/emailcode"
	"github.com/magiclink-go/magiclink/internal/i18n"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
)

// Defaults used for zero Config fields.
const (
	DefaultLinkTTL         = 10 * time.Minute
	DefaultSessionLifetime = 7 * 24 * time.Hour
	DefaultPrefix          = "/auth"
	DefaultBackendPrefix   = "/v1"
	DefaultDBPath          = "magiclink.db"
	flowLifetime           = 24 * time.Hour
	clientLifetime         = 400 * 24 * time.Hour
)

// Config configures an Auth. The zero value of every field but BaseURL
// means a good default.
type Config struct {
	// BaseURL is the absolute URL the app is served at, e.g.
	// "https://app.example". Every link is built from it, never from a
	// request's Host header. Required.
	//
	// It may have a path ("https://example.com/app") for an app behind a
	// reverse proxy that strips it (a browser's /app/x reaches the app as
	// /x). Prefix, the routes, redirect_url and the other same-origin
	// paths of Config stay the app's own paths ("/auth", "/verified"); the
	// library puts BaseURL's path before them in everything a browser
	// follows: links, the confirm pages' forms and its redirects.
	BaseURL string
	// Prefix is the path Auth.Handler serves under, and where it is
	// mounted (unstripped); default "/auth".
	Prefix string
	// Brand is how the app looks in emails and pages: its name (default
	// BaseURL's host), logo, accent colour and support address.
	Brand mailer.Brand
	// DefaultLocale is the language of emails, pages and error messages
	// when neither the user, nor the flow, nor the request names one the
	// catalogues have: a BCP 47 tag of a built-in language (en, de, fr,
	// es, pt-BR, ja, ar) or of one Overrides adds; default "en".
	DefaultLocale string
	// Overrides replaces any of the library's words and templates, read
	// from these paths of the file system when present:
	//
	//	messages/<locale>.json   catalogue entries (a new locale adds a language)
	//	pages/page.html          the pages' template (blocks "style" and "main")
	//	emails/                  email templates, as mailer.NewTemplates reads them
	//
	// New fails, naming the file, when an override does not parse, lacks
	// a required block, or names a message the library does not have.
	Overrides fs.FS
	// BackendPrefix is the path Auth.BackendHandler serves under, and
	// where it is mounted (unstripped); default "/v1".
	BackendPrefix string

	// Store persists everything. A Store passed in stays the caller's:
	// Auth.Close does not close it (close it after Auth.Close). When nil,
	// New opens a bbolt file at DBPath, announces its absolute path with
	// an Info record on Logger (slog.Default() when Logger is nil), and
	// Auth.Close closes it.
	Store store.Store
	// DBPath is the bbolt file opened when Store is nil; default
	// "magiclink.db" in the working directory.
	DBPath string
	// Mailer sends the emails. Required: New refuses a nil Mailer, so that
	// no configuration silently prints live links. Use package smtp in
	// production; mailer/console or mailer/maildir in development.
	//
	// Emails go through an outbox kept in the Store: PrepareVerification
	// records the email in the same write that starts the verification
	// and returns without waiting for Mailer, and a sender delivers it,
	// retrying temporary failures (see mailer.IsPermanent) with
	// exponential backoff for up to a day, across restarts and across
	// instances sharing the Store. The link is created when the email is
	// sent, so it is never stored. Delivery is at least once: if the
	// process dies after Mailer accepted an email but before that is
	// recorded (one store write), the email is sent again, with a new
	// link that supersedes the first.
	Mailer mailer.Mailer

	// LinkTTL is how long a magic link works; default 10 minutes.
	LinkTTL time.Duration
	// SessionLifetime is a session's absolute lifetime; default 7 days.
	SessionLifetime time.Duration
	// SessionIdleTimeout ends a session unused for this long; zero: no
	// idle timeout.
	SessionIdleTimeout time.Duration
	// ReverificationMaxAge is how recently a session must have been
	// verified (signed in or reverified) for sensitive changes: a new
	// primary address, removing an address, deleting the account; default
	// 10 minutes.
	ReverificationMaxAge time.Duration

	// AllowCrossClient turns same-client binding off: a link confirmed in
	// another browser then completes the flow, and the session goes to the
	// browser that started it (Clerk's cross-device behaviour). By default
	// such a confirmation yields client_mismatch and burns nothing.
	AllowCrossClient bool
	// DisableEnumerationProtection makes sign-in with an unknown address
	// and sign-up with a registered one fail with form_identifier_not_found
	// and form_identifier_exists, revealing which addresses have accounts.
	DisableEnumerationProtection bool

	// RedirectOrigins lists origins (scheme://host[:port]) besides
	// BaseURL's to which redirect_url may point.
	RedirectOrigins []string
	// FallbackURL is where a confirmed link whose flow is unknown lands;
	// default "/".
	FallbackURL string
	// SignUpURL is offered in the email sent when someone asks to sign in
	// with an unknown address; default "/".
	SignUpURL string
	// SignInURL is where RequireSession sends browsers without a session;
	// empty: answer 401.
	SignInURL string
	// AfterSignInURL is where a confirmed sign-in-token link lands;
	// default "/".
	AfterSignInURL string

	// EmailCodes configures the one-time codes every email carries beside
	// its link (the default), instead of it, or not at all; the zero value
	// means 6-digit codes beside links.
	EmailCodes EmailCodes

	// Limits bounds how often links are sent and sign-ins and sign-ups
	// started, per address, per client IP and in all; zero fields take
	// defaults.
	Limits Limits
	// TrustedProxies lists the reverse proxies (CIDRs or IPs, e.g.
	// "10.0.0.0/8") whose ClientIPHeader tells the client IP. Requests
	// from anywhere else are counted by their connection's address,
	// whatever headers they carry. The entry "unix" trusts a peer that
	// has no IP address (a Unix socket listener); without it such
	// requests all count as one client (see Auth.ClientIP).
	TrustedProxies []string
	// ClientIPHeader names the one header the trusted proxies set to the
	// client's address: "X-Forwarded-For" or "Forwarded" (read from the
	// right, skipping trusted proxies), or a single-address header such as
	// "X-Real-IP" or "CF-Connecting-IP". No other header is ever read.
	// Required when TrustedProxies is set, and only then.
	ClientIPHeader string

	// SigningKeys, when not empty, sign and verify sign-in tokens instead
	// of the Ed25519 key generated on first start and kept in the Store.
	// The first signs new tokens; every one verifies. To rotate, list the
	// new key first and keep the old one until the tokens it signed have
	// expired. Instances sharing a store must list the same keys.
	SigningKeys []ed25519.PrivateKey

	// Now is the clock every time-dependent rule uses; default time.Now.
	Now func() time.Time
	// Logger receives operational logs (never a secret); when nil they
	// are discarded, but for the one Info record naming the bbolt file
	// New opens when Store is nil, which goes to slog.Default().
	Logger *slog.Logger

	// OnSendFailure, when set, is called once for each email the outbox
	// gives up on: the mailer refused it for good (mailer.IsPermanent),
	// or it could not be delivered for a day. Its verification is then
	// failed, which a waiting tab sees at once. The call runs on a sender
	// goroutine, so it should return quickly. It never sees the link.
	OnSendFailure func(ctx context.Context, f SendFailure)

	// Webhooks lists the endpoints events are delivered to, signed per
	// Standard Webhooks, at least once, retried for up to a day, across
	// restarts and across instances sharing the Store. Deliveries never
	// delay a request.
	Webhooks []WebhookEndpoint
	// EventRetention is how long events are kept for the audit trail
	// (Events, GET /v1/events); default 30 days.
	EventRetention time.Duration
	// Observer, when set, is told of flows, sends, limit refusals,
	// deliveries and store writes, for metrics and traces (see the
	// otelmagiclink module).
	Observer Observer
}

// Auth is a configured magiclink instance. Its methods are safe for
// concurrent use.
type Auth struct {
	// SignIns creates and drives sign-in attempts.
	SignIns *SignIns
	// SignUps creates and drives sign-up attempts.
	SignUps *SignUps
	// EmailAddresses adds addresses to signed-in users and verifies them.
	EmailAddresses *EmailAddresses
	// Sessions looks up, refreshes and revokes sessions.
	Sessions *Sessions
	// Users reads and creates users.
	Users *Users
	// Clients creates and looks up clients (browsers).
	Clients *Clients
	// SignInTokens issues and revokes sign-in tokens (tickets).
	SignInTokens *SignInTokens
	// Events reads the audit trail.
	Events *Events

	cfg       Config
	base      *url.URL
	origins   map[string]bool
	st        store.Store
	ownsStore bool
	mail      mailer.Mailer
	tpl       *mailer.Templates
	cat       *i18n.Catalog
	pages     *template.Template
	now       func() time.Time
	log       *slog.Logger
	ips       *clientip.Resolver // the client IP of requests (Config.TrustedProxies, ClientIPHeader)
	decoyKey  []byte
	sender    *sender
	deliver   *deliverer
	// instanceID identifies the deployment in events.
	instanceID string
	codes      *emailcode.Deriver // email codes and their HMACs, under the code secret

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, fills in defaults and returns an Auth. Call Close
// when done.
//
// New starts the sender, which at once resumes delivering the emails a
// previous process left in the store's outbox.
func New(cfg Config) (*Auth, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("magiclink: Config.BaseURL must be an absolute http(s) URL without user, query or fragment, got %q", cfg.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.BackendPrefix == "" {
		cfg.BackendPrefix = DefaultBackendPrefix
	}
	for name, p := range map[string]string{"Prefix": cfg.Prefix, "BackendPrefix": cfg.BackendPrefix} {
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("magiclink: Config.%s must start and not end with /, got %q", name, p)
		}
	}
	if cfg.Prefix == cfg.BackendPrefix {
		return nil, fmt.Errorf("magiclink: Config.Prefix and Config.BackendPrefix must differ, both are %q", cfg.Prefix)
	}
	if cfg.Mailer == nil {
		return nil, errors.New("magiclink: Config.Mailer is required (package smtp in production; mailer/console or mailer/maildir in development)")
	}
	if cfg.Brand.Name == "" {
		cfg.Brand.Name = base.Hostname()
	}
	if err := cfg.Brand.Validate(); err != nil {
		return nil, fmt.Errorf("magiclink: Config.Brand: %w", err)
	}
	if cfg.DefaultLocale == "" {
		cfg.DefaultLocale = i18n.Source
	}
	if cfg.LinkTTL == 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.EventRetention == 0 {
		cfg.EventRetention = DefaultEventRetention
	}
	if cfg.LinkTTL < 0 || cfg.SessionLifetime < 0 || cfg.SessionIdleTimeout < 0 || cfg.EventRetention < 0 || cfg.ReverificationMaxAge < 0 {
		return nil, errors.New("magiclink: Config durations must not be negative")
	}
	for _, u := range []*string{&cfg.FallbackURL, &cfg.SignUpURL, &cfg.AfterSignInURL} {
		if *u == "" {
			*u = "/"
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	userLogger := cfg.Logger
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Auth{cfg: cfg, base: base, now: cfg.Now, log: cfg.Logger, origins: map[string]bool{}}
	a.origins[origin(base)] = true
	for _, o := range cfg.RedirectOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("magiclink: Config.RedirectOrigins: %q is not an origin like https://host[:port]", o)
		}
		a.origins[origin(u)] = true
	}
	for _, u := range []string{cfg.FallbackURL, cfg.SignUpURL, cfg.AfterSignInURL} {
		if _, err := a.checkRedirect(u); err != nil {
			return nil, fmt.Errorf("magiclink: Config: %q is neither a same-origin path nor on RedirectOrigins", u)
		}
	}
	if err := a.loadText(cfg.Overrides, cfg.DefaultLocale); err != nil {
		return nil, err
	}
	a.mail = cfg.Mailer
	if cfg.Limits, err = cfg.Limits.withDefaults(); err != nil {
		return nil, err
	}
	if a.ips, err = clientip.New(cfg.TrustedProxies, cfg.ClientIPHeader); err != nil {
		return nil, err
	}
	a.st = cfg.Store
	if a.st == nil {
		path := cfg.DBPath
		if path == "" {
			path = DefaultDBPath
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		bs, err := boltstore.Open(path, boltstore.Config{Now: cfg.Now, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("magiclink: opening the default store: %w", err)
		}
		a.st, a.ownsStore = bs, true
		announce := userLogger
		if announce == nil {
			announce = slog.Default()
		}
		announce.Info("magiclink: no Config.Store; opened a bbolt file, closed by Auth.Close", "path", path)
	}
	if cfg.Observer != nil {
		a.st = &observedStore{Store: a.st, o: cfg.Observer}
	}
	a.cfg = cfg
	a.SignIns = &SignIns{a: a}
	a.SignUps = &SignUps{a: a}
	a.EmailAddresses = &EmailAddresses{a: a}
	a.Sessions = &Sessions{a: a}
	a.Users = &Users{a: a}
	a.Clients = &Clients{a: a}
	a.SignInTokens = &SignInTokens{a: a}
	a.Events = &Events{a: a}
	err = a.initDecoys()
	if err == nil {
		err = a.initTickets()
	}
	if err == nil {
		err = a.initCodes()
	}
	if err != nil {
		if a.ownsStore {
			a.st.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = a.initInstance(ctx)
	cancel()
	if err == nil {
		a.deliver, err = newDeliverer(a, cfg.Webhooks)
	}
	if err != nil {
		if a.ownsStore {
			a.st.Close()
		}
		return nil, err
	}
	// A process that died while deleting a user left it half deleted:
	// finish before serving anyone.
	if err := a.resumeDeletions(context.Background()); err != nil {
		if a.ownsStore {
			a.st.Close()
		}
		return nil, fmt.Errorf("magiclink: finishing user deletions: %w", err)
	}
	a.sender = newSender(a)
	return a, nil
}

// Close stops the sender, letting sends in flight finish for a few
// seconds, and stops background work. It closes the store only if New
// opened it (Config.Store was nil); a Store passed in stays open, for its
// owner to close after Close returns.
// Emails not yet delivered stay in the store's outbox: the next New on
// the same store sends them.
func (a *Auth) Close() error {
	a.closeOnce.Do(func() {
		a.sender.close()
		a.deliver.close()
		if a.ownsStore {
			a.closeErr = a.st.Close()
		}
	})
	return a.closeErr
}

// url returns BaseURL + path.
func (a *Auth) url(path string) string { return a.base.String() + path }

func origin(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

// ms converts a time to Unix milliseconds, the stored and served form.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts Unix milliseconds back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
