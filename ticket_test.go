package magiclink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store"
)

// sitSigningKey is the key tenv signs with, so that tests can forge
// tokens that carry a valid signature.
var sitSigningKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// tenv is an env for sign-in-token tests: it signs with sitSigningKey.
type tenv struct {
	*env
	st store.Store
}

func newTicketEnv(t testing.TB, mod func(*magiclink.Config)) *tenv {
	t.Helper()
	e := newEnv(t, func(c *magiclink.Config) {
		c.SigningKeys = []ed25519.PrivateKey{sitSigningKey}
		if mod != nil {
			mod(c)
		}
	})
	return &tenv{env: e, st: e.auth.Store()}
}

// newTicketUser is newTicketEnv with a user, ada@example.com.
func newTicketUser(t testing.TB, mod func(*magiclink.Config)) (*tenv, *magiclink.User) {
	t.Helper()
	e := newTicketEnv(t, mod)
	return e, e.user(t, "ada@example.com")
}

func (e *tenv) user(t testing.TB, addr string) *magiclink.User {
	t.Helper()
	u, err := e.auth.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *tenv) client(t testing.TB) *magiclink.Client {
	return newClient(t, e.auth)
}

func (e *tenv) token(t testing.TB, userID string, ttl time.Duration) *magiclink.SignInToken {
	t.Helper()
	tok, err := e.auth.SignInTokens.Create(context.Background(), userID, magiclink.SignInTokenParams{ExpiresIn: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// redeem signs a new client in with ticket.
func (e *tenv) redeem(t testing.TB, ticket string) (*magiclink.SignIn, error) {
	t.Helper()
	return e.auth.SignIns.Create(context.Background(), e.client(t), magiclink.SignInParams{Strategy: "ticket", Ticket: ticket})
}

// wantSessions fails t unless the user has want sessions, counted by
// revoking them all.
func (e *tenv) wantSessions(t testing.TB, userID string, want int) {
	t.Helper()
	n, err := e.auth.Sessions.RevokeUser(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("%s has %d sessions; want %d", userID, n, want)
	}
}

// sitWantCode fails unless err is an *Error with code (and HTTP status).
func sitWantCode(t testing.TB, err error, status int, code string) {
	t.Helper()
	e := magiclink.AsError(err)
	if e == nil || e.Code != code || e.Status != status {
		t.Fatalf("error = %v; want %d %s", err, status, code)
	}
}

func TestTicketCreateRedeem(t *testing.T) {
	e, u := newTicketUser(t, nil)
	ctx := context.Background()
	tok := e.token(t, u.ID, 0)

	if !strings.HasPrefix(tok.ID, "sit_") || tok.UserID != u.ID || tok.Status != magiclink.SignInTokenPending ||
		tok.URL != "https://app.example/auth/ticket?token="+tok.Token || strings.Count(tok.Token, ".") != 2 {
		t.Fatalf("created token = %+v", tok)
	}
	now := e.clock.Now()
	if !tok.ExpireAt.Equal(now.Add(30*24*time.Hour)) || !tok.CreatedAt.Equal(now) {
		t.Fatalf("expire_at %v created_at %v; want 30 days from %v", tok.ExpireAt, tok.CreatedAt, now)
	}
	got, err := e.auth.SignInTokens.Get(ctx, tok.ID)
	if err != nil || got.Token != "" || got.URL != "" || got.Status != magiclink.SignInTokenPending {
		t.Fatalf("Get = %+v, %v; want pending without token or url", got, err)
	}

	c := e.client(t)
	si, err := e.auth.SignIns.Create(ctx, c, magiclink.SignInParams{Strategy: "ticket", Ticket: tok.Token})
	if err != nil {
		t.Fatal(err)
	}
	if si.Status != magiclink.SignInComplete || si.CreatedSessionID == "" || si.Identifier != "ada@example.com" ||
		si.FirstFactorVerification == nil || si.FirstFactorVerification.Strategy != "ticket" ||
		si.FirstFactorVerification.Status != magiclink.VerificationVerified || !si.FirstFactorVerification.VerifiedFromTheSameClient {
		t.Fatalf("sign-in = %+v", si)
	}
	s, err := si.ClaimSession(ctx)
	if err != nil || s == nil || s.ID != si.CreatedSessionID || s.UserID != u.ID || s.Token == "" {
		t.Fatalf("ClaimSession = %+v, %v", s, err)
	}
	if again, _ := si.ClaimSession(ctx); again != nil {
		t.Fatal("ClaimSession handed the session out twice")
	}
	if live, err := e.auth.Sessions.Lookup(ctx, s.Token); err != nil || live.UserID != u.ID {
		t.Fatalf("Lookup of the new session = %+v, %v", live, err)
	}
	// The sign-in can be read back by its client, complete, with nothing
	// left to claim.
	back, err := e.auth.SignIns.Get(ctx, c, si.ID)
	if err != nil || back.Status != magiclink.SignInComplete || back.CreatedSessionID != s.ID {
		t.Fatalf("SignIn.Get = %+v, %v", back, err)
	}
	if more, _ := back.ClaimSession(ctx); more != nil {
		t.Fatal("SignIn.Get handed out a second session")
	}
	if got, _ := e.auth.SignInTokens.Get(ctx, tok.ID); got.Status != magiclink.SignInTokenAccepted {
		t.Fatalf("status after redeeming = %s", got.Status)
	}

	_, err = e.redeem(t, tok.Token)
	sitWantCode(t, err, 400, "sign_in_token_already_used_code")
	if !errors.Is(err, magiclink.ErrTicket) {
		t.Fatalf("%v does not wrap ErrTicket", err)
	}
	_, err = e.auth.SignInTokens.Revoke(ctx, tok.ID)
	sitWantCode(t, err, 400, "sign_in_token_cannot_be_revoked")
	e.wantSessions(t, u.ID, 1)
}

func TestTicketRevoke(t *testing.T) {
	e, u := newTicketUser(t, nil)
	ctx := context.Background()
	tok := e.token(t, u.ID, time.Hour)
	e.clock.Advance(time.Minute)

	r, err := e.auth.SignInTokens.Revoke(ctx, tok.ID)
	if err != nil || r.Status != magiclink.SignInTokenRevoked || !r.UpdatedAt.Equal(e.clock.Now()) || r.Token != "" {
		t.Fatalf("Revoke = %+v, %v", r, err)
	}
	_, err = e.auth.SignInTokens.Revoke(ctx, tok.ID)
	sitWantCode(t, err, 400, "sign_in_token_cannot_be_revoked")
	if !errors.Is(err, magiclink.ErrConflict) {
		t.Fatalf("%v does not wrap ErrConflict", err)
	}
	_, err = e.redeem(t, tok.Token)
	sitWantCode(t, err, 400, "sign_in_token_revoked_code")
	e.wantSessions(t, u.ID, 0)
	for _, id := range []string{"sit_00000000000000000000000000000000", "sit_x", "../../x", ""} {
		_, err = e.auth.SignInTokens.Revoke(ctx, id)
		sitWantCode(t, err, 404, "resource_not_found")
		_, err = e.auth.SignInTokens.Get(ctx, id)
		sitWantCode(t, err, 404, "resource_not_found")
	}
}

func TestTicketExpiry(t *testing.T) {
	e, u := newTicketUser(t, func(c *magiclink.Config) { c.SessionLifetime = 60 * 24 * time.Hour })
	start := e.clock.Now()
	a, b := e.token(t, u.ID, time.Minute), e.token(t, u.ID, time.Minute)
	def := e.token(t, u.ID, 0)

	e.clock.Set(start.Add(time.Minute)) // exactly exp: still good
	if _, err := e.redeem(t, a.Token); err != nil {
		t.Fatalf("redeeming at exp: %v", err)
	}
	e.clock.Set(start.Add(time.Minute + time.Second)) // past the one-second leeway
	_, err := e.redeem(t, b.Token)
	sitWantCode(t, err, 400, "ticket_expired_code")
	if !errors.Is(err, magiclink.ErrExpired) || !errors.Is(err, magiclink.ErrTicket) {
		t.Fatalf("%v should wrap ErrExpired and ErrTicket", err)
	}
	// A used token that has since expired reads as expired too.
	_, err = e.redeem(t, a.Token)
	sitWantCode(t, err, 400, "ticket_expired_code")
	// Long after: the record is gone, the answer is the same.
	e.clock.Set(start.Add(29*24*time.Hour + 23*time.Hour))
	if _, err := e.redeem(t, def.Token); err != nil {
		t.Fatalf("default lifetime: redeeming after 29 days: %v", err)
	}
	e.clock.Set(start.Add(40 * 24 * time.Hour))
	_, err = e.redeem(t, b.Token)
	sitWantCode(t, err, 400, "ticket_expired_code")
	e.wantSessions(t, u.ID, 2)
}

func TestTicketCreateErrors(t *testing.T) {
	e, u := newTicketUser(t, nil)
	ctx := context.Background()
	for _, id := range []string{"user_00000000000000000000000000000000", "user_nope", "../../x"} {
		_, err := e.auth.SignInTokens.Create(ctx, id, magiclink.SignInTokenParams{})
		sitWantCode(t, err, 404, "resource_not_found")
	}
	_, err := e.auth.SignInTokens.Create(ctx, "", magiclink.SignInTokenParams{})
	sitWantCode(t, err, 422, "form_param_missing")
	for _, d := range []time.Duration{-time.Second, time.Millisecond, 1500 * time.Millisecond, 366 * 24 * time.Hour} {
		_, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{ExpiresIn: d})
		sitWantCode(t, err, 422, "form_param_value_invalid")
	}
	for _, d := range []time.Duration{time.Second, magiclink.MaxSignInTokenLifetime} {
		if _, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{ExpiresIn: d}); err != nil {
			t.Fatalf("ExpiresIn %v: %v", d, err)
		}
	}
	// A ticket sign-in needs its ticket.
	_, err = e.redeem(t, "")
	sitWantCode(t, err, 422, "form_param_missing")
}

func TestTicketConcurrentRedemption(t *testing.T) {
	eachStore(t, func(t *testing.T, onStore func(*magiclink.Config)) {
		e, u := newTicketUser(t, onStore)
		tok := e.token(t, u.ID, 0)
		const n = 64
		clients := make([]*magiclink.Client, n)
		for i := range clients {
			clients[i] = e.client(t)
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = e.auth.SignIns.Create(context.Background(), clients[i], magiclink.SignInParams{Strategy: "ticket", Ticket: tok.Token})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "sign_in_token_already_used_code":
				t.Errorf("redemption: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d redemptions succeeded; want exactly 1", ok)
		}
		e.wantSessions(t, u.ID, 1)
	})
}

// sitForge builds a compact JWS from header and claims, signed by sign.
func sitForge(header, claims any, sign func(input []byte) []byte) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func sitEdSigner(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

// sitParts decodes a token's header and claims.
func sitParts(t testing.TB, tok string) (header, claims map[string]any, sig string) {
	t.Helper()
	seg := strings.Split(tok, ".")
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(seg[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims, seg[2]
}

func sitClone(m map[string]any, set map[string]any, del ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	for _, k := range del {
		delete(out, k)
	}
	return out
}

func TestTicketRejects(t *testing.T) {
	e, u := newTicketUser(t, nil)
	tok := e.token(t, u.ID, time.Hour)
	h, c, sig := sitParts(t, tok.Token)

	if h["alg"] != "EdDSA" || h["typ"] != magiclink.SignInTokenType || h["kid"] == "" || len(h) != 3 {
		t.Fatalf("header = %v", h)
	}
	for _, k := range []string{"iss", "aud", "jti", "iat", "exp", "nonce"} {
		if c[k] == nil {
			t.Fatalf("claims %v lack %s", c, k)
		}
	}
	if c["iss"] != "https://app.example" || c["aud"] != "https://app.example/auth" || c["jti"] != tok.ID || c["sub"] != nil {
		t.Fatalf("claims = %v", c)
	}

	_, other, _ := ed25519.GenerateKey(nil)
	pub := sitSigningKey.Public().(ed25519.PublicKey)
	ours := sitEdSigner(sitSigningKey)
	hs256 := func(in []byte) []byte {
		m := hmac.New(sha256.New, pub)
		m.Write(in)
		return m.Sum(nil)
	}
	otherJWK := map[string]any{"kty": "OKP", "crv": "Ed25519",
		"x": base64.RawURLEncoding.EncodeToString(other.Public().(ed25519.PublicKey))}
	seg := strings.Split(tok.Token, ".")
	flat, _ := json.Marshal(map[string]string{"protected": seg[0], "payload": seg[1], "signature": seg[2]})
	general, _ := json.Marshal(map[string]any{"payload": seg[1], "signatures": []map[string]string{{"protected": seg[0], "signature": seg[2]}}})
	past := e.clock.Now().Add(-2 * time.Hour).Unix()

	cases := []struct {
		name, token string
		code        string
	}{
		{"alg none", sitForge(sitClone(h, map[string]any{"alg": "none"}), c, func([]byte) []byte { return nil }), "ticket_invalid_code"},
		{"alg none with a signature", sitForge(sitClone(h, map[string]any{"alg": "none"}), c, ours), "ticket_invalid_code"},
		{"another Ed25519 key", sitForge(h, c, sitEdSigner(other)), "ticket_invalid_code"},
		{"HS256 keyed with the public key", sitForge(sitClone(h, map[string]any{"alg": "HS256"}), c, hs256), "ticket_invalid_code"},
		{"embedded jwk, attacker's key", sitForge(sitClone(h, map[string]any{"jwk": otherJWK}, "kid"), c, sitEdSigner(other)), "ticket_invalid_code"},
		{"embedded jwk beside our kid", sitForge(sitClone(h, map[string]any{"jwk": otherJWK}), c, sitEdSigner(other)), "ticket_invalid_code"},
		{"embedded jwk, signed by our key", sitForge(sitClone(h, map[string]any{"jwk": otherJWK}), c, ours), "ticket_invalid_code"},
		{"jku header", sitForge(sitClone(h, map[string]any{"jku": "https://evil.example/jwks.json"}), c, ours), "ticket_invalid_code"},
		{"x5u header", sitForge(sitClone(h, map[string]any{"x5u": "https://evil.example/cert.pem"}), c, ours), "ticket_invalid_code"},
		{"crit header", sitForge(sitClone(h, map[string]any{"crit": []string{"b64"}, "b64": false}), c, ours), "ticket_invalid_code"},
		{"kid ../../x", sitForge(sitClone(h, map[string]any{"kid": "../../x"}), c, sitEdSigner(other)), "ticket_invalid_code"},
		{"kid ../../x, our signature", sitForge(sitClone(h, map[string]any{"kid": "../../x"}), c, ours), "ticket_invalid_code"},
		{"no kid", sitForge(sitClone(h, nil, "kid"), c, ours), "ticket_invalid_code"},
		{"unknown kid", sitForge(sitClone(h, map[string]any{"kid": strings.Repeat("A", 43)}), c, ours), "ticket_invalid_code"},
		{"no typ", sitForge(sitClone(h, nil, "typ"), c, ours), "ticket_invalid_code"},
		{"typ JWT", sitForge(sitClone(h, map[string]any{"typ": "JWT"}), c, ours), "ticket_invalid_code"},
		{"missing exp", sitForge(h, sitClone(c, nil, "exp"), ours), "ticket_invalid_code"},
		{"missing jti", sitForge(h, sitClone(c, nil, "jti"), ours), "ticket_invalid_code"},
		{"missing iat", sitForge(h, sitClone(c, nil, "iat"), ours), "ticket_invalid_code"},
		{"exp as a string", sitForge(h, sitClone(c, map[string]any{"exp": "9999999999"}), ours), "ticket_invalid_code"},
		{"wrong iss", sitForge(h, sitClone(c, map[string]any{"iss": "https://evil.example"}), ours), "ticket_invalid_code"},
		{"wrong aud", sitForge(h, sitClone(c, map[string]any{"aud": "https://app.example/other"}), ours), "ticket_invalid_code"},
		{"aud as a list", sitForge(h, sitClone(c, map[string]any{"aud": []string{"https://app.example/auth"}}), ours), "ticket_invalid_code"},
		{"issued in the future", sitForge(h, sitClone(c, map[string]any{"iat": e.clock.Now().Add(time.Minute).Unix()}), ours), "ticket_invalid_code"},
		{"exp extended, same nonce", sitForge(h, sitClone(c, map[string]any{"exp": e.clock.Now().Add(48 * time.Hour).Unix()}), ours), "ticket_invalid_code"},
		{"valid signature, unknown jti", sitForge(h, sitClone(c, map[string]any{"jti": "sit_00000000000000000000000000000000"}), ours), "ticket_invalid_code"},
		{"expired, our signature", sitForge(h, sitClone(c, map[string]any{"iat": past - 60, "exp": past}), ours), "ticket_expired_code"},
		{"payload swapped under the signature", seg[0] + "." + strings.Split(sitForge(h, sitClone(c, map[string]any{"exp": c["exp"].(float64) + 1}), ours), ".")[1] + "." + sig, "ticket_invalid_code"},
		{"JSON serialization (flattened)", string(flat), "ticket_invalid_code"},
		{"JSON serialization (general)", string(general), "ticket_invalid_code"},
		{"1 MiB string", strings.Repeat("a", 1<<20), "ticket_invalid_code"},
		{"1 MiB compact-looking", seg[0] + "." + strings.Repeat("A", 1<<20) + "." + sig, "ticket_invalid_code"},
		{"trailing space", tok.Token + " ", "ticket_invalid_code"},
		{"four segments", tok.Token + ".x", "ticket_invalid_code"},
		{"empty signature", seg[0] + "." + seg[1] + ".", "ticket_invalid_code"},
		{"padding", seg[0] + "=." + seg[1] + "." + sig, "ticket_invalid_code"},
		{"not a JWT", "hello", "ticket_invalid_code"},
		{"dots", "..", "ticket_invalid_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.redeem(t, tc.token)
			sitWantCode(t, err, 400, tc.code)
		})
	}
	e.wantSessions(t, u.ID, 0)
	if got, _ := e.auth.SignInTokens.Get(context.Background(), tok.ID); got.Status != magiclink.SignInTokenPending {
		t.Fatalf("status after rejections = %s; want pending", got.Status)
	}
	if _, err := e.redeem(t, tok.Token); err != nil {
		t.Fatalf("the genuine token after the rejections: %v", err)
	}
}

func TestTicketUserGone(t *testing.T) {
	e, u := newTicketUser(t, nil)
	tok := e.token(t, u.ID, time.Hour)
	if err := e.st.Apply(context.Background(), store.Delete("user/"+u.ID)); err != nil {
		t.Fatal(err)
	}
	_, err := e.redeem(t, tok.Token)
	sitWantCode(t, err, 400, "ticket_invalid_code")
}

func TestTicketSigningKeysConfig(t *testing.T) {
	e := newTicketEnv(t, nil)
	_, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: e.st, Mailer: e.mail,
		SigningKeys: []ed25519.PrivateKey{make(ed25519.PrivateKey, 12)}})
	if err == nil {
		t.Fatal("New accepted a short signing key")
	}
	// Rotation through Config: a token signed by the old key verifies
	// while the old key is still listed after the new one.
	u := e.user(t, "ada@example.com")
	old := e.token(t, u.ID, time.Hour)
	if _, err := e.auth.SignInTokens.RotateKey(context.Background()); err == nil {
		t.Fatal("RotateKey worked with Config.SigningKeys")
	}
	_, next, _ := ed25519.GenerateKey(nil)
	a2 := e.instance(t, func(c *magiclink.Config) { c.SigningKeys = []ed25519.PrivateKey{next, sitSigningKey} })
	fresh, err := a2.SignInTokens.Create(context.Background(), u.ID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	hOld, _, _ := sitParts(t, old.Token)
	hNew, _, _ := sitParts(t, fresh.Token)
	if hOld["kid"] == hNew["kid"] {
		t.Fatal("the new key did not sign the new token")
	}
	for _, tk := range []string{old.Token, fresh.Token} {
		if _, err := a2.SignIns.Create(context.Background(), e.client(t), magiclink.SignInParams{Strategy: "ticket", Ticket: tk}); err != nil {
			t.Fatalf("redeeming on the rotated instance: %v", err)
		}
	}
}
