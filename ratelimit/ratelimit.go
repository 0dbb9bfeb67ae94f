// Package ratelimit counts events against sliding-window limits: the
// counts behind magiclink's send, creation and code-attempt limits
// (magiclink.Limits). Memory counts in one process; Store keeps the counts
// in a store.Store, so every instance sharing that store shares them.
// Another Limiter (Redis, say) can be plugged into magiclink.Limits.Limiter.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Rule bounds how often something may happen: at most Limit events in any
// Window (a sliding window, not a fixed one).
type Rule struct {
	Limit  int
	Window time.Duration
}

// Limit is a key (what is limited, e.g. one address or one client IP) and
// the rules that bound it. The rules of one key count the same events.
type Limit struct {
	Key   string
	Rules []Rule
}

// Limiter keeps the event counts limits are checked against.
// magiclink.Limits.Limiter sets it; the default, Memory, counts in one
// process. Use Store to share the counts between instances that share a
// store.
type Limiter interface {
	// Allow records one event at now for the key of every limit if every
	// rule of every limit allows one more, and reports ok. Otherwise it
	// records nothing and reports how long until all would allow it. The
	// check and the record are atomic. err reports a failure to consult the
	// counts (callers refuse the event) or invalid rules.
	Allow(ctx context.Context, now time.Time, limits ...Limit) (ok bool, retryAfter time.Duration, err error)
}

// Memory is the default Limiter: a sliding log of recent events per key,
// in memory. Its counts are per process; instances behind a load balancer
// each count their own (see Store).
type Memory struct {
	mu     sync.Mutex
	keys   map[string]*eventLog
	writes int
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{keys: map[string]*eventLog{}} }

// Allow implements Limiter.
func (m *Memory) Allow(ctx context.Context, now time.Time, limits ...Limit) (bool, time.Duration, error) {
	limits, err := mergeLimits(limits)
	if err != nil {
		return false, 0, err
	}
	t := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	var wait time.Duration
	for _, l := range limits {
		if lg := m.keys[l.Key]; lg != nil {
			wait = max(wait, lg.wait(t, l.Rules))
		}
	}
	if wait > 0 {
		return false, wait, nil
	}
	for _, l := range limits {
		lg := m.keys[l.Key]
		if lg == nil {
			lg = &eventLog{}
			m.keys[l.Key] = lg
		}
		lg.record(t, l.Rules)
	}
	if m.writes++; m.writes%1024 == 0 {
		for k, lg := range m.keys {
			if lg.stale(t) {
				delete(m.keys, k)
			}
		}
	}
	return true, 0, nil
}

// Store is a Limiter that keeps its counts in a store.Store, so every
// instance using the same store (for example one pgstore database) shares
// them. Each Allow is one compare-and-swap Apply over the records of its
// keys; keys are stored hashed, under "rl/".
//
// A limit that allows many events (every rule at least 2×shardMin, such
// as the global send limit) is counted in shards: up to maxShards records,
// among which each rule's Limit is divided (their shares add up to it
// exactly). An Allow reads all of a limit's shards in one List and records
// its event in one with room, chosen at random, so that concurrent Allows
// on several instances rarely swap the same record; it is refused only
// when no shard has room, which means the whole limit is used, and then
// waits for the first shard to free up. The sum never exceeds the limit,
// and no event is refused while the limit has room. With a single record,
// a burst of 400 sends from 4 instances on one PostgreSQL database retried
// 36 compare-and-swaps per send (BENCHMARKS.md).
type Store struct {
	st store.Store
}

// NewStore returns a Store keeping its counts in st.
func NewStore(st store.Store) *Store { return &Store{st: st} }

// keyRateLimit prefixes the records of Store.
const keyRateLimit = "rl/"

// storeLimiterRetries bounds the compare-and-swap rounds of one Allow:
// every round some contender commits, so this is generous.
const storeLimiterRetries = 128

// Sharding of the limits that allow many events.
const (
	maxShards = 16 // records of one limit at most
	shardMin  = 16 // events a shard's share of every rule allows at least
)

// shards returns how many records count a limit with rules.
func shards(rules []Rule) int {
	least := rules[0].Limit
	for _, r := range rules[1:] {
		least = min(least, r.Limit)
	}
	return max(1, min(maxShards, least/shardMin))
}

// shareOf returns the rules of shard i of n: each rule's Limit divided
// among the shards, the remainder going to the first ones.
func shareOf(rules []Rule, i, n int) []Rule {
	if n == 1 {
		return rules
	}
	out := make([]Rule, len(rules))
	for k, r := range rules {
		out[k] = Rule{Limit: r.Limit / n, Window: r.Window}
		if i < r.Limit%n {
			out[k].Limit++
		}
	}
	return out
}

// Allow implements Limiter.
func (s *Store) Allow(ctx context.Context, now time.Time, limits ...Limit) (bool, time.Duration, error) {
	limits, err := mergeLimits(limits)
	if err != nil {
		return false, 0, err
	}
	t := now.UnixMilli()
	for attempt := range storeLimiterRetries {
		var wait time.Duration
		ops := make([]store.Op, 0, len(limits))
		for _, l := range limits {
			op, w, err := s.record(ctx, now, t, l)
			if err != nil {
				return false, 0, err
			}
			if wait = max(wait, w); w == 0 {
				ops = append(ops, op)
			}
		}
		if wait > 0 {
			return false, wait, nil
		}
		err := s.st.Apply(ctx, ops...)
		if err == nil {
			return true, 0, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return false, 0, err
		}
		if attempt >= 8 {
			// Many contenders: spread the retries out.
			select {
			case <-time.After(time.Duration(rand.IntN(attempt)) * time.Millisecond):
			case <-ctx.Done():
				return false, 0, ctx.Err()
			}
		}
	}
	return false, 0, errors.New("ratelimit: too much contention")
}

// record reads the record(s) of l and returns the write that records one
// event at now (t in Unix ms) in a record with room, or how long until
// one has room.
func (s *Store) record(ctx context.Context, now time.Time, t int64, l Limit) (store.Op, time.Duration, error) {
	key := storeLimitKey(l.Key)
	n := shards(l.Rules)
	raws := make([][]byte, n)
	if n == 1 {
		raw, err := s.st.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Op{}, 0, err
		}
		raws[0] = raw
	} else {
		key += "/"
		items, err := s.st.List(ctx, key, 0)
		if err != nil {
			return store.Op{}, 0, err
		}
		for _, it := range items {
			if i, err := strconv.Atoi(strings.TrimPrefix(it.Key, key)); err == nil && i >= 0 && i < n {
				raws[i] = it.Value
			}
		}
	}
	wait := time.Duration(-1)
	first := rand.IntN(n)
	for k := range n {
		i := (first + k) % n
		var lg eventLog
		if raws[i] != nil && json.Unmarshal(raws[i], &lg.Events) != nil {
			lg.Events = nil // corrupt: count afresh, swapping it out
		}
		rules := shareOf(l.Rules, i, n)
		if w := lg.wait(t, rules); w > 0 {
			if wait < 0 || w < wait {
				wait = w
			}
			continue
		}
		lg.record(t, rules)
		value, _ := json.Marshal(lg.Events)
		expires := now.Add(lg.Keep)
		k := key
		if n > 1 {
			k += strconv.Itoa(i)
		}
		if raws[i] == nil {
			return store.Insert(k, value, expires), 0, nil
		}
		return store.Swap(k, raws[i], value, expires), 0, nil
	}
	return store.Op{}, wait, nil
}

// storeLimitKey is the store key of a limit key: hashed, so that any key
// fits store.MaxKeyLen and no address or IP is spelled out in it.
func storeLimitKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return keyRateLimit + hex.EncodeToString(sum[:])
}

// eventLog is the sliding log of one key: the times (Unix ms, oldest
// first) of its most recent events, as many as its largest rule needs.
type eventLog struct {
	Events []int64
	Keep   time.Duration // the longest window it was recorded under
}

// wait returns how long until every rule allows one more event at t.
func (lg *eventLog) wait(t int64, rules []Rule) time.Duration {
	var wait int64
	n := len(lg.Events)
	for _, r := range rules {
		if n < r.Limit {
			continue
		}
		// The event that must leave the window first.
		if d := lg.Events[n-r.Limit] + r.Window.Milliseconds() - t; d > wait {
			wait = d
		}
	}
	return time.Duration(wait) * time.Millisecond
}

// record appends an event at t and drops what no rule needs any more.
func (lg *eventLog) record(t int64, rules []Rule) {
	keepN, keep := 0, time.Duration(0)
	for _, r := range rules {
		keepN, keep = max(keepN, r.Limit), max(keep, r.Window)
	}
	lg.Keep = keep
	ev := append(lg.Events, t)
	i := 0
	for i < len(ev) && (ev[i] <= t-keep.Milliseconds() || len(ev)-i > keepN) {
		i++
	}
	lg.Events = append(lg.Events[:0:0], ev[i:]...)
}

// stale reports whether no event of the log is within its longest window.
func (lg *eventLog) stale(t int64) bool {
	return len(lg.Events) == 0 || lg.Events[len(lg.Events)-1] <= t-lg.Keep.Milliseconds()
}

// mergeLimits validates limits and joins those with the same key.
func mergeLimits(limits []Limit) ([]Limit, error) {
	out := make([]Limit, 0, len(limits))
	for _, l := range limits {
		for _, r := range l.Rules {
			if r.Limit <= 0 || r.Window < time.Millisecond {
				return nil, fmt.Errorf("ratelimit: limit %q: a rule needs Limit > 0 and Window >= 1ms, got %d per %v", l.Key, r.Limit, r.Window)
			}
		}
		if i := slices.IndexFunc(out, func(o Limit) bool { return o.Key == l.Key }); i >= 0 {
			out[i].Rules = append(slices.Clip(out[i].Rules), l.Rules...)
			continue
		}
		out = append(out, l)
	}
	return out, nil
}
