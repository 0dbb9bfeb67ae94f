package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Reverification. Sensitive changes (a new primary address, removing an
// address, deleting the account) need the session's user to have proved
// control of their primary address recently: within
// Config.ReverificationMaxAge (default 10 minutes) of the session's
// LastVerifiedAt, which signing in sets. Otherwise they are refused with
// 403 session_reverification_required, and the client runs a
// reverification — a flow like a sign-in's, bound to the session: start
// it, have a link emailed to the primary address, confirm it — which
// moves the session's LastVerifiedAt, then retries.
//
// A session has at most one reverification at a time, stored under
// keyReverify + the session's id; starting again replaces it.

// DefaultReverificationMaxAge is how recent a verification sensitive
// changes need when Config.ReverificationMaxAge is zero.
const DefaultReverificationMaxAge = 10 * time.Minute

const (
	kindReverify     flowKind = "reverify"
	keyReverify               = "sver/" // + session id: flowRec of the session's reverification
	reverifyLifetime          = time.Hour
)

// ReverificationStatus is the state of a Reverification.
type ReverificationStatus string

// Reverification statuses, as those of Clerk's session_verification.
const (
	ReverificationNeedsFirstFactor ReverificationStatus = "needs_first_factor"
	ReverificationComplete         ReverificationStatus = "complete"
	ReverificationAbandoned        ReverificationStatus = "abandoned"
)

// Reverification is a session's proof, again, that its user controls
// the primary address (Clerk's session_verification).
type Reverification struct {
	SessionID               string
	Status                  ReverificationStatus
	SupportedFirstFactors   []FirstFactor
	FirstFactorVerification *Verification
	CreatedAt               time.Time
	UpdatedAt               time.Time

	a      *Auth
	client *Client
}

// MarshalJSON encodes the reverification as Clerk's session_verification.
func (rv *Reverification) MarshalJSON() ([]byte, error) {
	factors := factorsJSON(rv.SupportedFirstFactors)
	return json.Marshal(struct {
		apiObject
		Status                  ReverificationStatus `json:"status"`
		Level                   string               `json:"level"`
		SessionID               string               `json:"session_id"`
		SupportedFirstFactors   []firstFactorJSON    `json:"supported_first_factors"`
		FirstFactorVerification *Verification        `json:"first_factor_verification"`
		stamps
	}{apiObject{"session_verification", rv.SessionID}, rv.Status, "first_factor", rv.SessionID, factors, rv.FirstFactorVerification,
		stampsOf(rv.CreatedAt, rv.UpdatedAt)})
}

// StartReverification starts (or restarts) the reverification of the
// active session s, asked for by client (the browser that will confirm
// the link). Its factor is the user's primary address.
func (ss *Sessions) StartReverification(ctx context.Context, client *Client, s *Session) (*Reverification, error) {
	if client == nil {
		return nil, paramMissing("client")
	}
	lu, err := ss.a.loadUser(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	e, err := load[flowRec](ctx, ss.a.st, keyEmail+lu.v.PrimaryEmailAddressID)
	if err != nil {
		if isNotFound(err) {
			return nil, notFound("email address")
		}
		return nil, err
	}
	now := ss.a.now()
	f := flowRec{ID: s.ID, Kind: kindReverify, ClientID: client.ID, Status: string(ReverificationNeedsFirstFactor),
		Address: e.v.Address, UserID: s.UserID, EmailAddressID: e.v.ID, SessionID: s.ID, Locale: e.v.Locale,
		CreatedAt: ms(now), UpdatedAt: ms(now), AbandonAt: ms(now.Add(reverifyLifetime))}
	if err := ss.a.st.Apply(ctx, client.withSave([]store.Op{store.Put(keyReverify+f.ID, encode(f), flowExpiry(&f)), userFlowIndex(&f)})...); err != nil {
		return nil, err
	}
	client.saved()
	return ss.a.reverification(&f, client), nil
}

// Reverification returns the reverification of the session s, as
// WaitReverification with no wait.
func (ss *Sessions) Reverification(ctx context.Context, client *Client, s *Session) (*Reverification, error) {
	return ss.WaitReverification(ctx, client, s, 0)
}

// WaitReverification returns the reverification of the session s as a
// long poll: as soon as its status or its verification's changes, or
// after d. Only the client that started it can read it.
func (ss *Sessions) WaitReverification(ctx context.Context, client *Client, s *Session, d time.Duration) (*Reverification, error) {
	f, err := ss.a.waitOwnFlow(ctx, keyReverify, prefixSession, s.ID, func(f *flowRec) bool {
		return client.owns(f) && f.UserID == s.UserID
	}, d)
	if err != nil {
		return nil, err
	}
	return ss.a.reverification(f, client), nil
}

// PrepareVerification emails a magic link (and, with Config.EmailCodes,
// a code) to the primary address; once confirmed, the session counts as
// verified now. A new email supersedes earlier ones.
func (rv *Reverification) PrepareVerification(ctx context.Context, p PrepareParams) (*Reverification, error) {
	f, err := rv.a.prepare(ctx, keyReverify+rv.SessionID, nil, func(f *flowRec) error {
		if !rv.client.owns(f) {
			return notFound("session verification")
		}
		if p.EmailAddressID != "" && p.EmailAddressID != f.EmailAddressID {
			return paramInvalid("email_address_id", "reverify_factor")
		}
		return nil
	}, p)
	if err != nil {
		return nil, err
	}
	return rv.a.reverification(f, rv.client), nil
}

// AttemptFirstFactor checks a code from the reverification email, typed
// by the client that started the reverification; a right one completes
// it, as confirming the link does. Wrong codes count, as for a sign-in's.
func (rv *Reverification) AttemptFirstFactor(ctx context.Context, p AttemptParams) (*Reverification, error) {
	ctx = rv.client.context(ctx)
	if rv.client == nil {
		return nil, paramMissing("client")
	}
	f, _, err := rv.a.attemptCode(ctx, keyReverify+rv.SessionID, func(f *flowRec) error {
		if !rv.client.owns(f) {
			return notFound("session verification")
		}
		return nil
	}, rv.client.ID, p)
	if f == nil {
		return nil, err
	}
	return rv.a.reverification(f, rv.client), err
}

// StartMagicLinkFlow sends a link, then blocks until it is confirmed,
// expires or fails, or ctx ends.
func (rv *Reverification) StartMagicLinkFlow(ctx context.Context, p FlowParams) (*Reverification, error) {
	return startFlow(ctx, rv.a, keyReverify+rv.SessionID, p, rv.PrepareVerification, func(f *flowRec) *Reverification { return rv.a.reverification(f, rv.client) })
}

func (a *Auth) reverification(f *flowRec, client *Client) *Reverification {
	var factors []FirstFactor
	for _, s := range a.factors() {
		factors = append(factors, FirstFactor{Strategy: s, SafeIdentifier: f.Address, EmailAddressID: f.EmailAddressID})
	}
	rv := &Reverification{SessionID: f.ID, Status: ReverificationStatus(f.Status),
		SupportedFirstFactors:   factors,
		FirstFactorVerification: a.verification(f.Ver, f.ClientID),
		CreatedAt:               fromMS(f.CreatedAt), UpdatedAt: fromMS(f.UpdatedAt), a: a, client: client}
	if f.abandoned(a.now()) {
		rv.Status = ReverificationAbandoned
	}
	return rv
}

// completeReverify moves a confirmed reverification to complete and
// returns the op that sets its session's LastVerifiedAt. ok is false when
// the session is no longer active.
func (a *Auth) completeReverify(ctx context.Context, f *flowRec, now time.Time) (ops []store.Op, ok bool, err error) {
	l, err := a.Sessions.byID(ctx, f.SessionID)
	if err != nil {
		if AsError(err) != nil {
			return nil, false, nil
		}
		return nil, false, err
	}
	r := l.v
	s := a.session(&r)
	if s.Status != SessionActive || r.UserID != f.UserID {
		return nil, false, nil
	}
	r.LastVerifiedAt, r.UpdatedAt = ms(now), ms(now)
	f.Status = string(ReverificationComplete)
	return []store.Op{store.Swap(l.key, l.raw, r.marshal(), fromMS(r.AbandonAt))}, true, nil
}

// reverificationMaxAge returns the configured age limit.
func (a *Auth) reverificationMaxAge() time.Duration {
	if a.cfg.ReverificationMaxAge > 0 {
		return a.cfg.ReverificationMaxAge
	}
	return DefaultReverificationMaxAge
}

// checkReverified returns a session_reverification_required error unless
// s was verified within maxAge (zero: Config.ReverificationMaxAge).
func (a *Auth) checkReverified(s *Session, maxAge time.Duration) error {
	if maxAge <= 0 {
		maxAge = a.reverificationMaxAge()
	}
	if a.now().Sub(s.LastVerifiedAt) < maxAge {
		return nil
	}
	return reverificationRequired(maxAge)
}

// RequireReverification is middleware for an app's own sensitive pages
// and routes: it lets through only requests whose session was verified
// (signed in, or reverified) within maxAge (zero: Config's
// ReverificationMaxAge, default 10 minutes), with the session in their
// context as RequireSession does. Requests without a session get 401
// authentication_invalid; those whose verification is older get 403
// session_reverification_required, after which the client runs a
// reverification (magiclink.js: withReverification) and retries.
func (a *Auth) RequireReverification(maxAge time.Duration, next http.Handler) http.Handler {
	return a.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.checkReverified(SessionFrom(r.Context()), maxAge); err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// ErrReverificationRequired is wrapped by the error refusing a sensitive
// change whose session was not verified recently enough.
var ErrReverificationRequired = errors.New("magiclink: reverification required")

func reverificationRequired(maxAge time.Duration) *Error {
	e := newError(http.StatusForbidden, "session_reverification_required", ErrReverificationRequired,
		"reverification_required", "reverification_required")
	e.Meta = map[string]any{"reverification": map[string]any{"level": "first_factor", "after_minutes": int(maxAge / time.Minute)}}
	return e
}
