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
func (a *Auth) initDecoys() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range maxRetries {
		raw, err := a.st.Get(ctx, keyDecoy)
		if err == nil {
			if len(raw) != 32 {
				return fmt.Errorf("magiclink: the stored decoy key has %d bytes, want 32", len(raw))
			}
			a.decoyKey = raw
			return nil
		}
		if !isNotFound(err) {
			return fmt.Errorf("magiclink: loading the decoy key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		err = a.st.Apply(ctx, store.Insert(keyDecoy, key, time.Time{}))
		if err == nil {
			a.decoyKey = key
			return nil
		}
		if !isConflict(err) {
			return fmt.Errorf("magiclink: storing the decoy key: %w", err)
		}
	}
	return fmt.Errorf("magiclink: storing the decoy key: too much contention")
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
