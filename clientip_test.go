package magiclink

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestClientIPConfigRefused: New refuses TrustedProxies and ClientIPHeader
// that cannot be used together (the resolver's own tests are in
// internal/clientip).
func TestClientIPConfigRefused(t *testing.T) {
	direct, _ := fuzzAuth(t, nil)
	for _, c := range []Config{
		{TrustedProxies: []string{"not an ip"}, ClientIPHeader: "X-Real-IP"},
		{TrustedProxies: []string{"10.0.0.0/8"}},
		{ClientIPHeader: "X-Forwarded-For"},
		{TrustedProxies: []string{"10.0.0.0/8"}, ClientIPHeader: "X Real IP"},
	} {
		c.BaseURL, c.Store = "https://app.example", direct.st
		if _, err := New(c); err == nil {
			t.Errorf("New accepted TrustedProxies %q with ClientIPHeader %q", c.TrustedProxies, c.ClientIPHeader)
		}
	}
}

// TestUnixPeerIsLimited: requests whose peer has no IP address (a Unix
// socket listener) share one client's per-IP limits instead of escaping
// them.
func TestUnixPeerIsLimited(t *testing.T) {
	a, _ := fuzzAuth(t, func(c *Config) { c.Limits = Limits{} })
	h := a.Handler()
	codes := ""
	for i := range DefaultIPCreatesPer10s + 1 {
		r := httptest.NewRequest("POST", "/auth/sign_ins", strings.NewReader(`{"identifier":"u`+strconv.Itoa(i)+`@example.com"}`))
		r.RemoteAddr = "@"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes += strconv.Itoa(w.Code) + " "
	}
	if want := strings.Repeat("200 ", DefaultIPCreatesPer10s) + "429 "; codes != want {
		t.Fatalf("statuses %q; want %q", codes, want)
	}
}
