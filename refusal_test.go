package magiclink_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/store/boltstore"
)

// TestRefusedRequestsWriteNothing: thousands of refused requests of every
// kind, on every route, from browsers with and without cookies, leave the
// bbolt file byte for byte as it was, and set no cookie.
func TestRefusedRequestsWriteNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "magiclink.db")
	var st *boltstore.Store
	s := newSite(t, func(c *magiclink.Config) {
		var err error
		if st, err = boltstore.Open(path, boltstore.Config{Now: c.Now}); err != nil {
			t.Fatal(err)
		}
		c.Store = st
	})
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()

	// Set-up, without mail (so no sender writes later): a user signed in
	// by a sign-in token, an address of theirs, a sign-in of another
	// browser, and the per-IP creation limit used up.
	u, err := s.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	me := s.browser(t)
	me.api("POST", "/auth/sign_ins", map[string]any{"strategy": "ticket", "ticket": tok.Token}, 200)
	addrID := me.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "ada2@example.com"}, 200)["id"].(string)
	other := s.browser(t)
	otherSI := other.api("POST", "/auth/sign_ins", map[string]any{"identifier": "ada@example.com"}, 200)["id"].(string)
	stranger := s.browser(t) // has a client cookie, owns nothing here
	stranger.api("POST", "/auth/sign_ins", map[string]any{"identifier": "bob@example.com"}, 200)
	for i := 0; ; i++ {
		res, _ := other.do("POST", "/auth/sign_ups", "application/json", `{"email_address":"new@example.com"}`)
		if res.StatusCode == http.StatusTooManyRequests {
			break
		}
		if i > 10 {
			t.Fatal("the per-IP creation limit never applied")
		}
	}
	usedTicket := tok.Token // accepted above: redeeming it again is refused

	snapshot := func() []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := snapshot()

	json, form := "application/json", "application/x-www-form-urlencoded"
	big := `{"email_address":"` + strings.Repeat("a", 20000) + `"}`
	type req struct{ method, path, ctype, body string }
	cases := []req{
		// Bad input.
		{"POST", "/auth/sign_ins", json, `{"identifier":`},
		{"POST", "/auth/sign_ins", json, `[1]`},
		{"POST", "/auth/sign_ins", json, big},
		{"POST", "/auth/sign_ins", json, `{"identifier":5}`},
		{"POST", "/auth/sign_ins", json, `{"identifier":"Ada <a@b.com>"}`},
		{"POST", "/auth/sign_ins", json, `{"identifier":"a@b.com","ticket":"x"}`},
		{"POST", "/auth/sign_ins", json, `{"strategy":"oauth"}`},
		{"POST", "/auth/sign_ins", json, `{"strategy":"ticket","ticket":"not.a.jwt"}`},
		{"POST", "/auth/sign_ins", json, `{"strategy":"ticket","ticket":"` + usedTicket + `"}`},
		{"POST", "/auth/sign_ins", "text/plain", `x`},
		{"POST", "/auth/sign_ups", json, `{}`},
		{"POST", "/auth/sign_ups", form, "email_address=a%40b.com%0d%0aBcc%3a+c%40d.com"},
		{"POST", "/auth/sign_ups", json, big},
		// Limits: valid requests past the per-IP creation limit.
		{"POST", "/auth/sign_ins", json, `{"identifier":"ada@example.com"}`},
		{"POST", "/auth/sign_ups", json, `{"email_address":"new@example.com"}`},
		// Unknown or foreign ids, bad parameters.
		{"GET", "/auth/sign_ins/sia_0196f0c0a1b27c3d8e9f000000000000", "", ""},
		{"GET", "/auth/sign_ins/" + otherSI, "", ""},
		{"GET", "/auth/sign_ups/sua_x?wait=abc", "", ""},
		{"POST", "/auth/sign_ins/" + otherSI + "/prepare_first_factor", json, `{"strategy":"email_link"}`},
		{"POST", "/auth/sign_ins/sia_0196f0c0a1b27c3d8e9f000000000000/prepare_first_factor", json, `{"strategy":"email_link"}`},
		{"POST", "/auth/sign_ups/sua_0196f0c0a1b27c3d8e9f000000000000/prepare_verification", json, `{"strategy":"email_link"}`},
		{"POST", "/auth/me/email_addresses", json, `{"email_address":"x@y.com"}`},
		{"POST", "/auth/me/email_addresses/" + addrID + "/prepare_verification", json, `{"strategy":"email_link"}`},
		{"GET", "/auth/me", "", ""},
		{"DELETE", "/auth/session", "", ""},
		{"POST", "/auth/nope", json, `{}`},
		// Email codes: someone else's flow, unknown ids, bad parameters.
		{"POST", "/auth/sign_ins/" + otherSI + "/attempt_first_factor", json, `{"strategy":"email_code","code":"123456"}`},
		{"POST", "/auth/sign_ins/sia_0196f0c0a1b27c3d8e9f000000000000/attempt_first_factor", json, `{"strategy":"email_code","code":"123456"}`},
		{"POST", "/auth/sign_ins/" + otherSI + "/attempt_first_factor", json, `{"code":"123456"}`},
		{"POST", "/auth/sign_ins/" + otherSI + "/attempt_first_factor", json, `{"strategy":"email_code","code":123456}`},
		{"POST", "/auth/sign_ups/sua_0196f0c0a1b27c3d8e9f000000000000/attempt_verification", json, `{"strategy":"email_code","code":"123456"}`},
		{"POST", "/auth/me/email_addresses/" + addrID + "/attempt_verification", json, `{"code":"123456"}`},
		// Links and tickets that do not work.
		{"POST", "/auth/verify", form, "token=" + strings.Repeat("A", 43)},
		{"POST", "/auth/verify", form, "token=junk"},
		{"POST", "/auth/ticket", form, "token=junk"},
		{"POST", "/auth/verify/deny", form, "token=" + strings.Repeat("A", 43)},
		{"POST", "/auth/ticket", form, "token=" + usedTicket},
	}
	// The signed-in browser's refusals: bad input on its own routes.
	mine := []req{
		{"POST", "/auth/me/email_addresses", json, `{"email_address":"bad"}`},
		{"POST", "/auth/me/email_addresses", json, `{"email_address":"ada2@example.com"}`},
		{"POST", "/auth/me/email_addresses/" + addrID + "/prepare_verification", json, `{"strategy":"email_link","redirect_url":"//evil.example"}`},
		{"POST", "/auth/me/email_addresses/idn_0196f0c0a1b27c3d8e9f000000000000/prepare_verification", json, `{"strategy":"email_link"}`},
		{"GET", "/auth/me/email_addresses/idn_0196f0c0a1b27c3d8e9f000000000000", "", ""},
		{"POST", "/auth/me/email_addresses/" + addrID + "/attempt_verification", json, `{"code":"123456"}`}, // nothing prepared
		{"POST", "/auth/me/email_addresses/" + addrID + "/attempt_verification", json, `{}`},
	}
	sent := 0
	for range 60 {
		fresh := s.browser(t) // no cookies at all
		for _, c := range cases {
			for _, b := range []*browser{fresh, stranger} {
				res, body := b.do(c.method, c.path, c.ctype, c.body)
				// (Denying a dead link answers 200 with a page saying so.)
				if (res.StatusCode < 300 && !strings.HasSuffix(c.path, "/deny")) || res.StatusCode >= 500 {
					t.Fatalf("%s %s %s = %d %s; want a refusal", c.method, c.path, c.body, res.StatusCode, body)
				}
				if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 && !strings.Contains(c.path, "/session") {
					t.Fatalf("%s %s %s set %v", c.method, c.path, c.body, sc)
				}
				sent++
			}
		}
		for _, c := range mine {
			res, body := me.do(c.method, c.path, c.ctype, c.body)
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Fatalf("%s %s %s = %d %s; want a refusal", c.method, c.path, c.body, res.StatusCode, body)
			}
			sent++
		}
	}
	if after := snapshot(); !bytes.Equal(before, after) {
		t.Fatalf("%d refused requests changed the store file", sent)
	}
	t.Logf("%d refused requests, store file unchanged", sent)
}
