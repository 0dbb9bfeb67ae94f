package magiclink

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Enumeration protection needs the answer about an unknown address to be
// indistinguishable from the answer about a registered one, however often
// it is asked. A sign-in names its address's id (email_address_id): for a
// registered address the real one, stable across requests; for an
// unknown address a decoy that must be just as stable and look just as
// real. So address ids are opaque (128 random bits, not time-ordered, so
// that they do not tell when an address was added), and a decoy is the
// HMAC-SHA256 of the normalised address under a server key, cut to the
// same 128 bits: stable, and impossible to tell from a random id without
// the key. The key is generated on first start and kept in the store, so
// instances sharing a store answer alike and a restart changes nothing.

// keyDecoy is the store key of the decoy key.
const keyDecoy = "keys/decoy"

// initDecoys loads the decoy key, creating it on first start (the first
// instance to insert it wins).
func (a *Auth) initDecoys() (err error) {
	a.decoyKey, err = a.storedKey(keyDecoy, "decoy key")
	return err
}

// storedKey returns the 32-byte server key kept in the store at key
// (what names it in errors), creating it on first start: the first
// instance to insert it wins, and every instance sharing the store then
// uses it.
func (a *Auth) storedKey(key, what string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return retryApply("storing the "+what, func() ([]byte, error) {
		raw, err := a.st.Get(ctx, key)
		if err == nil {
			if len(raw) != 32 {
				return nil, fmt.Errorf("magiclink: the stored %s has %d bytes, want 32", what, len(raw))
			}
			return raw, nil
		}
		if !isNotFound(err) {
			return nil, fmt.Errorf("magiclink: loading the %s: %w", what, err)
		}
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		err = a.st.Apply(ctx, store.Insert(key, fresh, time.Time{}))
		if err == nil {
			return fresh, nil
		}
		return nil, fmt.Errorf("magiclink: storing the %s: %w", what, err) // a conflict: again
	})
}

// decoyID returns the stable decoy email address id of addr, which has no
// account: the same on every request, in the form of a real id.
func (a *Auth) decoyID(addr string) string {
	m := hmac.New(sha256.New, a.decoyKey)
	m.Write([]byte("email_address_id\x00" + addressKey(addr)))
	return prefixEmail + hex.EncodeToString(m.Sum(nil)[:16])
}

// newAddressID returns a new email address id: opaque, not time-ordered,
// of the same form as decoyID's.
func newAddressID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("magiclink: crypto/rand failed: " + err.Error())
	}
	return prefixEmail + hex.EncodeToString(b[:])
}
