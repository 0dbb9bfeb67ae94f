package magiclink

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/magiclink-go/magiclink/store"
)

// Sign-in tokens (Clerk's "sign_in_token", also called tickets) let the
// app's backend sign a user in with one link: a welcome email for a user
// let in off a waitlist, a promotional email, an abandoned-cart reminder.
//
// A token is a compact JWS (a JWT) signed with Ed25519. Its protected
// header is exactly
//
//	{"alg":"EdDSA","kid":"<key id>","typ":"magiclink-sit+jwt"}
//
// and its claims are
//
//	iss    Config.BaseURL, e.g. "https://app.example"
//	aud    Config.BaseURL + Config.Prefix, e.g. "https://app.example/auth"
//	jti    the token's id, "sit_…"
//	iat    when it was issued (Unix seconds)
//	exp    when it expires (Unix seconds)
//	nonce  256 random bits, base64url: the token cannot be rebuilt from
//	       its stored record, even by someone holding the signing key
//
// The user is not in the token: it comes from the stored record, as with
// Clerk. Only the SHA-256 of the token is stored, and redeeming checks
// everything: the algorithm (EdDSA only), the header (nothing but alg,
// kid and typ: no embedded "jwk", "jku", "x5u", "x5c" or "crit"), the key
// (looked up by kid in our own key set), the signature, iss, aud, typ,
// the presence of jti, iat and exp, the expiry (at most one second of
// leeway: this server issues and verifies), the stored record (its hash
// must match) and its status, which moves from pending to accepted in
// the same atomic store write that creates the session.

// Sign-in token lifetimes.
const (
	// DefaultSignInTokenLifetime is how long a sign-in token works when
	// SignInTokenParams.ExpiresIn is zero: 30 days, as Clerk's.
	DefaultSignInTokenLifetime = 30 * 24 * time.Hour
	// MaxSignInTokenLifetime is the longest lifetime a sign-in token may
	// be given: 365 days.
	MaxSignInTokenLifetime = 365 * 24 * time.Hour
)

// SignInTokenType is the "typ" header of every sign-in token. Verifiers
// outside magiclink should require it, along with alg EdDSA, iss
// Config.BaseURL, aud Config.BaseURL + Config.Prefix, an unexpired exp,
// and a key from the JWKS at Config.Prefix + "/.well-known/jwks.json".
const SignInTokenType = "magiclink-sit+jwt"

// Bounds of what redeeming looks at.
const (
	// maxTicketLen caps the length of a token before any parsing; ours
	// are about 450 bytes.
	maxTicketLen = 4 << 10
	// ticketLeeway is the only slack given to exp and iat.
	ticketLeeway = time.Second
	// keySignInToken + id: sitRec.
	keySignInToken = "sit/"
)

// SignInTokenStatus is the state of a SignInToken.
type SignInTokenStatus string

// Sign-in token statuses, as Clerk's.
const (
	// SignInTokenPending: issued, not used yet (it may have expired).
	SignInTokenPending SignInTokenStatus = "pending"
	// SignInTokenAccepted: used to sign in; it cannot be used again.
	SignInTokenAccepted SignInTokenStatus = "accepted"
	// SignInTokenRevoked: revoked before it was used.
	SignInTokenRevoked SignInTokenStatus = "revoked"
)

// SignInToken is a one-time sign-in token for a user (Clerk's
// sign_in_token). Token and URL are known only to the caller of
// SignInTokens.Create: the server keeps the token's SHA-256, never the
// token.
type SignInToken struct {
	// ID is the token's id, "sit_…", and its jti claim.
	ID string
	// UserID is the user the token signs in.
	UserID string
	// Token is the JWT, to put in a link (for example
	// https://app.example/accept-token?token=…) and redeem with
	// SignIns.Create and strategy "ticket". Set only by Create.
	Token string
	// Status is pending, accepted or revoked.
	Status SignInTokenStatus
	// URL is Config.BaseURL + Config.Prefix + "/ticket?token=" + Token: a
	// link that opens a confirm page whose button signs the browser in
	// and lands on Config.AfterSignInURL. Set only by Create.
	URL string
	// ExpireAt is when the token stops working: its exp claim.
	ExpireAt time.Time
	// CreatedAt is when the token was issued.
	CreatedAt time.Time
	// UpdatedAt is when its status last changed.
	UpdatedAt time.Time
}

// MarshalJSON encodes the token as the Backend API serves it: Clerk's
// sign_in_token object, with token and url null except in the answer to
// its creation, plus expire_at; timestamps in Unix milliseconds.
func (t *SignInToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		apiObject
		UserID   string            `json:"user_id"`
		Token    *string           `json:"token"`
		Status   SignInTokenStatus `json:"status"`
		URL      *string           `json:"url"`
		ExpireAt *int64            `json:"expire_at"`
		stamps
	}{apiObject{"sign_in_token", t.ID}, t.UserID, strOrNil(t.Token), t.Status, strOrNil(t.URL),
		msOrNil(t.ExpireAt), stampsOf(t.CreatedAt, t.UpdatedAt)})
}

// SignInTokenParams are the parameters of SignInTokens.Create.
type SignInTokenParams struct {
	// ExpiresIn is the token's lifetime: a whole number of seconds, at
	// least one, at most MaxSignInTokenLifetime; zero means
	// DefaultSignInTokenLifetime (30 days). The token works for that
	// long, plus at most one second.
	ExpiresIn time.Duration
}

// SignInTokens creates, reads and revokes sign-in tokens, and rotates the
// key that signs them.
type SignInTokens struct {
	a    *Auth
	keys *keyring
}

// sitRec is a stored sign-in token.
type sitRec struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	TokenHash string `json:"token_hash"`
	Status    string `json:"status"`
	ExpireAt  int64  `json:"expire_at"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

// storeExpiry is how long a token's record is kept: a day past its
// expiry, so Get and late redemptions still answer clearly.
func (r *sitRec) storeExpiry() time.Time { return fromMS(r.ExpireAt).Add(flowLifetime) }

func (r *sitRec) token() *SignInToken {
	return &SignInToken{ID: r.ID, UserID: r.UserID, Status: SignInTokenStatus(r.Status),
		ExpireAt: fromMS(r.ExpireAt), CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
}

// ticketClaims are the claims of a sign-in token as issued and as read
// back (strictly: a claim of another JSON type fails to decode).
type ticketClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	ID       string `json:"jti"`
	IssuedAt *int64 `json:"iat"`
	Expiry   *int64 `json:"exp"`
	Nonce    string `json:"nonce"`
}

// issuer and audience are the iss and aud claims of our tokens.
func (a *Auth) ticketIssuer() string   { return a.base.String() }
func (a *Auth) ticketAudience() string { return a.base.String() + a.cfg.Prefix }

// Create issues a sign-in token for the user with userID. The returned
// token carries the JWT (Token) and the confirm-page link (URL); they are
// shown this once. An unknown user is a resource_not_found error (404),
// a bad ExpiresIn a form_param_value_invalid error (422).
func (t *SignInTokens) Create(ctx context.Context, userID string, p SignInTokenParams) (*SignInToken, error) {
	ttl := p.ExpiresIn
	if ttl == 0 {
		ttl = DefaultSignInTokenLifetime
	}
	if ttl < time.Second || ttl > MaxSignInTokenLifetime || ttl%time.Second != 0 {
		return nil, paramValue("expires_in_seconds", "expires_in_seconds")
	}
	if userID == "" {
		return nil, paramMissing("user_id")
	}
	if !validID(userID, prefixUser) {
		return nil, notFound("user")
	}
	user, err := t.a.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	ks, err := t.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	now := t.a.now()
	iat := now.Unix()
	exp := iat + int64(ttl/time.Second)
	id := newID(prefixSignInToken)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: ks.active.priv, KeyID: ks.active.kid}},
		(&jose.SignerOptions{}).WithType(SignInTokenType))
	if err != nil {
		return nil, err
	}
	token, err := jwt.Signed(signer).Claims(ticketClaims{Issuer: t.a.ticketIssuer(), Audience: t.a.ticketAudience(),
		ID: id, IssuedAt: &iat, Expiry: &exp, Nonce: newToken()}).Serialize()
	if err != nil {
		return nil, err
	}
	rec := sitRec{ID: id, UserID: userID, TokenHash: hashToken(token), Status: string(SignInTokenPending),
		ExpireAt: ms(time.Unix(exp, 0)), CreatedAt: ms(now), UpdatedAt: ms(now)}
	// The user's check keeps a concurrent deletion from missing the
	// token's index entry.
	for i := 0; ; i++ {
		ops := append(t.a.emit(ctx, EventSignInTokenCreated, userID, rec.token(), now),
			store.Insert(keySignInToken+id, encode(rec), rec.storeExpiry()),
			store.Put(keyUserToken+userID+"/"+id, []byte{}, rec.storeExpiry()), store.Check(user.key, user.raw))
		err := t.a.apply(ctx, ops...)
		if err == nil {
			break
		}
		if !isConflict(err) || i == maxRetries {
			return nil, err
		}
		if user, err = t.a.loadUser(ctx, userID); err != nil {
			return nil, err // deleted meanwhile
		}
	}
	out := rec.token()
	out.Token = token
	out.URL = t.a.ticketURL(token)
	return out, nil
}

// ticketURL returns the confirm-page link of a token.
func (a *Auth) ticketURL(token string) string {
	return a.url(a.cfg.Prefix + "/ticket?token=" + url.QueryEscape(token))
}

// Get returns the sign-in token with id, without its Token and URL, or a
// resource_not_found error. Tokens are forgotten a day after they expire.
func (t *SignInTokens) Get(ctx context.Context, id string) (*SignInToken, error) {
	l, err := t.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return l.v.token(), nil
}

func (t *SignInTokens) load(ctx context.Context, id string) (*loaded[sitRec], error) {
	if !validID(id, prefixSignInToken) {
		return nil, notFound("sign in token")
	}
	l, err := load[sitRec](ctx, t.a.st, keySignInToken+id)
	if err != nil {
		if isNotFound(err) {
			return nil, notFound("sign in token")
		}
		return nil, err
	}
	return l, nil
}

// Revoke revokes the pending sign-in token with id, so that it can no
// longer be used, and returns it. A token that is not pending (already
// accepted or revoked) is a sign_in_token_cannot_be_revoked error (400,
// ErrConflict); an unknown one is resource_not_found.
func (t *SignInTokens) Revoke(ctx context.Context, id string) (*SignInToken, error) {
	return retryApply("revoking a sign-in token", func() (*SignInToken, error) {
		l, err := t.load(ctx, id)
		if err != nil {
			return nil, err
		}
		r := l.v
		if r.Status != string(SignInTokenPending) {
			return nil, ticketNotRevocable(SignInTokenStatus(r.Status))
		}
		now := t.a.now()
		r.Status, r.UpdatedAt = string(SignInTokenRevoked), ms(now)
		ops := append(t.a.emit(ctx, EventSignInTokenRevoked, r.UserID, r.token(), now), l.swap(r, r.storeExpiry()))
		if err := t.a.apply(ctx, ops...); err != nil {
			return nil, err
		}
		return r.token(), nil
	})
}

// parseTicket verifies a token's form, header, signature and claims,
// without touching the store beyond reading the key set. Every rejection
// is a ticket_invalid_code or ticket_expired_code *Error; other errors
// are store failures.
func (a *Auth) parseTicket(ctx context.Context, token string) (*ticketClaims, error) {
	if len(token) > maxTicketLen {
		return nil, ticketInvalid()
	}
	if !compactJWS(token) {
		return nil, ticketInvalid()
	}
	kid, ok := ticketHeader(token[:strings.IndexByte(token, '.')])
	if !ok {
		return nil, ticketInvalid()
	}
	ks, err := a.SignInTokens.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	key := ks.byKid(kid, now)
	if key == nil {
		return nil, ticketInvalid()
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID != kid || tok.Headers[0].JSONWebKey != nil {
		return nil, ticketInvalid()
	}
	var c ticketClaims
	if err := tok.Claims(key.pub, &c); err != nil {
		return nil, ticketInvalid()
	}
	if c.Issuer != a.ticketIssuer() || c.Audience != a.ticketAudience() || !validID(c.ID, prefixSignInToken) ||
		c.IssuedAt == nil || c.Expiry == nil || *c.Expiry <= *c.IssuedAt || !validToken(c.Nonce) ||
		now.Add(ticketLeeway).Before(time.Unix(*c.IssuedAt, 0)) {
		return nil, ticketInvalid()
	}
	if !now.Before(time.Unix(*c.Expiry, 0).Add(ticketLeeway)) {
		return nil, ticketExpired()
	}
	return &c, nil
}

// compactJWS reports whether s is three non-empty base64url segments:
// the compact serialization, nothing else (no JSON serialization, no
// white space, no detached or empty payload).
func compactJWS(s string) bool {
	dots, run := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if run == 0 {
				return false
			}
			dots, run = dots+1, 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			run++
		default:
			return false
		}
	}
	return dots == 2 && run > 0
}

// ticketHeader checks a token's protected header, strictly and before
// any key is chosen: a JSON object holding exactly "alg":"EdDSA", "typ"
// (ours) and a "kid" of our shape, each once. Anything else — "none",
// HS256, an embedded "jwk", "jku", "x5u", "x5c", "crit", "b64" — is
// refused. It returns the kid.
func ticketHeader(seg string) (kid string, ok bool) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := k.(string)
		v, err := dec.Token()
		if err != nil {
			return "", false
		}
		s, isStr := v.(string)
		if _, dup := seen[name]; dup || !isStr || (name != "alg" && name != "kid" && name != "typ") {
			return "", false
		}
		seen[name] = s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false
	}
	if len(seen) != 3 || seen["alg"] != string(jose.EdDSA) || seen["typ"] != SignInTokenType || !validKid(seen["kid"]) {
		return "", false
	}
	return seen["kid"], true
}

// checkTicket reads what redeeming token would find, changing nothing:
// nil when it would sign someone in. The confirm page uses it.
func (a *Auth) checkTicket(ctx context.Context, token string) (*sitRec, error) {
	c, err := a.parseTicket(ctx, token)
	if err != nil {
		return nil, err
	}
	l, err := a.ticketRecord(ctx, c, token)
	if err != nil {
		return nil, err
	}
	return &l.v, ticketStatusErr(&l.v)
}

// ticketRecord loads the record of a parsed token and checks that it is
// this token's.
func (a *Auth) ticketRecord(ctx context.Context, c *ticketClaims, token string) (*loaded[sitRec], error) {
	l, err := load[sitRec](ctx, a.st, keySignInToken+c.ID)
	if err != nil {
		if isNotFound(err) {
			return nil, ticketInvalid()
		}
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(l.v.TokenHash), []byte(hashToken(token))) != 1 {
		return nil, ticketInvalid()
	}
	return l, nil
}

// ticketStatusErr says why a token's record does not allow signing in,
// or nil.
func ticketStatusErr(r *sitRec) error {
	switch SignInTokenStatus(r.Status) {
	case SignInTokenPending:
		return nil
	case SignInTokenAccepted:
		return ticketUsed()
	case SignInTokenRevoked:
		return ticketRevoked()
	}
	return ticketInvalid()
}

// redeemTicket signs client in with a sign-in token: it returns a
// complete sign-in whose ClaimSession hands out the new session. The
// token is used at most once: of any number of concurrent redemptions
// exactly one succeeds, because the record's move from pending to
// accepted, the session and the sign-in are one conditional Apply.
func (a *Auth) redeemTicket(ctx context.Context, client *Client, ticket string) (*SignIn, error) {
	if ticket == "" {
		return nil, paramMissing("ticket")
	}
	c, err := a.parseTicket(ctx, ticket)
	if err != nil {
		return nil, err
	}
	return retryApply("redeeming a sign-in token", func() (*SignIn, error) {
		l, err := a.ticketRecord(ctx, c, ticket)
		if err != nil {
			return nil, err
		}
		if err := ticketStatusErr(&l.v); err != nil {
			return nil, err
		}
		user, err := a.loadSignInUser(ctx, l.v.UserID)
		if err != nil {
			return nil, err
		}
		if user == nil {
			return nil, ticketInvalid()
		}
		addr := ""
		if e, err := load[flowRec](ctx, a.st, keyEmail+user.v.PrimaryEmailAddressID); err == nil {
			addr = e.v.Address
		} else if !isNotFound(err) {
			return nil, err
		}
		now := a.now()
		r := l.v
		r.Status, r.UpdatedAt = string(SignInTokenAccepted), ms(now)
		f := flowRec{ID: newID(prefixSignIn), Kind: kindSignIn, ClientID: client.ID, Status: string(SignInComplete),
			Address: addr, UserID: r.UserID, EmailAddressID: user.v.PrimaryEmailAddressID,
			Ver: &verRec{Strategy: StrategyTicket, Status: string(VerificationVerified), Attempts: 1,
				ExpireAt: r.ExpireAt, VerifiedClientID: client.ID},
			SessionID: newID(prefixSession), SessionClaimed: true,
			CreatedAt: ms(now), UpdatedAt: ms(now), AbandonAt: ms(now.Add(flowLifetime))}
		fresh, ops := a.newSession(ctx, f.SessionID, f.UserID, client.ID, now, false)
		u := user.v
		u.LastSignInAt = ms(now)
		ops = append(append(ops, a.emit(ctx, EventSignInTokenAccepted, r.UserID, r.token(), now)...),
			l.swap(r, r.storeExpiry()),
			user.swap(u, noExpiry),
			store.Insert(keySignIn+f.ID, encode(f), flowExpiry(&f)),
			userFlowIndex(&f))
		// A conflict (the token used or revoked, or the user changed meanwhile): look again.
		if err := a.apply(ctx, client.withSave(ops)...); err != nil {
			return nil, err
		}
		client.saved()
		si := a.signIn(&f, client)
		si.fresh = fresh
		return si, nil
	})
}

// Errors of sign-in tokens, with Clerk's codes. Each wraps ErrTicket
// (ticket_expired_code also ErrExpired; sign_in_token_cannot_be_revoked
// wraps ErrConflict).

func ticketError(code string, kind error, msg, long string, args ...string) *Error {
	e := newError(http.StatusBadRequest, code, kind, msg, long, args...)
	e.Meta = map[string]any{"param_name": "ticket"}
	return e
}

func ticketInvalid() *Error {
	return ticketError("ticket_invalid_code", ErrTicket, "invalid", "ticket_invalid")
}

func ticketExpired() *Error {
	return ticketError("ticket_expired_code", errors.Join(ErrTicket, ErrExpired), "is_expired", "ticket_expired")
}

func ticketUsed() *Error {
	return ticketError("sign_in_token_already_used_code", ErrTicket, "used", "ticket_used")
}

func ticketRevoked() *Error {
	return ticketError("sign_in_token_revoked_code", ErrTicket, "revoked", "ticket_revoked")
}

func ticketNotRevocable(s SignInTokenStatus) *Error {
	e := newError(http.StatusBadRequest, "sign_in_token_cannot_be_revoked", ErrConflict, "not_revocable", "ticket_not_revocable", "status", string(s))
	e.Meta = map[string]any{"status": string(s)}
	return e
}
