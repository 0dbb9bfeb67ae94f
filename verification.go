package magiclink

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// VerificationStatus is the state of a Verification.
type VerificationStatus string

// Verification statuses, as Clerk's.
const (
	VerificationUnverified VerificationStatus = "unverified"
	VerificationVerified   VerificationStatus = "verified"
	VerificationExpired    VerificationStatus = "expired"
	VerificationFailed     VerificationStatus = "failed"
)

// Verification strategies.
const (
	StrategyEmailLink = "email_link"
	StrategyEmailCode = "email_code"
	StrategyTicket    = "ticket"
)

// Verification is the state of one proof of an email address: an email
// carrying a magic link and a one-time code (strategy email_link or
// email_code, as prepared; either completes it), or a sign-in token
// (strategy ticket).
type Verification struct {
	Status   VerificationStatus
	Strategy string
	Attempts int
	ExpireAt time.Time
	// VerifiedFromTheSameClient says whether the link was confirmed in the
	// browser that started the flow.
	VerifiedFromTheSameClient bool
}

func (a *Auth) verification(v *verRec, originClient string) *Verification {
	if v == nil {
		return nil
	}
	return &Verification{
		Status:                    v.status(a.now()),
		Strategy:                  v.Strategy,
		Attempts:                  v.Attempts,
		ExpireAt:                  fromMS(v.ExpireAt),
		VerifiedFromTheSameClient: v.VerifiedClientID != "" && v.VerifiedClientID == originClient,
	}
}

// LinkStatus is the outcome of confirming a magic link.
type LinkStatus string

// Outcomes of ConfirmLink.
const (
	// LinkVerified: the link was live and its flow is complete.
	LinkVerified LinkStatus = "verified"
	// LinkExpired: the link was known but past its expiry.
	LinkExpired LinkStatus = "expired"
	// LinkFailed: the link was unknown, used or superseded.
	LinkFailed LinkStatus = "failed"
	// LinkClientMismatch: the link was confirmed in another browser than
	// the one that asked for it, with same-client binding on; nothing was
	// used up.
	LinkClientMismatch LinkStatus = "client_mismatch"
)

// LinkResult is what confirming a magic link did.
type LinkResult struct {
	Status LinkStatus
	// RedirectURL is the flow's stored redirect_url, or the configured
	// fallback when the token is unknown.
	RedirectURL string
	// FlowID is the sign-in, sign-up or email address the link belongs to;
	// empty when the token is unknown.
	FlowID string
	// SessionID is the session the flow created, if any, wherever it went.
	SessionID string
	// NewSession is set only when the confirming client received the
	// session: set its cookie from NewSession.Token.
	NewSession *NewSession
}

// PrepareParams are the parameters of PrepareVerification.
type PrepareParams struct {
	// Strategy is "email_link" (or empty) or "email_code". Either way
	// the email carries what Config.EmailCodes allows: the link, the
	// code, or both; the strategy is what the verification reports.
	Strategy string
	// EmailAddressID, for a sign-in, must be the id from the sign-in's
	// supported first factors, or empty.
	EmailAddressID string
	// RedirectURL is where the link lands after confirmation: a
	// same-origin path or a URL on Config.RedirectOrigins.
	RedirectURL string
}

// FlowParams are the parameters of StartMagicLinkFlow.
type FlowParams struct {
	// RedirectURL is as PrepareParams.RedirectURL.
	RedirectURL string
}

// linkURL returns the confirm-page link carrying token.
func (a *Auth) linkURL(token string) string {
	return a.url(a.cfg.Prefix + "/verify?token=" + url.QueryEscape(token))
}

// pending reports whether a flow still waits for its link.
func (f *flowRec) pending() bool {
	switch f.Kind {
	case kindSignIn:
		return f.Status == string(SignInNeedsFirstFactor)
	case kindSignUp:
		return f.Status == string(SignUpMissingRequirements)
	default:
		// An address can be verified until it is: a verification whose
		// email could not be sent, or that failed after too many wrong
		// codes, can be prepared again.
		return f.Ver == nil || f.Ver.Status != string(VerificationVerified)
	}
}

// abandoned reports whether a sign-in or sign-up is past its abandon
// time without completing.
func (f *flowRec) abandoned(now time.Time) bool {
	return f.AbandonAt != 0 && !now.Before(fromMS(f.AbandonAt)) && f.pending()
}

// flowExpiry is how long a flow record is kept: a day past its abandon
// time, so that late requests get a clear answer.
func flowExpiry(f *flowRec) time.Time {
	if f.AbandonAt == 0 {
		return time.Time{}
	}
	return fromMS(f.AbandonAt).Add(flowLifetime)
}

// prepare starts a new email verification of the flow at key, which
// supersedes the previous one, and queues its message in the outbox in
// the same Apply; the sender mints the link and delivers it. It returns
// the updated flow without waiting for the mail server.
//
// client, when not nil, is the client the verification is bound to: if it
// is not stored yet, it is stored in the same Apply.
func (a *Auth) prepare(ctx context.Context, key string, client *Client, check func(*flowRec) error, p PrepareParams) (*flowRec, error) {
	strategy, err := a.prepareStrategy(p.Strategy)
	if err != nil {
		return nil, err
	}
	redirect, err := a.checkRedirect(p.RedirectURL)
	if err != nil {
		return nil, err
	}
	counted := false
	return retryApply("preparing "+key, func() (*flowRec, error) {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			if isNotFound(err) {
				return nil, notFound(string(flowKindOf(key)))
			}
			return nil, err
		}
		f := l.v
		now := a.now()
		if err := check(&f); err != nil {
			return nil, err
		}
		if f.abandoned(now) || !f.pending() {
			return nil, flowConflict("done." + string(f.Kind))
		}
		// One send is counted once, however often a conflict (such as
		// the sender writing the flow) makes this loop go round.
		if !counted {
			user := ""
			if f.Kind == kindEmail {
				user = f.UserID
			}
			if err := a.allowSend(ctx, f.Address, user, now); err != nil {
				return nil, err
			}
			counted = true
		}
		kind, ops, err := a.recipient(ctx, &f)
		if err != nil {
			return nil, err
		}
		// The link's token is minted when the message is sent (see
		// outbox.go): until then the verification has no live link, so
		// every earlier one is superseded now.
		f.Ver = &verRec{Strategy: strategy, Status: string(VerificationUnverified), ExpireAt: ms(now.Add(a.cfg.LinkTTL)), SendID: newID(""),
			NoCode: kind == mailer.KindNoAccount || kind == mailer.KindAddressInUse}
		f.RedirectURL = redirect
		f.Asked = requesterFrom(ctx, now)
		f.UpdatedAt = ms(now)
		ops = append(ops, l.swap(f, flowExpiry(&f)), a.outboxPut(key, &f, kind, now))
		if client != nil {
			ops = client.withSave(ops)
		}
		if err := a.st.Apply(ctx, ops...); err != nil {
			return nil, err
		}
		if client != nil {
			client.saved()
		}
		a.sender.kick()
		a.observeFlow(ctx, f.Kind, strategy, "started")
		return &f, nil
	})
}

// recipient decides which message a flow's link goes out as, refreshing
// what the flow knows about the address's account. The ops it returns
// make the Apply fail if that knowledge goes stale.
func (a *Auth) recipient(ctx context.Context, f *flowRec) (mailer.Kind, []store.Op, error) {
	switch f.Kind {
	case kindSignIn, kindSignUp:
		owner, raw, err := a.lookupAddress(ctx, f.Address)
		if err != nil {
			return "", nil, err
		}
		check := store.Check(keyAddress+addressKey(f.Address), raw)
		if owner != nil {
			// A banned account's owner is told it is suspended; to
			// anyone else the answer looks like any sign-in.
			banned, err := a.userBanned(ctx, owner.UserID)
			if err != nil {
				return "", nil, err
			}
			kind := mailer.KindSignIn
			if f.Kind == kindSignUp {
				if a.cfg.DisableEnumerationProtection {
					return "", nil, identifierExists()
				}
				f.Existing = true
				kind = mailer.KindSignUpExisting
			}
			// A sign-in's factor keeps the id the sign-in was created
			// with, so that every answer about it names the same one.
			f.UserID = owner.UserID
			if banned {
				kind = mailer.KindAccountSuspended
			}
			return kind, []store.Op{check, userFlowIndex(f)}, nil
		}
		if f.Kind == kindSignIn {
			f.UserID = ""
			return mailer.KindNoAccount, []store.Op{check}, nil
		}
		f.Existing, f.UserID = false, ""
		return mailer.KindSignUp, []store.Op{check}, nil
	case kindReverify:
		return mailer.KindReverification, nil, nil
	default:
		// An address another account has verified gets a notice instead
		// of a link (see EmailAddresses.Create).
		owner, raw, err := a.lookupAddress(ctx, f.Address)
		if err != nil {
			return "", nil, err
		}
		check := []store.Op{store.Check(keyAddress+addressKey(f.Address), raw)}
		if owner != nil && owner.UserID != f.UserID {
			return mailer.KindAddressInUse, check, nil
		}
		return mailer.KindVerifyEmail, check, nil
	}
}

// lookupAddress returns the verified owner of addr, or nil, with the raw
// index record (nil when absent) for a Check.
func (a *Auth) lookupAddress(ctx context.Context, addr string) (*addrRec, []byte, error) {
	l, err := load[addrRec](ctx, a.st, keyAddress+addressKey(addr))
	if isNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &l.v, l.raw, nil
}

// ConfirmLink consumes a magic-link token on behalf of client (nil for a
// browser without a client cookie). It is what the confirm page's POST
// does; opening a link never calls it. A token is used at most once: of
// any number of concurrent confirmations exactly one is verified.
//
// The error is non-nil only for store failures; every outcome a user can
// cause is a LinkResult.
func (a *Auth) ConfirmLink(ctx context.Context, token string, client *Client) (*LinkResult, error) {
	fallback := &LinkResult{Status: LinkFailed, RedirectURL: a.cfg.FallbackURL}
	if !validToken(token) {
		return fallback, nil
	}
	hash := hashToken(token)
	clientID := ""
	if client != nil {
		clientID = client.ID
	}
	return retryApply("confirming a link", func() (*LinkResult, error) {
		ll, err := load[linkRec](ctx, a.st, keyLink+hash)
		if isNotFound(err) {
			return fallback, nil
		}
		if err != nil {
			return nil, err
		}
		link := ll.v
		res := &LinkResult{Status: LinkFailed, RedirectURL: link.RedirectURL}
		if res.RedirectURL == "" {
			res.RedirectURL = a.cfg.FallbackURL
		}
		lf, err := load[flowRec](ctx, a.st, link.FlowKey)
		if isNotFound(err) {
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		f := lf.v
		res.FlowID = f.ID
		now := a.now()
		if dead := deadLink(&link, &f, hash, now); dead != "" {
			if dead == LinkExpired {
				a.observeFlow(ctx, f.Kind, StrategyEmailLink, "expired")
			}
			res.Status = dead
			return res, nil
		}
		if clientID != link.ClientID && !a.cfg.AllowCrossClient {
			res.Status = LinkClientMismatch
			return res, nil
		}
		f.Ver.Attempts++
		// Single use comes from the flow's compare-and-swap below: of
		// concurrent confirmations only one moves the flow on, and a
		// settled verification kills the link (deadLink). The link record
		// itself is only checked, so a confirmation dirties one page less.
		ops := []store.Op{store.Check(ll.key, ll.raw)}
		more, fresh, err := a.settle(ctx, &f, clientID, now)
		if err != nil {
			return nil, err
		}
		ops = append(append(ops, more...), lf.swap(f, flowExpiry(&f)))
		if err := a.apply(ctx, ops...); err != nil {
			return nil, err
		}
		if f.Ver.Status == string(VerificationVerified) {
			res.Status = LinkVerified
		}
		a.observeSettled(ctx, &f, StrategyEmailLink)
		res.SessionID = f.SessionID
		res.NewSession = fresh
		return res, nil
	})
}

// settle completes the flow f, whose verification clientID has just
// proven (by confirming its link or typing its code) at now: the
// verification is verified, and a sign-in or sign-up completes with a new
// session, handed to clientID when it started the flow (fresh). When
// there is no account to sign in to (it is gone, or never was), or an
// added address was verified by another account first, the verification
// fails instead, used up all the same. It returns the ops that go with
// writing f back; the caller writes f in the same Apply.
func (a *Auth) settle(ctx context.Context, f *flowRec, clientID string, now time.Time) (ops []store.Op, fresh *NewSession, err error) {
	f.Ver.Status = string(VerificationVerified)
	f.Ver.VerifiedClientID = clientID
	f.UpdatedAt = ms(now)
	var ok bool
	switch f.Kind {
	case kindSignIn, kindSignUp:
		if ops, ok, err = a.completeAccount(ctx, f, now); err != nil || !ok {
			f.Ver.Status = string(VerificationFailed)
			return nil, nil, err
		}
		f.SessionID = newID(prefixSession)
		if clientID == f.ClientID {
			var sops []store.Op
			fresh, sops = a.newSession(ctx, f.SessionID, f.UserID, clientID, now, false)
			ops = append(ops, sops...)
			f.SessionClaimed = true
		}
	case kindEmail:
		if ops, ok, err = a.completeEmail(ctx, f); err != nil {
			return nil, nil, err
		}
		if !ok {
			f.Ver.Status = string(VerificationFailed)
			break
		}
		more, err := a.addressChanged(ctx, f, now)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, more...)
	case kindReverify:
		if ops, ok, err = a.completeReverify(ctx, f, now); err != nil {
			return nil, nil, err
		}
		if !ok {
			f.Ver.Status = string(VerificationFailed)
		}
	}
	return ops, fresh, nil
}

// deadLink says why a link can no longer be used — LinkFailed (used: its
// verification settled; or superseded by a newer prepare; or its flow
// settled) or LinkExpired — or "" when it is live. A retry of the same
// send does not supersede it. Reading it changes nothing.
func deadLink(link *linkRec, f *flowRec, hash string, now time.Time) LinkStatus {
	switch {
	case f.Ver == nil || !link.of(f.Ver, hash) || f.Ver.Status != string(VerificationUnverified) || !f.pending():
		return LinkFailed
	case !now.Before(fromMS(link.ExpireAt)) || f.abandoned(now):
		return LinkExpired
	}
	return ""
}

// completeAccount moves a verified sign-in or sign-up to complete and
// returns the ops that do so: for a sign-up of a new address, creating
// the user. ok is false when there is no account to sign in to.
func (a *Auth) completeAccount(ctx context.Context, f *flowRec, now time.Time) (ops []store.Op, ok bool, err error) {
	owner, raw, err := a.lookupAddress(ctx, f.Address)
	if err != nil {
		return nil, false, err
	}
	switch {
	case owner != nil:
		// Sign-in, or sign-up of an address that has (meanwhile) an
		// account: sign in to that account, unless it is banned or being
		// deleted. The user's record is rewritten (last_sign_in_at), so
		// a concurrent ban or deletion makes this Apply fail and look
		// again: a sign-in never resurrects a deleted user.
		lu, err := a.loadSignInUser(ctx, owner.UserID)
		if err != nil || lu == nil {
			return nil, false, err
		}
		u := lu.v
		u.LastSignInAt = ms(now)
		f.UserID = owner.UserID
		ops = append(ops, store.Check(keyAddress+addressKey(f.Address), raw), lu.swap(u, noExpiry))
	case f.Kind == kindSignIn:
		return nil, false, nil
	default:
		userID, emailID := newID(prefixUser), newAddressID()
		addr := flowRec{ID: emailID, Kind: kindEmail, Status: "active", Address: f.Address, UserID: userID,
			Ver:       &verRec{Strategy: StrategyEmailLink, Status: string(VerificationVerified), ExpireAt: f.Ver.ExpireAt, VerifiedClientID: f.Ver.VerifiedClientID},
			Locale:    f.Locale, // the address's later emails speak the sign-up's language
			CreatedAt: ms(now), UpdatedAt: ms(now)}
		user := userRec{ID: userID, PrimaryEmailAddressID: emailID, EmailAddressIDs: []string{emailID}, LastSignInAt: ms(now),
			CreatedAt: ms(now), UpdatedAt: ms(now)}
		ops = append(a.emit(ctx, EventUserCreated, userID, a.newUser(&user, &addr), now),
			store.Insert(keyAddress+addressKey(f.Address), encode(addrRec{UserID: userID, EmailAddressID: emailID}), time.Time{}),
			store.Insert(keyUser+userID, encode(user), time.Time{}),
			store.Insert(keyEmail+emailID, encode(addr), time.Time{}))
		f.UserID = userID
	}
	if f.Kind == kindSignIn {
		f.Status = string(SignInComplete)
	} else {
		f.Status = string(SignUpComplete)
	}
	return append(ops, userFlowIndex(f)), true, nil
}

// completeEmail marks an added address verified and indexes it. ok is
// false when another account verified the address first.
func (a *Auth) completeEmail(ctx context.Context, f *flowRec) (ops []store.Op, ok bool, err error) {
	owner, raw, err := a.lookupAddress(ctx, f.Address)
	if err != nil {
		return nil, false, err
	}
	if owner != nil {
		if owner.UserID != f.UserID {
			return []store.Op{store.Check(keyAddress+addressKey(f.Address), raw)}, false, nil
		}
		return []store.Op{store.Check(keyAddress+addressKey(f.Address), raw)}, true, nil
	}
	return []store.Op{store.Insert(keyAddress+addressKey(f.Address),
		encode(addrRec{UserID: f.UserID, EmailAddressID: f.ID}), time.Time{})}, true, nil
}

// waitFlow blocks until the flow at key changes its status or its
// verification's status (including by expiring), d passes, or ctx ends,
// and returns the flow as it then is. A settled flow (complete, or its
// verification no longer unverified) and d <= 0 return at once.
func (a *Auth) waitFlow(ctx context.Context, key string, d time.Duration) (*flowRec, error) {
	if d <= 0 {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			return nil, err
		}
		return &l.v, nil
	}
	var was string
	return a.watchFlow(ctx, key, d, func(f *flowRec, first bool) bool {
		if first {
			// A settled flow will not change: answer at once.
			was = a.flowState(f)
			return !f.pending() || f.abandoned(a.now()) || (f.Ver != nil && f.Ver.status(a.now()) != VerificationUnverified)
		}
		return a.flowState(f) != was
	})
}

// waitSettled blocks until the flow's verification leaves unverified
// (verified, expired or failed) or ctx ends: StartMagicLinkFlow's wait.
func (a *Auth) waitSettled(ctx context.Context, key string) (*flowRec, error) {
	return a.watchFlow(ctx, key, 0, func(f *flowRec, _ bool) bool {
		return f.Ver != nil && f.Ver.status(a.now()) != VerificationUnverified
	})
}

// startFlow is every StartMagicLinkFlow: it sends a link with prepare
// (p's redirect), then waits until the verification of the flow at key
// settles, and answers the flow as build makes it.
func startFlow[T any](ctx context.Context, a *Auth, key string, p FlowParams,
	prepare func(context.Context, PrepareParams) (T, error), build func(*flowRec) T) (T, error) {
	var zero T
	if _, err := prepare(ctx, PrepareParams{RedirectURL: p.RedirectURL}); err != nil {
		return zero, err
	}
	f, err := a.waitSettled(ctx, key)
	if err != nil {
		return zero, err
	}
	return build(f), nil
}

// watchFlow re-reads the flow at key after every change (and when its
// verification expires) until done returns true, d passes (d <= 0: no
// limit), or ctx ends. It returns the flow as last read; only ctx's end
// is an error. Waiting is event-driven: the store's Watch wakes it.
func (a *Auth) watchFlow(ctx context.Context, key string, d time.Duration, done func(f *flowRec, first bool) bool) (*flowRec, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes, err := a.st.Watch(wctx, key)
	if err != nil {
		return nil, err
	}
	a.observe(ctx, Observation{Kind: ObserveWaiting, Value: 1})
	defer a.observe(ctx, Observation{Kind: ObserveWaiting, Value: -1})
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	for first := true; ; first = false {
		l, err := load[flowRec](ctx, a.st, key)
		if err != nil {
			return nil, err
		}
		if done(&l.v, first) {
			if v := l.v.Ver; !first && v != nil && v.Status == string(VerificationVerified) {
				// Woken by the confirmation, which last wrote the flow.
				a.observe(ctx, Observation{Kind: ObserveWake, Duration: a.now().Sub(fromMS(l.v.UpdatedAt))})
			}
			return &l.v, nil
		}
		expiry.Stop()
		var expired <-chan time.Time
		if v := l.v.Ver; v != nil && v.status(a.now()) == VerificationUnverified {
			expiry.Reset(fromMS(v.ExpireAt).Sub(a.now()) + time.Millisecond)
			expired = expiry.C
		}
		select {
		case <-changes:
		case <-expired:
		case <-timeout:
			return &l.v, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// flowState is what a waiter watches: the flow's status and its
// verification's.
func (a *Auth) flowState(f *flowRec) string {
	s := f.Status
	if f.Ver != nil {
		s += "/" + string(f.Ver.status(a.now()))
	}
	return s
}

func flowKindOf(key string) string {
	switch {
	case len(key) >= 4 && key[:4] == keySignIn:
		return "sign in"
	case len(key) >= 4 && key[:4] == keySignUp:
		return "sign up"
	case strings.HasPrefix(key, keyReverify):
		return "session verification"
	}
	return "email address"
}
