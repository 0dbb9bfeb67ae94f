package magiclink

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	a, _ := fuzzAuth(t, func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:1::/48", "192.0.2.7"} })
	cases := []struct {
		name, remote string
		hdr          []string // name, value, ...
		want         string
	}{
		{"direct", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"direct ignores XFF", "203.0.113.5:1234", []string{"X-Forwarded-For", "1.2.3.4"}, "203.0.113.5"},
		{"direct ignores Forwarded", "203.0.113.5:1234", []string{"Forwarded", "for=1.2.3.4"}, "203.0.113.5"},
		{"direct IPv6", "[2001:db8:2::5]:443", nil, "2001:db8:2::5"},
		{"mapped IPv4", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5"},
		{"proxy, XFF", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1"}, "198.51.100.1"},
		{"proxy, spoofed left part", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"two proxies", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.1, 192.0.2.7, 10.9.9.9"}, "198.51.100.1"},
		{"XFF in two headers", "10.1.2.3:555", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.2"}, "198.51.100.2"},
		{"XFF with port", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1:8080"}, "198.51.100.1"},
		{"XFF IPv6", "10.1.2.3:555", []string{"X-Forwarded-For", "[2001:db8:2::1]:99"}, "2001:db8:2::1"},
		{"garbage hop", "10.1.2.3:555", []string{"X-Forwarded-For", "198.51.100.1, nonsense"}, "10.1.2.3"},
		{"empty XFF", "10.1.2.3:555", []string{"X-Forwarded-For", ""}, "10.1.2.3"},
		{"all trusted", "10.1.2.3:555", []string{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"no header", "10.1.2.3:555", nil, "10.1.2.3"},
		{"Forwarded", "10.1.2.3:555", []string{"Forwarded", `for=6.6.6.6, for="[2001:db8:2::7]:4711";proto=https`}, "2001:db8:2::7"},
		{"Forwarded obfuscated", "10.1.2.3:555", []string{"Forwarded", "for=_hidden"}, "10.1.2.3"},
		{"XFF wins over Forwarded", "10.1.2.3:555", []string{"Forwarded", "for=6.6.6.6", "X-Forwarded-For", "198.51.100.3"}, "198.51.100.3"},
		{"trusted IPv6 proxy", "[2001:db8:1::9]:1", []string{"X-Forwarded-For", "198.51.100.4"}, "198.51.100.4"},
		{"single trusted IP", "192.0.2.7:1", []string{"X-Forwarded-For", "198.51.100.5"}, "198.51.100.5"},
		{"neighbour of trusted IP", "192.0.2.8:1", []string{"X-Forwarded-For", "198.51.100.5"}, "192.0.2.8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for i := 0; i+1 < len(c.hdr); i += 2 {
				r.Header.Add(c.hdr[i], c.hdr[i+1])
			}
			got, ok := a.clientIP(r)
			if !ok || got != netip.MustParseAddr(c.want) {
				t.Fatalf("clientIP = %v, %v; want %s", got, ok, c.want)
			}
		})
	}
	if k := ipKey(netip.MustParseAddr("2001:db8:2::1234")); k != "2001:db8:2::/64" {
		t.Fatalf("ipKey(IPv6) = %q; want the /64", k)
	}
	if _, err := New(Config{BaseURL: "https://app.example", Store: a.st, TrustedProxies: []string{"not an ip"}}); err == nil {
		t.Fatal("New accepted a bad TrustedProxies entry")
	}
}
