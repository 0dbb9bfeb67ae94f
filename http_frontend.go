package magiclink

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// maxWait caps a long poll.
const maxWait = 30 * time.Second

// Handler returns the Frontend API, the confirm pages and the JavaScript
// helper. It serves full paths under Config.Prefix (default "/auth") and is
// mounted there as is, without http.StripPrefix (BackendHandler is mounted
// the same way at Config.BackendPrefix):
//
//	mux.Handle("/auth/", auth.Handler())
//
// Unsafe methods from other sites are refused with 403
// (http.CrossOriginProtection).
func (a *Auth) Handler() http.Handler {
	p := a.cfg.Prefix
	mux := http.NewServeMux()
	handle := a.router(mux, p)
	handle("POST /sign_ins", a.postSignIn)
	handle("GET /sign_ins/{id}", a.getSignIn)
	handle("POST /sign_ins/{id}/prepare_first_factor", a.prepareSignIn)
	handle("POST /sign_ins/{id}/attempt_first_factor", a.attemptSignIn)
	handle("POST /sign_ups", a.postSignUp)
	handle("GET /sign_ups/{id}", a.getSignUp)
	handle("POST /sign_ups/{id}/prepare_verification", a.prepareSignUp)
	handle("POST /sign_ups/{id}/attempt_verification", a.attemptSignUp)
	handle("GET /me", a.getMe)
	handle("POST /me/email_addresses", a.postEmailAddress)
	handle("GET /me/email_addresses/{id}", a.getEmailAddress)
	handle("POST /me/email_addresses/{id}/prepare_verification", a.prepareEmailAddress)
	handle("POST /me/email_addresses/{id}/attempt_verification", a.attemptEmailAddress)
	handle("PATCH /me", a.mine(a.patchMe))
	handle("DELETE /me", a.sensitive(a.deleteMe))
	handle("DELETE /me/email_addresses/{id}", a.sensitive(a.deleteEmailAddress))
	handle("GET /me/sessions", a.mine(a.getMySessions))
	handle("POST /me/sessions/{id}/revoke", a.mine(a.revokeMySession))
	handle("POST /me/sessions/revoke_others", a.mine(a.revokeMyOtherSessions))
	handle("GET /session", a.getSession)
	handle("DELETE /session", a.deleteSession)
	handle("POST /session/verify", a.mine(a.postReverification))
	handle("GET /session/verify", a.mine(a.getReverification))
	handle("POST /session/verify/prepare_first_factor", a.mine(a.prepareReverification))
	handle("POST /session/verify/attempt_first_factor", a.mine(a.attemptReverification))
	mux.HandleFunc("GET "+p+"/verify", a.verifyPage)
	mux.HandleFunc("POST "+p+"/verify", a.verifyPost)
	mux.HandleFunc("POST "+p+"/verify/deny", a.denyPost)
	mux.HandleFunc("GET "+p+"/ticket", a.ticketPage)
	mux.HandleFunc("POST "+p+"/ticket", a.ticketPost)
	mux.HandleFunc("GET "+p+"/magiclink.js", serveJS)
	handle("GET /.well-known/jwks.json", a.getJWKS)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, noRoute(r))
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, newError(http.StatusForbidden, "cross_origin_request", ErrInvalidParam, "cross_origin", "cross_origin"))
	}))
	return a.withClientIP(withUserAgent(a.traced(mux, cop.Handler(mux))))
}

// waitParam reads ?wait=N: seconds, capped at 30.
func waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n != n {
		return 0, paramInvalid("wait", "param_seconds")
	}
	if n <= 0 {
		return 0, nil
	}
	if n >= maxWait.Seconds() {
		return maxWait, nil
	}
	return time.Duration(n * float64(time.Second)), nil
}

func (a *Auth) postSignIn(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	sp := SignInParams{Locale: a.requestPrefs(r, p)}
	if err := p.decode(field{"identifier", &sp.Identifier}, field{"strategy", &sp.Strategy}, field{"ticket", &sp.Ticket}); err != nil {
		return err
	}
	si, err := withPendingClient(a, w, r, func(c *Client) (*SignIn, error) { return a.SignIns.Create(r.Context(), c, sp) })
	if err != nil {
		return err
	}
	if s, err := si.ClaimSession(r.Context()); err != nil {
		return err
	} else {
		a.setSession(w, r, s)
	}
	writeJSON(w, http.StatusOK, si)
	return nil
}

// flow is a sign-in or sign-up as the long poll serves it.
type flow interface {
	ClaimSession(ctx context.Context) (*NewSession, error)
}

// longPoll serves GET …/{id}?wait=N for a sign-in or sign-up: the flow
// as soon as it changes (or N passes), with the session cookie for the
// client that started it once it is complete.
func longPoll[F flow](a *Auth, w http.ResponseWriter, r *http.Request,
	wait func(context.Context, *Client, string, time.Duration) (F, error)) error {
	d, err := waitParam(r)
	if err != nil {
		return err
	}
	client, err := a.requestClient(r)
	if err != nil {
		return err
	}
	f, err := wait(r.Context(), client, r.PathValue("id"), d)
	if err != nil {
		return err
	}
	return a.writeFlow(w, r, f)
}

// writeFlow answers with a sign-in or sign-up, setting the session cookie
// when the flow has a session for this client.
func (a *Auth) writeFlow(w http.ResponseWriter, r *http.Request, f flow) error {
	s, err := f.ClaimSession(r.Context())
	if err != nil {
		return err
	}
	a.setSession(w, r, s)
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (a *Auth) getSignIn(w http.ResponseWriter, r *http.Request) error {
	return longPoll(a, w, r, a.SignIns.Wait)
}

func (a *Auth) prepareSignIn(w http.ResponseWriter, r *http.Request) error {
	return prepareFlow(a, w, r, true, a.SignIns.Get, (*SignIn).PrepareVerification)
}

func (a *Auth) postSignUp(w http.ResponseWriter, r *http.Request) error {
	p, addr, err := readStr(w, r, "email_address")
	if err != nil {
		return err
	}
	su, err := withPendingClient(a, w, r, func(c *Client) (*SignUp, error) {
		return a.SignUps.Create(r.Context(), c, SignUpParams{EmailAddress: addr, Locale: a.requestPrefs(r, p)})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, su)
	return nil
}

func (a *Auth) getSignUp(w http.ResponseWriter, r *http.Request) error {
	return longPoll(a, w, r, a.SignUps.Wait)
}

func (a *Auth) prepareSignUp(w http.ResponseWriter, r *http.Request) error {
	return prepareFlow(a, w, r, false, a.SignUps.Get, (*SignUp).PrepareVerification)
}

// prepareFlow serves the prepare route of a sign-in or a sign-up: it
// decodes the body (email_address_id too where factor), finds the flow
// the path names for the request's client with get, prepares it and
// answers it.
func prepareFlow[F any](a *Auth, w http.ResponseWriter, r *http.Request, factor bool,
	get func(context.Context, *Client, string) (F, error), prepare func(F, context.Context, PrepareParams) (F, error)) error {
	pp, client, err := a.prepareRequest(w, r, factor)
	if err != nil {
		return err
	}
	f, err := get(r.Context(), client, r.PathValue("id"))
	if err != nil {
		return err
	}
	if f, err = prepare(f, r.Context(), pp); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// prepareRequest reads a prepare route's parameters (email_address_id too
// where factor) and the requesting client.
func (a *Auth) prepareRequest(w http.ResponseWriter, r *http.Request, factor bool) (PrepareParams, *Client, error) {
	p, err := readParams(w, r)
	if err != nil {
		return PrepareParams{}, nil, err
	}
	pp, err := p.prepareParams(factor)
	if err != nil {
		return PrepareParams{}, nil, err
	}
	client, err := a.requestClient(r)
	return pp, client, err
}

func (a *Auth) getMe(w http.ResponseWriter, r *http.Request) error {
	s, err := a.requestSession(r.Context(), r)
	if err != nil {
		return err
	}
	u, err := a.Users.Get(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, frontendUser{u})
	return nil
}

func (a *Auth) postEmailAddress(w http.ResponseWriter, r *http.Request) error {
	s, p, err := a.sessionParams(w, r)
	if err != nil {
		return err
	}
	addr, err := p.str("email_address")
	if err != nil {
		return err
	}
	e, err := a.EmailAddresses.Create(r.Context(), s.UserID, EmailAddressParams{EmailAddress: addr, Locale: a.requestPrefs(r, p)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// sessionParams authenticates the request's session, then reads its
// body: a request without a session is refused before its body is read.
func (a *Auth) sessionParams(w http.ResponseWriter, r *http.Request) (*Session, params, error) {
	s, err := a.requestSession(r.Context(), r)
	if err != nil {
		return nil, nil, err
	}
	p, err := readParams(w, r)
	return s, p, err
}

func (a *Auth) getEmailAddress(w http.ResponseWriter, r *http.Request) error {
	d, err := waitParam(r)
	if err != nil {
		return err
	}
	s, err := a.requestSession(r.Context(), r)
	if err != nil {
		return err
	}
	e, err := a.EmailAddresses.Wait(r.Context(), s.UserID, r.PathValue("id"), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Auth) prepareEmailAddress(w http.ResponseWriter, r *http.Request) error {
	s, p, err := a.sessionParams(w, r)
	if err != nil {
		return err
	}
	pp, err := p.prepareParams(false)
	if err != nil {
		return err
	}
	e, err := withPendingClient(a, w, r, func(c *Client) (*EmailAddress, error) {
		e, err := a.EmailAddresses.Get(r.Context(), s.UserID, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return e.PrepareVerification(r.Context(), c, pp)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Auth) getSession(w http.ResponseWriter, r *http.Request) error {
	s, err := a.requestSession(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *Auth) deleteSession(w http.ResponseWriter, r *http.Request) error {
	s, err := a.SignOut(w, r)
	if err != nil {
		return err
	}
	if s == nil {
		return unauthenticated()
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}
