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
// did), from the connection or, behind Config.TrustedProxies, from the
// forwarding headers.
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

// parseTrustedProxies parses Config.TrustedProxies: CIDRs or single IPs.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			ip, err2 := netip.ParseAddr(strings.TrimSpace(s))
			if err2 != nil {
				return nil, fmt.Errorf("magiclink: Config.TrustedProxies: %q is neither a CIDR nor an IP", s)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
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
// address, unless the peer is a trusted proxy. Then the forwarding header
// is read from the right, skipping trusted proxies, and the first address
// that is not one is the client (the right-most untrusted hop: everything
// left of it the client could have written). X-Forwarded-For is read when
// present, else Forwarded. A hop that cannot be parsed ends the walk at
// the last trusted address, so a garbled header never yields a spoofed
// one.
func (a *Auth) clientIP(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || !a.trusted(peer) {
		return peer, ok
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			return peer, true
		}
		if !a.trusted(ip) {
			return ip, true
		}
		peer = ip
	}
	return peer, true
}

// forwardedFor lists the hops of X-Forwarded-For, or of Forwarded's for=
// parameters when there is no X-Forwarded-For, in header order.
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for _, hop := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
		return hops
	}
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
// peer, or behind Config.TrustedProxies the right-most address in the
// forwarding header that is not a trusted proxy. Apps that drive flows
// through the Go API from their own handlers pass it on:
//
//	ctx := magiclink.WithClientIP(r.Context(), auth.ClientIP(r))
//	si, err := auth.SignIn.Create(ctx, client, params)
//
// The zero Addr means unknown (no per-IP limits apply).
func (a *Auth) ClientIP(r *http.Request) netip.Addr {
	if ip, ok := ClientIPFrom(r.Context()); ok {
		return ip
	}
	ip, _ := a.clientIP(r)
	return ip
}

// withClientIP puts the request's client IP in its context, unless an
// outer handler already put one there.
func (a *Auth) withClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ClientIPFrom(r.Context()); !ok {
			if ip, ok := a.clientIP(r); ok {
				r = r.WithContext(WithClientIP(r.Context(), ip))
			}
		}
		next.ServeHTTP(w, r)
	})
}
