package demo

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
)

//go:embed templates static
var files embed.FS

// site serves the demo's pages.
type site struct {
	auth    *magiclink.Auth
	inbox   *inbox
	linkTTL string // how long links work, for people: "10 minutes"
	log     *slog.Logger
	pages   map[string]*template.Template
}

// page is what every template receives: the layout reads Title and User,
// the page's own content reads Data.
type page struct {
	Title string
	User  *magiclink.User
	Data  any
}

var funcs = template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
	"date":  func(t time.Time) string { return t.Format("2 Jan 2006 15:04:05") },
	// verificationStatus is an address's verification status, "unverified"
	// before any link was sent.
	"verificationStatus": func(e *magiclink.EmailAddress) string {
		if e.Verification == nil {
			return string(magiclink.VerificationUnverified)
		}
		return string(e.Verification.Status)
	},
}

// parsePages parses each page in templates/ together with the layout.
// basePath is the path of -base-url ("" or e.g. "/app"): behind a proxy
// that strips it, every link and form of the pages carries it, through
// the template function path.
//
// devInbox says whether the dev inbox is served, for the pages that link
// to it.
func parsePages(basePath string, devInbox bool) (map[string]*template.Template, error) {
	funcs := maps.Clone(funcs)
	funcs["devInbox"] = func() bool { return devInbox }
	funcs["path"] = func(u string) string {
		if u == "" || strings.HasPrefix(u, "/") {
			return basePath + u
		}
		return u
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		if path.Base(name) == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		pages[path.Base(name)] = t
	}
	return pages, nil
}

// render writes the page name with the layout; the signed-in user, if
// any, comes from the request's context (LoadSession or RequireSession).
func (s *site) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	s.renderStatus(w, r, http.StatusOK, name, title, data)
}

func (s *site) renderStatus(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var buf bytes.Buffer
	u, err := magiclink.UserFrom(r.Context())
	if err != nil {
		s.log.Error("loading the signed-in user", slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p := page{Title: title, User: u, Data: data}
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("rendering a page", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // pages show who is signed in
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (s *site) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderStatus(w, r, http.StatusNotFound, "notfound.html", "Not found", nil)
}

// home serves /: who is signed in, or the way in.
func (s *site) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "home.html", "Home", nil)
}

// startFlow is the data of the sign-in and sign-up pages.
type startFlow struct {
	Mode    string // "sign-in" or "sign-up"
	Heading string
	Button  string
	LinkTTL string // e.g. "10 minutes"
	// CodeLength is the number of digits of the code each email carries
	// beside its link.
	CodeLength int
	ReturnURL  string // where to go once signed in
}

// signIn serves /sign-in. RequireSession sends browsers here with
// redirect_url set to the page they asked for.
func (s *site) signIn(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "start.html", "Sign in", startFlow{Mode: "sign-in", Heading: "Sign in",
		Button: "Email me a sign-in link", LinkTTL: s.linkTTL, CodeLength: magiclink.DefaultCodeLength, ReturnURL: returnURL(r)})
}

// signUp serves /sign-up.
func (s *site) signUp(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "start.html", "Sign up", startFlow{Mode: "sign-up", Heading: "Create your account",
		Button: "Email me a sign-up link", LinkTTL: s.linkTTL, CodeLength: magiclink.DefaultCodeLength, ReturnURL: returnURL(r)})
}

// returnURL is the page to go to after signing in: ?redirect_url when it
// is a path on this site, else /account.
func returnURL(r *http.Request) string {
	u := r.URL.Query().Get("redirect_url")
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.ContainsAny(u, "\\\r\n\t") {
		return u
	}
	return "/account"
}

// outcome is the data of the /verified page.
type outcome struct {
	Tone     string // "ok", "warn" or "bad"
	Heading  string
	Text     string
	Link     string // where to go next
	LinkText string
}

// verified serves /verified, where magic links land: POST /auth/verify
// redirects here with magiclink_status, and magiclink_created_session
// when this browser was signed in. Address verification adds
// ?flow=email to its redirect_url, as the account page does (and
// ?flow=reverify for the reverification of a sensitive change), and
// sign-up adds ?flow=sign-up, so that a link that did not work leads back to the
// page that sends a new one of its kind.
func (s *site) verified(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	again := "/sign-in"
	switch q.Get("flow") {
	case "sign-up":
		again = "/sign-up"
	case "email", "reverify":
		again = "/account"
	}
	var o outcome
	switch q.Get("magiclink_status") {
	case "verified":
		switch {
		case q.Get("flow") == "email":
			o = outcome{"ok", "Email address verified", "The address is now verified on your account.", "/account", "Go to your account"}
		case q.Get("flow") == "reverify":
			o = outcome{"ok", "It’s you: confirmed", "The change you asked for goes ahead in the tab where you asked for it. You can close this page.", "/account", "Go to your account"}
		case q.Get("magiclink_created_session") != "":
			o = outcome{"ok", "You’re signed in", "Your link worked. Welcome!", "/account", "Go to your account"}
		default:
			o = outcome{"ok", "Return to your original tab", "Your link was confirmed: you’re signed in there. You can close this page.", "/", "Home"}
		}
	case "client_mismatch":
		o = outcome{"warn", "Type the code from the email in your first tab",
			"For your safety, a link only works in the browser that asked for it. Nothing was used up: type the code shown in the email into the tab where you asked for the link, and that tab signs you in. Or open the email on that device, or ask for a new link here.", again, "Send a link to this browser"}
	case "expired":
		o = outcome{"warn", "This link has expired", "Links work for " + s.linkTTL + ". Ask for a new one and use it soon.", again, "Send a new link"}
	case "failed":
		o = outcome{"bad", "This link is no longer valid", "It was already used, or a newer link replaced it. Use the newest link, or ask for a new one.", again, "Send a new link"}
	default:
		o = outcome{"warn", "Nothing to verify here", "This page shows the result of opening a magic link.", "/", "Home"}
	}
	// A sign-in or sign-up link that no longer works, opened by someone
	// signed in (often the link just used, posted again after the back
	// button): they need no new link.
	if st := q.Get("magiclink_status"); (st == "failed" || st == "expired") && q.Get("flow") != "email" && q.Get("flow") != "reverify" {
		if u, _ := magiclink.UserFrom(r.Context()); u != nil { // an error shows when the page renders
			o = outcome{"ok", "You’re already signed in", "This link can’t be used again, and you don’t need it: you’re signed in as " + u.PrimaryEmailAddress() + ".", "/account", "Go to your account"}
		}
	}
	s.render(w, r, "verified.html", o.Heading, o)
}

// account serves /account, behind RequireSession.
func (s *site) account(w http.ResponseWriter, r *http.Request) {
	if _, err := magiclink.UserFrom(r.Context()); errors.Is(err, magiclink.ErrNotFound) { // the session's user is gone
		s.notFound(w, r)
		return
	}
	sess := magiclink.SessionFrom(r.Context())
	all, err := s.auth.Sessions.List(r.Context(), sess.UserID)
	if err != nil {
		s.log.Error("listing sessions", slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var active []*magiclink.Session
	for _, x := range all {
		if x.Status == magiclink.SessionActive {
			active = append(active, x)
		}
	}
	s.render(w, r, "account.html", "Your account", struct {
		Session    *magiclink.Session
		Sessions   []*magiclink.Session
		LinkTTL    string
		CodeLength int
	}{sess, active, s.linkTTL, magiclink.DefaultCodeLength})
}

// acceptToken serves /accept-token?token=…, the custom flow for
// sign-in tokens: the page signs in with the ticket strategy.
func (s *site) acceptToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries a token
	s.render(w, r, "accept-token.html", "Signing you in", struct{ HasToken bool }{r.URL.Query().Get("token") != ""})
}
