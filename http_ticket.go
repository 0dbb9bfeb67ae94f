package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
)

// ticketPage shows the confirm page of a sign-in-token link
// (SignInToken.URL). It only reads: email scanners that fetch the link
// (GET or HEAD) neither use nor burn the token. A token that would not
// sign anyone in gets a page that says why, without a button.
func (a *Auth) ticketPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	rec, err := a.checkTicket(r.Context(), token)
	userLocale, email := "", ""
	if err == nil {
		userLocale, email = a.userLocale(r.Context(), rec.UserID)
	}
	locale := a.cat.Match(userLocale, r.Header.Get("Accept-Language"))
	m := a.msgs(locale)
	t := func(key string) string { return m.T(key, "app", a.cfg.Brand.Name, "email", email) }
	p := page{Title: t("page.ticket.title"), Text: t("page.ticket.text"), Note: t("page.note"),
		Forms: []pageForm{{Action: a.public(a.cfg.Prefix + "/ticket"), Token: token, Button: t("page.ticket.button"), ID: "confirm"}}}
	if e := AsError(err); e != nil {
		reason := "invalid"
		switch e.Code {
		case "ticket_expired_code":
			reason = "expired"
		case "sign_in_token_already_used_code":
			reason = "used"
		case "sign_in_token_revoked_code":
			reason = "revoked"
		}
		p = page{Title: t("page.ticket." + reason + ".title"), Text: t("page.ticket." + reason + ".text")}
	} else if err != nil {
		// A store failure: let the button try; the POST will answer.
		a.log.Error("magiclink: checking a sign-in token", slog.Any("error", err))
	} else if email != "" {
		p.Text = t("page.ticket.text_address")
	}
	a.renderPage(w, p, locale)
}

// userLocale returns the stored locale and the primary address of the
// user with id, or "" for what cannot be read.
func (a *Auth) userLocale(ctx context.Context, userID string) (locale, email string) {
	u, err := a.Users.Get(ctx, userID)
	if err != nil {
		return "", ""
	}
	return u.Locale, u.PrimaryEmailAddress()
}

// ticketPost redeems a sign-in token for the browser (the confirm page's
// form: token=T), sets its session cookie, and answers 303 to
// Config.AfterSignInURL with magiclink_status=verified and
// magiclink_created_session=sess_…. A token that cannot be used lands
// there too, with magiclink_status=expired (ticket_expired_code) or
// failed (any other reason: invalid, already used, revoked).
func (a *Auth) ticketPost(w http.ResponseWriter, r *http.Request) {
	token, ok := a.postedToken(w, r)
	if !ok {
		return
	}
	q := url.Values{}
	// A new browser's client is stored with the sign-in, so that refused
	// posts write nothing.
	si, err := withPendingClient(a, w, r, func(c *Client) (*SignIn, error) {
		return a.SignIns.Create(r.Context(), c, SignInParams{Strategy: StrategyTicket, Ticket: token})
	})
	switch e := AsError(err); {
	case err == nil:
		s, err := si.ClaimSession(r.Context())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.setSession(w, r, s)
		q.Set("magiclink_status", string(LinkVerified))
		if s != nil {
			q.Set("magiclink_created_session", s.ID)
		}
	case e == nil:
		a.writeError(w, r, err)
		return
	case errors.Is(e, ErrExpired):
		q.Set("magiclink_status", string(LinkExpired))
	default:
		q.Set("magiclink_status", string(LinkFailed))
	}
	http.Redirect(w, r, withQuery(a.public(a.cfg.AfterSignInURL), q), http.StatusSeeOther)
}

// getJWKS serves the public keys that verify sign-in tokens, as a JWK
// Set (RFC 7517): kty OKP, crv Ed25519, x, kid, alg EdDSA, use sig. No
// private material is ever part of it. Retired keys stay listed while
// tokens they signed may still be live.
func (a *Auth) getJWKS(w http.ResponseWriter, r *http.Request) error {
	keys, err := a.SignInTokens.keys.jwks(r.Context())
	if err != nil {
		return err
	}
	b, err := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{keys})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// postedToken starts a page's POST (the confirm and ticket forms): the
// page headers, then the form's token. It reports false when the body is
// refused, the error already written.
func (a *Auth) postedToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	a.pageHeaders(w, "")
	p, err := readParams(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return "", false
	}
	token, _ := p.str("token")
	return token, true
}
