package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Store keys. Every secret appears only as the hex SHA-256 of its value.
const (
	keySignIn      = "sia/"    // + id: flowRec of a sign-in
	keySignUp      = "sua/"    // + id: flowRec of a sign-up
	keyEmail       = "idn/"    // + id: flowRec of an email address
	keyUser        = "user/"   // + id: userRec
	keyAddress     = "addr/"   // + lower-case address: addrRec (verified addresses only)
	keyLink        = "link/"   // + token hash: linkRec
	keyClient      = "client/" // + cookie hash: clientRec
	keySession     = "sess/"   // + session id: cookie hash
	keySessionTok  = "stok/"   // + cookie hash: sessRec
	keyUserSession = "usess/"  // + user id + "/" + session id: cookie hash
	keyUserFlow    = "uflow/"  // + user id + "/" + flow key: empty; flows that name the user
	keyUserToken   = "usit/"   // + user id + "/" + sign-in token id: empty
	keyDeleting    = "udel/"   // + user id: empty; a deletion not yet finished
)

// flowKind names what a flow verifies.
type flowKind string

const (
	kindSignIn flowKind = "sign_in"
	kindSignUp flowKind = "sign_up"
	kindEmail  flowKind = "verify_email"
)

// flowRec is the stored state of a sign-in, a sign-up or an email
// address: one email-link verification and what it leads to.
type flowRec struct {
	ID       string   `json:"id"`
	Kind     flowKind `json:"kind"`
	ClientID string   `json:"client_id,omitempty"`
	Status   string   `json:"status"`
	Address  string   `json:"address"`
	// UserID: sign-in, the account (empty when unknown); sign-up, the
	// existing account or, once complete, the created one; email address,
	// its owner.
	UserID         string `json:"user_id,omitempty"`
	EmailAddressID string `json:"email_address_id,omitempty"`
	Existing       bool   `json:"existing,omitempty"` // sign-up for a registered address
	// Asked describes who asked for the live link (see crossdevice.go).
	Asked          *requester `json:"asked,omitempty"`
	Ver            *verRec    `json:"ver,omitempty"`
	RedirectURL    string     `json:"redirect_url,omitempty"`
	SessionID      string     `json:"session_id,omitempty"`
	SessionClaimed bool       `json:"session_claimed,omitempty"`
	// SessionReclaimable: the session was handed out by a claim, which may
	// be made again until the session is first used.
	SessionReclaimable bool   `json:"session_reclaimable,omitempty"`
	Locale             string `json:"locale,omitempty"` // the catalogue the flow's emails and pages are written from
	CreatedAt          int64  `json:"created_at"`
	UpdatedAt          int64  `json:"updated_at"`
	AbandonAt          int64  `json:"abandon_at,omitempty"`
}

// verRec is a stored verification.
type verRec struct {
	Strategy         string `json:"strategy"`
	Status           string `json:"status"` // unverified, verified or failed; expired is derived
	Attempts         int    `json:"attempts"`
	ExpireAt         int64  `json:"expire_at"`
	TokenHash        string `json:"token_hash,omitempty"` // the latest link's; empty until the outbox sends it, and after sending failed
	CodeHash         string `json:"code_hash,omitempty"`  // the live code's HMAC (see code.go); set with TokenHash
	NoCode           bool   `json:"no_code,omitempty"`    // its email carries no code (a notice, not a verification): every code is incorrect
	VerifiedClientID string `json:"verified_client_id,omitempty"`
	SendID           string `json:"send_id,omitempty"`     // tells this verification's outbox entry from an earlier prepare's
	SendFailed       bool   `json:"send_failed,omitempty"` // the outbox gave up sending this verification's link
}

// status returns the verification's status at now.
func (v *verRec) status(now time.Time) VerificationStatus {
	if v.Status == string(VerificationUnverified) && v.ExpireAt != 0 && !now.Before(fromMS(v.ExpireAt)) {
		return VerificationExpired
	}
	return VerificationStatus(v.Status)
}

// linkRec is the stored half of a magic link: what its token may do. It
// names its flow but not the address, so that once a deleted user's flows
// are gone, a link left behind names nobody.
type linkRec struct {
	Kind        flowKind `json:"kind"`
	FlowKey     string   `json:"flow"`
	ClientID    string   `json:"client_id"`
	RedirectURL string   `json:"redirect_url,omitempty"`
	ExpireAt    int64    `json:"expire_at"`
	// SendID is the verRec.SendID of the prepare whose send minted the
	// link: every attempt of one send mints a link, and all of them stay
	// valid until the verification settles or a newer prepare replaces
	// the SendID. Empty in links of earlier versions, which only the
	// verification's TokenHash keeps valid.
	SendID string `json:"send_id,omitempty"`
}

// of reports whether the link, whose token hashes to hash, belongs to the
// verification v as it now is: minted for its current send.
func (l *linkRec) of(v *verRec, hash string) bool {
	if l.SendID != "" {
		return l.SendID == v.SendID
	}
	return v.TokenHash == hash
}

// userRec is a stored user.
type userRec struct {
	ID                    string          `json:"id"`
	PrimaryEmailAddressID string          `json:"primary_email_address_id"`
	EmailAddressIDs       []string        `json:"email_address_ids"`
	FirstName             string          `json:"first_name,omitempty"`
	LastName              string          `json:"last_name,omitempty"`
	PublicMetadata        json.RawMessage `json:"public_metadata,omitempty"`
	PrivateMetadata       json.RawMessage `json:"private_metadata,omitempty"`
	UnsafeMetadata        json.RawMessage `json:"unsafe_metadata,omitempty"`
	Banned                bool            `json:"banned,omitempty"`
	LastSignInAt          int64           `json:"last_sign_in_at,omitempty"`
	Locale                string          `json:"locale,omitempty"`
	// Deleted marks a user being deleted (see userdelete.go): everything
	// else is gone from the record, and to every reader it is absent.
	Deleted   bool  `json:"deleted,omitempty"`
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
}

// addrRec indexes a verified address to its owner.
type addrRec struct {
	UserID         string `json:"user_id"`
	EmailAddressID string `json:"email_address_id"`
}

// clientRec is a stored client.
type clientRec struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"`
}

// loaded is a record read from the store with the bytes it was read as,
// so that writing it back can be a compare-and-swap.
type loaded[T any] struct {
	key string
	raw []byte
	v   T
}

// load reads and decodes key. A missing key is store.ErrNotFound.
func load[T any](ctx context.Context, st store.Store, key string) (*loaded[T], error) {
	raw, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	l := &loaded[T]{key: key, raw: raw}
	if err := json.Unmarshal(raw, &l.v); err != nil {
		return nil, corruptRecord(key, err)
	}
	return l, nil
}

// swap returns the op that replaces l with v, compare-and-swap style.
func (l *loaded[T]) swap(v T, expiresAt time.Time) store.Op {
	return store.Swap(l.key, l.raw, encode(v), expiresAt)
}

// corruptRecord reports a record at key that could not be decoded,
// wrapping the decoder's error.
func corruptRecord(key string, err error) error {
	return fmt.Errorf("magiclink: corrupt record %s: %w", key, err)
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("magiclink: encoding a record: " + err.Error())
	}
	return b
}

// isNotFound reports whether err means a missing record.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// isConflict reports whether err is a failed store condition.
func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// noExpiry is the expiry of records kept until deleted.
var noExpiry time.Time

// maxRetries bounds optimistic-concurrency retries of one operation.
const maxRetries = 16

// errContention is the error of an operation that lost every
// compare-and-swap round to concurrent writers (maxRetries of them).
var errContention = errors.New("magiclink: too much contention")

// retryApply runs attempt, the load → decide → Apply of one operation, until it
// ends without a store conflict (a record it read changed before its
// compare-and-swap Apply), at most maxRetries times; each run reads afresh.
// Its result and any other error are returned as they are; what names the
// operation in the contention error.
func retryApply[T any](what string, attempt func() (T, error)) (T, error) {
	return retryApplyOr(func() error { return fmt.Errorf("%w: %s", errContention, what) }, attempt)
}

// retryApplyOr is retryApply for an operation whose lost rounds mean
// something to its caller: exhausted makes the error it then returns.
func retryApplyOr[T any](exhausted func() error, attempt func() (T, error)) (T, error) {
	for range maxRetries {
		v, err := attempt()
		if !isConflict(err) {
			return v, err
		}
	}
	var zero T
	return zero, exhausted()
}
