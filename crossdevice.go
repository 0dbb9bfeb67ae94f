package magiclink

import (
	"context"
	"net/netip"
	"time"

	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/internal/useragent"
	"github.com/magiclink-go/magiclink/store"
)

// With same-client binding off (Config.AllowCrossClient), a link opened
// in another browser signs in the browser that asked for it. An attacker
// can ask for a link to a victim's address; a victim who confirms it
// signs the attacker in. So a flow remembers roughly who asked for its
// link — which browser and system, which network, when — and the confirm
// page shows it to a browser that is not the one that asked, with a
// "This wasn't me" button that fails the verification (DenyLink). Only
// coarse facts are kept: the User-Agent's browser and system names, and
// the client IP cut to its /24 (IPv4) or /48 (IPv6) network.

// requester is who asked for a link, as the confirm page describes them.
type requester struct {
	Browser string `json:"browser,omitempty"` // e.g. "Firefox"; "" when unknown
	System  string `json:"system,omitempty"`  // e.g. "Linux"; "" when unknown
	Network string `json:"network,omitempty"` // e.g. "203.0.113.0/24"; "" when unknown
	At      int64  `json:"at"`                // Unix milliseconds
}

// WithUserAgent returns ctx carrying ua, the User-Agent of the browser
// asking, so that a link prepared with it is described on the confirm
// page when opened in another browser (see Config.AllowCrossClient).
// Auth.Handler sets it for every request; events record it too.
func WithUserAgent(ctx context.Context, ua string) context.Context {
	return context.WithValue(ctx, userAgentKey{}, truncate(ua, maxUserAgent))
}

// truncate returns at most the first n bytes of s.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// requesterFrom describes the browser whose request ctx carries, at now.
func requesterFrom(ctx context.Context, now time.Time) *requester {
	r := &requester{At: ms(now)}
	r.Browser, r.System = describeUserAgent(userAgentFrom(ctx))
	if ip, ok := ClientIPFrom(ctx); ok && ip != clientip.Unknown {
		r.Network = networkOf(ip)
	}
	return r
}

// describeUserAgent names the browser and the system of a User-Agent,
// or "" for what it does not recognise: useragent.Parse's reading, with
// Apple's devices named by their systems.
func describeUserAgent(ua string) (browser, system string) {
	in := useragent.Parse(ua)
	system = in.DeviceType
	switch system {
	case "iPhone":
		system = "iOS"
	case "iPad":
		system = "iPadOS"
	case "Macintosh":
		system = "macOS"
	}
	return in.BrowserName, system
}

// networkOf is the network a client IP is shown as: its /24 or /48.
func networkOf(ip netip.Addr) string {
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	return p.String()
}

// DenyLink fails the verification a live magic link belongs to, on
// behalf of whoever holds the link and says they did not ask for it (the
// confirm page's "This wasn't me"): nobody gets a session from it, and a
// waiting tab sees the verification failed. It reports whether the link
// was live; a link that is not is left as it is.
//
// The error is non-nil only for store failures.
func (a *Auth) DenyLink(ctx context.Context, token string) (bool, error) {
	if !validToken(token) {
		return false, nil
	}
	hash := hashToken(token)
	return retryApply("denying a link", func() (bool, error) {
		ll, err := load[linkRec](ctx, a.st, keyLink+hash)
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		lf, err := load[flowRec](ctx, a.st, ll.v.FlowKey)
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		f := lf.v
		now := a.now()
		if deadLink(&ll.v, &f, hash, now) != "" {
			return false, nil
		}
		v := *f.Ver
		v.Status = string(VerificationFailed)
		f.Ver, f.UpdatedAt = &v, ms(now)
		err = a.st.Apply(ctx, store.Check(ll.key, ll.raw), lf.swap(f, flowExpiry(&f)))
		if err != nil {
			return false, err
		}
		return true, nil
	})
}
