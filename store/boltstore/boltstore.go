// Package boltstore is the default store.Store: one bbolt file, for a
// single process.
//
// Records live in one bucket; each value is stored as an 8-byte big-endian
// expiry (Unix nanoseconds, 0 for never) followed by the value's bytes.
// Every byte slice a Store returns is copied out of its transaction, so it
// never aliases bbolt's memory map.
//
// Apply uses group commit: while one bbolt transaction commits, the Applies
// that arrive queue up and then commit together in the next transaction,
// each with its own conditions, so concurrent callers share the cost of a
// disk sync without waiting for a timer. Expired records are hidden at once
// and deleted by a background sweeper.
//
// Get keeps what it reads in a bounded in-memory cache, so that a hot key
// (a session's record, read on every request) is served without a bbolt
// transaction. The cache is exact: this Store is the file's only writer,
// and each commit drops the keys it writes before bbolt makes it visible
// (and keeps them out until it is done), so a revoked session is gone for
// the very next Get, and no Get serves a value older than what any read
// has already seen.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/magiclink-go/magiclink/store"
)

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds the database file and did not let go within
// Config.Timeout.
var ErrLocked = errors.New("boltstore: database file is in use by another process")

// Defaults for Config.
const (
	// DefaultTimeout is how long Open waits for a locked file.
	DefaultTimeout = time.Second
	// DefaultSweepInterval is how often expired records are deleted.
	DefaultSweepInterval = time.Minute
)

// Config configures a Store. Zero fields mean the defaults.
type Config struct {
	// Now is the clock that decides expiry; default time.Now.
	Now func() time.Time
	// Timeout is how long Open waits for the file lock another process
	// holds before failing with ErrLocked; default DefaultTimeout.
	Timeout time.Duration
	// SweepInterval is how often expired records are deleted; default
	// DefaultSweepInterval, negative: never.
	SweepInterval time.Duration
	// Logger receives the sweeper's reports and commit failures; default:
	// discard.
	Logger *slog.Logger
}

// bucket holds every record.
var bucket = []byte("magiclink")

// Store is a store.Store on a bbolt file. Open it with Open; all methods
// are safe for concurrent use.
type Store struct {
	db       *bolt.DB
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration
	hub      store.Hub
	cache    cache

	// queue carries Applies to the committer. mu guards closed, and
	// Apply holds it for reading while it sends, so that once Close has
	// set closed no send is under way and the committer can drain queue.
	mu     sync.RWMutex
	closed bool
	queue  chan *request
	stop   chan struct{} // closed by Close
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// Sweeper tuning and hooks; tests change them before start.
	sweepChunk int              // records deleted per write transaction
	sweepScan  int              // records examined per read transaction
	onSweep    func(int, error) // called after each background sweep

	commits atomic.Uint64 // transactions committed by Apply, for benchmarks
}

var _ store.Store = (*Store)(nil)

// Open opens the bbolt file at path, creating it if needed, and starts
// the committer and the sweeper. A file can be open in
// only one Store at a time, in this process or any other: Open fails with
// an error wrapping ErrLocked if the file stays locked for cfg.Timeout.
func Open(path string, cfg Config) (*Store, error) {
	s, err := open(path, cfg)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// open opens the file and sets s up without starting its goroutines.
func open(path string, o Config) (*Store, error) {
	if o.Timeout < 0 {
		return nil, fmt.Errorf("boltstore: negative Timeout %v", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s still locked after %v", ErrLocked, path, o.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create bucket: %w", path, err)
	}
	return &Store{
		db:         db,
		now:        o.Now,
		log:        o.Logger,
		interval:   o.SweepInterval,
		queue:      make(chan *request, maxBatch),
		stop:       make(chan struct{}),
		sweepChunk: 256,
		sweepScan:  10000,
		cache:      cache{limit: maxCacheBytes},
	}, nil
}

// start starts the committer and, unless disabled, the sweeper.
func (s *Store) start() {
	s.wg.Add(1)
	go s.commitLoop()
	if s.interval > 0 {
		s.wg.Add(1)
		go s.sweepLoop()
	}
}

// view runs fn in a read transaction, unless the store is closed.
func (s *Store) view(ctx context.Context, fn func(b *bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucket)) })
}

// Get implements store.Store. A key read recently is served from the
// read cache (see cache), without a bbolt transaction.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := store.ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	rec, ok, gen := s.cache.get(key)
	if !ok {
		tx, err := s.db.Begin(false)
		if err != nil {
			return nil, err
		}
		var kb [store.MaxKeyLen]byte // on the stack: no copy of key on the heap
		raw := tx.Bucket(bucket).Get(append(kb[:0], key...))
		if len(raw) >= headerLen {
			v, exp, _ := decode(raw, 0)
			rec = cached{expiry: exp, value: clone(v)}
			ok = true
		}
		tx.Rollback()
		if ok {
			s.cache.add(key, rec, gen)
		}
	}
	if !ok || (rec.expiry != 0 && rec.expiry <= s.nowNanos()) {
		return nil, store.ErrNotFound
	}
	return clone(rec.value), nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string, limit int) ([]store.Item, error) {
	return s.ListFrom(ctx, prefix, prefix, limit)
}

// ListFrom implements store.RangeLister.
func (s *Store) ListFrom(ctx context.Context, prefix, from string, limit int) ([]store.Item, error) {
	var items []store.Item
	err := s.view(ctx, func(b *bolt.Bucket) error {
		now := s.nowNanos()
		p := []byte(prefix)
		c := b.Cursor()
		for k, raw := c.Seek([]byte(max(prefix, from))); k != nil && bytes.HasPrefix(k, p); k, raw = c.Next() {
			v, exp, ok := decode(raw, now)
			if !ok {
				continue
			}
			items = append(items, store.Item{Key: string(k), Value: clone(v), ExpiresAt: expiryTime(exp)})
			if limit > 0 && len(items) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	return s.hub.Watch(ctx, key)
}

// Close implements store.Store. It lets the Applies already queued
// commit, stops the sweeper, waits for both, and closes the file. Calls
// after the first return the first one's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.hub.Close()
		close(s.stop)
		s.wg.Wait()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("boltstore: close: %w", err)
		}
	})
	return s.closeErr
}

// Exclusive implements store.Exclusive: a bbolt file is open in one
// process at a time.
func (s *Store) Exclusive() bool { return true }

func (s *Store) nowNanos() int64 { return expiryNanos(s.now()) }
