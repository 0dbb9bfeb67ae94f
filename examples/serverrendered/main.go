// Command serverrendered signs users up, in and out with magiclink's Go
// API and HTML forms alone: it works with JavaScript turned off.
//
// The flow never blocks a handler for the link's lifetime:
//
//  1. POST /start creates the sign-in (or sign-up), sends the email
//     (PrepareVerification returns at once) and redirects to /wait.
//  2. /wait shows "check your email" with a <meta http-equiv=refresh>
//     that reloads it with poll=10s; each such request long-polls the flow
//     on the server for at most pollFor, so the page moves on within a
//     moment of the link being confirmed, and no request is ever long.
//  3. The link opens magiclink's confirm page (under /auth); its button
//     POSTs, which sets the session cookie in that tab and lands on
//     /account. The waiting tab, in the same browser, finds the flow
//     complete, claims the session if it is still there to claim, and
//     goes to /account too.
//  4. Or the person reads the email on another device, where the link
//     would not sign this browser in, and types the email's code here:
//     "Type the code instead" opens /wait?by=code, a form that POSTs
//     the code to that same address, which calls AttemptFirstFactor (or
//     AttemptVerification), sets the session cookie and goes to
//     /account. A wrong code shows the page again with the error and the
//     attempts left; an expired or failed verification says so and
//     offers to start again.
//
// The code's page never refreshes by itself. Without JavaScript a page
// cannot tell whether someone is typing, and any reload would wipe a
// half-typed code; so the refreshing page carries nothing to lose (text
// and a link), and the page with the form is reached by choice and moves
// on only when its form is sent or its "carry on" link (back to the
// refreshing page) is followed.
//
// Run it from the repository's root (the emails, link and code, are
// printed, or written as .eml files with -mail-dir):
//
//	go run ./examples/serverrendered
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/console"
	"github.com/magiclink-go/magiclink/mailer/maildir"
)

// pollFor bounds one long poll of the waiting page.
const pollFor = 10 * time.Second

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

func main() {
	addr := flag.String("addr", "localhost:8081", "listen address")
	db := flag.String("db", "magiclink-serverrendered.db", "bbolt file")
	mailDir := flag.String("mail-dir", "", "write each email as an .eml file in this folder instead of printing it")
	rateLimits := flag.Bool("rate-limits", true, "limit how often links are sent")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *db, *mailDir, *rateLimits); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, db, mailDir string, rateLimits bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var m mailer.Mailer = console.New(console.Config{Writer: os.Stdout}) // development only: prints the links
	if mailDir != "" {
		if m, err = maildir.New(mailDir, maildir.Config{}); err != nil {
			return err
		}
	}
	base := "http://" + ln.Addr().String()
	// Logger: a nil one would discard the store failures ErrorFor logs.
	auth, err := magiclink.New(magiclink.Config{BaseURL: base, DBPath: db, Mailer: m, SignInURL: "/",
		Limits: magiclink.Limits{Disabled: !rateLimits}, Logger: slog.Default()})
	if err != nil {
		return err
	}
	defer auth.Close()
	// BaseContext: shutting down ends the long polls at once.
	srv := &http.Server{Handler: routes(auth), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	fmt.Println("magiclink server-rendered example listening on", base)
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// routes is the whole integration: magiclink's handler for the confirm
// pages, five pages of the app's own, and cross-origin protection for
// its forms.
func routes(auth *magiclink.Auth) http.Handler {
	mux := http.NewServeMux()
	// handle gives h the browser's client (its IP then counts against the
	// per-IP limits) and shows a refusal (a bad address, too many
	// requests, an unknown sign-in; a store failure as a 500) on the home
	// page with its status, in the browser's language.
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, *magiclink.Client) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			client, err := auth.RequestClient(w, r)
			if err == nil {
				err = h(w, r, client)
			}
			if e := auth.ErrorFor(r, err); e != nil {
				w.WriteHeader(e.Status)
				render(w, "home", map[string]any{"Error": e.LongMessage})
			}
		})
	}
	mux.Handle("/auth/", auth.Handler())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("GET /{$}", auth.LoadSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, "home", map[string]any{"Session": magiclink.SessionFrom(r.Context())})
	})))
	mux.Handle("GET /account", auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, err := magiclink.UserFrom(r.Context()); err == nil {
			render(w, "account", map[string]any{"Email": u.PrimaryEmailAddress()})
		}
	})))
	handle("POST /start", func(w http.ResponseWriter, r *http.Request, client *magiclink.Client) error {
		kind := r.PostFormValue("kind")
		id, err := start(r.Context(), auth, client, kind, r.PostFormValue("email"))
		if err != nil {
			return err
		}
		http.Redirect(w, r, "/wait?"+url.Values{"kind": {kind}, "id": {id}}.Encode(), http.StatusSeeOther)
		return nil
	})
	// GET /wait is the "check your email" page; a POST to it carries a
	// code typed into it.
	handle("/wait", func(w http.ResponseWriter, r *http.Request, client *magiclink.Client) error {
		q := r.URL.Query()
		d, _ := time.ParseDuration(q.Get("poll")) // the meta refresh asks for a long poll
		status, claim, err := flow(r.Context(), auth, client, q.Get("kind"), q.Get("id"), min(d, pollFor), r.PostFormValue("code"))
		data := map[string]any{"Status": status, "Kind": q.Get("kind"), "ID": q.Get("id")}
		if e := auth.ErrorFor(r, err); e != nil && e.Meta["param_name"] == "code" {
			w.WriteHeader(e.Status) // a wrong or malformed code: ask again (none left: failed)
			data["Error"], data["Left"] = e.LongMessage, e.Meta["remaining_attempts"]
		} else if err != nil {
			return err // an unknown id (404), an expired or failed verification: the home page says so
		}
		if status == magiclink.VerificationVerified {
			s, err := claim(r.Context()) // nil when the tab that confirmed the link took it
			if err == nil {
				auth.SetSessionCookie(w, r, s)
				http.Redirect(w, r, "/account", http.StatusSeeOther)
			}
			return err
		}
		if q.Get("by") != "code" { // the code's page never refreshes: that would wipe a half-typed code
			q.Set("poll", pollFor.String()) // html/template refuses a dynamic meta content: build it here
			data["Refresh"] = template.HTMLAttr(`content="1; url=/wait?` + template.HTMLEscapeString(q.Encode()) + `"`)
		}
		render(w, "wait", data)
		return nil
	})
	handle("POST /sign-out", func(w http.ResponseWriter, r *http.Request, _ *magiclink.Client) error {
		if _, err := auth.SignOut(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	})
	return http.NewCrossOriginProtection().Handler(mux)
}

// start creates a sign-up or a sign-in for client and sends its link,
// without waiting for the mail server.
func start(ctx context.Context, auth *magiclink.Auth, c *magiclink.Client, kind, email string) (string, error) {
	prepare := magiclink.PrepareParams{RedirectURL: "/account"}
	if kind == "sign_up" {
		su, err := auth.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: email})
		if err != nil {
			return "", err
		}
		_, err = su.PrepareVerification(ctx, prepare)
		return su.ID, err
	}
	si, err := auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: email})
	if err != nil {
		return "", err
	}
	_, err = si.PrepareVerification(ctx, prepare)
	return si.ID, err
}

// flow long-polls the sign-in or sign-up id of client for up to d, then
// tries code on it unless code is empty. It returns the verification's
// status, and how to claim the session a confirmed link or a right code
// created.
func flow(ctx context.Context, auth *magiclink.Auth, c *magiclink.Client, kind, id string, d time.Duration, code string) (magiclink.VerificationStatus, func(context.Context) (*magiclink.NewSession, error), error) {
	if kind == "sign_up" {
		su, err := auth.SignUps.Wait(ctx, c, id, d)
		if err == nil && code != "" {
			su, err = su.AttemptVerification(ctx, magiclink.AttemptParams{Code: code}) // a wrong code: su and the error
		}
		if su == nil || su.EmailVerification == nil {
			return "", nil, err
		}
		return su.EmailVerification.Status, su.ClaimSession, err
	}
	si, err := auth.SignIns.Wait(ctx, c, id, d)
	if err == nil && code != "" {
		si, err = si.AttemptFirstFactor(ctx, magiclink.AttemptParams{Code: code})
	}
	if si == nil || si.FirstFactorVerification == nil {
		return "", nil, err
	}
	return si.FirstFactorVerification.Status, si.ClaimSession, err
}

func render(w http.ResponseWriter, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.ExecuteTemplate(w, name, data); err != nil {
		log.Print(err)
	}
}
