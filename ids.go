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

// validToken reports whether s has the shape of a secret token: 43
// base64url characters whose last carries no stray bits, exactly the
// strings that strict base64url decoding maps to 32 bytes. It runs on
// every request with a cookie, so it allocates nothing.
func validToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if base64URLValue(s[i]) < 0 {
			return false
		}
	}
	// 43 characters carry 258 bits: the last two must be zero.
	return base64URLValue(s[tokenLen-1])&3 == 0
}

// base64URLValue returns the value of c in the base64url alphabet, or -1.
func base64URLValue(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// hashToken returns the hex SHA-256 of a secret: the only form in which
// secrets are stored.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// tokenKey returns prefix + hashToken(token), a valid token's store key,
// in one allocation.
func tokenKey(prefix, token string) string {
	var in [tokenLen]byte // on the stack: hashing the string would copy it to the heap
	sum := sha256.Sum256(in[:copy(in[:], token)])
	var key [16 + 2*sha256.Size]byte
	n := copy(key[:], prefix)
	hex.Encode(key[n:], sum[:])
	return string(key[:n+2*sha256.Size])
}
