package magiclink

import (
	"context"
	"net/http"
	"slices"
)

// The Frontend API's account routes: the signed-in person changes their
// user, removes addresses, sees and ends their sessions, deletes their
// account, and reverifies before the sensitive ones of these.

// only refuses, with form_param_unknown, a parameter not in allowed.
func (p params) only(allowed ...string) error {
	var unknown []string
	for k := range p {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return paramUnknown(unknown[0])
}

// optStr reads an optional string parameter: nil when absent, "" when
// null.
func (p params) optStr(name string) (*string, error) {
	if _, ok := p[name]; !ok {
		return nil, nil
	}
	s, err := p.str(name)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// userUpdate reads the fields of a user update that are allowed, as
// Users.Update takes them.
func (p params) userUpdate(allowed ...string) (UserUpdate, error) {
	var u UserUpdate
	if err := p.only(allowed...); err != nil {
		return u, err
	}
	var err error
	if u.FirstName, err = p.optStr("first_name"); err != nil {
		return u, err
	}
	if u.LastName, err = p.optStr("last_name"); err != nil {
		return u, err
	}
	if u.Locale, err = p.optStr("locale"); err != nil {
		return u, err
	}
	if u.PrimaryEmailAddressID, err = p.str("primary_email_address_id"); err != nil {
		return u, err
	}
	for _, m := range []struct {
		name string
		dst  *Metadata
	}{{"public_metadata", &u.PublicMetadata}, {"private_metadata", &u.PrivateMetadata}, {"unsafe_metadata", &u.UnsafeMetadata}} {
		if *m.dst, _, err = p.metadata(m.name); err != nil {
			return u, err
		}
	}
	return u, nil
}

// mine adapts a handler of the signed-in session's: it answers 401
// without one, and the value fn returns as JSON.
func (a *Auth) mine(fn func(w http.ResponseWriter, r *http.Request, s *Session) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.requestSession(r.Context(), r)
		if err != nil {
			return err
		}
		v, err := fn(w, r, s)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// sensitive is mine for a sensitive change: it also needs a recent
// verification.
func (a *Auth) sensitive(fn func(w http.ResponseWriter, r *http.Request, s *Session) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return a.mine(func(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
		if err := a.checkReverified(s, 0); err != nil {
			return nil, err
		}
		return fn(w, r, s)
	})
}

// patchMe serves PATCH /me: names, unsafe metadata and, after a recent
// verification, the primary address.
func (a *Auth) patchMe(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, err
	}
	u, err := p.userUpdate("first_name", "last_name", "unsafe_metadata", "primary_email_address_id", "locale")
	if err != nil {
		return nil, err
	}
	if u.PrimaryEmailAddressID != "" {
		cur, err := a.Users.Get(r.Context(), s.UserID)
		if err != nil {
			return nil, err
		}
		if u.PrimaryEmailAddressID != cur.PrimaryEmailAddressID {
			if err := a.checkReverified(s, 0); err != nil {
				return nil, err
			}
		}
	}
	user, err := a.Users.Update(r.Context(), s.UserID, u)
	if err != nil {
		return nil, err
	}
	return frontendUser{user}, nil
}

// deleteMe serves DELETE /me (sensitive): deletes the account and clears
// the session cookie.
func (a *Auth) deleteMe(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	if err := a.Users.Delete(r.Context(), s.UserID); err != nil {
		return nil, err
	}
	a.clearSession(w)
	return deletedObject{"user", s.UserID, true}, nil
}

// deleteEmailAddress serves DELETE /me/email_addresses/{id} (sensitive).
func (a *Auth) deleteEmailAddress(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	id := r.PathValue("id")
	if err := a.EmailAddresses.Delete(r.Context(), s.UserID, id); err != nil {
		return nil, err
	}
	return deletedObject{"email_address", id, true}, nil
}

// getMySessions serves GET /me/sessions: the active sessions of the
// user, the one asking marked current.
func (a *Auth) getMySessions(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	all, err := a.Sessions.List(r.Context(), s.UserID)
	if err != nil {
		return nil, err
	}
	out := []mySession{}
	for _, x := range all {
		if x.Status == SessionActive {
			out = append(out, mySession{x, x.ID == s.ID})
		}
	}
	return out, nil
}

// revokeMySession serves POST /me/sessions/{id}/revoke: ends one of the
// user's sessions; another user's is resource_not_found. Revoking the
// session asking signs it out.
func (a *Auth) revokeMySession(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	id := r.PathValue("id")
	other, err := a.Sessions.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if other.UserID != s.UserID {
		return nil, notFound("session")
	}
	revoked, err := a.Sessions.Revoke(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if id == s.ID {
		a.clearSession(w)
	}
	return revoked, nil
}

// revokeMyOtherSessions serves POST /me/sessions/revoke_others: "sign
// out of all other devices". It answers with the sessions left: this
// one.
func (a *Auth) revokeMyOtherSessions(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	if _, err := a.Sessions.RevokeOthers(r.Context(), s.UserID, s.ID); err != nil {
		return nil, err
	}
	return a.getMySessions(w, r, s)
}

// postReverification serves POST /session/verify: starts a
// reverification of the session asking.
func (a *Auth) postReverification(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	client, err := a.ensureClient(w, r)
	if err != nil {
		return nil, err
	}
	return a.Sessions.StartReverification(r.Context(), client, s)
}

// getReverification serves GET /session/verify?wait=N.
func (a *Auth) getReverification(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	d, err := waitParam(r)
	if err != nil {
		return nil, err
	}
	client, err := a.requestClient(r)
	if err != nil {
		return nil, err
	}
	return a.Sessions.WaitReverification(r.Context(), client, s, d)
}

// prepareReverification serves POST /session/verify/prepare_first_factor
// {strategy:"email_link", redirect_url}.
func (a *Auth) prepareReverification(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	pp, client, err := a.prepareRequest(w, r, true)
	return onReverification(a, r, s, pp, client, err, (*Reverification).PrepareVerification)
}

// attemptReverification serves POST /session/verify/attempt_first_factor
// {strategy:"email_code", code}.
func (a *Auth) attemptReverification(w http.ResponseWriter, r *http.Request, s *Session) (any, error) {
	p, client, err := a.attemptRequest(w, r, false, "session verification")
	return onReverification(a, r, s, p, client, err, (*Reverification).AttemptFirstFactor)
}

// onReverification runs op with the parameters p on the reverification of
// the session s for client; err is reading them failing.
func onReverification[P any](a *Auth, r *http.Request, s *Session, p P, client *Client, err error,
	op func(*Reverification, context.Context, P) (*Reverification, error)) (any, error) {
	if err != nil {
		return nil, err
	}
	rv, err := a.Sessions.Reverification(r.Context(), client, s)
	if err != nil {
		return nil, err
	}
	return op(rv, r.Context(), p)
}
