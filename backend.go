package magiclink

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// BackendHandler returns the Backend API: what the app's own servers (and
// scripts) call, never browsers. Like Handler, it serves full paths under
// its prefix, Config.BackendPrefix (default "/v1"), and is mounted there
// as is, without http.StripPrefix:
//
//	mux.Handle("/v1/", auth.BackendHandler(secretKey))
//
// Routes, under Config.BackendPrefix (JSON or form bodies, JSON answers,
// errors as the Frontend API's):
//
//	POST /sign_in_tokens              {user_id, expires_in_seconds?} → sign_in_token, with token and url
//	GET  /sign_in_tokens/{id}         → sign_in_token (token and url null)
//	POST /sign_in_tokens/{id}/revoke  → sign_in_token, revoked (400 unless pending)
//	POST /users                       {email_address} → user, address marked verified
//	GET  /users?email_address=&limit=&offset=&order_by= → [user], stable order, limit <= 500
//	GET  /users/count                 → {object:"total_count", total_count}
//	GET  /users/{id}                  → user
//	PATCH /users/{id}                 {first_name, last_name, primary_email_address_id, *_metadata} → user (metadata replaced)
//	PATCH /users/{id}/metadata        {public_metadata, private_metadata, unsafe_metadata} → user (deep merge; null removes a key)
//	DELETE /users/{id}                → {object:"user", id, deleted:true}
//	POST /users/{id}/ban, /unban      → user, banned true / false
//	GET  /sessions?user_id=&status=   → [session]
//	GET  /sessions/{id}               → session
//	POST /sessions/{id}/revoke        → session, revoked
//	GET  /events?user_id=&type=&since=&limit=&cursor= → {object:"list", data:[event], next_cursor}, newest first
//	GET  /events/{id}                 → event
//
// Every request must carry "Authorization: Bearer <secretKey>"; the key is
// compared in constant time (as SHA-256 digests, so not even its length
// leaks). Anything else, on any path, is 401 authentication_invalid. A
// BackendHandler made with an empty secretKey refuses every request.
// The handler sets no cookies and reads none: requests are authenticated
// only by the key, so cross-site requests cannot ride on a browser's
// credentials. Generate the key with at least 256 random bits and keep it
// secret: whoever holds it can sign in as any user.
func (a *Auth) BackendHandler(secretKey string) http.Handler {
	var want [sha256.Size]byte
	if secretKey != "" {
		want = sha256.Sum256([]byte(secretKey))
	}
	p := a.cfg.BackendPrefix
	mux := http.NewServeMux()
	handle := a.router(mux, p)
	handle("POST /sign_in_tokens", a.postSignInToken)
	handle("GET /sign_in_tokens/{id}", answerByID(a.SignInTokens.Get))
	handle("POST /sign_in_tokens/{id}/revoke", answerByID(a.SignInTokens.Revoke))
	handle("POST /users", a.postUser)
	handle("GET /users", answer(a.listUsers))
	handle("GET /users/count", answer(a.countUsers))
	handle("GET /users/{id}", answerByID(a.Users.Get))
	handle("PATCH /users/{id}", answer(a.patchUser))
	handle("DELETE /users/{id}", answer(a.deleteUser))
	handle("PATCH /users/{id}/metadata", answer(a.patchUserMetadata))
	handle("POST /users/{id}/ban", answer(a.banUser))
	handle("POST /users/{id}/unban", answer(a.unbanUser))
	handle("GET /sessions", answer(a.listSessions))
	handle("GET /sessions/{id}", answer(a.getSessionByID))
	handle("POST /sessions/{id}/revoke", answer(a.revokeSession))
	handle("GET /events", a.listEvents)
	handle("GET /events/{id}", answerByID(a.Events.Get))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, noRoute(r))
	})
	return a.traced(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if secretKey == "" || !bearerMatches(r, &want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="magiclink"`)
			a.writeError(w, r, newError(http.StatusUnauthorized, "authentication_invalid", ErrUnauthenticated, "unauthorized", "bad_secret_key"))
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// bearerMatches reports, in constant time, whether r carries
// "Authorization: Bearer K" with SHA-256(K) equal to want.
func bearerMatches(r *http.Request, want *[sha256.Size]byte) bool {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		key = ""
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && key != ""
}

func (a *Auth) postSignInToken(w http.ResponseWriter, r *http.Request) error {
	p, userID, err := readStr(w, r, "user_id")
	if err != nil {
		return err
	}
	secs, given, err := p.int("expires_in_seconds")
	if err != nil {
		return err
	}
	var ttl time.Duration
	if given {
		if secs < 1 || secs > int64(MaxSignInTokenLifetime/time.Second) {
			return paramValue("expires_in_seconds", "expires_in_seconds")
		}
		ttl = time.Duration(secs) * time.Second
	}
	t, err := a.SignInTokens.Create(r.Context(), userID, SignInTokenParams{ExpiresIn: ttl})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *Auth) postUser(w http.ResponseWriter, r *http.Request) error {
	_, addr, err := readStr(w, r, "email_address")
	if err != nil {
		return err
	}
	if addr == "" {
		return paramMissing("email_address")
	}
	u, err := a.Users.Create(r.Context(), UserParams{EmailAddress: addr})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// answerByID is the handler of a route that answers fn(the path's {id})
// as JSON.
func answerByID[T any](fn func(context.Context, string) (T, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := fn(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}
