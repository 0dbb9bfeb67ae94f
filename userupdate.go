package magiclink

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/magiclink-go/magiclink/internal/i18n"
	"github.com/magiclink-go/magiclink/store"
)

// UserUpdate is what Users.Update changes. Nil fields are left as they
// are; a metadata object given replaces the stored one whole (an empty,
// non-nil Metadata clears it).
type UserUpdate struct {
	FirstName *string
	LastName  *string
	// PrimaryEmailAddressID makes another of the user's verified
	// addresses the primary one; the previous primary address is sent a
	// notice. Empty: unchanged.
	PrimaryEmailAddressID string
	PublicMetadata        Metadata
	PrivateMetadata       Metadata
	UnsafeMetadata        Metadata
	// Locale is the language of the user's emails and pages, a BCP 47
	// tag such as "de" or "pt-BR", stored in its canonical form; it wins
	// over the browser's. "" removes it; nil leaves it unchanged.
	Locale *string
}

// MetadataUpdate is what Users.UpdateMetadata merges into a user's
// metadata; nil objects are left as they are.
type MetadataUpdate struct {
	PublicMetadata  Metadata
	PrivateMetadata Metadata
	UnsafeMetadata  Metadata
}

// Update changes the user with id as u says and returns it: the Backend
// API's PATCH /users/{id}. It checks nothing about who asks; the
// Frontend API's PATCH /me lets a user change only their names, unsafe
// metadata and (after a recent verification) primary address.
func (us *Users) Update(ctx context.Context, id string, u UserUpdate) (*User, error) {
	var enc [3]json.RawMessage
	for i, m := range []struct {
		name string
		v    Metadata
	}{{"public_metadata", u.PublicMetadata}, {"private_metadata", u.PrivateMetadata}, {"unsafe_metadata", u.UnsafeMetadata}} {
		var err error
		if enc[i], err = encodeMetadata(m.name, m.v); err != nil {
			return nil, err
		}
	}
	var first, last string
	var err error
	if u.FirstName != nil {
		if first, err = checkName("first_name", *u.FirstName); err != nil {
			return nil, err
		}
	}
	if u.LastName != nil {
		if last, err = checkName("last_name", *u.LastName); err != nil {
			return nil, err
		}
	}
	var locale string
	if u.Locale != nil && *u.Locale != "" {
		var ok bool
		if locale, ok = i18n.Canonical(*u.Locale); !ok {
			return nil, paramInvalid("locale", "param_locale")
		}
	}
	return us.a.changeUser(ctx, id, func(r *userRec) ([]store.Op, error) {
		if u.Locale != nil {
			r.Locale = locale
		}
		if u.FirstName != nil {
			r.FirstName = first
		}
		if u.LastName != nil {
			r.LastName = last
		}
		if u.PublicMetadata != nil {
			r.PublicMetadata = enc[0]
		}
		if u.PrivateMetadata != nil {
			r.PrivateMetadata = enc[1]
		}
		if u.UnsafeMetadata != nil {
			r.UnsafeMetadata = enc[2]
		}
		if u.PrimaryEmailAddressID != "" && u.PrimaryEmailAddressID != r.PrimaryEmailAddressID {
			return us.a.setPrimary(ctx, r, u.PrimaryEmailAddressID)
		}
		return nil, nil
	})
}

// UpdateMetadata deep-merges m into the user's metadata, as Clerk's
// PATCH /users/{id}/metadata: objects merge key by key, a null value
// removes its key, anything else replaces. Concurrent merges are
// serialised: none is lost. Each merged object must stay within
// MaxMetadataSize.
func (us *Users) UpdateMetadata(ctx context.Context, id string, m MetadataUpdate) (*User, error) {
	return us.a.changeUser(ctx, id, func(r *userRec) ([]store.Op, error) {
		for _, f := range []struct {
			name  string
			patch Metadata
			dst   *json.RawMessage
		}{{"public_metadata", m.PublicMetadata, &r.PublicMetadata}, {"private_metadata", m.PrivateMetadata, &r.PrivateMetadata},
			{"unsafe_metadata", m.UnsafeMetadata, &r.UnsafeMetadata}} {
			if f.patch == nil {
				continue
			}
			raw, err := encodeMetadata(f.name, mergeMetadata(decodeMetadata(*f.dst), f.patch))
			if err != nil {
				return nil, err
			}
			*f.dst = raw
		}
		return nil, nil
	})
}

// Ban marks the user banned and revokes all their sessions: they stop
// working at once, and signing in is refused. To anyone asking for a
// link, a banned user's sign-in looks like any other; the email sent then
// says the account is suspended.
func (us *Users) Ban(ctx context.Context, id string) (*User, error) {
	u, err := us.a.changeUser(ctx, id, func(r *userRec) ([]store.Op, error) {
		r.Banned = true
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := us.a.Sessions.RevokeUser(ctx, id); err != nil {
		return nil, err
	}
	return u, nil
}

// Unban lifts a ban: the user may sign in again.
func (us *Users) Unban(ctx context.Context, id string) (*User, error) {
	return us.a.changeUser(ctx, id, func(r *userRec) ([]store.Op, error) {
		r.Banned = false
		return nil, nil
	})
}

// changeUser applies change to the user with id in a compare-and-swap
// loop, with the ops change returns and the user.updated event in the
// same Apply, and returns the user as changed.
func (a *Auth) changeUser(ctx context.Context, id string, change func(*userRec) ([]store.Op, error)) (*User, error) {
	return retryApply("changing a user", func() (*User, error) {
		l, err := a.loadUser(ctx, id)
		if err != nil {
			return nil, err
		}
		r := l.v
		r.EmailAddressIDs = slices.Clone(r.EmailAddressIDs)
		ops, err := change(&r)
		if err != nil {
			return nil, err
		}
		now := a.now()
		r.UpdatedAt = ms(now)
		u, err := a.user(ctx, &r)
		if err != nil {
			return nil, err
		}
		if err := a.apply(ctx, append(append(ops, l.swap(r, noExpiry)), a.emit(ctx, EventUserUpdated, id, u, now)...)...); err != nil {
			return nil, err
		}
		if len(ops) > 0 {
			a.sender.kick() // a notice may be queued
		}
		return u, nil
	})
}
