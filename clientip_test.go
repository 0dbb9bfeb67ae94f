package magiclink

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	auths := map[string]*Auth{}
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP", "cf-connecting-ip"} {
		auths[h], _ = fuzzAuth(t, func(c *Config) {
			c.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:1::/48", "192.0.2.7"}
			c.ClientIPHeader = h
		})
	}
	unix, _ := fuzzAuth(t, func(c *Config) { c.TrustedProxies, c.ClientIPHeader = []string{"unix"}, "X-Real-IP" })
	direct, _ := fuzzAuth(t, nil)
	cases := []struct {
		name, remote string
		hdr          []string // name, value, ...
		want         string
		via          string // the configured header; "" for X-Forwarded-For
	}{
		{"direct", "203.0.113.5:1234", nil, "203.0.113.5", ""},
		{"direct ignores XFF", "203.0.113.5:1234", []string{"X-Forwarded-For", "1.2.3.4"}, "203.0.113.5", ""},
		{"direct ignores Forwarded", "203.0.113.5:1234", []string{"Forwarded", "for=1.2.3.4"}, "203.0.113.5", ""},
		{"direct IPv6", "[2001:db8:2::5]:443", nil, "2001:db8:2::5", ""},
		{"mapped IPv4", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5", ""},
		{"proxy, XFF", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1"}, "198.51.100.1", ""},
		{"proxy, spoofed left part", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.1"}, "198.51.100.1", ""},
		{"two proxies", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.1, 192.0.2.7, 10.9.9.9"}, "198.51.100.1", ""},
		{"XFF in two headers", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.2"}, "198.51.100.2", ""},
		{"XFF with port", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1:8080"}, "198.51.100.1", ""},
		{"XFF IPv6", "10.1.2.3:555", []string{"X-Forwarded-For", "[2001:db8:2::1]:99"}, "2001:db8:2::1", ""},
		{"garbage hop", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1, nonsense"}, "10.1.2.3", ""},
		{"empty XFF", "10.1.2.3:555", []string{"X-Forwarded-For", ""}, "10.1.2.3", ""},
		{"all trusted", "10.1.2.3:555", []string{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}, "10.0.0.1", ""},
		{"no header", "10.1.2.3:555", nil, "10.1.2.3", ""},
		{"Forwarded", "10.1.2.3:555", []string{"Forwarded", `for=6.6.6.6, for="[2001:db8:2::7]:4711";proto=https`}, "2001:db8:2::7", "Forwarded"},
		{"Forwarded obfuscated", "10.1.2.3:555", []string{"Forwarded", "for=_hidden"}, "10.1.2.3", "Forwarded"},
		{"XFF configured: Forwarded ignored", "10.1.2.3:555", []string{"Forwarded", "for=6.6.6.6"}, "10.1.2.3", ""},
		{"Forwarded configured: XFF ignored", "10.1.2.3:555", []string{"Forwarded", "for=198.51.100.3", "X-Forwarded-For", "6.6.6.6"}, "198.51.100.3", "Forwarded"},
		{"Forwarded configured, only XFF sent", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6"}, "10.1.2.3", "Forwarded"},
		{"X-Real-IP", "10.1.2.3:555", []string{"X-Real-IP", "198.51.100.6", "X-Forwarded-For", "6.6.6.6"}, "198.51.100.6", "X-Real-IP"},
		{"X-Real-IP missing", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6"}, "10.1.2.3", "X-Real-IP"},
		{"X-Real-IP repeated", "10.1.2.3:555", []string{"X-Real-IP", "6.6.6.6", "X-Real-IP", "198.51.100.6"}, "10.1.2.3", "X-Real-IP"},
		{"X-Real-IP garbage", "10.1.2.3:555", []string{"X-Real-IP", "6.6.6.6, 7.7.7.7"}, "10.1.2.3", "X-Real-IP"},
		{"custom header", "10.1.2.3:555", []string{"CF-Connecting-IP", "2001:db8:2::8", "X-Real-IP", "6.6.6.6"}, "2001:db8:2::8", "cf-connecting-ip"},
		{"custom header from an untrusted peer", "203.0.113.5:1", []string{"CF-Connecting-IP", "6.6.6.6"}, "203.0.113.5", "cf-connecting-ip"},
		{"Unix socket peer, not trusted", "@", []string{"X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6"}, "::", "direct"},
		{"Unix socket peer, empty", "", nil, "::", "direct"},
		{"Unix socket peer, trusted", "@", []string{"X-Real-IP", "198.51.100.9"}, "198.51.100.9", "unix"},
		{"Unix socket peer, trusted, no header", "@", nil, "::", "unix"},
		{"trusted IPv6 proxy", "[2001:db8:1::9]:1", []string{"X-Forwarded-For", "198.51.100.4"}, "198.51.100.4", ""},
		{"single trusted IP", "192.0.2.7:1", []string{"X-Forwarded-For", "198.51.100.5"}, "198.51.100.5", ""},
		{"neighbour of trusted IP", "192.0.2.8:1", []string{"X-Forwarded-For", "198.51.100.5"}, "192.0.2.8", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for i := 0; i+1 < len(c.hdr); i += 2 {
				r.Header.Add(c.hdr[i], c.hdr[i+1])
			}
			a := auths["X-Forwarded-For"]
			switch c.via {
			case "":
			case "unix":
				a = unix
			case "direct":
				a = direct
			default:
				a = auths[c.via]
			}
			if got := a.clientIP(r); got != netip.MustParseAddr(c.want) {
				t.Fatalf("clientIP = %v; want %s", got, c.want)
			}
		})
	}
	if k := ipKey(netip.MustParseAddr("2001:db8:2::1234")); k != "2001:db8:2::/64" {
		t.Fatalf("ipKey(IPv6) = %q; want the /64", k)
	}
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
