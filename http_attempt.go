package magiclink

import (
	"context"
	"net/http"
)

// The attempt routes: a code from the email, typed into the tab that
// asked for it. Success answers the updated object and, for a sign-in or
// sign-up, sets the session cookie on this browser, as a same-browser
// link confirmation does.

// attemptRequest reads {strategy, code} and the requesting client, which
// must exist (else the flow, named what, is not found to it).
// requireStrategy makes strategy mandatory, as on the prepare routes of
// sign-ins and sign-ups.
func (a *Auth) attemptRequest(w http.ResponseWriter, r *http.Request, requireStrategy bool, what string) (AttemptParams, *Client, error) {
	p, err := readParams(w, r)
	if err != nil {
		return AttemptParams{}, nil, err
	}
	var ap AttemptParams
	if err := p.decode(field{"strategy", &ap.Strategy}, field{"code", &ap.Code}); err != nil {
		return AttemptParams{}, nil, err
	}
	if ap.Strategy == "" && requireStrategy {
		return AttemptParams{}, nil, paramMissing("strategy")
	}
	client, err := a.requestClient(r)
	if err == nil && client == nil {
		err = notFound(what)
	}
	return ap, client, err
}

// attemptFlow serves an attempt on a sign-in or sign-up. It does not read
// the flow first: a read by its client would claim a session the flow
// holds, which a refused attempt would then lose.
func attemptFlow[F flow](a *Auth, w http.ResponseWriter, r *http.Request, idPrefix, what string,
	attempt func(context.Context, *Client, string, AttemptParams) (F, error)) error {
	p, client, err := a.attemptRequest(w, r, true, what)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !validID(id, idPrefix) {
		return notFound(what)
	}
	f, err := attempt(r.Context(), client, id, p)
	if err != nil {
		return err
	}
	return a.writeFlow(w, r, f)
}

func (a *Auth) attemptSignIn(w http.ResponseWriter, r *http.Request) error {
	return attemptFlow(a, w, r, prefixSignIn, "sign in", func(ctx context.Context, c *Client, id string, p AttemptParams) (*SignIn, error) {
		return (&SignIn{ID: id, handout: handout{a: a, client: c, key: keySignIn + id}}).AttemptFirstFactor(ctx, p)
	})
}

func (a *Auth) attemptSignUp(w http.ResponseWriter, r *http.Request) error {
	return attemptFlow(a, w, r, prefixSignUp, "sign up", func(ctx context.Context, c *Client, id string, p AttemptParams) (*SignUp, error) {
		return (&SignUp{ID: id, handout: handout{a: a, client: c, key: keySignUp + id}}).AttemptVerification(ctx, p)
	})
}

func (a *Auth) attemptEmailAddress(w http.ResponseWriter, r *http.Request) error {
	s, err := a.requestSession(r.Context(), r)
	if err != nil {
		return err
	}
	p, client, err := a.attemptRequest(w, r, false, "email address")
	if err != nil {
		return err
	}
	e, err := a.EmailAddresses.Get(r.Context(), s.UserID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if e, err = e.AttemptVerification(r.Context(), client, p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
