package boltstore

import "sync"

// Limits of the read cache: the bytes of keys and values it holds, and the
// largest value it takes.
const (
	maxCacheBytes = 16 << 20
	maxCacheValue = 4 << 10
)

// cache keeps records recently read by Get in memory, so that reading a
// hot key again (a session's record, read on every request that carries
// its cookie) skips bbolt's read transaction.
//
// It is exact, never stale: only this Store writes the file (Open holds
// its lock), every commit drops the keys it wrote before its Applies
// return, and a record read from bbolt is added only if no commit has
// dropped anything since the read began (gen), so a read that raced a
// commit cannot put back the value the commit replaced.
type cache struct {
	limit int // bytes; tests lower it

	mu    sync.RWMutex
	gen   uint64 // incremented by every drop
	recs  map[string]cached
	bytes int
}

// cached is one record: its expiry (Unix nanoseconds, 0: never) and value.
type cached struct {
	expiry int64
	value  []byte // never modified: Get hands out copies
}

// get returns the cached record of key, if any, and the generation to
// pass to add after reading the key from bbolt.
func (c *cache) get(key string) (rec cached, ok bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rec, ok = c.recs[key]
	return rec, ok, c.gen
}

// add caches rec for key, read from bbolt after get returned gen, unless a
// commit has dropped keys since. When full, it evicts arbitrary records.
func (c *cache) add(key string, rec cached, gen uint64) {
	if len(rec.value) > maxCacheValue {
		return
	}
	size := len(key) + len(rec.value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.recs == nil {
		c.recs = make(map[string]cached)
	}
	for k, r := range c.recs {
		if c.bytes+size <= c.limit {
			break
		}
		delete(c.recs, k)
		c.bytes -= len(k) + len(r.value)
	}
	if old, ok := c.recs[key]; ok {
		c.bytes -= len(key) + len(old.value)
	}
	c.recs[key] = rec
	c.bytes += size
}

// drop forgets keys; commits call it after writing them and before their
// Applies return.
func (c *cache) drop(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		if r, ok := c.recs[k]; ok {
			delete(c.recs, k)
			c.bytes -= len(k) + len(r.value)
		}
	}
}

// reset forgets everything, after a commit whose outcome is unknown.
func (c *cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.recs, c.bytes = nil, 0
}
