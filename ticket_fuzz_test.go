package magiclink

import (
	"context"
	"strings"
	"testing"
)

// FuzzParseTicket feeds arbitrary strings to the token parser: it must
// never panic, and must reject everything with a ticket error. Its seed
// corpus includes a valid token (which parses) and near misses.
func FuzzParseTicket(f *testing.F) {
	a := newTestEnv().open(f, nil)
	ctx := context.Background()
	u, err := a.Users.Create(ctx, UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := a.SignInTokens.Create(ctx, u.ID, SignInTokenParams{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := a.parseTicket(ctx, tok.Token); err != nil {
		f.Fatalf("the valid seed does not parse: %v", err)
	}
	seg := strings.Split(tok.Token, ".")
	for _, s := range []string{
		tok.Token,
		tok.Token + ".",
		seg[0] + "." + seg[1] + ".",
		seg[0] + ".." + seg[2],
		"eyJhbGciOiJub25lIn0.e30.",
		`{"protected":"` + seg[0] + `","payload":"` + seg[1] + `","signature":"` + seg[2] + `"}`,
		"", ".", "..", "a.b.c", strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := a.parseTicket(ctx, s)
		if err != nil {
			if e := AsError(err); e == nil || e.Status != 400 {
				t.Fatalf("parseTicket(%q) = %v; want a 400 ticket error", s, err)
			}
			return
		}
		if c.ID != tok.ID {
			t.Fatalf("parseTicket(%q) accepted a token for %s", s, c.ID)
		}
		// Whatever else parsed (another encoding of the same signed
		// bytes) must still not match the stored hash unless it is the
		// token itself.
		if _, err := a.checkTicket(ctx, s); (err == nil) != (s == tok.Token) {
			t.Fatalf("checkTicket(%q) = %v", s, err)
		}
	})
}
