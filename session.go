package magiclink

import (
	"context"
	"errors"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// SessionStatus is the state of a Session.
type SessionStatus string

// Session statuses, as Clerk's.
const (
	SessionActive  SessionStatus = "active"
	SessionEnded   SessionStatus = "ended"
	SessionRevoked SessionStatus = "revoked"
	SessionExpired SessionStatus = "expired"
)

// Session is a signed-in user on one client. Its secret (the cookie
// value) is never stored; only its SHA-256 is.
type Session struct {
	ID           string
	UserID       string
	ClientID     string
	Status       SessionStatus
	LastActiveAt time.Time
	// ExpireAt is when the session ends if left unused: the idle deadline,
	// or AbandonAt when there is no idle timeout.
	ExpireAt time.Time
	// AbandonAt is the session's absolute end.
	AbandonAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewSession is a session just handed to a client, with the secret token
// its cookie carries. The token is shown once and never stored.
type NewSession struct {
	*Session
	Token string
}

// Sessions looks up, refreshes and revokes sessions.
type Sessions struct{ a *Auth }

// newSession returns a session for user on client and the ops that store
// it. Every sign-in gets a new token: no session fixation.
func (a *Auth) newSession(id, userID, clientID string, now time.Time) (*NewSession, []store.Op) {
	token := newToken()
	hash := hashToken(token)
	abandon := now.Add(a.cfg.SessionLifetime)
	rec := sessRec{ID: id, UserID: userID, ClientID: clientID, Status: string(SessionActive),
		CreatedAt: ms(now), UpdatedAt: ms(now), LastActiveAt: ms(now), AbandonAt: ms(abandon)}
	ops := []store.Op{
		store.Insert(keySessionTok+hash, encode(rec), abandon),
		store.Insert(keySession+id, []byte(hash), abandon),
		store.Put(keyUserSession+userID+"/"+id, []byte(hash), abandon),
	}
	return &NewSession{Session: a.session(&rec), Token: token}, ops
}

// session converts a record to a Session.
func (a *Auth) session(r *sessRec) *Session {
	s := &Session{ID: r.ID, UserID: r.UserID, ClientID: r.ClientID, Status: SessionStatus(r.Status),
		LastActiveAt: fromMS(r.LastActiveAt), AbandonAt: fromMS(r.AbandonAt),
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
	s.ExpireAt = s.AbandonAt
	if idle := a.cfg.SessionIdleTimeout; idle > 0 {
		if t := s.LastActiveAt.Add(idle); t.Before(s.ExpireAt) {
			s.ExpireAt = t
		}
	}
	if s.Status == SessionActive && !a.now().Before(s.ExpireAt) {
		s.Status = SessionExpired
	}
	return s
}

// touchEvery is how stale last_active_at may get before a request
// refreshes it: often enough for the idle timeout, rarely enough not to
// write on every request.
func (a *Auth) touchEvery() time.Duration {
	if idle := a.cfg.SessionIdleTimeout; idle > 0 {
		return min(idle/10, time.Minute)
	}
	return time.Hour
}

// Lookup returns the active session whose cookie value is token and
// records its activity. An unknown, malformed, ended, revoked or expired
// session is an authentication_invalid error (ErrUnauthenticated).
func (ss *Sessions) Lookup(ctx context.Context, token string) (*Session, error) {
	if !validToken(token) {
		return nil, unauthenticated()
	}
	l, err := load[sessRec](ctx, ss.a.st, keySessionTok+hashToken(token))
	if err != nil {
		if isNotFound(err) {
			return nil, unauthenticated()
		}
		return nil, err
	}
	s := ss.a.session(&l.v)
	if s.Status != SessionActive {
		return nil, unauthenticated()
	}
	now := ss.a.now()
	if now.Sub(s.LastActiveAt) >= ss.a.touchEvery() {
		r := l.v
		r.LastActiveAt, r.UpdatedAt = ms(now), ms(now)
		// A concurrent request may have refreshed it first: either write
		// will do.
		if err := ss.a.st.Apply(ctx, l.swap(r, fromMS(r.AbandonAt))); err == nil || isConflict(err) {
			s = ss.a.session(&r)
		}
	}
	return s, nil
}

// Get returns the session with id, whatever its state, or an ErrNotFound
// error.
func (ss *Sessions) Get(ctx context.Context, id string) (*Session, error) {
	l, err := ss.byID(ctx, id)
	if err != nil {
		return nil, err
	}
	return ss.a.session(&l.v), nil
}

func (ss *Sessions) byID(ctx context.Context, id string) (*loaded[sessRec], error) {
	if !validID(id, prefixSession) {
		return nil, notFound("session")
	}
	hash, err := ss.a.st.Get(ctx, keySession+id)
	if err == nil {
		var l *loaded[sessRec]
		if l, err = load[sessRec](ctx, ss.a.st, keySessionTok+string(hash)); err == nil {
			return l, nil
		}
	}
	if isNotFound(err) {
		return nil, notFound("session")
	}
	return nil, err
}

// End signs out the session whose cookie value is token: it stops working
// at once, everywhere. It returns the ended session.
func (ss *Sessions) End(ctx context.Context, token string) (*Session, error) {
	s, err := ss.Lookup(ctx, token)
	if err != nil {
		return nil, err
	}
	return ss.finish(ctx, s.ID, SessionEnded)
}

// Revoke ends the session with id at once, wherever it is used.
func (ss *Sessions) Revoke(ctx context.Context, id string) (*Session, error) {
	return ss.finish(ctx, id, SessionRevoked)
}

// RevokeUser revokes every session of the user with id and returns how
// many it revoked.
func (ss *Sessions) RevokeUser(ctx context.Context, userID string) (int, error) {
	items, err := ss.a.st.List(ctx, keyUserSession+userID+"/", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		id := it.Key[len(keyUserSession+userID+"/"):]
		if _, err := ss.finish(ctx, id, SessionRevoked); err != nil {
			if AsError(err) != nil {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// finish removes a session's records, so its cookie stops working, and
// returns it with status.
func (ss *Sessions) finish(ctx context.Context, id string, status SessionStatus) (*Session, error) {
	for range maxRetries {
		l, err := ss.byID(ctx, id)
		if err != nil {
			return nil, err
		}
		err = ss.a.st.Apply(ctx,
			store.DeleteIf(l.key, l.raw),
			store.Delete(keySession+id),
			store.Delete(keyUserSession+l.v.UserID+"/"+id))
		if isConflict(err) {
			continue // touched concurrently: again with fresh bytes
		}
		if err != nil {
			return nil, err
		}
		r := l.v
		r.Status, r.UpdatedAt = string(status), ms(ss.a.now())
		return ss.a.session(&r), nil
	}
	return nil, errors.New("magiclink: ending a session: too much contention")
}

// claimSession hands the session a flow created, when the link was
// confirmed in another browser, to the client that started the flow. It
// returns nil when there is nothing to claim: no session, another
// client, or already claimed.
func (a *Auth) claimSession(ctx context.Context, key string, client *Client) (*NewSession, error) {
	if client == nil {
		return nil, nil
	}
	for range maxRetries {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			if isNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		f := l.v
		if f.SessionID == "" || f.SessionClaimed || f.ClientID != client.ID || f.UserID == "" {
			return nil, nil
		}
		now := a.now()
		fresh, ops := a.newSession(f.SessionID, f.UserID, client.ID, now)
		f.SessionClaimed = true
		f.UpdatedAt = ms(now)
		if err := a.st.Apply(ctx, append(ops, l.swap(f, flowExpiry(&f)))...); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, err
		}
		return fresh, nil
	}
	return nil, nil
}
