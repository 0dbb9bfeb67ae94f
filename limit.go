package magiclink

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/clientip"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// allowAdd checks and records one address added by the user with userID,
// per user and per client IP (from ctx).
func (a *Auth) allowAdd(ctx context.Context, userID string, now time.Time) error {
	l := a.cfg.Limits
	if l.Disabled {
		return nil
	}
	limits := []ratelimit.Limit{{Key: "add/user/" + userID, Rules: []ratelimit.Rule{{Limit: l.UserAddressesPerHour, Window: time.Hour}}}}
	if ip, ok := ClientIPFrom(ctx); ok {
		limits = append(limits, ratelimit.Limit{Key: "create/ip/" + clientip.Key(ip), Rules: []ratelimit.Rule{{Limit: l.IPCreatesPer10s, Window: 10 * time.Second}}})
	}
	return a.allow(ctx, now, limits...)
}

// Default send and creation limits, used for zero Limits fields.
const (
	// DefaultAddressCooldown is the least time between two links to one
	// address.
	DefaultAddressCooldown = 30 * time.Second
	// DefaultAddressPerHour is how many links one address may receive in
	// any hour.
	DefaultAddressPerHour = 5
	// DefaultIPCreatesPer10s is how many sign-ins and sign-ups one client
	// IP may start in any 10 seconds (as Clerk's).
	DefaultIPCreatesPer10s = 5
	// DefaultIPSendsPerHour is how many links may be sent in any hour at
	// the request of one client IP.
	DefaultIPSendsPerHour = 30
	// DefaultAddressAttemptsPerHour and DefaultAddressAttemptsPerDay bound
	// the email codes tried at one address, across its flows.
	DefaultAddressAttemptsPerHour = 10
	DefaultAddressAttemptsPerDay  = 50
	// DefaultIPAttemptsPerHour is how many email codes one client IP may
	// try in any hour.
	DefaultIPAttemptsPerHour = 60
	// DefaultUserAddressesPerHour is how many email addresses one user
	// may add, and how many links to added addresses one user may have
	// sent, in any hour.
	DefaultUserAddressesPerHour = 10
	// DefaultGlobalSendsPerMinute is how many links may be sent in any
	// minute in all: a ceiling on the mail an attack can make the app send.
	DefaultGlobalSendsPerMinute = 300
)

// Limits bounds how often magic links are sent and sign-ins and sign-ups
// started. Every limit applies identically whether or not an address has
// an account, and answers too_many_requests (429 with Retry-After).
//
// Client IP limits apply to requests through Auth.Handler, and to Go API
// calls made with a client from RequestClient or a context that carries an
// IP (behind LoadSession or RequireSession, or from WithClientIP); see
// Auth.ClientIP. IPv6 clients are counted per /64 network.
type Limits struct {
	// Disabled turns every limit off: for development and load tests only,
	// since nothing then bounds the mail a client can make the app send.
	Disabled bool
	// AddressCooldown is the least time between two links to one address;
	// default 30 seconds.
	AddressCooldown time.Duration
	// AddressPerHour is how many links one address may receive in any
	// hour; default 5.
	AddressPerHour int
	// IPCreatesPer10s is how many email sign-ins and sign-ups one client IP
	// may start in any 10 seconds; default 5.
	IPCreatesPer10s int
	// IPSendsPerHour is how many links may be sent in any hour at the
	// request of one client IP; default 30.
	IPSendsPerHour int
	// GlobalSendsPerMinute is how many links may be sent in any minute, in
	// all (across instances with a shared Limiter); default 300.
	GlobalSendsPerMinute int
	// UserAddressesPerHour is how many email addresses one user may add,
	// and how many verification links of added addresses one user may
	// have sent, in any hour; default 10. Adding an address also counts
	// against IPCreatesPer10s.
	UserAddressesPerHour int
	// AddressAttemptsPerHour and AddressAttemptsPerDay bound how many
	// email codes may be tried at one address, in all its flows (a new
	// flow does not renew them); default 10 and 50. With 6-digit codes the
	// defaults keep a guesser's chance under 1 in 20,000 per address per
	// day (SECURITY.md).
	AddressAttemptsPerHour int
	AddressAttemptsPerDay  int
	// IPAttemptsPerHour is how many email codes one client IP may try in
	// any hour; default 60.
	IPAttemptsPerHour int
	// Limiter keeps the counts; default a ratelimit.Memory (per process).
	// Instances that share a store should share counts too:
	// ratelimit.NewStore(st).
	Limiter ratelimit.Limiter
}

// withDefaults fills in zero fields and validates l.
func (l Limits) withDefaults() (Limits, error) {
	if l.AddressCooldown < 0 || l.AddressPerHour < 0 || l.IPCreatesPer10s < 0 || l.IPSendsPerHour < 0 || l.GlobalSendsPerMinute < 0 ||
		l.AddressAttemptsPerHour < 0 || l.AddressAttemptsPerDay < 0 || l.IPAttemptsPerHour < 0 {
		return l, errors.New("magiclink: Config.Limits must not be negative")
	}
	if l.AddressCooldown == 0 {
		l.AddressCooldown = DefaultAddressCooldown
	}
	if l.AddressCooldown < time.Millisecond {
		return l, errors.New("magiclink: Config.Limits.AddressCooldown must be at least 1ms")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.AddressPerHour, DefaultAddressPerHour)
	def(&l.IPCreatesPer10s, DefaultIPCreatesPer10s)
	def(&l.IPSendsPerHour, DefaultIPSendsPerHour)
	def(&l.GlobalSendsPerMinute, DefaultGlobalSendsPerMinute)
	def(&l.UserAddressesPerHour, DefaultUserAddressesPerHour)
	def(&l.AddressAttemptsPerHour, DefaultAddressAttemptsPerHour)
	def(&l.AddressAttemptsPerDay, DefaultAddressAttemptsPerDay)
	def(&l.IPAttemptsPerHour, DefaultIPAttemptsPerHour)
	if l.Limiter == nil {
		l.Limiter = ratelimit.NewMemory()
	}
	return l, nil
}

// allowSend checks and records one link sent to addr: per address, per
// client IP (from ctx) and in all, and for an added address (userID not
// empty) per user.
func (a *Auth) allowSend(ctx context.Context, addr, userID string, now time.Time) error {
	l := a.cfg.Limits
	if l.Disabled {
		return nil
	}
	limits := []ratelimit.Limit{
		{Key: "send/addr/" + addressKey(addr), Rules: []ratelimit.Rule{{Limit: 1, Window: l.AddressCooldown}, {Limit: l.AddressPerHour, Window: time.Hour}}},
		{Key: "send/all", Rules: []ratelimit.Rule{{Limit: l.GlobalSendsPerMinute, Window: time.Minute}}},
	}
	if ip, ok := ClientIPFrom(ctx); ok {
		limits = append(limits, ratelimit.Limit{Key: "send/ip/" + clientip.Key(ip), Rules: []ratelimit.Rule{{Limit: l.IPSendsPerHour, Window: time.Hour}}})
	}
	if userID != "" {
		limits = append(limits, ratelimit.Limit{Key: "send/user/" + userID, Rules: []ratelimit.Rule{{Limit: l.UserAddressesPerHour, Window: time.Hour}}})
	}
	return a.allow(ctx, now, limits...)
}

// allowAttempt checks and records one email code tried at addr: per
// address, across flows, and per client IP (from ctx).
func (a *Auth) allowAttempt(ctx context.Context, addr string, now time.Time) error {
	l := a.cfg.Limits
	if l.Disabled {
		return nil
	}
	limits := []ratelimit.Limit{{Key: "attempt/addr/" + addressKey(addr),
		Rules: []ratelimit.Rule{{Limit: l.AddressAttemptsPerHour, Window: time.Hour}, {Limit: l.AddressAttemptsPerDay, Window: 24 * time.Hour}}}}
	if ip, ok := ClientIPFrom(ctx); ok {
		limits = append(limits, ratelimit.Limit{Key: "attempt/ip/" + clientip.Key(ip), Rules: []ratelimit.Rule{{Limit: l.IPAttemptsPerHour, Window: time.Hour}}})
	}
	return a.allow(ctx, now, limits...)
}

// allowCreate checks and records one sign-in or sign-up started by the
// client IP in ctx; without one there is nothing to count.
func (a *Auth) allowCreate(ctx context.Context) error {
	l := a.cfg.Limits
	ip, ok := ClientIPFrom(ctx)
	if l.Disabled || !ok {
		return nil
	}
	return a.allow(ctx, a.now(), ratelimit.Limit{Key: "create/ip/" + clientip.Key(ip), Rules: []ratelimit.Rule{{Limit: l.IPCreatesPer10s, Window: 10 * time.Second}}})
}

func (a *Auth) allow(ctx context.Context, now time.Time, limits ...ratelimit.Limit) error {
	ok, wait, err := a.cfg.Limits.Limiter.Allow(ctx, now, limits...)
	if err != nil {
		return err
	}
	if !ok {
		// The rule family ("send", "create", "attempt", "add") is the
		// first part of the first limit's key.
		rule, _, _ := strings.Cut(limits[0].Key, "/")
		a.observe(ctx, Observation{Kind: ObserveLimit, Name: rule})
		return tooManyRequests(max(1, int(math.Ceil(wait.Seconds()))))
	}
	return nil
}
