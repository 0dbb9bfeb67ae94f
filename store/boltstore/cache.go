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
// its lock), and every write transaction brackets its commit with begin
// and end. begin, called before bbolt makes the commit visible, drops the
// keys the transaction writes and keeps them out of the cache until end,
// so no reader is served an old value once any reader can see the new
// one; and a record read from bbolt is added only if no begin or end came
// between the read's start and the add (gen), so a read that raced a
// commit cannot put back a value the commit replaced.
type cache struct {
	limit int // bytes; tests lower it

	mu      sync.RWMutex
	gen     uint64         // incremented by begin, end and reset
	writing map[string]int // keys of the write transactions between begin and end
	recs    map[string]cached
	bytes   int
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

// add caches rec for key, read from bbolt after get returned gen, unless
// a write transaction began or ended since, or one is writing key. When
// full, it evicts arbitrary records.
func (c *cache) add(key string, rec cached, gen uint64) {
	if len(rec.value) > maxCacheValue {
		return
	}
	size := len(key) + len(rec.value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.writing[key] > 0 {
		return
	}
	if c.recs == nil {
		c.recs = make(map[string]cached)
	}
	for k, r := range c.recs {
		if c.bytes+size <= c.limit {
			break
		}
		c.remove(k, r)
	}
	if old, ok := c.recs[key]; ok {
		c.remove(key, old)
	}
	c.recs[key] = rec
	c.bytes += size
}

func (c *cache) remove(key string, r cached) {
	delete(c.recs, key)
	c.bytes -= len(key) + len(r.value)
}

// begin is called by a write transaction that writes keys, inside it,
// before it commits: it forgets them and keeps them out until end.
func (c *cache) begin(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.writing == nil {
		c.writing = make(map[string]int)
	}
	for _, k := range keys {
		c.writing[k]++
		if r, ok := c.recs[k]; ok {
			c.remove(k, r)
		}
	}
}

// end is called after the transaction that called begin(keys) committed
// or failed.
func (c *cache) end(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		if c.writing[k]--; c.writing[k] <= 0 {
			delete(c.writing, k)
		}
	}
}

// reset forgets every record, after a write transaction whose outcome is
// unknown.
func (c *cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.recs, c.bytes = nil, 0
}
