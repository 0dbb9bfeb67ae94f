// Package emailcode derives the one-time numeric codes emails carry, and
// the keyed hashes a flow keeps of them. A code is never stored: it is
// derived again, under a server secret, from the send it belongs to, so
// that every attempt of one send mails the same code; what is stored is an
// HMAC-SHA-256 under the same secret of the code and everything it is
// bound to.
package emailcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math/big"
	"strconv"
)

// Binding is what a code verifies for: a hash made for one binding never
// matches for another.
type Binding struct {
	Kind    string // the flow's purpose: sign-in, sign-up, address, …
	FlowID  string
	Address string // the address the code was sent to, as the store keys it
	SendID  string // the prepare the code was sent for
}

// Deriver derives codes of one length, and their hashes, under one
// secret.
type Deriver struct {
	secret []byte
	length int
	space  *big.Int // 10^length: the number of codes
	limit  *big.Int // the largest multiple of space at most 2^256
}

// New returns the Deriver of codes of length digits under secret, which
// should be at least 32 random bytes.
func New(secret []byte, length int) *Deriver {
	space := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(length)), nil)
	limit := new(big.Int).Lsh(big.NewInt(1), 256)
	limit.Sub(limit, new(big.Int).Mod(limit, space))
	return &Deriver{secret: secret, length: length, space: space, limit: limit}
}

// Code returns the code of the send sendID of the flow flowID: the same
// for every attempt of the send, so that a retry (after a lost answer, a
// crash or a lapsed claim) never invalidates a code an earlier attempt
// may have delivered; a new send gets a new code. Codes are uniform over
// all 10^length, without modulo bias: an HMAC output at or above the
// largest multiple of 10^length below 2^256 is rejected and the next
// counter's taken (a chance below 10^-66 each).
func (d *Deriver) Code(flowID, sendID string) string {
	for i := 0; ; i++ {
		m := d.mac("magiclink email code of a send v1", flowID, sendID, strconv.Itoa(i))
		v := new(big.Int).SetBytes(m.Sum(nil))
		if v.Cmp(d.limit) < 0 {
			return fmt.Sprintf("%0*d", d.length, v.Mod(v, d.space))
		}
	}
}

// Hash returns what a flow stores of code sent for b: an HMAC-SHA-256
// (hex) of the code and b under the secret, so that a code verifies only
// for its flow, purpose, address and prepare.
func (d *Deriver) Hash(b Binding, code string) string {
	return hex.EncodeToString(d.mac("magiclink email code v1", b.Kind, b.FlowID, b.Address, b.SendID, code).Sum(nil))
}

// Matches reports, in constant time, whether code sent for b is the one
// stored (as Hash made it). It computes the HMAC whatever stored holds,
// so a flow without a live code takes as long to answer.
func (d *Deriver) Matches(b Binding, code, stored string) bool {
	got := d.mac("magiclink email code v1", b.Kind, b.FlowID, b.Address, b.SendID, code).Sum(nil)
	want, err := hex.DecodeString(stored)
	return err == nil && len(want) == sha256.Size && hmac.Equal(got, want)
}

// mac returns the HMAC under the secret of parts, each framed with its
// length so that no two lists of parts are written alike.
func (d *Deriver) mac(parts ...string) hash.Hash {
	m := hmac.New(sha256.New, d.secret)
	for _, s := range parts {
		fmt.Fprintf(m, "%d:%s;", len(s), s)
	}
	return m
}
