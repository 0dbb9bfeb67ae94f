package magiclink

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
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
	ID       string
	UserID   string
	ClientID string
	Status   SessionStatus
	// LastActiveAt is when the session was last used; zero for a session
	// handed out by a claim (SignIn.ClaimSession) and not used since.
	LastActiveAt time.Time
	// ExpireAt is when the session ends if left unused: the idle deadline,
	// or AbandonAt when there is no idle timeout.
	ExpireAt time.Time
	// AbandonAt is the session's absolute end.
	AbandonAt time.Time
	// LastVerifiedAt is when its user last proved control of their
	// address in it: at sign-in, then at each reverification. Sensitive
	// changes need it to be recent (see RequireReverification).
	LastVerifiedAt time.Time
	// LatestActivity is where the session was signed in from.
	LatestActivity SessionActivity
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// NewSession is a session just handed to a client, with the secret token
// its cookie carries. The token is shown once and never stored.
type NewSession struct {
	*Session
	Token string
}

// Sessions looks up, refreshes and revokes sessions.
type Sessions struct {
	a *Auth
	// touching holds the store keys of the sessions whose activity a
	// request of this process is recording, so that a burst of requests
	// of one session writes once, not once each.
	touching sync.Map
}

// newSession returns a session for user on client and the ops that store
// it, session.created among them, recording the activity ctx
// describes (activityFrom). Every sign-in gets a new token: no session
// fixation. A session handed out by a claim starts unused (LastActiveAt
// zero), which lets a lost claim be made again until its first use.
func (a *Auth) newSession(ctx context.Context, id, userID, clientID string, now time.Time, unused bool) (*NewSession, []store.Op) {
	token := newToken()
	hash := hashToken(token)
	abandon := now.Add(a.cfg.SessionLifetime)
	act := activityFrom(ctx)
	rec := sessRec{ID: id, UserID: userID, ClientID: clientID, Status: string(SessionActive),
		BrowserName: act.BrowserName, BrowserVersion: act.BrowserVersion, DeviceType: act.DeviceType, IPAddress: act.IPAddress,
		IsMobile:  act.IsMobile,
		CreatedAt: ms(now), UpdatedAt: ms(now), LastActiveAt: ms(now), AbandonAt: ms(abandon), LastVerifiedAt: ms(now)}
	if unused {
		rec.LastActiveAt = 0
	}
	s := a.session(&rec)
	ops := append(a.emit(ctx, EventSessionCreated, userID, s, now),
		store.Insert(keySessionTok+hash, rec.marshal(), abandon),
		store.Insert(keySession+id, []byte(hash), abandon),
		store.Put(keyUserSession+userID+"/"+id, []byte(hash), abandon))
	return &NewSession{Session: s, Token: token}, ops
}

// session converts a record to a Session.
func (a *Auth) session(r *sessRec) *Session {
	s := new(Session)
	a.fillSession(s, r, a.now())
	return s
}

// fillSession sets s from the record r as it stands at now.
func (a *Auth) fillSession(s *Session, r *sessRec, now time.Time) {
	*s = Session{ID: r.ID, UserID: r.UserID, ClientID: r.ClientID, Status: SessionStatus(r.Status),
		LastActiveAt: fromMS(r.LastActiveAt), AbandonAt: fromMS(r.AbandonAt), LastVerifiedAt: fromMS(r.LastVerifiedAt),
		LatestActivity: SessionActivity{BrowserName: r.BrowserName, BrowserVersion: r.BrowserVersion, DeviceType: r.DeviceType,
			IsMobile: r.IsMobile, IPAddress: r.IPAddress},
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
	s.ExpireAt = s.AbandonAt
	if idle := a.cfg.SessionIdleTimeout; idle > 0 {
		last := s.LastActiveAt
		if last.IsZero() {
			last = s.CreatedAt
		}
		if t := last.Add(idle); t.Before(s.ExpireAt) {
			s.ExpireAt = t
		}
	}
	if s.Status == SessionActive && !now.Before(s.ExpireAt) {
		s.Status = SessionExpired
	}
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
	s := new(Session)
	if err := ss.lookup(ctx, token, s); err != nil {
		return nil, err
	}
	return s, nil
}

// lookup is Lookup filling in s, so that the middleware can place the
// session where it likes. It is the per-request session check: one store
// read and a fixed-layout decode, no JSON.
func (ss *Sessions) lookup(ctx context.Context, token string, s *Session) error {
	if !validToken(token) {
		return unauthenticated()
	}
	key := tokenKey(keySessionTok, token)
	raw, err := ss.a.st.Get(ctx, key)
	if err != nil {
		if isNotFound(err) {
			return unauthenticated()
		}
		return err
	}
	var r sessRec
	if err := r.unmarshal(raw); err != nil {
		return corruptRecord(key, err)
	}
	now := ss.a.now()
	ss.a.fillSession(s, &r, now)
	if s.Status != SessionActive {
		return unauthenticated()
	}
	if now.Sub(s.LastActiveAt) >= ss.a.touchEvery() {
		if _, busy := ss.touching.LoadOrStore(key, struct{}{}); busy {
			return nil // another request is recording it right now
		}
		defer ss.touching.Delete(key)
		r.LastActiveAt, r.UpdatedAt = ms(now), ms(now)
		// A concurrent request may have refreshed it first: either write
		// will do.
		err := ss.a.st.Apply(ctx, store.Swap(key, raw, r.marshal(), fromMS(r.AbandonAt)))
		if err == nil || isConflict(err) {
			ss.a.fillSession(s, &r, now)
		}
	}
	return nil
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
		if l, err = loadSession(ctx, ss.a.st, keySessionTok+string(hash)); err == nil {
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
	return ss.revokeAll(ctx, userID, "")
}

// revokeAll revokes every session of the user but keepID's.
func (ss *Sessions) revokeAll(ctx context.Context, userID, keepID string) (int, error) {
	items, err := ss.a.st.List(ctx, keyUserSession+userID+"/", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		id := it.Key[len(keyUserSession+userID+"/"):]
		if id == keepID {
			continue
		}
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

// List returns the sessions of the user with userID that are still
// stored — active ones, and those that expired but are not yet swept —
// newest first: a prefix scan of the user's index, then one read per
// session. Ended and revoked sessions are deleted, so never listed.
func (ss *Sessions) List(ctx context.Context, userID string) ([]*Session, error) {
	items, err := ss.a.st.List(ctx, keyUserSession+userID+"/", 0)
	if err != nil {
		return nil, err
	}
	now := ss.a.now()
	out := make([]*Session, 0, len(items))
	for _, it := range items {
		l, err := loadSession(ctx, ss.a.st, keySessionTok+string(it.Value))
		if isNotFound(err) {
			continue // ended meanwhile
		}
		if err != nil {
			return nil, err
		}
		s := new(Session)
		ss.a.fillSession(s, &l.v, now)
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y *Session) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	return out, nil
}

// RevokeOthers revokes every session of the user with userID but the
// one with keepID ("sign out of all other devices") and returns how many
// it revoked.
func (ss *Sessions) RevokeOthers(ctx context.Context, userID, keepID string) (int, error) {
	return ss.revokeAll(ctx, userID, keepID)
}

// finish removes a session's records, so its cookie stops working, and
// returns it with status.
func (ss *Sessions) finish(ctx context.Context, id string, status SessionStatus) (*Session, error) {
	return retryApply("ending a session", func() (*Session, error) {
		l, err := ss.byID(ctx, id)
		if err != nil {
			return nil, err
		}
		r := l.v
		now := ss.a.now()
		r.Status, r.UpdatedAt = string(status), ms(now)
		s := ss.a.session(&r)
		t := EventSessionRevoked
		if status == SessionEnded {
			t = EventSessionEnded
		}
		err = ss.a.apply(ctx, append(ss.a.emit(ctx, t, r.UserID, s, now),
			store.DeleteIf(l.key, l.raw),
			store.Delete(keySession+id),
			store.Delete(keyUserSession+l.v.UserID+"/"+id))...)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

// handout hands the session a completed sign-in or sign-up created to
// the client that started it. SignIn and SignUp embed it.
type handout struct {
	a      *Auth
	client *Client
	key    string      // the flow's store key
	fresh  *NewSession // created with the flow (a ticket sign-in), not yet taken
}

// prepareLink sends a link for the sign-in or sign-up h hands out (what
// names it in a not-found error), as its client; where factor, a given
// p.EmailAddressID must be the flow's.
func (h *handout) prepareLink(ctx context.Context, what string, factor bool, p PrepareParams) (*flowRec, error) {
	ctx = h.client.context(ctx)
	return h.a.prepare(ctx, h.key, nil, func(f *flowRec) error {
		if f.ClientID != h.client.ID {
			return notFound(what)
		}
		if factor && p.EmailAddressID != "" && p.EmailAddressID != f.EmailAddressID {
			return paramInvalid("email_address_id", "email_address_id")
		}
		return nil
	}, p)
}

// take returns the session to hand out, if any: the one created with the
// flow, else one claimed from the store.
func (h *handout) take(ctx context.Context, complete bool) (*NewSession, error) {
	if s := h.fresh; s != nil {
		h.fresh = nil
		return s, nil
	}
	if !complete {
		return nil, nil
	}
	return h.a.claimSession(ctx, h.key, h.client)
}

// claimSession hands the session a flow created, when the link was
// confirmed in another browser, to the client that started the flow. It
// returns nil when there is nothing to hand out: no session, another
// client, a session already delivered to the confirming browser, or one
// already in use.
//
// The first claim creates the session. Its token reaches the browser only
// if the answer carrying it arrives, so until the session is first used
// (its LastActiveAt is still zero) and while the flow is not abandoned,
// the same client may claim again: the session then gets a new token and
// the earlier one stops working.
func (a *Auth) claimSession(ctx context.Context, key string, client *Client) (*NewSession, error) {
	if client == nil {
		return nil, nil
	}
	return retryApply("handing out a session", func() (*NewSession, error) {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			if isNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		f := l.v
		now := a.now()
		if f.SessionID == "" || f.ClientID != client.ID || f.UserID == "" || !now.Before(fromMS(f.AbandonAt)) {
			return nil, nil
		}
		// The user may have been banned or deleted since the link was
		// confirmed: then there is no session to hand out.
		lu, err := a.loadSignInUser(ctx, f.UserID)
		if err != nil || lu == nil {
			return nil, err
		}
		var ops []store.Op
		var fresh *NewSession
		switch {
		case !f.SessionClaimed:
			fresh, ops = a.newSession(ctx, f.SessionID, f.UserID, client.ID, now, true)
			f.SessionClaimed, f.SessionReclaimable = true, true
			f.UpdatedAt = ms(now)
			ops = append(ops, l.swap(f, flowExpiry(&f)), store.Check(lu.key, lu.raw))
		case f.SessionReclaimable:
			fresh, ops, err = a.Sessions.reissue(ctx, f.SessionID)
			if fresh == nil || err != nil {
				return nil, err
			}
			ops = append(ops, store.Check(l.key, l.raw))
		default:
			return nil, nil
		}
		if err := a.apply(ctx, ops...); err != nil {
			return nil, err
		}
		return fresh, nil
	})
}

// reissue returns the session with id under a new token, and the ops that
// make the new token the only one that works, if the session is active
// and was never used; else nil.
func (ss *Sessions) reissue(ctx context.Context, id string) (*NewSession, []store.Op, error) {
	l, err := ss.byID(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	r := l.v
	s := ss.a.session(&r)
	if s.Status != SessionActive || r.LastActiveAt != 0 {
		return nil, nil, nil
	}
	token := newToken()
	hash := hashToken(token)
	abandon := fromMS(r.AbandonAt)
	ops := []store.Op{
		store.DeleteIf(l.key, l.raw),
		store.Insert(keySessionTok+hash, r.marshal(), abandon),
		store.Put(keySession+id, []byte(hash), abandon),
		store.Put(keyUserSession+r.UserID+"/"+id, []byte(hash), abandon),
	}
	return &NewSession{Session: s, Token: token}, ops, nil
}

// sessRec is a stored session, keyed by its cookie's hash. Unlike the
// other records it is not JSON but a fixed binary layout, because every
// request that carries a session cookie decodes one: marshal and
// unmarshal are its only encoding.
type sessRec struct {
	ID             string
	UserID         string
	ClientID       string
	Status         string
	BrowserName    string // latest_activity, recorded at sign-in
	BrowserVersion string
	DeviceType     string
	IPAddress      string // truncated to /24 or /48
	CreatedAt      int64  // Unix milliseconds, as every time below
	UpdatedAt      int64
	LastActiveAt   int64
	AbandonAt      int64 // absolute end
	LastVerifiedAt int64 // the last time its owner proved the address: sign-in or reverification
	IsMobile       bool
}

// The layout: a version byte, then strings, each a uvarint length and
// its bytes, then times as varints, then (version 2) a flags byte.
// Version 1: ID, UserID, ClientID and Status; CreatedAt, UpdatedAt,
// LastActiveAt and AbandonAt. Version 2 adds the four activity strings
// and LastVerifiedAt; flag 1 is IsMobile. Version 1 records, written
// before version 2 existed, are read with LastVerifiedAt = CreatedAt.
const (
	sessRecVersion   = 2
	sessRecVersion1  = 1
	sessFlagIsMobile = 1
)

// marshal returns the stored form of r.
func (r *sessRec) marshal() []byte {
	strs := [...]string{r.ID, r.UserID, r.ClientID, r.Status, r.BrowserName, r.BrowserVersion, r.DeviceType, r.IPAddress}
	n := 2 + 5*binary.MaxVarintLen64
	for _, s := range strs {
		n += 2 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, sessRecVersion)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, v := range [...]int64{r.CreatedAt, r.UpdatedAt, r.LastActiveAt, r.AbandonAt, r.LastVerifiedAt} {
		b = binary.AppendVarint(b, v)
	}
	var flags byte
	if r.IsMobile {
		flags |= sessFlagIsMobile
	}
	return append(b, flags)
}

// errCorruptSession reports a session record unmarshal cannot read.
var errCorruptSession = errors.New("not a session record")

// unmarshal sets r from its stored form b. Its strings share one
// allocation.
func (r *sessRec) unmarshal(b []byte) error {
	if len(b) == 0 || (b[0] != sessRecVersion && b[0] != sessRecVersion1) {
		return errCorruptSession
	}
	v2 := b[0] == sessRecVersion
	nStr, nInt := 4, 4
	if v2 {
		nStr, nInt = 8, 5
	}
	i := 1
	var spans [8][2]int
	for k := range nStr {
		n, w := binary.Uvarint(b[i:])
		if w <= 0 || n > uint64(len(b)-i-w) {
			return errCorruptSession
		}
		i += w
		spans[k] = [2]int{i, i + int(n)}
		i += int(n)
	}
	var ints [5]int64
	for k := range nInt {
		v, w := binary.Varint(b[i:])
		if w <= 0 {
			return errCorruptSession
		}
		ints[k] = v
		i += w
	}
	var flags byte
	if v2 {
		if i >= len(b) {
			return errCorruptSession
		}
		flags = b[i]
		i++
	} else {
		ints[4] = ints[0]
	}
	if i != len(b) {
		return errCorruptSession
	}
	base := spans[0][0]
	strs := string(b[base:spans[nStr-1][1]])
	str := func(k int) string {
		if k >= nStr {
			return ""
		}
		return strs[spans[k][0]-base : spans[k][1]-base]
	}
	*r = sessRec{ID: str(0), UserID: str(1), ClientID: str(2), Status: str(3),
		BrowserName: str(4), BrowserVersion: str(5), DeviceType: str(6), IPAddress: str(7),
		CreatedAt: ints[0], UpdatedAt: ints[1], LastActiveAt: ints[2], AbandonAt: ints[3], LastVerifiedAt: ints[4],
		IsMobile: flags&sessFlagIsMobile != 0}
	return nil
}

// MarshalJSON refuses: a session record's one stored form is marshal's.
// It keeps the generic JSON encode from writing a second one.
func (sessRec) MarshalJSON() ([]byte, error) {
	return nil, errors.New("magiclink: session records are stored with sessRec.marshal")
}

// loadSession reads and decodes the session record at key, for a
// compare-and-swap write back. A missing key is store.ErrNotFound.
func loadSession(ctx context.Context, st store.Store, key string) (*loaded[sessRec], error) {
	raw, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	l := &loaded[sessRec]{key: key, raw: raw}
	if err := l.v.unmarshal(raw); err != nil {
		return nil, corruptRecord(key, err)
	}
	return l, nil
}
