// Package webhook signs and verifies webhooks as the Standard Webhooks
// specification (https://www.standardwebhooks.com) defines them, the
// scheme magiclink signs its deliveries with and Svix libraries verify.
//
// A delivery carries three headers:
//
//	webhook-id:        the event's id, the same on every retry
//	webhook-timestamp: Unix seconds when the attempt was signed
//	webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// where key is the secret's bytes: a secret is written "whsec_" followed
// by the base64 of 24 to 64 random bytes. While a secret is rotated, a
// delivery carries one signature per secret, separated by spaces, and a
// receiver accepts the delivery if any of them verifies.
//
// A receiver in Go:
//
//	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//	if err != nil { ... }
//	if err := webhook.Verify(secret, r.Header, body); err != nil {
//		http.Error(w, "bad signature", http.StatusBadRequest)
//		return
//	}
//	// de-duplicate on r.Header.Get("webhook-id"), then handle body
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way, for Verify to accept it: an old delivery
// replayed later is refused.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify and ParseSecret. Compare with errors.Is.
var (
	// ErrSecret: the secret is not "whsec_" + base64 of 24 to 64 bytes.
	ErrSecret = errors.New("webhook: invalid secret")
	// ErrHeaders: a required header is missing or malformed.
	ErrHeaders = errors.New("webhook: missing or malformed headers")
	// ErrTimestamp: the timestamp is outside the tolerance.
	ErrTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrSignature: no signature matches.
	ErrSignature = errors.New("webhook: no matching signature")
)

// NewSecret returns a fresh secret: "whsec_" + base64 of 32 random bytes.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ParseSecret returns the key bytes of a secret. The "whsec_" prefix is
// optional, as in the other Standard Webhooks libraries.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header value of a delivery of body
// with id at ts: one "v1,<base64>" signature per secret, separated by
// spaces.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", ErrSecret
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)))
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns the three headers of a delivery of body with id,
// signed at ts with secrets.
func Headers(id string, ts time.Time, body []byte, secrets ...string) (http.Header, error) {
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery received now: its headers must be present,
// its timestamp within DefaultTolerance of the clock, and one of its
// signatures that of body under secret. It returns nil or an error
// wrapping ErrSecret, ErrHeaders, ErrTimestamp or ErrSignature.
func Verify(secret string, h http.Header, body []byte) error {
	return (&Verifier{Secrets: []string{secret}}).Verify(h, body)
}

// Verifier verifies deliveries with settings of its own.
type Verifier struct {
	// Secrets lists the secrets any of which may have signed a delivery:
	// during a rotation, the new and the old.
	Secrets []string
	// Tolerance is how far a timestamp may be from Now; zero means
	// DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks a delivery as the package's Verify does.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	keys := make([][]byte, 0, len(v.Secrets))
	for _, s := range v.Secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return ErrSecret
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q", ErrHeaders, tsText)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return ErrTimestamp
	}
	for _, key := range keys {
		want := mac(key, id, ts, body)
		for _, sig := range strings.Fields(sigs) {
			version, b64, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
