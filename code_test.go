package magiclink_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// code returns the code of the n-th message.
func (e *env) code(t *testing.T, n int) string {
	t.Helper()
	m := e.message(t, n)
	if m.Code == "" {
		t.Fatalf("message %d (%s) carries no code", n, m.Kind)
	}
	return m.Code
}

// signedOut returns a browser of the user it registers with addr, signed
// out.
func (s *site) signedOut(t *testing.T, addr string) *browser {
	b := s.browser(t)
	b.signUp(addr)
	b.api("DELETE", "/auth/session", nil, 200)
	return b
}

// useBolt makes c keep its data in a bbolt file in a temporary folder.
func useBolt(t *testing.T, c *magiclink.Config) {
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "m.db"), boltstore.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	c.Store = bs
}

// eachStore runs test once on memstore and once on boltstore: onStore
// puts the store in a Config (for memstore, the test helpers' default,
// it changes nothing).
func eachStore(t *testing.T, test func(t *testing.T, onStore func(*magiclink.Config))) {
	for _, name := range []string{"memstore", "boltstore"} {
		t.Run(name, func(t *testing.T) {
			test(t, func(c *magiclink.Config) {
				if name == "boltstore" {
					useBolt(t, c)
				}
			})
		})
	}
}

// wrongCode returns a well-formed code other than code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// startSignIn starts a sign-in for addr on b, prepares it with strategy,
// and returns its id and the number of the message that carries it.
func (b *browser) startSignIn(addr, strategy string) (string, int) {
	b.t.Helper()
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": addr}, 200)
	id := si["id"].(string)
	n := len(b.s.mail.Messages()) + 1
	b.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", map[string]any{"strategy": strategy}, 200)
	b.s.message(b.t, n)
	return id, n
}

// attempt posts a code to a sign-in and returns the answer.
func (b *browser) attempt(id string, body map[string]any) answer {
	b.t.Helper()
	return b.answer("POST", "/auth/sign_ins/"+id+"/attempt_first_factor", body)
}

// verificationOf returns the sign-in's first-factor verification as b
// reads it.
func (b *browser) verificationOf(id string) map[string]any {
	b.t.Helper()
	v, _ := b.api("GET", "/auth/sign_ins/"+id, nil, 200)["first_factor_verification"].(map[string]any)
	return v
}

func codeOf(a answer) string {
	m, _ := a.json.(map[string]any)
	return errCode(m)
}

// TestCodeOtherDevice is the case codes exist for: a sign-in asked for on
// a laptop, the email read on a phone. The link on the phone answers
// client_mismatch and burns nothing; the code typed on the laptop signs
// the laptop in; then the link is used up, and so is the code.
func TestCodeOtherDevice(t *testing.T) {
	s := newSite(t, nil)
	owner := s.browser(t)
	owner.signUp("ada@example.com")
	laptop, phone := s.browser(t), s.browser(t)

	id, n := laptop.startSignIn("ada@example.com", "email_link")
	msg := s.message(t, n)
	if len(msg.Code) != 6 || strings.Trim(msg.Code, "0123456789") != "" {
		t.Fatalf("code %q: want 6 digits", msg.Code)
	}
	if strings.Contains(msg.Subject, msg.Code) || !strings.Contains(msg.Text, msg.Code) || !strings.Contains(msg.HTML, msg.Code) {
		t.Fatalf("the code must be in the text and HTML bodies and not the subject: %q", msg.Subject)
	}
	if u := phone.confirm(s.token(t, n)); u.Query().Get("magiclink_status") != "client_mismatch" {
		t.Fatalf("the link on the phone landed on %s", u)
	}
	phone.api("POST", "/auth/sign_ins", map[string]any{"identifier": "phone@example.com"}, 200) // a client of its own
	if a := phone.attempt(id, map[string]any{"strategy": "email_code", "code": msg.Code}); a.status != 404 || codeOf(a) != "resource_not_found" {
		t.Fatalf("attempt from the phone = %d %s; want 404", a.status, a.body)
	}
	if v := laptop.verificationOf(id); v["attempts"] != 0.0 {
		t.Fatalf("the phone's attempts counted: %v", v)
	}
	// Typed with a space, as people copy it.
	out := laptop.api("POST", "/auth/sign_ins/"+id+"/attempt_first_factor",
		map[string]any{"strategy": "email_code", "code": msg.Code[:3] + " " + msg.Code[3:]}, 200)
	v := out["first_factor_verification"].(map[string]any)
	if out["status"] != "complete" || out["created_session_id"] == nil || v["status"] != "verified" ||
		v["strategy"] != "email_link" || v["attempts"] != 1.0 || v["verified_from_the_same_client"] != true {
		t.Fatalf("attempt = %v", out)
	}
	if laptop.cookie(s.auth.SessionCookieName()) == "" {
		t.Fatal("no session cookie on the laptop")
	}
	if me := laptop.api("GET", "/auth/me", nil, 200); me["id"] == nil {
		t.Fatal("the laptop is not signed in")
	}
	phone.api("GET", "/auth/me", nil, 401)
	// One verification: the link died with the code, and the code is used.
	if u := laptop.confirm(s.token(t, n)); u.Query().Get("magiclink_status") != "failed" {
		t.Fatalf("the link after the code landed on %s", u)
	}
	if a := laptop.attempt(id, map[string]any{"strategy": "email_code", "code": msg.Code}); a.status != 400 || codeOf(a) != "verification_status_invalid" {
		t.Fatalf("second attempt = %d %s", a.status, a.body)
	}
}

// TestCodeUsedByLink: confirming the link uses the code up.
func TestCodeUsedByLink(t *testing.T) {
	s := newSite(t, nil)
	b := s.signedOut(t, "ada@example.com")
	id, n := b.startSignIn("ada@example.com", "email_code")
	if u := b.confirm(s.token(t, n)); u.Query().Get("magiclink_status") != "verified" {
		t.Fatalf("link landed on %s", u)
	}
	if a := b.attempt(id, map[string]any{"strategy": "email_code", "code": s.code(t, n)}); a.status != 400 || codeOf(a) != "verification_status_invalid" {
		t.Fatalf("code after the link = %d %s", a.status, a.body)
	}
}

// TestCodeErrors covers every refusal of an attempt, which ones count as
// a guess, and the failed state after MaxCodeAttempts.
func TestCodeErrors(t *testing.T) {
	s := newSite(t, nil)
	b := s.signedOut(t, "ada@example.com")
	id, n := b.startSignIn("ada@example.com", "email_code")
	code := s.code(t, n)
	if v := b.verificationOf(id); v["strategy"] != "email_code" || v["object"] != "verification_email_code" || v["expire_at"] == nil {
		t.Fatalf("verification = %v", v)
	}

	attempts := 0
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		counts bool
	}{
		{"no strategy", map[string]any{"code": code}, 422, "form_param_missing", false},
		{"other strategy", map[string]any{"strategy": "email_link", "code": code}, 422, "form_param_value_invalid", false},
		{"no code", map[string]any{"strategy": "email_code"}, 422, "form_param_missing", false},
		{"code not a string", map[string]any{"strategy": "email_code", "code": 123456}, 422, "form_param_format_invalid", false},
		{"wrong", map[string]any{"strategy": "email_code", "code": wrongCode(code)}, 422, "form_code_incorrect", true},
		{"too short", map[string]any{"strategy": "email_code", "code": code[:5]}, 422, "form_param_format_invalid", true},
		{"letters", map[string]any{"strategy": "email_code", "code": "12a456"}, 422, "form_param_format_invalid", true},
		{"dashes", map[string]any{"strategy": "email_code", "code": "-" + wrongCode(code)[:2] + "-" + wrongCode(code)[2:]}, 422, "form_code_incorrect", true},
	} {
		a := b.attempt(id, c.body)
		if a.status != c.status || codeOf(a) != c.code {
			t.Fatalf("%s: %d %s; want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
		if c.counts {
			attempts++
			if left := fmt.Sprintf(`"remaining_attempts":%d`, magiclink.MaxCodeAttempts-attempts); !strings.Contains(string(a.body), left) {
				t.Fatalf("%s: %s; want %s", c.name, a.body, left)
			}
		}
		if v := b.verificationOf(id); v["attempts"] != float64(attempts) || v["status"] != "unverified" {
			t.Fatalf("%s: verification %v; want %d attempts", c.name, v, attempts)
		}
	}
	b.api("GET", "/auth/me", nil, 401)
	// The fifth guess fails the verification, and the link with it.
	if a := b.attempt(id, map[string]any{"strategy": "email_code", "code": wrongCode(code)}); a.status != 422 || codeOf(a) != "form_code_incorrect" ||
		!strings.Contains(string(a.body), `"remaining_attempts":0`) {
		t.Fatalf("fifth guess = %d %s", a.status, a.body)
	}
	if v := b.verificationOf(id); v["status"] != "failed" || v["attempts"] != 5.0 {
		t.Fatalf("after five guesses: %v", v)
	}
	if a := b.attempt(id, map[string]any{"strategy": "email_code", "code": code}); a.status != 422 || codeOf(a) != "verification_failed" {
		t.Fatalf("right code after failing = %d %s", a.status, a.body)
	}
	if u := b.confirm(s.token(t, n)); u.Query().Get("magiclink_status") != "failed" {
		t.Fatalf("the failed verification's link landed on %s", u)
	}
	b.api("GET", "/auth/me", nil, 401)

	// A new prepare makes a new code that works; the old one does not.
	s.clock.Advance(time.Minute)
	n2 := len(s.mail.Messages()) + 1
	b.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", map[string]any{"strategy": "email_code"}, 200)
	if a := b.attempt(id, map[string]any{"strategy": "email_code", "code": code}); s.code(t, n2) != code && codeOf(a) != "form_code_incorrect" {
		t.Fatalf("the superseded code = %d %s", a.status, a.body)
	}
	// Expiry: past LinkTTL the code is refused without counting.
	s.clock.Advance(magiclink.DefaultLinkTTL)
	if a := b.attempt(id, map[string]any{"strategy": "email_code", "code": s.code(t, n2)}); a.status != 422 || codeOf(a) != "verification_expired" {
		t.Fatalf("expired code = %d %s", a.status, a.body)
	}
	s.clock.Advance(time.Minute)
	n3 := len(s.mail.Messages()) + 1
	b.api("POST", "/auth/sign_ins/"+id+"/prepare_first_factor", map[string]any{"strategy": "email_code"}, 200)
	b.api("POST", "/auth/sign_ins/"+id+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": s.code(t, n3)}, 200)
	b.api("GET", "/auth/me", nil, 200)

	// Without a client cookie, or with a malformed id: not found.
	anon := s.browser(t)
	if a := anon.attempt(id, map[string]any{"strategy": "email_code", "code": code}); a.status != 404 {
		t.Fatalf("attempt without a client = %d %s", a.status, a.body)
	}
	if a := b.attempt("sia_nope", map[string]any{"strategy": "email_code", "code": code}); a.status != 404 {
		t.Fatalf("attempt on a malformed id = %d %s", a.status, a.body)
	}
}

// TestCodeSignUpAndAddress: sign-up and address verification complete by
// code too, and an address's attempts belong to the browser that
// prepared its verification.
func TestCodeSignUpAndAddress(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser(t)
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "grace@example.com"}, 200)
	id := su["id"].(string)
	b.api("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_code"}, 200)
	out := b.api("POST", "/auth/sign_ups/"+id+"/attempt_verification", map[string]any{"strategy": "email_code", "code": s.code(t, 1)}, 200)
	if out["status"] != "complete" || out["created_user_id"] == nil || out["created_session_id"] == nil {
		t.Fatalf("sign-up attempt = %v", out)
	}
	b.api("GET", "/auth/me", nil, 200)

	s.clock.Advance(time.Minute)
	ea := b.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "grace2@example.com"}, 200)
	eid := ea["id"].(string)
	b.api("POST", "/auth/me/email_addresses/"+eid+"/prepare_verification", map[string]any{"strategy": "email_code"}, 200)
	code := s.code(t, 2)
	if a := b.answer("POST", "/auth/me/email_addresses/"+eid+"/attempt_verification", map[string]any{"code": wrongCode(code)}); a.status != 422 || codeOf(a) != "form_code_incorrect" {
		t.Fatalf("wrong address code = %d %s", a.status, a.body)
	}
	out = b.api("POST", "/auth/me/email_addresses/"+eid+"/attempt_verification", map[string]any{"code": code}, 200)
	if v := out["verification"].(map[string]any); v["status"] != "verified" || v["attempts"] != 2.0 {
		t.Fatalf("address attempt = %v", out)
	}
	me := b.api("GET", "/auth/me", nil, 200)
	if len(me["email_addresses"].([]any)) != 2 {
		t.Fatalf("me = %v", me)
	}
}

// TestCodeBoundToFlow: a code completes only the flow whose email carried
// it, not another flow of the same client and address.
func TestCodeBoundToFlow(t *testing.T) {
	s := newSite(t, nil)
	b := s.signedOut(t, "ada@example.com")
	first, n := b.startSignIn("ada@example.com", "email_code")
	s.clock.Advance(time.Minute)
	second, _ := b.startSignIn("ada@example.com", "email_code")
	if a := b.attempt(second, map[string]any{"strategy": "email_code", "code": s.code(t, n)}); codeOf(a) != "form_code_incorrect" {
		t.Fatalf("the first flow's code on the second = %d %s", a.status, a.body)
	}
	b.api("POST", "/auth/sign_ins/"+first+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": s.code(t, n)}, 200)
}

// TestCodeWaitingTabEnds: a long poll waiting on a sign-in answers as
// soon as a code completes it.
func TestCodeWaitingTabEnds(t *testing.T) {
	s := newSite(t, nil)
	b := s.signedOut(t, "ada@example.com")
	id, n := b.startSignIn("ada@example.com", "email_link")
	got := make(chan map[string]any, 1)
	go func() {
		res, body := b.do("GET", "/auth/sign_ins/"+id+"?wait=25", "", "")
		var m map[string]any
		if res.StatusCode == 200 {
			m = map[string]any{"body": string(body)}
		}
		got <- m
	}()
	s.subscribed(t)
	b.api("POST", "/auth/sign_ins/"+id+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": s.code(t, n)}, 200)
	select {
	case m := <-got:
		if m == nil || !strings.Contains(m["body"].(string), `"status":"complete"`) {
			t.Fatalf("the long poll answered %v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not end when the code completed the sign-in")
	}
}

// TestCodeConcurrentAttempts: 64 concurrent attempts with the right code
// create exactly one session, on memstore and on boltstore.
func TestCodeConcurrentAttempts(t *testing.T) {
	eachStore(t, func(t *testing.T, onStore func(*magiclink.Config)) {
		s := newSite(t, func(c *magiclink.Config) {
			onStore(c)
			c.Limits.Disabled = true
		})
		b := s.signedOut(t, "ada@example.com")
		id, n := b.startSignIn("ada@example.com", "email_code")
		body := fmt.Sprintf(`{"strategy":"email_code","code":%q}`, s.code(t, n))
		const k = 64
		var ok, sessions atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range k {
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest("POST", s.srv.URL+"/auth/sign_ins/"+id+"/attempt_first_factor", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				res, err := b.http.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				} else if res.StatusCode != 400 {
					t.Errorf("attempt = %d", res.StatusCode)
				}
				for _, c := range res.Cookies() {
					if c.Name == s.auth.SessionCookieName() && c.Value != "" {
						sessions.Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || sessions.Load() != 1 {
			t.Fatalf("%d attempts succeeded, %d session cookies; want 1 and 1", ok.Load(), sessions.Load())
		}
		me := b.api("GET", "/auth/me", nil, 200)
		got, err := s.auth.Sessions.RevokeUser(context.Background(), me["id"].(string))
		if err != nil || got != 1 {
			t.Fatalf("RevokeUser = %d, %v; want exactly one session", got, err)
		}
	})
}

// TestCodeGoAPI: the same contract through the Go API, with ClaimSession.
func TestCodeGoAPI(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	c := e.client(t)
	e.signUp(t, c, "ada@example.com")
	si := e.signIn(t, c, "ada@example.com")
	want := []magiclink.FirstFactor{
		{Strategy: "email_link", SafeIdentifier: "ada@example.com", EmailAddressID: si.SupportedFirstFactors[0].EmailAddressID},
		{Strategy: "email_code", SafeIdentifier: "ada@example.com", EmailAddressID: si.SupportedFirstFactors[0].EmailAddressID},
	}
	if d := cmp.Diff(want, si.SupportedFirstFactors); d != "" {
		t.Fatalf("factors (-want +got):\n%s", d)
	}
	n := len(e.mail.Messages()) + 1
	si, err := si.PrepareVerification(ctx, magiclink.PrepareParams{Strategy: magiclink.StrategyEmailCode})
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, n)
	out, err := si.AttemptFirstFactor(ctx, magiclink.AttemptParams{Code: wrongCode(code)})
	if magiclink.AsError(err) == nil || magiclink.AsError(err).Code != "form_code_incorrect" || out == nil || out.FirstFactorVerification.Attempts != 1 {
		t.Fatalf("wrong code = %+v, %v", out, err)
	}
	if !errors.Is(err, magiclink.ErrCodeIncorrect) {
		t.Fatalf("%v is not ErrCodeIncorrect", err)
	}
	out, err = si.AttemptFirstFactor(ctx, magiclink.AttemptParams{Strategy: magiclink.StrategyEmailCode, Code: code})
	if err != nil || out.Status != magiclink.SignInComplete {
		t.Fatalf("right code = %+v, %v", out, err)
	}
	ns, err := out.ClaimSession(ctx)
	if err != nil || ns == nil || ns.Token == "" || ns.ID != out.CreatedSessionID {
		t.Fatalf("ClaimSession = %+v, %v", ns, err)
	}
	if again, _ := out.ClaimSession(ctx); again != nil {
		t.Fatal("the session was handed out twice")
	}
	if _, err := e.auth.Sessions.Lookup(ctx, ns.Token); err != nil {
		t.Fatalf("the claimed session does not work: %v", err)
	}
}

// TestCodeLastAttemptFails: through the Go API the wrong code that uses
// up the last attempt, malformed or not, is also ErrVerificationFailed
// (the HTTP code stays form_code_incorrect or form_param_format_invalid),
// so a caller knows to start again rather than ask for the code again.
func TestCodeLastAttemptFails(t *testing.T) {
	for _, last := range []string{"wrong", "malformed"} {
		e := newEnv(t, nil)
		ctx := context.Background()
		c := e.client(t)
		e.signUp(t, c, "ada@example.com")
		si := e.signIn(t, c, "ada@example.com")
		n := len(e.mail.Messages()) + 1
		si, err := si.PrepareVerification(ctx, magiclink.PrepareParams{Strategy: magiclink.StrategyEmailCode})
		if err != nil {
			t.Fatal(err)
		}
		code := e.code(t, n)
		for i := 1; i <= magiclink.MaxCodeAttempts; i++ {
			guess, want := wrongCode(code), "form_code_incorrect"
			if i == magiclink.MaxCodeAttempts && last == "malformed" {
				guess, want = "12", "form_param_format_invalid"
			}
			_, err := si.AttemptFirstFactor(ctx, magiclink.AttemptParams{Code: guess})
			final := i == magiclink.MaxCodeAttempts
			if e := magiclink.AsError(err); e == nil || e.Code != want || errors.Is(err, magiclink.ErrVerificationFailed) != final ||
				strings.Contains(e.LongMessage, "last attempt") != final {
				t.Fatalf("%s: guess %d = %v; want %s, failing the verification (and saying so): %v", last, i, err, want, final)
			}
		}
	}
}

// TestCodeModes: CodesOff sends links only and refuses email_code;
// CodesOnly sends codes only, mints no link and refuses email_link.
func TestCodeModes(t *testing.T) {
	off := newSite(t, func(c *magiclink.Config) { c.EmailCodes.Mode = magiclink.CodesOff })
	b := off.browser(t)
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "off@example.com"}, 200)
	id := su["id"].(string)
	if a := b.answer("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_code"}); codeOf(a) != "form_param_value_invalid" {
		t.Fatalf("prepare email_code with codes off = %d %s", a.status, a.body)
	}
	b.api("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	if m := off.message(t, 1); m.Code != "" || m.Link == "" {
		t.Fatalf("codes off: message carries code %q, link %q", m.Code, m.Link)
	}
	if a := b.answer("POST", "/auth/sign_ups/"+id+"/attempt_verification", map[string]any{"strategy": "email_code", "code": "123456"}); codeOf(a) != "form_param_value_invalid" {
		t.Fatalf("attempt with codes off = %d %s", a.status, a.body)
	}
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "off@example.com"}, 200)
	if f := si["supported_first_factors"].([]any); len(f) != 1 || f[0].(map[string]any)["strategy"] != "email_link" {
		t.Fatalf("codes off: factors %v", f)
	}

	only := newSite(t, func(c *magiclink.Config) {
		c.EmailCodes = magiclink.EmailCodes{Mode: magiclink.CodesOnly, Length: 8}
	})
	b = only.browser(t)
	si = b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "only@example.com"}, 200)
	if f := si["supported_first_factors"].([]any); len(f) != 1 || f[0].(map[string]any)["strategy"] != "email_code" {
		t.Fatalf("codes only: factors %v", f)
	}
	su = b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "only@example.com"}, 200)
	id = su["id"].(string)
	if a := b.answer("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_link"}); codeOf(a) != "form_param_value_invalid" {
		t.Fatalf("prepare email_link with codes only = %d %s", a.status, a.body)
	}
	b.api("POST", "/auth/sign_ups/"+id+"/prepare_verification", map[string]any{"strategy": "email_code"}, 200)
	m := only.message(t, 1)
	if m.Link != "" || len(m.Code) != 8 || strings.Contains(m.Text, "http") || strings.Contains(m.HTML, "/verify") {
		t.Fatalf("codes only: link %q, code %q, text %q", m.Link, m.Code, m.Text)
	}
	if items, _ := only.auth.Store().List(context.Background(), "link/", 0); len(items) != 0 {
		t.Fatalf("codes only stored %d links", len(items))
	}
	b.api("POST", "/auth/sign_ups/"+id+"/attempt_verification", map[string]any{"strategy": "email_code", "code": m.Code[:4] + "-" + m.Code[4:]}, 200)
	b.api("GET", "/auth/me", nil, 200)
}

// TestCodeConfig: New refuses code lengths out of range and short
// secrets.
func TestCodeConfig(t *testing.T) {
	for _, c := range []magiclink.EmailCodes{{Length: 5}, {Length: 11}, {Secret: make([]byte, 31)}, {Mode: 7}} {
		_, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{}), Mailer: mailtest.New(), EmailCodes: c})
		if err == nil {
			t.Errorf("New accepted %+v", c)
		}
	}
}

// TestCodeSubjectRefused: a template that would put the code in the
// subject fails to render, so the code never reaches a lock screen.
func TestCodeSubjectRefused(t *testing.T) {
	tpl, err := mailer.NewTemplates(fstest.MapFS{
		"sign_in.subject.txt": {Data: []byte("Your code is {{.Code}}")},
		"sign_in.txt":         {Data: []byte("{{.Link}} {{.Code}}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(mailer.KindSignIn, mailer.Data{AppName: "App", To: "a@b.c", Link: "https://x", Code: "123456"})
	if !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Fatalf("a code in the subject: %v", err)
	}
}
