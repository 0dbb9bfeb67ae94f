package magiclink

import (
	"context"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// User is an account: one or more email addresses, one of them primary.
type User struct {
	ID                    string
	PrimaryEmailAddressID string
	EmailAddresses        []*EmailAddress
	FirstName             string
	LastName              string
	// PublicMetadata is readable by the user, writable by the backend.
	PublicMetadata Metadata
	// PrivateMetadata is the backend's alone: the Frontend API never
	// shows it.
	PrivateMetadata Metadata
	// UnsafeMetadata is readable and writable by the user.
	UnsafeMetadata Metadata
	// Banned users cannot sign in; see Users.Ban.
	Banned       bool
	LastSignInAt time.Time // zero: never
	// Locale is the language the user chose for emails and pages (a
	// BCP 47 tag); empty: none, the browser's is used.
	Locale    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PrimaryEmailAddress returns the user's primary address, or "".
func (u *User) PrimaryEmailAddress() string {
	for _, e := range u.EmailAddresses {
		if e.ID == u.PrimaryEmailAddressID {
			return e.EmailAddress
		}
	}
	return ""
}

// Users reads, creates, changes, bans and deletes users.
type Users struct{ a *Auth }

// Get returns the user with id, or an ErrNotFound error.
func (us *Users) Get(ctx context.Context, id string) (*User, error) {
	l, err := us.a.loadUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return us.a.user(ctx, &l.v)
}

// loadUser reads the user with id for a compare-and-swap. A malformed
// id, an absent user and one being deleted are all resource_not_found.
func (a *Auth) loadUser(ctx context.Context, id string) (*loaded[userRec], error) {
	if !validID(id, prefixUser) {
		return nil, notFound("user")
	}
	l, err := a.loadUserRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.v.Deleted {
		return nil, notFound("user")
	}
	return l, nil
}

// loadUserRecord reads the record of the user with id for a
// compare-and-swap, the tombstone of a deletion not finished included. An
// absent user is resource_not_found.
func (a *Auth) loadUserRecord(ctx context.Context, id string) (*loaded[userRec], error) {
	l, err := load[userRec](ctx, a.st, keyUser+id)
	if isNotFound(err) {
		return nil, notFound("user")
	}
	return l, err
}

// user assembles a User from its record and its address records.
func (a *Auth) user(ctx context.Context, r *userRec) (*User, error) {
	u := &User{ID: r.ID, PrimaryEmailAddressID: r.PrimaryEmailAddressID, FirstName: r.FirstName, LastName: r.LastName,
		PublicMetadata: decodeMetadata(r.PublicMetadata), PrivateMetadata: decodeMetadata(r.PrivateMetadata),
		UnsafeMetadata: decodeMetadata(r.UnsafeMetadata), Banned: r.Banned, LastSignInAt: fromMS(r.LastSignInAt), Locale: r.Locale,
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
	for _, id := range r.EmailAddressIDs {
		l, err := load[flowRec](ctx, a.st, keyEmail+id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		u.EmailAddresses = append(u.EmailAddresses, a.emailAddress(&l.v))
	}
	return u, nil
}

// newUser is the User just created from r with its one address, as
// user.created shows it.
func (a *Auth) newUser(r *userRec, email *flowRec) *User {
	return &User{ID: r.ID, PrimaryEmailAddressID: r.PrimaryEmailAddressID, EmailAddresses: []*EmailAddress{a.emailAddress(email)},
		CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
}

// UserParams are the parameters of Users.Create.
type UserParams struct {
	// EmailAddress is the user's primary address. The app vouches for it
	// (it is created verified), as for users let in off a waitlist.
	EmailAddress string
}

// Create makes a user whose primary address is p.EmailAddress, marked
// verified. An address that already has an account is a
// form_identifier_exists error.
func (us *Users) Create(ctx context.Context, p UserParams) (*User, error) {
	addr, err := parseAddress("email_address", p.EmailAddress)
	if err != nil {
		return nil, err
	}
	now := us.a.now()
	userID, emailID := newID(prefixUser), newAddressID()
	email := flowRec{ID: emailID, Kind: kindEmail, Status: "active", Address: addr, UserID: userID,
		Ver: &verRec{Strategy: "admin", Status: string(VerificationVerified)}, CreatedAt: ms(now), UpdatedAt: ms(now)}
	user := userRec{ID: userID, PrimaryEmailAddressID: emailID, EmailAddressIDs: []string{emailID}, CreatedAt: ms(now), UpdatedAt: ms(now)}
	ops := append(us.a.emit(ctx, EventUserCreated, userID, us.a.newUser(&user, &email), now),
		store.Insert(keyAddress+addressKey(addr), encode(addrRec{UserID: userID, EmailAddressID: emailID}), time.Time{}),
		store.Insert(keyUser+userID, encode(user), time.Time{}),
		store.Insert(keyEmail+emailID, encode(email), time.Time{}))
	err = us.a.apply(ctx, ops...)
	if isConflict(err) {
		return nil, identifierExists()
	}
	if err != nil {
		return nil, err
	}
	return us.a.user(ctx, &user)
}

// FindByEmail returns the user owning the verified address addr, or an
// ErrNotFound error.
func (us *Users) FindByEmail(ctx context.Context, addr string) (*User, error) {
	owner, err := us.a.addressOwner(ctx, addr)
	if err != nil {
		return nil, err
	}
	if owner == nil {
		return nil, notFound("user")
	}
	return us.Get(ctx, owner.UserID)
}

// addressOwner parses the address raw and returns its record, nil when no
// user owns it.
func (a *Auth) addressOwner(ctx context.Context, raw string) (*addrRec, error) {
	addr, err := parseAddress("email_address", raw)
	if err != nil {
		return nil, err
	}
	owner, _, err := a.lookupAddress(ctx, addr)
	return owner, err
}

// loadSignInUser reads the record of the user with id for a
// compare-and-swap when that user may be handed a session: nil, and no
// error, when the user is absent, being deleted or banned.
func (a *Auth) loadSignInUser(ctx context.Context, id string) (*loaded[userRec], error) {
	l, err := load[userRec](ctx, a.st, keyUser+id)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil || l.v.Deleted || l.v.Banned {
		return nil, err
	}
	return l, nil
}

// userBanned reports whether the user with id is banned.
func (a *Auth) userBanned(ctx context.Context, id string) (bool, error) {
	l, err := load[userRec](ctx, a.st, keyUser+id)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return l.v.Banned, nil
}

// userFlowIndex returns the op that indexes the flow f under its user,
// so that deleting the user finds every flow naming it with a prefix
// scan. The index entry lives as long as the flow's record.
func userFlowIndex(f *flowRec) store.Op {
	return store.Put(keyUserFlow+f.UserID+"/"+flowKey(f), []byte{}, flowExpiry(f))
}

// flowKey returns the store key of the flow f.
func flowKey(f *flowRec) string {
	switch f.Kind {
	case kindSignIn:
		return keySignIn + f.ID
	case kindSignUp:
		return keySignUp + f.ID
	case kindReverify:
		return keyReverify + f.ID
	}
	return keyEmail + f.ID
}
