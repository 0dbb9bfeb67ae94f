package magiclink

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/magiclink-go/magiclink/store"
)

// Sign-in tokens are signed with Ed25519 (JWS "EdDSA"), the only
// algorithm they are accepted with.
//
// Unless Config.SigningKeys supplies them, the keys are generated on
// first start and kept in the store under keySigningKeys, one record for
// the whole set, changed only by compare-and-swap: instances sharing a
// store agree on one key (the first to insert it wins) and see rotations
// at once.
//
// The active private key is stored unencrypted. The store is trusted
// with it as it is trusted with everything else (whoever can write the
// store can sign anyone in). A copy of the store (a leaked backup) is
// not enough to redeem tokens either: a token is accepted only if the
// SHA-256 of its exact text matches its stored record, and every token
// carries 256 random bits (its "nonce" claim) that are stored nowhere,
// so no one can rebuild an issued token, or make a new one that matches
// a record, from the key and the records. What a stolen key does allow
// is forging JWTs that verify against the published JWKS; apps that do
// not want the private key in the store supply Config.SigningKeys from
// their secret manager. Retired private keys are erased: only their
// public halves stay in the set.

// keySigningKeys is the store key of the generated key set.
const keySigningKeys = "keys/sign_in_tokens"

// retiredKeyKept is how long a retired key stays published and accepted:
// until every token it signed has expired, and a day longer so that late
// redemptions are told the token expired rather than that it is invalid.
const retiredKeyKept = MaxSignInTokenLifetime + 24*time.Hour

// keyRec is one stored key. Seed, the private key, is present only for
// the active key.
type keyRec struct {
	Kid       string `json:"kid"`
	Public    []byte `json:"public"`
	Seed      []byte `json:"seed,omitempty"`
	CreatedAt int64  `json:"created_at"`
	RetiredAt int64  `json:"retired_at,omitempty"`
}

// keySetRec is the stored key set: the active key last.
type keySetRec struct {
	Keys []keyRec `json:"keys"`
}

// signingKey is a key of the set, parsed.
type signingKey struct {
	kid       string
	pub       ed25519.PublicKey
	priv      ed25519.PrivateKey // nil for a retired key
	retiredAt time.Time          // zero for the active key and configured keys
}

// keySet is the set of keys tokens are verified with; active signs.
type keySet struct {
	active *signingKey
	keys   []*signingKey // in the order they are published
}

// byKid returns the key with id kid that is still accepted at now, or
// nil.
func (ks *keySet) byKid(kid string, now time.Time) *signingKey {
	for _, k := range ks.keys {
		if k.kid == kid && k.live(now) {
			return k
		}
	}
	return nil
}

func (k *signingKey) live(now time.Time) bool {
	return k.retiredAt.IsZero() || now.Before(k.retiredAt.Add(retiredKeyKept))
}

// keyring hands out the current key set: the configured one, or the
// stored one, re-read at each use (one Get) and parsed again only when
// it changed.
type keyring struct {
	a      *Auth
	static *keySet // from Config.SigningKeys; nil: keys live in the store

	mu  sync.Mutex
	raw []byte
	set *keySet
}

// kidOf returns the id of a public key: its RFC 7638 JWK thumbprint
// (SHA-256, base64url), so the same key always has the same id.
func kidOf(pub ed25519.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic("magiclink: thumbprint of an Ed25519 key: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// validKid reports whether s has the shape of a key id we issue.
func validKid(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// initTickets prepares sign-in tokens: it checks Config.SigningKeys or
// makes sure the store holds a key set (creating it on first start). New
// calls it.
func (a *Auth) initTickets() error {
	kr := &keyring{a: a}
	a.SignInTokens.keys = kr
	if len(a.cfg.SigningKeys) > 0 {
		ks := &keySet{}
		for i, priv := range a.cfg.SigningKeys {
			if len(priv) != ed25519.PrivateKeySize {
				return fmt.Errorf("magiclink: Config.SigningKeys[%d] is not an Ed25519 private key", i)
			}
			pub := priv.Public().(ed25519.PublicKey)
			k := &signingKey{kid: kidOf(pub), pub: pub, priv: priv}
			if ks.byKid(k.kid, a.now()) == nil {
				ks.keys = append(ks.keys, k)
			}
		}
		ks.active = ks.keys[0]
		kr.static = ks
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kr.current(ctx); err != nil {
		return fmt.Errorf("magiclink: loading the sign-in token signing keys: %w", err)
	}
	return nil
}

// current returns the key set, creating and storing it if the store has
// none.
func (kr *keyring) current(ctx context.Context) (*keySet, error) {
	if kr.static != nil {
		return kr.static, nil
	}
	return retryApply("creating signing keys", func() (*keySet, error) {
		raw, err := kr.a.st.Get(ctx, keySigningKeys)
		if isNotFound(err) {
			rec := keySetRec{Keys: []keyRec{newKeyRec(kr.a.now())}}
			err = kr.a.st.Apply(ctx, store.Insert(keySigningKeys, encode(rec), time.Time{}))
			if err == nil || isConflict(err) {
				return nil, store.ErrConflict // re-read what won
			}
		}
		if err != nil {
			return nil, err
		}
		return kr.parse(raw)
	})
}

// parse returns the key set stored as raw, reusing the last parse when
// raw has not changed.
func (kr *keyring) parse(raw []byte) (*keySet, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.set != nil && bytes.Equal(raw, kr.raw) {
		return kr.set, nil
	}
	var rec keySetRec
	if err := json.Unmarshal(raw, &rec); err != nil || len(rec.Keys) == 0 {
		return nil, errors.New("magiclink: corrupt record " + keySigningKeys)
	}
	ks := &keySet{}
	for _, r := range rec.Keys {
		if len(r.Public) != ed25519.PublicKeySize {
			return nil, errors.New("magiclink: corrupt record " + keySigningKeys)
		}
		k := &signingKey{kid: r.Kid, pub: ed25519.PublicKey(r.Public), retiredAt: fromMS(r.RetiredAt)}
		if r.RetiredAt == 0 {
			if len(r.Seed) != ed25519.SeedSize {
				return nil, errors.New("magiclink: corrupt record " + keySigningKeys)
			}
			k.priv = ed25519.NewKeyFromSeed(r.Seed)
			ks.active = k
		}
		ks.keys = append(ks.keys, k)
	}
	if ks.active == nil {
		return nil, errors.New("magiclink: corrupt record " + keySigningKeys + ": no active key")
	}
	kr.raw, kr.set = raw, ks
	return ks, nil
}

// newKeyRec generates a key.
func newKeyRec(now time.Time) keyRec {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("magiclink: generating an Ed25519 key: " + err.Error())
	}
	return keyRec{Kid: kidOf(pub), Public: pub, Seed: priv.Seed(), CreatedAt: ms(now)}
}

// RotateKey makes a new signing key active and returns its key id (the
// JWS "kid"). The previous key signs nothing more; its private half is
// erased, and its public half stays in the JWKS and keeps verifying the
// tokens it signed until they have all expired (MaxSignInTokenLifetime,
// and a day's grace), after which it is dropped. Every instance sharing
// the store uses the new key at once.
//
// RotateKey fails when Config.SigningKeys supplies the keys: rotate them
// there, listing the new key first and the old one after it.
func (t *SignInTokens) RotateKey(ctx context.Context) (string, error) {
	kr := t.keys
	if kr.static != nil {
		return "", errors.New("magiclink: signing keys come from Config.SigningKeys; rotate them there")
	}
	return retryApply("rotating the signing key", func() (string, error) {
		if _, err := kr.current(ctx); err != nil {
			return "", err
		}
		l, err := load[keySetRec](ctx, t.a.st, keySigningKeys)
		if err != nil {
			return "", err
		}
		now := t.a.now()
		var keep []keyRec
		for _, r := range l.v.Keys {
			if r.RetiredAt == 0 {
				r.RetiredAt, r.Seed = ms(now), nil
			}
			if now.Before(fromMS(r.RetiredAt).Add(retiredKeyKept)) {
				keep = append(keep, r)
			}
		}
		fresh := newKeyRec(now)
		rec := keySetRec{Keys: append(keep, fresh)}
		if err := t.a.st.Apply(ctx, l.swap(rec, time.Time{})); err != nil {
			return "", err
		}
		return fresh.Kid, nil
	})
}

// jwk is one public key as the JWKS serves it.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// jwks returns the public keys that verify sign-in tokens now: the
// active key and the retired keys whose tokens may still be live. It
// holds no private material by construction.
func (kr *keyring) jwks(ctx context.Context) ([]jwk, error) {
	ks, err := kr.current(ctx)
	if err != nil {
		return nil, err
	}
	now := kr.a.now()
	out := []jwk{}
	for _, k := range ks.keys {
		if k.live(now) {
			out = append(out, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.pub),
				Kid: k.kid, Alg: string(jose.EdDSA), Use: "sig"})
		}
	}
	return out, nil
}
