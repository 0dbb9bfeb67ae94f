package magiclink

import (
	"context"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// Cookie names; with an https BaseURL they carry the __Host- prefix,
// which browsers accept only with Secure, Path=/ and no Domain, so no
// subdomain can plant or overwrite them.
const (
	clientCookie  = "magiclink_client"
	sessionCookie = "magiclink_session"
)

func (a *Auth) secure() bool { return a.base.Scheme == "https" }

func (a *Auth) cookieName(name string) string {
	if a.secure() {
		return "__Host-" + name
	}
	return name
}

// ClientCookieName returns the name of the cookie that carries the
// client's (the browser's) token.
func (a *Auth) ClientCookieName() string { return a.cookieName(clientCookie) }

// SessionCookieName returns the name of the session cookie.
func (a *Auth) SessionCookieName() string { return a.cookieName(sessionCookie) }

func (a *Auth) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: a.cookieName(name), Value: value, Path: "/", HttpOnly: true,
		Secure: a.secure(), SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// cookieValue returns the value of the request's cookie called name, or
// "". It reads the Cookie headers as r.Cookie does (the first cookie called
// name whose value is valid, less surrounding double quotes), without
// allocating: it runs on every request the session middleware sees.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v
			}
		}
	}
	return ""
}

// validCookieValue reports whether net/http accepts v as a cookie value.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// requestClient returns the client whose cookie the request carries, or
// nil: an unknown value is ignored, never adopted.
func (a *Auth) requestClient(r *http.Request) (*Client, error) {
	v := cookieValue(r, a.ClientCookieName())
	if v == "" {
		return nil, nil
	}
	c, err := a.Clients.Lookup(r.Context(), v)
	if err != nil {
		if AsError(err) != nil {
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}

// ensureClient returns the request's client or, when the request has
// none, a new one that is stored only with the first flow started for
// it, and sets its cookie on w. Handlers that may refuse the request use
// withPendingClient instead, so that a refusal sets no cookie either.
func (a *Auth) ensureClient(w http.ResponseWriter, r *http.Request) (*Client, error) {
	c, token, err := a.pendingClient(r)
	if err == nil {
		a.setClientCookie(w, token)
	}
	return c, err
}

// withPendingClient runs do with the request's client or, when the
// request has none, a new one not stored yet (do stores it with the flow
// it starts). The new client's cookie is set only once do has succeeded:
// a refused request sets no cookie.
func withPendingClient[T any](a *Auth, w http.ResponseWriter, r *http.Request, do func(*Client) (T, error)) (T, error) {
	c, token, err := a.pendingClient(r)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := do(c)
	if err == nil {
		a.setClientCookie(w, token)
	}
	return v, err
}

// pendingClient returns the request's client, or a new one not stored
// yet with the token its cookie will carry. Call setClientCookie once the
// request has succeeded (a stored flow stores the client with it).
func (a *Auth) pendingClient(r *http.Request) (*Client, string, error) {
	c, err := a.requestClient(r)
	if err != nil || c != nil {
		return c, "", err
	}
	c, token := a.newClient()
	return c, token, nil
}

// setClientCookie sets the cookie of a client pendingClient created; ""
// (the request already had a client) sets nothing.
func (a *Auth) setClientCookie(w http.ResponseWriter, token string) {
	if token != "" {
		a.setCookie(w, clientCookie, token, clientLifetime)
	}
}

// setSession sets the session cookie for a session just handed out to
// the browser that sent r. The session r's cookie named before, if any,
// is ended: its value stops working the moment it is replaced, so a value
// learnt before a sign-in is worth nothing after it.
func (a *Auth) setSession(w http.ResponseWriter, r *http.Request, s *NewSession) {
	if s == nil {
		return
	}
	if old := cookieValue(r, a.SessionCookieName()); old != "" && old != s.Token {
		if _, err := a.Sessions.End(r.Context(), old); err != nil && AsError(err) == nil {
			a.log.Warn("magiclink: ending the replaced session failed", slog.Any("error", err))
		}
	}
	a.setCookie(w, sessionCookie, s.Token, s.AbandonAt.Sub(a.now()))
}

// clearSession expires the session cookie.
func (a *Auth) clearSession(w http.ResponseWriter) { a.setCookie(w, sessionCookie, "", -1) }

// requestSession returns the active session the request's cookie names,
// or an authentication_invalid error.
func (a *Auth) requestSession(ctx context.Context, r *http.Request) (*Session, error) {
	v := cookieValue(r, a.SessionCookieName())
	if v == "" {
		return nil, unauthenticated()
	}
	return a.Sessions.Lookup(ctx, v)
}

// RequestClient returns the client (browser) the request comes from,
// creating it and setting its cookie on w when the request has none — for
// server-rendered apps that drive flows through the Go API. A new client
// is stored with the first sign-in, sign-up or verification started for
// it: a request that starts none stores nothing.
//
// The client remembers the request's IP (Auth.ClientIP), so that the
// calls made with it (SignIns.Create, PrepareVerification, …) count
// against the per-IP limits without the caller passing the IP on. A
// client from Clients.Create has no IP: calls made with it are limited
// per IP only when their context carries one (WithClientIP).
func (a *Auth) RequestClient(w http.ResponseWriter, r *http.Request) (*Client, error) {
	c, err := a.ensureClient(w, r)
	if err != nil {
		return nil, err
	}
	c.ip = a.ClientIP(r)
	return c, nil
}

// SignOut signs the browser that sent r out: it ends the session r's
// cookie names, at once and everywhere, and expires the cookie on w with
// the attributes it was set with (on https the __Host- name and Secure,
// without which browsers keep it). It returns the ended session, or nil
// when r named no active session (a cookie naming an unknown or ended
// session is expired all the same). The error reports only a store
// failure, in which case the cookie is left alone.
//
// Call it from the handler of a POST (a sign-out form), never a GET, so
// that another site cannot sign users out with a link.
func (a *Auth) SignOut(w http.ResponseWriter, r *http.Request) (*Session, error) {
	v := cookieValue(r, a.SessionCookieName())
	if v == "" {
		return nil, nil // no cookie to expire
	}
	s, err := a.Sessions.End(r.Context(), v)
	if err != nil && AsError(err) == nil {
		return nil, err
	}
	a.clearSession(w)
	if err != nil {
		return nil, nil
	}
	return s, nil
}

// SetSessionCookie sets the session cookie for a session handed out by
// ConfirmLink or ClaimSession to the browser that sent r, ending the
// session r's cookie named before. A nil session sets nothing.
func (a *Auth) SetSessionCookie(w http.ResponseWriter, r *http.Request, s *NewSession) {
	a.setSession(w, r, s)
}
