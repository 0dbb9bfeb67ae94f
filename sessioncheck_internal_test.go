package magiclink

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/magiclink-go/magiclink/store"
)

// The pieces of the per-request session check: token shape, store key,
// cookie parsing, the session record's encoding, the context the
// middleware builds, and how often activity is written.

func TestValidTokenMatchesStrictBase64(t *testing.T) {
	strict := func(s string) bool {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		return len(s) == tokenLen && err == nil && len(b) == 32
	}
	cases := []string{"", "short", newToken() + "A", "=" + newToken()[1:], newToken()[:42] + "=",
		newToken()[:42] + "+", newToken()[:42] + "/", newToken()[:42] + " "}
	for range 200 {
		tok := newToken()
		cases = append(cases, tok)
		// Every possible last character: only those with zero low bits
		// decode strictly.
		for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=." {
			cases = append(cases, tok[:tokenLen-1]+string(c))
		}
	}
	var b [32]byte
	for range 200 {
		rand.Read(b[:])
		cases = append(cases, base64.RawURLEncoding.EncodeToString(b[:]))
	}
	for _, s := range cases {
		if got, want := validToken(s), strict(s); got != want {
			t.Errorf("validToken(%q) = %v, strict base64url says %v", s, got, want)
		}
	}
}

func TestTokenKey(t *testing.T) {
	tok := newToken()
	for _, prefix := range []string{keySessionTok, keyClient, keyLink} {
		if got, want := tokenKey(prefix, tok), prefix+hashToken(tok); got != want {
			t.Errorf("tokenKey(%q) = %q, want %q", prefix, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = tokenKey(keySessionTok, tok) }); n > 1 {
		t.Errorf("tokenKey allocates %v times, want 1", n)
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
	}{
		{"absent", nil, ""},
		{"only", []string{"sid=abc"}, "abc"},
		{"among others", []string{"a=1; sid=abc; b=2"}, "abc"},
		{"first of two", []string{"sid=first; sid=second"}, "first"},
		{"second header", []string{"a=1", "sid=abc"}, "abc"},
		{"spaces", []string{"  a=1 ;  sid=abc  "}, "abc"},
		{"quoted", []string{`sid="abc"`}, "abc"},
		{"invalid value skipped", []string{`sid=a"b; sid=ok`}, "ok"},
		{"backslash", []string{`sid=a\b`}, ""},
		{"control byte", []string{"sid=a\x01b; sid=ok"}, "ok"},
		{"prefix of another name", []string{"sidx=1; xsid=2"}, ""},
		{"no value", []string{"sid"}, ""},
		{"empty value", []string{"sid="}, ""},
		{"empty parts", []string{";; sid=abc;"}, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Cookie", h)
			}
			got := cookieValue(r, "sid")
			if got != tt.want {
				t.Errorf("cookieValue = %q, want %q", got, tt.want)
			}
			std := ""
			if c, err := r.Cookie("sid"); err == nil {
				std = c.Value
			}
			if got != std {
				t.Errorf("cookieValue = %q, r.Cookie reads %q", got, std)
			}
			if n := testing.AllocsPerRun(10, func() { cookieValue(r, "sid") }); n != 0 {
				t.Errorf("cookieValue allocates %v times", n)
			}
		})
	}
}

func TestSessionRecordEncoding(t *testing.T) {
	recs := []sessRec{
		{},
		{ID: "sess_0123456789abcdef0123456789abcdef", UserID: "user_0123456789abcdef0123456789abcdef",
			ClientID: "client_0123456789abcdef0123456789abcdef", Status: "active",
			CreatedAt: 1795000000000, UpdatedAt: 1795000000001, LastActiveAt: 1795000000002, AbandonAt: 1795600000000},
		{ID: "x", Status: "ended", CreatedAt: -1, AbandonAt: 1<<63 - 1},
	}
	for _, want := range recs {
		b := want.marshal()
		var got sessRec
		if err := got.unmarshal(b); err != nil {
			t.Fatalf("unmarshal(marshal(%+v)): %v", want, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		// Every truncation and every extension is refused.
		for i := range b {
			if err := new(sessRec).unmarshal(b[:i]); err == nil {
				t.Errorf("unmarshal accepted %d of %d bytes", i, len(b))
			}
		}
		if err := new(sessRec).unmarshal(append(b, 0)); err == nil {
			t.Error("unmarshal accepted a trailing byte")
		}
	}
	if err := new(sessRec).unmarshal([]byte(`{"id":"sess_x"}`)); err == nil {
		t.Error("unmarshal accepted JSON")
	}
	// The generic JSON encoding must never write a session record.
	defer func() {
		if recover() == nil {
			t.Error("encode(sessRec) did not panic")
		}
	}()
	encode(recs[1])
}

type otherKey struct{}

func TestSessionContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "kept"))
	sc := &sessionCtx{Context: parent, session: Session{ID: "sess_x", UserID: "user_x"}}
	if s := SessionFrom(sc); s == nil || s.UserID != "user_x" {
		t.Fatalf("SessionFrom = %+v", s)
	}
	if SessionFrom(parent) != nil {
		t.Error("SessionFrom found a session in a context without one")
	}
	if v := sc.Value(otherKey{}); v != "kept" {
		t.Errorf("a value of the parent context reads %v", v)
	}
	child, stop := context.WithCancel(sc)
	defer stop()
	cancel()
	<-child.Done()
	if sc.Err() != context.Canceled {
		t.Errorf("Err = %v after the parent was canceled", sc.Err())
	}
}

// touchStore counts the writes to session records, and holds the first
// until released.
type touchStore struct {
	store.Store
	writes  atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (s *touchStore) Apply(ctx context.Context, ops ...store.Op) error {
	for _, op := range ops {
		if op.Kind == store.OpSwap && strings.HasPrefix(op.Key, keySessionTok) {
			if s.writes.Add(1) == 1 {
				s.entered <- struct{}{}
				<-s.release
			}
		}
	}
	return s.Store.Apply(ctx, ops...)
}

// A burst of requests of one session that is due for recording its
// activity writes it once.
func TestBurstTouchesOnce(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	clock := e.clock
	st := &touchStore{Store: e.st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	a := e.open(t, func(c *Config) { c.Store = st })
	s, ops := a.newSession(context.Background(), newID(prefixSession), newID(prefixUser), newID(prefixClient), clock.Now(), false)
	if err := st.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	clock.Advance(a.touchEvery())

	first := make(chan error)
	go func() {
		_, err := a.Sessions.Lookup(ctx, s.Token)
		first <- err
	}()
	<-st.entered // the first request is recording the activity...
	for range 10 {
		// ...so the others answer without writing.
		if _, err := a.Sessions.Lookup(ctx, s.Token); err != nil {
			t.Fatal(err)
		}
	}
	close(st.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := st.writes.Load(); n != 1 {
		t.Errorf("%d writes of the session's activity, want 1", n)
	}
	got, err := a.Sessions.Lookup(ctx, s.Token)
	if err != nil || !got.LastActiveAt.Equal(clock.Now()) {
		t.Errorf("after the burst: last_active_at %v, %v; want %v", got.LastActiveAt, err, clock.Now())
	}
}
