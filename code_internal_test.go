package magiclink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
)

// newCodeTestAuth is an Auth with codes on a new test store, or on st
// when it is not nil.
func newCodeTestAuth(t testing.TB, st store.Store, codes EmailCodes) (*Auth, *mailtest.Mailer) {
	t.Helper()
	e := newTestEnv()
	if st != nil {
		e.st = st
	}
	return e.open(t, func(c *Config) { c.EmailCodes = codes }), e.mail
}

// The stored hash is an HMAC under the server secret, bound to the flow:
// not the code's plain SHA-256, different under another secret, another
// flow, another address or another prepare.
func TestCodeHashKeyed(t *testing.T) {
	a, _ := newCodeTestAuth(t, nil, EmailCodes{Secret: bytes.Repeat([]byte{1}, 32)})
	b, _ := newCodeTestAuth(t, nil, EmailCodes{Secret: bytes.Repeat([]byte{2}, 32)})
	f := flowRec{ID: "sia_1", Kind: kindSignIn, Address: "ada@example.com", Ver: &verRec{SendID: "s1"}}
	h := a.codeHash(&f, "123456")
	plain := sha256.Sum256([]byte("123456"))
	if h == hex.EncodeToString(plain[:]) || h == b.codeHash(&f, "123456") {
		t.Fatal("the code hash is not keyed by the secret")
	}
	for _, g := range []flowRec{
		{ID: "sia_2", Kind: kindSignIn, Address: "ada@example.com", Ver: &verRec{SendID: "s1"}},
		{ID: "sia_1", Kind: kindSignUp, Address: "ada@example.com", Ver: &verRec{SendID: "s1"}},
		{ID: "sia_1", Kind: kindSignIn, Address: "eve@example.com", Ver: &verRec{SendID: "s1"}},
		{ID: "sia_1", Kind: kindSignIn, Address: "ada@example.com", Ver: &verRec{SendID: "s2"}},
	} {
		if a.codeHash(&g, "123456") == h {
			t.Fatalf("the hash does not bind %+v", g)
		}
	}
	f.Ver.CodeHash = h
	if !a.codeMatches(&f, "123456") || a.codeMatches(&f, "123457") || b.codeMatches(&f, "123456") {
		t.Fatal("codeMatches")
	}
}

// Without Config.EmailCodes.Secret, a secret is generated once and kept
// in the store, so that instances sharing it agree; with one, nothing is
// stored.
func TestCodeSecretStored(t *testing.T) {
	st := newTestEnv().st
	a, _ := newCodeTestAuth(t, st, EmailCodes{})
	b, _ := newCodeTestAuth(t, st, EmailCodes{})
	f := flowRec{ID: "sia_1", Ver: &verRec{SendID: "s1"}}
	if raw, err := st.Get(context.Background(), keyCodeSecret); err != nil || len(raw) != 32 || a.sendCode(&f) != b.sendCode(&f) {
		t.Fatalf("two instances on one store do not share a 32-byte code secret (%d bytes, %v)", len(raw), err)
	}
	st2 := newTestEnv().st
	newCodeTestAuth(t, st2, EmailCodes{Secret: bytes.Repeat([]byte{7}, 32)})
	if _, err := st2.Get(context.Background(), keyCodeSecret); !isNotFound(err) {
		t.Fatalf("a configured secret was stored too: %v", err)
	}
}

func TestNormalizeCode(t *testing.T) {
	a, _ := newCodeTestAuth(t, nil, EmailCodes{})
	for in, want := range map[string]string{
		"123456": "123456", "123 456": "123456", "123-456": "123456", " 1-2-3 4 5 6 ": "123456",
		"12345": "", "1234567": "", "12a456": "", "１２３４５６": "", "123\t456": "", strings.Repeat(" ", 100) + "123456": "",
	} {
		got, ok := a.normalizeCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalizeCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// A decoy is never completed by a code, even one that matches its stored
// hash: a sign-in for an unknown address (enumeration protection), and
// an address added to an account while another account has it verified
// (its owner gets a notice). Neither email carries a code.
func TestCodeDecoyNeverMatches(t *testing.T) {
	a, mt := newCodeTestAuth(t, nil, EmailCodes{})
	ctx := context.Background()
	c, _, err := a.Clients.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	si, err := a.SignIns.Create(ctx, c, SignInParams{Identifier: "nobody@example.com"})
	if err == nil {
		_, err = si.PrepareVerification(ctx, PrepareParams{Strategy: StrategyEmailCode})
	}
	if err != nil {
		t.Fatal(err)
	}
	matchKnownCode(t, a, mt, keySignIn+si.ID, 1)
	_, err = si.AttemptFirstFactor(ctx, AttemptParams{Code: "424242"})
	if !errors.Is(err, ErrCodeIncorrect) {
		t.Fatalf("the sign-in decoy's matching code = %v; want ErrCodeIncorrect", err)
	}

	if _, err := a.Users.Create(ctx, UserParams{EmailAddress: "taken@example.com"}); err != nil {
		t.Fatal(err)
	}
	other, err := a.Users.Create(ctx, UserParams{EmailAddress: "other@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.EmailAddresses.Create(ctx, other.ID, EmailAddressParams{EmailAddress: "taken@example.com"})
	if err == nil {
		_, err = e.PrepareVerification(ctx, c, PrepareParams{})
	}
	if err != nil {
		t.Fatal(err)
	}
	matchKnownCode(t, a, mt, keyEmail+e.ID, 2)
	_, err = e.AttemptVerification(ctx, c, AttemptParams{Code: "424242"})
	if !errors.Is(err, ErrCodeIncorrect) {
		t.Fatalf("the address decoy's matching code = %v; want ErrCodeIncorrect", err)
	}
}

// matchKnownCode waits for the n-th message, checks it carries no code,
// and sets the stored code hash of the flow at key to that of 424242.
func matchKnownCode(t *testing.T, a *Auth, mt *mailtest.Mailer, key string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := mt.Wait(ctx, n)
	if err != nil || msgs[n-1].Code != "" {
		t.Fatalf("message %d: %v, code %q", n, err, msgs[n-1].Code)
	}
	l, err := load[flowRec](ctx, a.st, key)
	if err != nil {
		t.Fatal(err)
	}
	f := l.v
	if f.Ver.CodeHash == "" {
		t.Fatal("the decoy has no code hash: its store writes differ from a real flow's")
	}
	f.Ver.CodeHash = a.codeHash(&f, "424242")
	if err := a.st.Apply(ctx, l.swap(f, flowExpiry(&f))); err != nil {
		t.Fatal(err)
	}
}

// FuzzNormalizeCode: whatever is typed, an accepted code is exactly the
// configured number of ASCII digits, is accepted again as it is, and is
// what is left of the input without its spaces and dashes.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "１２３４５６", "12345", "1234567", " ", "-", "12a456", "\x00123456"} {
		f.Add(s)
	}
	a, _ := newCodeTestAuth(f, nil, EmailCodes{})
	f.Fuzz(func(t *testing.T, in string) {
		code, ok := a.normalizeCode(in)
		if !ok {
			return
		}
		if len(code) != DefaultCodeLength || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("normalizeCode(%q) accepted %q", in, code)
		}
		if again, ok := a.normalizeCode(code); !ok || again != code {
			t.Fatalf("the accepted %q is not accepted as it is", code)
		}
		if strings.NewReplacer(" ", "", "-", "").Replace(in) != code {
			t.Fatalf("normalizeCode(%q) = %q: more than spaces and dashes went", in, code)
		}
	})
}
