package magiclink

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/i18n"
)

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
		if a.pageBrand().LogoURL != "" {
			csp += "; img-src 'self'"
		}
	}
	h.Set("Content-Security-Policy", csp)
}

// verifyPage shows the confirm page of a magic link. It only reads: email
// scanners that fetch links (GET or HEAD) change nothing.
func (a *Auth) verifyPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	var link *loaded[linkRec]
	if validToken(token) {
		link, _ = load[linkRec](r.Context(), a.st, keyLink+hashToken(token))
	}
	var dead LinkStatus
	existing, flowLocale, addr := false, "", ""
	var asked *requester
	if link != nil {
		if f, err := load[flowRec](r.Context(), a.st, link.v.FlowKey); err == nil {
			dead = deadLink(&link.v, &f.v, hashToken(token), a.now())
			existing, flowLocale, addr, asked = f.v.Existing, a.flowLanguage(r.Context(), &f.v), f.v.Address, f.v.Asked
		} else {
			dead = LinkFailed
		}
	}
	locale := a.cat.Match(flowLocale, r.Header.Get("Accept-Language"))
	m := a.msgs(locale)
	t := func(key string) string {
		return m.T(key, "app", a.cfg.Brand.Name, "email", addr)
	}
	confirm := func(button string) []pageForm {
		return []pageForm{{Action: a.public(a.cfg.Prefix + "/verify"), Token: token, Button: button, ID: "confirm"}}
	}
	var p page
	switch {
	case link == nil:
		p = page{Title: t("page.link.invalid.title"), Text: t("page.link.invalid.text")}
	case dead == LinkExpired:
		// The button stays: it leads to the app's page for this outcome,
		// where a new link can be requested.
		p = page{Title: t("page.link.expired.title"), Text: t("page.link.expired.text"), Forms: confirm(t("page.continue"))}
	case dead == LinkFailed:
		p = page{Title: t("page.link.used.title"), Text: t("page.link.used.text"), Forms: confirm(t("page.continue"))}
	case link.v.Kind == kindSignUp && !existing:
		p = page{Title: t("page.sign_up.title"), Text: t("page.sign_up.text"), Forms: confirm(t("page.sign_up.button"))}
	case link.v.Kind == kindSignIn, link.v.Kind == kindSignUp:
		// A sign-up for an address that has an account signs in to it.
		p = page{Title: t("page.sign_in.title"), Text: t("page.sign_in.text"), Forms: confirm(t("page.sign_in.button"))}
	case link.v.Kind == kindEmail:
		p = page{Title: t("page.verify_email.title"), Text: t("page.verify_email.text"), Forms: confirm(t("page.verify_email.button"))}
	case link.v.Kind == kindReverify:
		p = page{Title: t("page.reverify.title"), Text: t("page.reverify.text"), Forms: confirm(t("page.reverify.button"))}
	default:
		p = page{Title: t("page.link.title"), Text: t("page.link.text"), Forms: confirm(t("page.continue"))}
	}
	if len(p.Forms) > 0 {
		p.Note = t("page.note")
	}
	if dead == "" && link != nil && link.v.Kind != kindEmail && a.cfg.AllowCrossClient && asked != nil {
		if c, err := a.requestClient(r); err == nil && (c == nil || c.ID != link.v.ClientID) {
			a.crossDevice(&p, m, asked, token)
		}
	}
	a.renderPage(w, p, locale)
}

// crossDevice adds to a confirm page opened in another browser than the
// one that asked for the link who asked, and a "This wasn't me" button.
func (a *Auth) crossDevice(p *page, m *i18n.Printer, asked *requester, token string) {
	or := func(s, key string) string {
		if s == "" {
			return m.T(key)
		}
		return s
	}
	ago := a.now().Sub(fromMS(asked.At)).Truncate(time.Second)
	p.Text += " " + m.T("page.cross_device.text",
		"browser", or(asked.Browser, "page.cross_device.unknown_browser"),
		"system", or(asked.System, "page.cross_device.unknown_system"),
		"network", or(asked.Network, "page.cross_device.unknown_network"),
		"ago", m.Duration(max(ago, 0)))
	p.Forms = append(p.Forms, pageForm{Action: a.public(a.cfg.Prefix + "/verify/deny"), Token: token,
		Button: m.T("page.cross_device.deny"), ID: "deny", Secondary: true})
}

// denyPost fails the flow of a live link whose holder did not ask for it
// (the confirm page's "This wasn't me").
func (a *Auth) denyPost(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(w, r)
	if err != nil {
		a.pageHeaders(w, "")
		a.writeError(w, r, err)
		return
	}
	token, _ := p.str("token")
	locale := a.cat.Match(a.linkLanguage(r.Context(), token), r.Header.Get("Accept-Language"))
	denied, err := a.DenyLink(r.Context(), token)
	if err != nil {
		a.pageHeaders(w, "")
		a.writeError(w, r, err)
		return
	}
	m := a.msgs(locale)
	out := page{Title: m.T("page.link.used.title"), Text: m.T("page.link.used.text")}
	if denied {
		out = page{Title: m.T("page.denied.title"), Text: m.T("page.denied.text")}
	}
	a.renderPage(w, out, locale)
}

// verifyPost consumes a magic link and redirects to the flow's
// redirect_url with the outcome.
func (a *Auth) verifyPost(w http.ResponseWriter, r *http.Request) {
	token, ok := a.postedToken(w, r)
	if !ok {
		return
	}
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
	http.Redirect(w, r, withQuery(a.public(res.RedirectURL), q), http.StatusSeeOther)
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
