package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	resolvers := map[string]*Resolver{}
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP", "cf-connecting-ip"} {
		resolvers[h] = mustNew(t, []string{"10.0.0.0/8", "2001:db8:1::/48", "192.0.2.7"}, h)
	}
	unix := mustNew(t, []string{"unix"}, "X-Real-IP")
	direct := mustNew(t, nil, "")
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
		{"Unix socket peer behind IP proxies", "@", []string{"X-Forwarded-For", "6.6.6.6"}, "::", ""},
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
			res := resolvers["X-Forwarded-For"]
			switch c.via {
			case "":
			case "unix":
				res = unix
			case "direct":
				res = direct
			default:
				res = resolvers[c.via]
			}
			if got := res.ClientIP(r); got != netip.MustParseAddr(c.want) {
				t.Fatalf("clientIP = %v; want %s", got, c.want)
			}
		})
	}
}

func mustNew(t *testing.T, proxies []string, header string) *Resolver {
	t.Helper()
	r, err := New(proxies, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestZeroResolver: a Resolver's zero value trusts no proxy.
func TestZeroResolver(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:555"
	r.Header.Set("X-Forwarded-For", "6.6.6.6")
	if got := new(Resolver).ClientIP(r); got != netip.MustParseAddr("10.1.2.3") {
		t.Fatalf("ClientIP = %v; want the peer", got)
	}
}

func TestKey(t *testing.T) {
	for ip, want := range map[string]string{
		"2001:db8:2::1234":   "2001:db8:2::/64",
		"fe80::1%eth0":       "fe80::/64",
		"203.0.113.5":        "203.0.113.5",
		"::ffff:203.0.113.5": "203.0.113.5",
	} {
		if k := Key(netip.MustParseAddr(ip)); k != want {
			t.Errorf("Key(%s) = %q; want %q", ip, k, want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		proxies []string
		header  string
	}{
		{[]string{"not an ip"}, "X-Real-IP"},
		{[]string{"10.0.0.0/8"}, ""},
		{nil, "X-Forwarded-For"},
		{[]string{"10.0.0.0/8"}, "X Real IP"},
		{[]string{"10.0.0.0/8"}, "X-Real-IP:"},
	} {
		if _, err := New(c.proxies, c.header); err == nil {
			t.Errorf("New accepted proxies %q with header %q", c.proxies, c.header)
		}
	}
}

// TestMappedProxy: a trusted proxy written as an IPv4-mapped address or
// prefix is trusted as the IPv4 one it stands for.
func TestMappedProxy(t *testing.T) {
	for _, p := range []string{"::ffff:10.0.0.0/104", "::ffff:10.1.2.3"} {
		res := mustNew(t, []string{p}, "X-Real-IP")
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.2.3:555"
		r.Header.Set("X-Real-IP", "198.51.100.1")
		if got := res.ClientIP(r); got != netip.MustParseAddr("198.51.100.1") {
			t.Errorf("proxy %s: ClientIP = %v; want the header's address", p, got)
		}
	}
}
