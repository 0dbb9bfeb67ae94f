package magiclink

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPKey is the context key of the client IP.
type clientIPKey struct{}

// WithClientIP returns ctx carrying ip as the client's address, so that
// Go API calls made with it are counted against the per-IP limits.
// Auth.Handler sets it for every request (unless an outer handler already
// did), from the connection or, behind Config.TrustedProxies, from
// Config.ClientIPHeader.
func WithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip.Unmap())
}

// ClientIPFrom returns the client IP that ctx carries, if any.
func ClientIPFrom(ctx context.Context) (netip.Addr, bool) {
	ip, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip, ok && ip.IsValid()
}

// ipKey is the form an IP is counted under: IPv4 addresses one by one,
// IPv6 addresses by /64 network, the smallest block one subscriber gets.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

// unknownPeer is the address a request whose peer has no IP address (a
// Unix socket listener not listed as trusted) is counted under: all such
// requests share its limits, rather than escaping them.
var unknownPeer = netip.IPv6Unspecified()

// parseTrustedProxies parses Config.TrustedProxies (CIDRs, single IPs,
// or "unix") and checks that Config.ClientIPHeader names the header they
// set.
func parseTrustedProxies(list []string, header string) ([]netip.Prefix, bool, error) {
	out := make([]netip.Prefix, 0, len(list))
	unix := false
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "unix" {
			unix = true
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, false, fmt.Errorf("magiclink: Config.TrustedProxies: %q is neither a CIDR, an IP nor \"unix\"", s)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	switch {
	case len(list) > 0 && header == "":
		return nil, false, fmt.Errorf("magiclink: Config.TrustedProxies is set: Config.ClientIPHeader must name the one header those proxies set (X-Forwarded-For, Forwarded, X-Real-IP, …)")
	case len(list) == 0 && header != "":
		return nil, false, fmt.Errorf("magiclink: Config.ClientIPHeader %q is read only from Config.TrustedProxies, which is empty", header)
	case header != "" && (!validHeaderName(header)):
		return nil, false, fmt.Errorf("magiclink: Config.ClientIPHeader %q is not a header name", header)
	}
	return out, unix, nil
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

func (a *Auth) trusted(ip netip.Addr) bool {
	for _, p := range a.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientIP returns the address of the client that sent r: the peer's
// address, unless the peer is a trusted proxy. Then Config.ClientIPHeader,
// and no other header, is read. A list header (X-Forwarded-For,
// Forwarded) is read from the right, skipping trusted proxies, and the
// first address that is not one is the client (the right-most untrusted
// hop: everything left of it the client could have written). A hop that
// cannot be parsed ends the walk at the last trusted address, so a
// garbled header never yields a spoofed one; the same goes for a
// single-address header that is missing, repeated or not an address.
//
// A peer without an IP address (a Unix socket) is trusted when
// TrustedProxies lists "unix", else counted as unknownPeer.
func (a *Auth) clientIP(r *http.Request) netip.Addr {
	peer, ok := parseHop(r.RemoteAddr)
	switch {
	case !ok && !a.trustUnix:
		return unknownPeer
	case !ok:
		peer = unknownPeer
	case !a.trusted(peer):
		return peer
	}
	name := http.CanonicalHeaderKey(a.cfg.ClientIPHeader)
	var hops []string
	switch name {
	case "X-Forwarded-For":
		hops = xForwardedFor(r.Header)
	case "Forwarded":
		hops = forwardedFor(r.Header)
	default:
		v := r.Header.Values(name)
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
		if !a.trusted(ip) {
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

// ClientIP returns the IP of the client that sent r, as the limits count
// it: the one r's context carries (WithClientIP), else the connection's
// peer, or behind Config.TrustedProxies the address Config.ClientIPHeader
// gives. A peer without an IP address (a Unix socket listener) that
// TrustedProxies does not trust with "unix" is the unspecified address
// "::": all such requests share one client's limits. Go calls made on
// behalf of a request need not pass it on: a client from RequestClient
// carries it, and so does the context of a request behind Handler,
// LoadSession (with a session) or RequireSession. Elsewhere (a client
// from Clients.Create, a background job) pass it with WithClientIP.
func (a *Auth) ClientIP(r *http.Request) netip.Addr {
	if ip, ok := ClientIPFrom(r.Context()); ok {
		return ip
	}
	return a.clientIP(r)
}

// withClientIP puts the request's client IP in its context, unless an
// outer handler already put one there.
func (a *Auth) withClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ClientIPFrom(r.Context()); !ok {
			r = r.WithContext(WithClientIP(r.Context(), a.clientIP(r)))
		}
		next.ServeHTTP(w, r)
	})
}
