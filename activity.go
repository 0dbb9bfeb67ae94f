package magiclink

import (
	"context"
	"net/netip"
	"strings"

	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/internal/useragent"
)

// SessionActivity says where a session was signed in from, as Clerk's
// latest_activity: recorded from the request that signed in, for people
// to recognise their own devices. The IP address is kept only truncated
// to its /24 (IPv4) or /48 (IPv6) network.
type SessionActivity struct {
	BrowserName    string
	BrowserVersion string
	DeviceType     string
	IsMobile       bool
	IPAddress      string
}

// activityFrom returns the activity ctx describes: its User-Agent and
// client IP.
func activityFrom(ctx context.Context) SessionActivity {
	in := useragent.Parse(userAgentFrom(ctx))
	act := SessionActivity{BrowserName: in.BrowserName, BrowserVersion: in.BrowserVersion, DeviceType: in.DeviceType, IsMobile: in.IsMobile}
	if ip, ok := ClientIPFrom(ctx); ok && ip != clientip.Unknown {
		act.IPAddress = truncateIP(ip)
	}
	return act
}

// truncateIP returns the network of ip, /24 for IPv4 and /48 for IPv6,
// as an address: 203.0.113.77 becomes 203.0.113.0.
func truncateIP(ip netip.Addr) string {
	n, _, _ := strings.Cut(networkOf(ip.Unmap().WithZone("")), "/")
	return n
}

// describeActivity writes act for a person: "Firefox 128.0 on Linux, IP
// 203.0.113.0"; "" when nothing is known.
func describeActivity(act SessionActivity) string {
	var b strings.Builder
	if act.BrowserName != "" {
		b.WriteString(act.BrowserName)
		if act.BrowserVersion != "" {
			b.WriteString(" " + act.BrowserVersion)
		}
	}
	if act.DeviceType != "" {
		if b.Len() > 0 {
			b.WriteString(" on ")
		}
		b.WriteString(act.DeviceType)
	}
	if act.IPAddress != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("IP " + act.IPAddress)
	}
	return b.String()
}
