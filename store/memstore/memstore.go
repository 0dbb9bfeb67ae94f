// Package memstore is an in-memory store.Store, for tests and for
// single-process programs that need nothing to survive a restart.
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Now is the clock that decides expiry; default time.Now.
	Now func() time.Time
}

// Store is an in-memory store.Store. Expired records are dropped lazily:
// when a Get or an Apply touches their key, and when a List passes over
// them.
type Store struct {
	now    func() time.Time
	hub    store.Hub
	mu     sync.Mutex
	data   map[string]record
	closed bool
}

type record struct {
	value     []byte
	expiresAt time.Time
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New(cfg Config) *Store {
	s := &Store{now: time.Now, data: make(map[string]record)}
	if cfg.Now != nil {
		s.now = cfg.Now
	}
	return s
}

// live returns the record of key if it is live at now, and drops it if it
// has expired. s.mu must be held.
func (s *Store) live(key string, now time.Time) (record, bool) {
	r, ok := s.data[key]
	if !ok {
		return record{}, false
	}
	if !r.expiresAt.IsZero() && !r.expiresAt.After(now) {
		delete(s.data, key)
		return record{}, false
	}
	return r, true
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := store.ValidKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	r, ok := s.live(key, s.now())
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(r.value), nil
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, ops ...store.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.Validate(ops); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	now := s.now()
	err := store.Conditions(ops, func(k string) ([]byte, bool) {
		r, ok := s.live(k, now)
		return r.value, ok
	})
	if err != nil {
		s.mu.Unlock()
		return err
	}
	keys := make([]string, 0, len(ops))
	for _, op := range ops {
		switch {
		case op.Deletes():
			delete(s.data, op.Key)
		case op.Writes():
			s.data[op.Key] = record{value: clone(op.Value), expiresAt: op.ExpiresAt}
		default:
			continue
		}
		keys = append(keys, op.Key)
	}
	s.mu.Unlock()
	s.hub.Notify(keys...)
	return nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string, limit int) ([]store.Item, error) {
	return s.ListFrom(ctx, prefix, prefix, limit)
}

// ListFrom implements store.RangeLister.
func (s *Store) ListFrom(ctx context.Context, prefix, from string, limit int) ([]store.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	now := s.now()
	var items []store.Item
	for k := range s.data {
		if !strings.HasPrefix(k, prefix) || k < from {
			continue
		}
		if r, ok := s.live(k, now); ok {
			items = append(items, store.Item{Key: k, Value: clone(r.value), ExpiresAt: r.expiresAt})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	return s.hub.Watch(ctx, key)
}

// Close implements store.Store. It drops every record; closing twice is
// harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.hub.Close()
	s.data = nil
	return nil
}

// clone copies b. A present record's value is never nil, even when empty,
// so that a caller can pass the value it read as the Old of a Check.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
