package magiclink

import (
	"net/http"
	"strconv"
)

// The Backend API's routes for users and sessions, with Clerk's names
// and shapes.

// answer adapts a handler that returns the value to answer as JSON.
func answer(fn func(w http.ResponseWriter, r *http.Request) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := fn(w, r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// listUsers serves GET /users?email_address=&limit=&offset=&order_by=.
func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := userListQuery(r)
	if err != nil {
		return nil, err
	}
	return a.Users.List(r.Context(), p)
}

// countUsers serves GET /users/count?email_address=.
func (a *Auth) countUsers(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := userListQuery(r)
	if err != nil {
		return nil, err
	}
	n, err := a.Users.Count(r.Context(), p)
	return struct {
		Object     string `json:"object"`
		TotalCount int    `json:"total_count"`
	}{"total_count", n}, err
}

// userListQuery reads the query of GET /users.
func userListQuery(r *http.Request) (UserListParams, error) {
	q := r.URL.Query()
	p := UserListParams{EmailAddresses: q["email_address"], OrderBy: q.Get("order_by")}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"limit", &p.Limit}, {"offset", &p.Offset}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, paramInvalid(f.name, "param_integer")
		}
		if f.name == "limit" && n == 0 {
			return p, paramValue("limit", "list_limit")
		}
		*f.dst = n
	}
	return p, nil
}

// patchUser serves PATCH /users/{id}: names, primary address and whole
// metadata objects.
func (a *Auth) patchUser(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, err
	}
	u, err := p.userUpdate("first_name", "last_name", "primary_email_address_id", "public_metadata", "private_metadata", "unsafe_metadata", "locale")
	if err != nil {
		return nil, err
	}
	return a.Users.Update(r.Context(), r.PathValue("id"), u)
}

// patchUserMetadata serves PATCH /users/{id}/metadata: a deep merge.
func (a *Auth) patchUserMetadata(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, err
	}
	u, err := p.userUpdate("public_metadata", "private_metadata", "unsafe_metadata")
	if err != nil {
		return nil, err
	}
	return a.Users.UpdateMetadata(r.Context(), r.PathValue("id"),
		MetadataUpdate{PublicMetadata: u.PublicMetadata, PrivateMetadata: u.PrivateMetadata, UnsafeMetadata: u.UnsafeMetadata})
}

// deleteUser serves DELETE /users/{id}.
func (a *Auth) deleteUser(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	return deletedObject{"user", id, true}, a.Users.Delete(r.Context(), id)
}

// banUser serves POST /users/{id}/ban.
func (a *Auth) banUser(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Users.Ban(r.Context(), r.PathValue("id"))
}

// unbanUser serves POST /users/{id}/unban.
func (a *Auth) unbanUser(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Users.Unban(r.Context(), r.PathValue("id"))
}

// listSessions serves GET /sessions?user_id=&status=.
func (a *Auth) listSessions(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	userID := q.Get("user_id")
	if userID == "" {
		return nil, paramMissing("user_id")
	}
	status := SessionStatus(q.Get("status"))
	switch status {
	case "", SessionActive, SessionEnded, SessionRevoked, SessionExpired:
	default:
		return nil, paramValue("status", "session_status")
	}
	out := []*Session{}
	if validID(userID, prefixUser) {
		all, err := a.Sessions.List(r.Context(), userID)
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			if status == "" || s.Status == status {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// getSessionByID serves GET /sessions/{id}.
func (a *Auth) getSessionByID(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Sessions.Get(r.Context(), r.PathValue("id"))
}

// revokeSession serves POST /sessions/{id}/revoke.
func (a *Auth) revokeSession(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Sessions.Revoke(r.Context(), r.PathValue("id"))
}
