package magiclink_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/store"
)

// secrets collects every secret a run of flows hands out.
type secrets struct {
	mu   sync.Mutex
	list []string
}

func (s *secrets) add(v ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range v {
		if x != "" {
			s.list = append(s.list, x)
		}
	}
}

// forms returns the ways a secret could be written down: as given, its
// decoded bytes, and those in hex and standard base64; for a JWT, its
// signature too.
func forms(secret string) []string {
	out := []string{secret}
	if parts := strings.Split(secret, "."); len(parts) == 3 {
		out = append(out, parts[2])
		secret = parts[2]
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err == nil && len(b) >= 16 {
		out = append(out, string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b))
	}
	return out
}

// findSecret returns a description of the first secret found in data.
func (s *secrets) findIn(data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range s.list {
		for _, f := range forms(sec) {
			if bytes.Contains(data, []byte(f)) {
				return "a secret starting " + sec[:6] + "… (as " + map[bool]string{true: "given", false: "an encoding"}[f == sec] + ")"
			}
		}
	}
	return ""
}

// everyFlow runs sign-up, sign-in (by link and by code), address
// verification, sign-in tokens, sign-out and a round of refused requests
// over HTTP, collecting every secret handed out. The site's email codes
// should have 10 digits (Config.EmailCodes.Length), so that finding one by chance in a
// file full of timestamps is out of the question.
func everyFlow(t *testing.T, s *site) *secrets {
	sec := &secrets{}
	b := s.browser(t)
	cookies := func() {
		sec.add(b.cookie(s.auth.ClientCookieName()), b.cookie(s.auth.SessionCookieName()))
	}
	tokenOf := func(n int) string {
		tok := s.token(t, n)
		sec.add(tok)
		return tok
	}
	// Sign-up.
	su := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "leak@example.com"}, 200)
	b.api("POST", "/auth/sign_ups/"+su["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link", "redirect_url": "/w"}, 200)
	b.confirm(tokenOf(1))
	cookies()
	b.api("GET", "/auth/me", nil, 200)
	// A second address.
	s.clock.Advance(time.Minute)
	ea := b.api("POST", "/auth/me/email_addresses", map[string]any{"email_address": "leak2@example.com"}, 200)
	b.api("POST", "/auth/me/email_addresses/"+ea["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	b.confirm(tokenOf(2))
	// Sign out, sign in again (same browser and, cross-device, another).
	b.api("DELETE", "/auth/session", nil, 200)
	s.clock.Advance(time.Minute)
	si := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "leak@example.com"}, 200)
	b.api("POST", "/auth/sign_ins/"+si["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	tok := tokenOf(3)
	other := s.browser(t)
	other.confirm(tok) // client_mismatch
	sec.add(other.cookie(s.auth.ClientCookieName()))
	b.confirm(tok)
	cookies()
	b.api("GET", "/auth/sign_ins/"+si["id"].(string), nil, 200)
	// Sign out, and in again with the email's code: a wrong one first.
	b.api("DELETE", "/auth/session", nil, 200)
	s.clock.Advance(time.Minute)
	ci := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "leak@example.com"}, 200)
	b.api("POST", "/auth/sign_ins/"+ci["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_code"}, 200)
	code := s.code(t, 4)
	b.answer("POST", "/auth/sign_ins/"+ci["id"].(string)+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": wrongCode(code)})
	b.api("POST", "/auth/sign_ins/"+ci["id"].(string)+"/attempt_first_factor", map[string]any{"strategy": "email_code", "code": code}, 200)
	cookies()
	// An unknown address and a registered sign-up.
	s.clock.Advance(time.Minute)
	x := b.api("POST", "/auth/sign_ins", map[string]any{"identifier": "nobody@example.com"}, 200)
	b.api("POST", "/auth/sign_ins/"+x["id"].(string)+"/prepare_first_factor", map[string]any{"strategy": "email_link"}, 200)
	y := b.api("POST", "/auth/sign_ups", map[string]any{"email_address": "leak@example.com"}, 200)
	b.api("POST", "/auth/sign_ups/"+y["id"].(string)+"/prepare_verification", map[string]any{"strategy": "email_link"}, 200)
	// Sign-in tokens: created on the Backend API, opened, redeemed.
	me := b.api("GET", "/auth/me", nil, 200)
	req := httptest.NewRequest("POST", "/v1/sign_in_tokens", strings.NewReader(`{"user_id":"`+me["id"].(string)+`"}`))
	req.Header.Set("Authorization", "Bearer sk_test_leaks")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.auth.BackendHandler("sk_test_leaks").ServeHTTP(rec, req)
	var st map[string]any
	json.Unmarshal(rec.Body.Bytes(), &st)
	jwt, _ := st["token"].(string)
	if rec.Code != 200 || jwt == "" {
		t.Fatalf("sign-in token = %d %s", rec.Code, rec.Body)
	}
	sec.add(jwt, "sk_test_leaks")
	phone := s.browser(t)
	phone.do("GET", "/auth/ticket?token="+url.QueryEscape(jwt), "", "")
	if res, _ := phone.do("POST", "/auth/ticket", "application/x-www-form-urlencoded", "token="+url.QueryEscape(jwt)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /auth/ticket = %d", res.StatusCode)
	}
	sec.add(phone.cookie(s.auth.ClientCookieName()), phone.cookie(s.auth.SessionCookieName()))
	phone.api("GET", "/auth/me", nil, 200)
	// Refused requests: used, bad and malformed tokens, a replayed
	// ticket, bad bodies, a rate limit, a cross-site request, a stale
	// session.
	b.do("POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+tok)
	b.do("GET", "/auth/verify?token="+tok, "", "")
	b.do("POST", "/auth/verify", "application/x-www-form-urlencoded", "token="+randomToken())
	phone.do("POST", "/auth/ticket", "application/x-www-form-urlencoded", "token="+url.QueryEscape(jwt))
	phone.do("POST", "/auth/ticket", "application/x-www-form-urlencoded", "token="+url.QueryEscape(jwt[:len(jwt)-3]+"AAA"))
	b.do("POST", "/auth/sign_ins", "application/json", `{"identifier":`)
	b.do("POST", "/auth/sign_ups/"+y["id"].(string)+"/prepare_verification", "application/json", `{"strategy":"email_link"}`)
	b.do("POST", "/auth/sign_ins", "application/json", `{"identifier":"a@b.com"}`, "Sec-Fetch-Site", "cross-site")
	old := b.cookie(s.auth.SessionCookieName())
	b.api("DELETE", "/auth/session", nil, 200)
	stale := s.browser(t)
	u0, _ := url.Parse(s.srv.URL)
	stale.http.Jar.SetCookies(u0, []*http.Cookie{{Name: s.auth.SessionCookieName(), Value: old}})
	stale.do("GET", "/auth/me", "", "")
	stale.do("GET", "/private", "", "")
	for _, m := range s.mail.Messages() {
		if u, err := url.Parse(m.Link); err == nil {
			sec.add(u.Query().Get("token"))
		}
		sec.add(m.Code)
	}
	return sec
}

// TestNoSecretsInLogs: debug-level logs of every flow, the refused
// requests included, name no link token, cookie value or JWT.
func TestNoSecretsInLogs(t *testing.T) {
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(prev) })
	var broken atomic.Bool
	s := newSite(t, func(c *magiclink.Config) {
		c.EmailCodes.Length = 10
		c.Logger = logger
		c.Store = failingStore{c.Store, &broken}
	})
	sec := everyFlow(t, s)
	// Failures are what gets logged: replay every secret while the store
	// fails, so each request logs its error.
	broken.Store(true)
	b := s.browser(t)
	for _, v := range sec.list {
		cookie := []string{"Cookie", s.auth.SessionCookieName() + "=" + v + "; " + s.auth.ClientCookieName() + "=" + v}
		form := "token=" + url.QueryEscape(v)
		for _, r := range [][3]string{{"POST", "/auth/verify", form}, {"GET", "/auth/verify?" + form, ""},
			{"POST", "/auth/ticket", form}, {"GET", "/auth/ticket?" + form, ""}, {"GET", "/auth/me", ""}, {"GET", "/private", ""},
			{"DELETE", "/auth/session", ""}, {"POST", "/auth/sign_ins", "identifier=a%40b.com"},
			{"POST", "/auth/sign_ins/sia_0123456789abcdef0123456789abcdef/attempt_first_factor", "strategy=email_code&code=" + url.QueryEscape(v)}} {
			b.do(r[0], r[1], "application/x-www-form-urlencoded", r[2], cookie...)
		}
	}
	broken.Store(false)
	s.auth.Close()
	if buf.Len() == 0 {
		t.Fatal("nothing was logged: the test would prove nothing")
	}
	if what := sec.findIn(buf.Bytes()); what != "" {
		t.Fatalf("the logs contain %s:\n%s", what, buf.Bytes())
	}
}

// TestNoSecretsInBoltFile: after every flow, the raw bbolt file holds no
// link token, cookie value or JWT, in any encoding.
func TestNoSecretsInBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "magiclink.db")
	s := newSite(t, func(c *magiclink.Config) {
		c.EmailCodes.Length = 10
		c.Store = nil // the default: a bbolt file
		c.DBPath = path
	})
	sec := everyFlow(t, s)
	if err := s.auth.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("leak@example.com")) {
		t.Fatal("the bbolt file does not hold the flows' data: wrong file?")
	}
	if what := sec.findIn(data); what != "" {
		t.Fatalf("the bbolt file contains %s", what)
	}
}

// failingStore fails every read while broken is set, naming the key in
// its error, as a database error might.
type failingStore struct {
	store.Store
	broken *atomic.Bool
}

func (f failingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if f.broken.Load() {
		return nil, errors.New("store unavailable reading " + key)
	}
	return f.Store.Get(ctx, key)
}
