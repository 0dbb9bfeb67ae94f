package magiclink

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// ID prefixes, as Clerk's.
const (
	prefixSignIn      = "sia_"
	prefixSignUp      = "sua_"
	prefixEmail       = "idn_"
	prefixUser        = "user_"
	prefixSession     = "sess_"
	prefixClient      = "client_"
	prefixSignInToken = "sit_"
)

// newID returns prefix followed by a UUIDv7 in 32 hex digits: unique,
// time-ordered and URL-safe.
func newID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	var b [32]byte
	hex.Encode(b[:], u[:])
	return prefix + string(b[:])
}

// validID reports whether id looks like an id with prefix, so malformed
// ids never reach the store.
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 32 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// tokenLen is the length of a secret token: 256 random bits in base64url.
const tokenLen = 43

// newToken returns a fresh secret: 256 random bits, base64url without
// padding.
func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("magiclink: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validToken reports whether s has the shape of a secret token.
func validToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// hashToken returns the hex SHA-256 of a secret: the only form in which
// secrets are stored.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
