package magiclink

import (
	"context"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// SignInStatus is the state of a SignIn.
type SignInStatus string

// Sign-in statuses, as Clerk's.
const (
	SignInNeedsIdentifier  SignInStatus = "needs_identifier"
	SignInNeedsFirstFactor SignInStatus = "needs_first_factor"
	SignInComplete         SignInStatus = "complete"
	SignInAbandoned        SignInStatus = "abandoned"
)

// FirstFactor is a way a sign-in can be verified.
type FirstFactor struct {
	Strategy       string
	SafeIdentifier string
	EmailAddressID string
}

// SignIn is a sign-in attempt (Clerk's sign_in_attempt): an identifier,
// the way to verify it, and, once complete, the session it created.
type SignIn struct {
	ID                      string
	Status                  SignInStatus
	Identifier              string
	SupportedFirstFactors   []FirstFactor
	FirstFactorVerification *Verification
	CreatedSessionID        string
	CreatedAt               time.Time
	UpdatedAt               time.Time
	AbandonAt               time.Time

	handout
}

// SignInParams are the parameters of SignIns.Create.
type SignInParams struct {
	// Identifier is the email address to sign in with.
	Identifier string
	// Strategy is empty, "email_link", or "ticket" to sign in with a
	// sign-in token.
	Strategy string
	// Ticket is the sign-in token, for strategy "ticket".
	Ticket string
	// Locale is the language the flow's emails and pages are written in,
	// unless the user has stored one: a BCP 47 tag ("de") or an
	// Accept-Language value, best first. Empty or unmatched: the
	// default locale.
	Locale string
}

// SignIns creates and drives sign-in attempts.
type SignIns struct{ a *Auth }

// Create starts a sign-in for client. With an identifier it answers
// needs_first_factor, the same way whether or not the address has an
// account (unless enumeration protection is off). With strategy "ticket"
// it redeems a sign-in token and answers complete with a new session.
func (s *SignIns) Create(ctx context.Context, client *Client, p SignInParams) (*SignIn, error) {
	ctx = client.context(ctx)
	if client == nil {
		return nil, paramMissing("client")
	}
	// Ambiguous input is refused, never half read: a ticket is redeemed
	// only when strategy says so, and never alongside an identifier.
	if p.Ticket != "" && p.Identifier != "" {
		return nil, paramsConflict("identifier_or_ticket", "identifier", "ticket")
	}
	if p.Ticket != "" && p.Strategy != StrategyTicket {
		return nil, paramsConflict("ticket_strategy", "strategy", "ticket")
	}
	switch p.Strategy {
	case StrategyTicket:
		return s.a.redeemTicket(ctx, client, p.Ticket)
	case "", StrategyEmailLink:
	default:
		return nil, paramValue("strategy", "strategy_link_or_ticket")
	}
	addr, err := parseAddress("identifier", p.Identifier)
	if err != nil {
		return nil, err
	}
	if err := s.a.allowCreate(ctx); err != nil {
		return nil, err
	}
	return retryApplyOr(userChanged, func() (*SignIn, error) {
		owner, raw, err := s.a.lookupAddress(ctx, addr)
		if err != nil {
			return nil, err
		}
		now := s.a.now()
		f := flowRec{ID: newID(prefixSignIn), Kind: kindSignIn, ClientID: client.ID, Status: string(SignInNeedsFirstFactor),
			Address: addr, Locale: s.a.cat.Match(p.Locale), CreatedAt: ms(now), UpdatedAt: ms(now), AbandonAt: ms(now.Add(flowLifetime))}
		var more []store.Op
		if owner != nil {
			f.UserID, f.EmailAddressID = owner.UserID, owner.EmailAddressID
			// The flow names the user: indexed for its deletion, which
			// this Apply must not miss (hence the check).
			more = []store.Op{userFlowIndex(&f), store.Check(keyAddress+addressKey(addr), raw)}
		} else {
			if s.a.cfg.DisableEnumerationProtection {
				return nil, identifierNotFound()
			}
			// A decoy id, indistinguishable from a real one and as stable
			// (see decoy.go).
			f.EmailAddressID = s.a.decoyID(addr)
		}
		ops := append([]store.Op{store.Insert(keySignIn+f.ID, encode(f), flowExpiry(&f))}, more...)
		if err := s.a.st.Apply(ctx, client.withSave(ops)...); err != nil {
			return nil, err // a conflict: another round
		}
		client.saved()
		return s.a.signIn(&f, client), nil
	})
}

// Get returns the sign-in with id if client started it; to anyone else
// it does not exist. It only reads: the session a complete sign-in
// created is handed out by SignIn.ClaimSession alone.
func (s *SignIns) Get(ctx context.Context, client *Client, id string) (*SignIn, error) {
	return s.Wait(ctx, client, id, 0)
}

// Wait is Get as a long poll: it answers as soon as the sign-in's status
// or its verification's status changes, or after d.
func (s *SignIns) Wait(ctx context.Context, client *Client, id string, d time.Duration) (*SignIn, error) {
	f, err := s.a.waitOwnFlow(ctx, keySignIn, prefixSignIn, id, client.owns, d)
	if err != nil {
		return nil, err
	}
	return s.a.signIn(f, client), nil
}

// PrepareVerification sends a magic link for the sign-in (Clerk's
// prepare_first_factor). A new link supersedes earlier ones.
func (si *SignIn) PrepareVerification(ctx context.Context, p PrepareParams) (*SignIn, error) {
	f, err := si.prepareLink(ctx, "sign in", true, p)
	if err != nil {
		return nil, err
	}
	return si.a.signIn(f, si.client), nil
}

// AttemptFirstFactor completes the sign-in with the code from its email
// (Clerk's attempt_first_factor, strategy email_code), on behalf of the
// client that started it: to anyone else the sign-in does not exist. A
// right code completes it, exactly as confirming its link in this browser
// does, and ClaimSession on the result returns the new session. A wrong
// code is a form_code_incorrect error (ErrCodeIncorrect, with
// Meta["remaining_attempts"], an int), a malformed one (not the
// configured number of digits) form_param_format_invalid; both count as
// one of MaxCodeAttempts. The wrong code that uses up the last attempt
// fails the verification: its error is also ErrVerificationFailed
// (errors.Is), and every later attempt is verification_failed, so ask
// for a new code (PrepareVerification) rather than for the same one
// again. An expired code is verification_expired (ErrExpired).
func (si *SignIn) AttemptFirstFactor(ctx context.Context, p AttemptParams) (*SignIn, error) {
	ctx = si.client.context(ctx)
	f, fresh, err := si.attempt(ctx, "sign in", p)
	if f == nil {
		return nil, err
	}
	return holding(si.a.signIn(f, si.client), fresh), err
}

// StartMagicLinkFlow sends a magic link, then blocks until the link is
// confirmed (the sign-in is complete), expires or fails, or ctx ends.
// Cancel ctx to stop waiting. The returned sign-in's verification status
// says which.
func (si *SignIn) StartMagicLinkFlow(ctx context.Context, p FlowParams) (*SignIn, error) {
	return startFlow(ctx, si.a, keySignIn+si.ID, p, si.PrepareVerification, func(f *flowRec) *SignIn { return si.a.signIn(f, si.client) })
}

// ClaimSession returns the session this sign-in created for its client,
// with the token to set as its cookie; nil when there is none to hand
// out: not complete, or already handed out to the browser that confirmed
// the link, or already in use. Reads (Get, Wait, StartMagicLinkFlow)
// never hand it out, so call ClaimSession only where its token reaches
// the browser (see Auth.SetSessionCookie).
//
// A claim whose token never reached the browser (a dropped answer) can
// be made again by the same client until the session is first used or
// the sign-in is abandoned: each claim gives the session a new token,
// and the earlier one stops working.
func (si *SignIn) ClaimSession(ctx context.Context) (*NewSession, error) {
	return si.take(ctx, si.Status == SignInComplete)
}

func (a *Auth) signIn(f *flowRec, client *Client) *SignIn {
	var factors []FirstFactor
	for _, s := range a.factors() {
		factors = append(factors, FirstFactor{Strategy: s, SafeIdentifier: f.Address, EmailAddressID: f.EmailAddressID})
	}
	si := &SignIn{ID: f.ID, Status: SignInStatus(f.Status), Identifier: f.Address,
		SupportedFirstFactors:   factors,
		FirstFactorVerification: a.verification(f.Ver, f.ClientID),
		CreatedAt:               fromMS(f.CreatedAt), UpdatedAt: fromMS(f.UpdatedAt), AbandonAt: fromMS(f.AbandonAt),
		handout: handout{a: a, client: client, key: keySignIn + f.ID}}
	if f.SessionID != "" && f.Status == string(SignInComplete) {
		si.CreatedSessionID = f.SessionID
	}
	if f.abandoned(a.now()) {
		si.Status = SignInAbandoned
	}
	if f.Ver != nil && f.Ver.Strategy == StrategyTicket {
		si.SupportedFirstFactors = nil
	}
	return si
}

// waitOwnFlow returns the flow with id if owns says it belongs to the
// caller, as waitFlow does (at once when d <= 0, reusing the read that
// checked the owner); to anyone else it is resource_not_found.
func (a *Auth) waitOwnFlow(ctx context.Context, keyPrefix, idPrefix, id string, owns func(*flowRec) bool, d time.Duration) (*flowRec, error) {
	what := flowKindOf(keyPrefix)
	if !validID(id, idPrefix) {
		return nil, notFound(what)
	}
	l, err := load[flowRec](ctx, a.st, keyPrefix+id)
	if isNotFound(err) {
		return nil, notFound(what)
	}
	if err != nil {
		return nil, err
	}
	if !owns(&l.v) {
		return nil, notFound(what)
	}
	if d <= 0 {
		return &l.v, nil
	}
	f, err := a.waitFlow(ctx, keyPrefix+id, d)
	if isNotFound(err) {
		return nil, notFound(what)
	}
	return f, err
}

// owns reports whether c started the flow; a nil client owns nothing.
func (c *Client) owns(f *flowRec) bool { return c != nil && f.ClientID == c.ID }
