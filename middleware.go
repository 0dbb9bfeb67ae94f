package magiclink

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// ctxKey is the context key of the request's session.
type ctxKey struct{}

// sessionCtx is the context the middleware gives a request with a
// session: the request's context with the session as a value. It is one
// allocation, session included; the user is loaded only if asked for.
type sessionCtx struct {
	context.Context
	a       *Auth
	req     *http.Request // for the client IP, worked out if asked for
	session Session
	mu      sync.Mutex
	user    *User // loaded on first use; a failed load is not kept
}

// Value implements context.Context. It answers the client IP of the
// request (Auth.ClientIP) when no outer handler put one in the context,
// so that Go calls made with it in a page behind the middleware count
// against the per-IP limits.
func (c *sessionCtx) Value(key any) any {
	switch key.(type) {
	case ctxKey:
		return c
	case clientIPKey:
		if v := c.Context.Value(key); v != nil {
			return v
		}
		return c.a.ips.ClientIP(c.req)
	}
	return c.Context.Value(key)
}

// SessionFrom returns the session the middleware found for the request
// whose context is ctx, or nil.
func SessionFrom(ctx context.Context) *Session {
	if sc, ok := ctx.Value(ctxKey{}).(*sessionCtx); ok {
		return &sc.session
	}
	return nil
}

// UserFrom returns the signed-in user of the request whose context is
// ctx, loading it on first use: nil and no error when the request has no
// session. A failure to load the user (a store error, or a user deleted
// meanwhile) is returned, never mistaken for "no user", and the next call
// tries again.
func UserFrom(ctx context.Context) (*User, error) {
	sc, ok := ctx.Value(ctxKey{}).(*sessionCtx)
	if !ok {
		return nil, nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.user == nil {
		u, err := sc.a.Users.Get(ctx, sc.session.UserID)
		if err != nil {
			return nil, err
		}
		sc.user = u
	}
	return sc.user, nil
}

// withSession returns the request with the session, if any, in its
// context; store errors are returned.
func (a *Auth) withSession(r *http.Request) (*http.Request, error) {
	v := cookieValue(r, a.SessionCookieName())
	if v == "" {
		return r, nil
	}
	sc := &sessionCtx{Context: r.Context(), a: a, req: r}
	if err := a.Sessions.lookup(r.Context(), v, &sc.session); err != nil {
		if AsError(err) != nil {
			return r, nil
		}
		return r, err
	}
	return r.WithContext(sc), nil
}

// LoadSession is middleware that puts the request's session, if it has
// an active one, in its context for SessionFrom and UserFrom. It lets
// every request through.
func (a *Auth) LoadSession(next http.Handler) http.Handler {
	return a.sessionHandler(func(w http.ResponseWriter, _, r2 *http.Request) {
		next.ServeHTTP(w, r2)
	})
}

// sessionHandler is the middleware both LoadSession and RequireSession
// are: serve gets the request r and r2, r with the session (if any) in its
// context; a session that cannot be read answers the error instead.
func (a *Auth) sessionHandler(serve func(w http.ResponseWriter, r, r2 *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2, err := a.withSession(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		serve(w, r, r2)
	})
}

// RequireSession is middleware that lets through only requests with an
// active session (idle and absolute timeouts are checked server-side),
// putting it in their context. Others get 401 authentication_invalid as
// JSON, or, for a browser navigating (GET or HEAD accepting HTML) when
// Config.SignInURL is set, a redirect there with redirect_url set to the
// page asked for.
func (a *Auth) RequireSession(next http.Handler) http.Handler {
	return a.sessionHandler(func(w http.ResponseWriter, r, r2 *http.Request) {
		if SessionFrom(r2.Context()) != nil {
			next.ServeHTTP(w, r2)
			return
		}
		if a.cfg.SignInURL != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, withQuery(a.public(a.cfg.SignInURL), url.Values{"redirect_url": {r.URL.RequestURI()}}), http.StatusSeeOther)
			return
		}
		a.writeError(w, r, unauthenticated())
	})
}
