// Package clientip finds the address of the client that sent a request:
// the connection's peer, or behind trusted proxies the address the one
// header they set gives. It also holds the form an address is counted
// under by the per-IP limits.
//
// Its errors name the settings of package magiclink they come from
// (Config.TrustedProxies, Config.ClientIPHeader), which are its only
// input.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Unknown is the address a request whose peer has no IP address (a Unix
// socket listener not trusted as a proxy) is given: all such requests
// share its limits, rather than escaping them.
var Unknown = netip.IPv6Unspecified()

// Key returns the form ip is counted under: IPv4 addresses one by one,
// IPv6 addresses by /64 network, the smallest block one subscriber gets.
func Key(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Resolver finds the client address of requests. Its zero value trusts
// no proxy: every request's client is its peer.
type Resolver struct {
	proxies []netip.Prefix
	unix    bool   // the proxies include Unix socket peers
	header  string // canonical name of the header the proxies set
}

// New returns a Resolver that trusts the proxies listed (CIDRs, single
// IPs, or "unix" for a peer without an IP address) to set header, and no
// other header. It refuses a list without a header, a header without a
// list, an entry it cannot parse and a header name that is not a token.
func New(proxies []string, header string) (*Resolver, error) {
	r := &Resolver{proxies: make([]netip.Prefix, 0, len(proxies)), header: http.CanonicalHeaderKey(header)}
	for _, s := range proxies {
		s = strings.TrimSpace(s)
		if s == "unix" {
			r.unix = true
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("magiclink: Config.TrustedProxies: %q is neither a CIDR, an IP nor \"unix\"", s)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.proxies = append(r.proxies, p.Masked())
	}
	switch {
	case len(proxies) > 0 && header == "":
		return nil, fmt.Errorf("magiclink: Config.TrustedProxies is set: Config.ClientIPHeader must name the one header those proxies set (X-Forwarded-For, Forwarded, X-Real-IP, …)")
	case len(proxies) == 0 && header != "":
		return nil, fmt.Errorf("magiclink: Config.ClientIPHeader %q is read only from Config.TrustedProxies, which is empty", header)
	case header != "" && !validHeaderName(header):
		return nil, fmt.Errorf("magiclink: Config.ClientIPHeader %q is not a header name", header)
	}
	return r, nil
}

// validHeaderName reports whether s is an HTTP header name (a token).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// trusted reports whether ip is one of the trusted proxies.
func (r *Resolver) trusted(ip netip.Addr) bool {
	for _, p := range r.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent req: the peer's
// address, unless the peer is a trusted proxy. Then the configured
// header, and no other, is read. A list header (X-Forwarded-For,
// Forwarded) is read from the right, skipping trusted proxies, and the
// first address that is not one is the client (the right-most untrusted
// hop: everything left of it the client could have written). A hop that
// cannot be parsed ends the walk at the last trusted address, so a
// garbled header never yields a spoofed one; the same goes for a
// single-address header that is missing, repeated or not an address.
//
// A peer without an IP address (a Unix socket) is trusted when the
// proxies include "unix", else it is Unknown. The address returned is
// never an IPv4-mapped IPv6 address.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := parseHop(req.RemoteAddr)
	switch {
	case !ok && !r.unix:
		return Unknown
	case !ok:
		peer = Unknown
	case !r.trusted(peer):
		return peer
	}
	var hops []string
	switch r.header {
	case "X-Forwarded-For":
		hops = xForwardedFor(req.Header)
	case "Forwarded":
		hops = forwardedFor(req.Header)
	default:
		v := req.Header.Values(r.header)
		if len(v) != 1 {
			return peer
		}
		ip, ok := parseHop(strings.TrimSpace(v[0]))
		if !ok {
			return peer
		}
		return ip
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			return peer
		}
		if !r.trusted(ip) {
			return ip
		}
		peer = ip
	}
	return peer
}

// xForwardedFor lists the hops of X-Forwarded-For in header order.
func xForwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// forwardedFor lists the for= parameters of Forwarded (RFC 7239) in
// header order.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			hop := ""
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hop = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, hop) // "" when the element has no for=: unparseable
		}
	}
	return hops
}

// parseHop parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port".
func parseHop(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
