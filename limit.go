package magiclink

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Limits bounds how often magic links are sent. The limits apply per
// address, identically whether or not the address has an account.
type Limits struct {
	// Disabled turns send limits off (for load tests).
	Disabled bool
	// AddressCooldown is the least time between two links to one address;
	// default 30 seconds.
	AddressCooldown time.Duration
	// AddressPerHour is how many links one address may receive in any
	// hour; default 5.
	AddressPerHour int
}

// limiter is the in-memory send limiter: a sliding log of recent sends
// per address.
type limiter struct {
	l      Limits
	mu     sync.Mutex
	sends  map[string][]time.Time
	writes int
}

func newLimiter(l Limits) (*limiter, error) {
	if l.AddressCooldown == 0 {
		l.AddressCooldown = 30 * time.Second
	}
	if l.AddressPerHour == 0 {
		l.AddressPerHour = 5
	}
	if l.AddressCooldown < 0 || l.AddressPerHour < 0 {
		return nil, errors.New("magiclink: Config.Limits must not be negative")
	}
	return &limiter{l: l, sends: map[string][]time.Time{}}, nil
}

// allowSend records a send to addr at now, or refuses it with a
// too_many_requests error saying when to retry.
func (lm *limiter) allowSend(addr string, now time.Time) error {
	if lm.l.Disabled {
		return nil
	}
	key := addressKey(addr)
	lm.mu.Lock()
	defer lm.mu.Unlock()
	log := recent(lm.sends[key], now)
	var wait time.Duration
	if n := len(log); n > 0 {
		if d := log[n-1].Add(lm.l.AddressCooldown).Sub(now); d > wait {
			wait = d
		}
		if n >= lm.l.AddressPerHour {
			if d := log[n-lm.l.AddressPerHour].Add(time.Hour).Sub(now); d > wait {
				wait = d
			}
		}
	}
	if wait > 0 {
		lm.sends[key] = log
		return tooManyRequests(int(math.Ceil(wait.Seconds())))
	}
	lm.sends[key] = append(log, now)
	if lm.writes++; lm.writes%1024 == 0 {
		for k, v := range lm.sends {
			if len(recent(v, now)) == 0 {
				delete(lm.sends, k)
			}
		}
	}
	return nil
}

// recent drops the sends older than an hour.
func recent(log []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(log) && !log[i].After(now.Add(-time.Hour)) {
		i++
	}
	return log[i:]
}
