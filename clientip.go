package magiclink

import (
	"context"
	"net/http"
	"net/netip"
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
	return a.ips.ClientIP(r)
}

// withClientIP puts the request's client IP in its context, unless an
// outer handler already put one there.
func (a *Auth) withClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := ClientIPFrom(r.Context()); !ok {
			r = r.WithContext(WithClientIP(r.Context(), a.ips.ClientIP(r)))
		}
		next.ServeHTTP(w, r)
	})
}
