package magiclink

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// EmailAddress is one address of a user, with its verification.
type EmailAddress struct {
	ID           string
	EmailAddress string
	UserID       string
	// Verification is nil until a verification is prepared.
	Verification *Verification
	CreatedAt    time.Time
	UpdatedAt    time.Time

	a *Auth
}

// EmailAddressParams are the parameters of EmailAddresses.Create.
type EmailAddressParams struct {
	EmailAddress string
	// Locale is the language the flow's emails and pages are written in,
	// unless the user has stored one: a BCP 47 tag ("de") or an
	// Accept-Language value, best first. Empty or unmatched: the
	// default locale.
	Locale string
}

// EmailAddresses adds addresses to users and verifies them.
type EmailAddresses struct{ a *Auth }

// maxAddresses bounds how many addresses one user may have.
const maxAddresses = 20

// Create adds an unverified address to the user with userID. An address
// the user already has is a form_identifier_exists error.
//
// An address another account has verified is, with enumeration
// protection on (the default), added exactly like a new one: a pending
// address whose verification can never succeed, whose prepare sends its
// owner a notice instead of a link. With protection off it is a
// form_identifier_exists error. The cap on a user's addresses and the
// per-user and per-IP limits (Limits.UserAddressesPerHour,
// Limits.IPCreatesPer10s) are checked before anything about the address.
func (es *EmailAddresses) Create(ctx context.Context, userID string, p EmailAddressParams) (*EmailAddress, error) {
	addr, err := parseAddress("email_address", p.EmailAddress)
	if err != nil {
		return nil, err
	}
	counted := false // one add is counted once, however often a conflict makes the loop go round
	return retryApplyOr(userChanged, func() (*EmailAddress, error) {
		lu, err := es.a.loadUser(ctx, userID) // a user being deleted is absent
		if err != nil {
			return nil, err
		}
		if len(lu.v.EmailAddressIDs) >= maxAddresses {
			return nil, paramInvalid("email_address", "too_many_addresses", "n", strconv.Itoa(maxAddresses))
		}
		now := es.a.now()
		if !counted {
			if err := es.a.allowAdd(ctx, userID, now); err != nil {
				return nil, err
			}
			counted = true
		}
		u, err := es.a.user(ctx, &lu.v)
		if err != nil {
			return nil, err
		}
		for _, e := range u.EmailAddresses {
			if addressKey(e.EmailAddress) == addressKey(addr) {
				return nil, identifierExists()
			}
		}
		owner, raw, err := es.a.lookupAddress(ctx, addr)
		if err != nil {
			return nil, err
		}
		if owner != nil && es.a.cfg.DisableEnumerationProtection {
			return nil, identifierExists()
		}
		f := flowRec{ID: newAddressID(), Kind: kindEmail, Status: "active", Address: addr, UserID: userID,
			Locale: es.a.cat.Match(lu.v.Locale, p.Locale), CreatedAt: ms(now), UpdatedAt: ms(now)}
		ur := lu.v
		ur.EmailAddressIDs = append(append([]string(nil), ur.EmailAddressIDs...), f.ID)
		ur.UpdatedAt = ms(now)
		u.EmailAddresses = append(u.EmailAddresses, es.a.emailAddress(&f))
		u.UpdatedAt = now
		err = es.a.apply(ctx, append(es.a.emit(ctx, EventUserUpdated, userID, u, now),
			lu.swap(ur, time.Time{}),
			store.Check(keyAddress+addressKey(addr), raw),
			store.Insert(keyEmail+f.ID, encode(f), time.Time{}))...)
		if err != nil {
			return nil, err // a conflict: another round
		}
		return es.a.emailAddress(&f), nil
	})
}

// Get returns the address with id if it belongs to the user with userID.
func (es *EmailAddresses) Get(ctx context.Context, userID, id string) (*EmailAddress, error) {
	return es.Wait(ctx, userID, id, 0)
}

// Wait is Get as a long poll: it answers as soon as the verification's
// status changes, or after d.
func (es *EmailAddresses) Wait(ctx context.Context, userID, id string, d time.Duration) (*EmailAddress, error) {
	f, err := es.a.waitOwnFlow(ctx, keyEmail, prefixEmail, id, func(f *flowRec) bool { return f.UserID == userID }, d)
	if err != nil {
		return nil, err
	}
	return es.a.emailAddress(f), nil
}

// PrepareVerification sends a magic link verifying the address, bound to
// client (the browser asking). A new link supersedes earlier ones.
func (e *EmailAddress) PrepareVerification(ctx context.Context, client *Client, p PrepareParams) (*EmailAddress, error) {
	return e.forClient(ctx, client, func(ctx context.Context) (*flowRec, error) {
		return e.a.prepare(ctx, keyEmail+e.ID, client, func(f *flowRec) error {
			if f.UserID != e.UserID {
				return notFound("email address")
			}
			if f.Ver != nil && f.Ver.Status == string(VerificationVerified) {
				return flowConflict("address_verified")
			}
			f.ClientID = client.ID
			return nil
		}, p)
	})
}

// AttemptVerification verifies the address with the code from its email
// (strategy email_code), typed in the browser that prepared the
// verification (client): to any other client the address's verification
// does not exist. Errors are as for SignIn.AttemptFirstFactor.
func (e *EmailAddress) AttemptVerification(ctx context.Context, client *Client, p AttemptParams) (*EmailAddress, error) {
	return e.forClient(ctx, client, func(ctx context.Context) (*flowRec, error) {
		f, _, err := e.a.attemptCode(ctx, keyEmail+e.ID, func(f *flowRec) error {
			if f.UserID != e.UserID || !client.owns(f) {
				return notFound("email address")
			}
			return nil
		}, client.ID, p)
		return f, err
	})
}

// forClient runs op on the address's verification for client (the
// browser asking, required) and answers the address as op leaves it,
// with op's error (a wrong code comes with the flow); nil where op
// returns no flow.
func (e *EmailAddress) forClient(ctx context.Context, client *Client, op func(context.Context) (*flowRec, error)) (*EmailAddress, error) {
	ctx = client.context(ctx)
	if client == nil {
		return nil, paramMissing("client")
	}
	f, err := op(ctx)
	if f == nil {
		return nil, err
	}
	return e.a.emailAddress(f), err
}

// StartMagicLinkFlow sends a magic link, then blocks until it is
// confirmed, expires or fails, or ctx ends.
func (e *EmailAddress) StartMagicLinkFlow(ctx context.Context, client *Client, p FlowParams) (*EmailAddress, error) {
	prepare := func(ctx context.Context, pp PrepareParams) (*EmailAddress, error) {
		return e.PrepareVerification(ctx, client, pp)
	}
	return startFlow(ctx, e.a, keyEmail+e.ID, p, prepare, e.a.emailAddress)
}

func (a *Auth) emailAddress(f *flowRec) *EmailAddress {
	return &EmailAddress{ID: f.ID, EmailAddress: f.Address, UserID: f.UserID,
		Verification: a.verification(f.Ver, f.ClientID),
		CreatedAt:    fromMS(f.CreatedAt), UpdatedAt: fromMS(f.UpdatedAt), a: a}
}

// Delete removes the address with id from the user with userID; an
// address of anyone else is resource_not_found. The primary address
// cannot be removed (make another verified address primary first), so a
// user always keeps at least one verified address. A verified address
// removed is free for anyone to sign up with again.
func (es *EmailAddresses) Delete(ctx context.Context, userID, id string) error {
	_, err := retryApplyOr(userChanged, func() (*User, error) {
		lu, err := es.a.loadUser(ctx, userID)
		if err != nil {
			return nil, err
		}
		if !validID(id, prefixEmail) || !slices.Contains(lu.v.EmailAddressIDs, id) {
			return nil, notFound("email address")
		}
		if id == lu.v.PrimaryEmailAddressID {
			return nil, primaryNotDeletable()
		}
		le, err := load[flowRec](ctx, es.a.st, keyEmail+id)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		ur := lu.v
		now := es.a.now()
		ur.EmailAddressIDs = slices.DeleteFunc(slices.Clone(ur.EmailAddressIDs), func(x string) bool { return x == id })
		ur.UpdatedAt = ms(now)
		after, err := es.a.user(ctx, &ur)
		if err != nil {
			return nil, err
		}
		ops := append(es.a.emit(ctx, EventUserUpdated, userID, after, now), lu.swap(ur, noExpiry), store.Delete(keyOutbox+id))
		if le != nil {
			more, err := es.a.forgetAddress(ctx, le)
			if err != nil {
				return nil, err
			}
			ops = append(ops, more...)
		}
		if err := es.a.apply(ctx, ops...); err != nil {
			return nil, err // a conflict: another round
		}
		return after, nil
	})
	return err
}

// forgetAddress returns the ops that delete the address record l and,
// if it is the verified owner of its address, the address's index entry.
func (a *Auth) forgetAddress(ctx context.Context, l *loaded[flowRec]) ([]store.Op, error) {
	ops := []store.Op{store.DeleteIf(l.key, l.raw)}
	owner, raw, err := a.lookupAddress(ctx, l.v.Address)
	if err != nil {
		return nil, err
	}
	if owner != nil && owner.EmailAddressID == l.v.ID {
		ops = append(ops, store.DeleteIf(keyAddress+addressKey(l.v.Address), raw))
	}
	return ops, nil
}

// SetPrimary makes the verified address with id the primary address of
// the user with userID, and sends the previous primary address a notice.
// It checks nothing about who asks: the Frontend API asks for a recent
// verification first.
func (es *EmailAddresses) SetPrimary(ctx context.Context, userID, id string) (*User, error) {
	return es.a.changeUser(ctx, userID, func(r *userRec) ([]store.Op, error) {
		if id == r.PrimaryEmailAddressID {
			return nil, nil
		}
		return es.a.setPrimary(ctx, r, id)
	})
}

// addressChanged returns the ops that emit user.updated for the change of
// the owner's address f (as it will be written) at now, with a check that
// the user is as read, so that the event shows the user as changed.
func (a *Auth) addressChanged(ctx context.Context, f *flowRec, now time.Time) ([]store.Op, error) {
	lu, err := load[userRec](ctx, a.st, keyUser+f.UserID)
	if isNotFound(err) || (err == nil && lu.v.Deleted) {
		return nil, nil // the user is gone or going: nothing to tell
	}
	if err != nil {
		return nil, err
	}
	u, err := a.user(ctx, &lu.v)
	if err != nil {
		return nil, err
	}
	for i, e := range u.EmailAddresses {
		if e.ID == f.ID {
			u.EmailAddresses[i] = a.emailAddress(f)
		}
	}
	return append(a.emit(ctx, EventUserUpdated, u.ID, u, now), store.Check(lu.key, lu.raw)), nil
}
