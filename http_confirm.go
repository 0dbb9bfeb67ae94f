package magiclink

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

//go:embed assets
var assets embed.FS

var confirmTmpl = template.Must(template.ParseFS(assets, "assets/confirm.html"))

type confirmPage struct {
	AppName, Title, Text, Button, Action, Token, Nonce string
}

// pageHeaders are sent with every confirm page and confirm answer: no
// referrer leaks the token, nothing caches it, nothing loads from
// elsewhere, and no other site can frame it.
func (a *Auth) pageHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	formAction := "'self'"
	for o := range a.origins {
		formAction += " " + o
	}
	csp := "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + formAction
	if nonce != "" {
		csp += "; style-src 'nonce-" + nonce + "'"
	}
	h.Set("Content-Security-Policy", csp)
}

func (a *Auth) renderConfirm(w http.ResponseWriter, page confirmPage) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	page.Nonce = base64.RawStdEncoding.EncodeToString(b[:])
	page.AppName = a.cfg.AppName
	a.pageHeaders(w, page.Nonce)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = confirmTmpl.Execute(w, page)
}

// verifyPage shows the confirm page of a magic link. It only reads: email
// scanners that fetch links (GET or HEAD) change nothing.
func (a *Auth) verifyPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	page := confirmPage{Action: a.cfg.Prefix + "/verify", Token: token,
		Title: "Confirm it’s you", Text: "Continue to " + a.cfg.AppName + ".", Button: "Continue"}
	var link *loaded[linkRec]
	if validToken(token) {
		link, _ = load[linkRec](r.Context(), a.st, keyLink+hashToken(token))
	}
	var dead LinkStatus
	existing := false
	if link != nil {
		if f, err := load[flowRec](r.Context(), a.st, link.v.FlowKey); err == nil {
			dead = deadLink(&link.v, &f.v, hashToken(token), a.now())
			existing = f.v.Existing
		} else {
			dead = LinkFailed
		}
	}
	switch {
	case link == nil:
		page.Token = ""
		page.Title = "This link is not valid"
		page.Text = "It may have been mistyped or replaced by a newer link. Ask for a new one."
	case dead == LinkExpired:
		// The button stays: it leads to the app's page for this outcome,
		// where a new link can be requested.
		page.Title, page.Button = "This link has expired", "Continue"
		page.Text = "Links work for a short time only. Continue to ask for a new one."
	case dead == LinkFailed:
		page.Title, page.Button = "This link is no longer valid", "Continue"
		page.Text = "It was already used, or a newer link replaced it."
	default:
		switch link.v.Kind {
		case kindSignIn, kindSignUp:
			if link.v.Kind == kindSignUp && !existing {
				page.Title, page.Button = "Finish signing up", "Confirm and continue"
				page.Text = "Confirm " + link.v.Address + " to continue to " + a.cfg.AppName + "."
				break
			}
			// A sign-up for an address that has an account signs in to it.
			page.Title, page.Button = "Sign in to "+a.cfg.AppName, "Sign in"
			page.Text = "Confirm that you want to sign in as " + link.v.Address + "."
		case kindEmail:
			page.Title, page.Button = "Verify your email address", "Verify "+link.v.Address
			page.Text = "Confirm that " + link.v.Address + " is yours."
		}
	}
	a.renderConfirm(w, page)
}

// verifyPost consumes a magic link and redirects to the flow's
// redirect_url with the outcome.
func (a *Auth) verifyPost(w http.ResponseWriter, r *http.Request) {
	a.pageHeaders(w, "")
	p, err := readParams(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	token, _ := p.str("token")
	client, err := a.requestClient(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.ConfirmLink(r.Context(), token, client)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := url.Values{"magiclink_status": {string(res.Status)}}
	if res.NewSession != nil {
		a.setSession(w, r, res.NewSession)
		q.Set("magiclink_created_session", res.NewSession.ID)
	}
	http.Redirect(w, r, withQuery(res.RedirectURL, q), http.StatusSeeOther)
}

// withQuery adds q to the query of the validated URL u.
func withQuery(u string, q url.Values) string {
	frag := ""
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u, frag = u[:i], u[i:]
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + q.Encode() + frag
}

func serveJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, assets, "assets/magiclink.js")
}
