package store

import (
	"context"
	"sync"
)

// Hub implements Watch for stores: it keeps the subscribers of each key
// and wakes them when the store reports a change. The zero value is ready
// to use.
type Hub struct {
	mu     sync.Mutex
	subs   map[string]map[*subscriber]struct{}
	closed bool
}

type subscriber struct{ ch chan struct{} }

// Watch subscribes to key until ctx is done; see Store.Watch. After
// Close it returns ErrClosed (whatever the key).
func (h *Hub) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	s := &subscriber{ch: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if h.subs == nil {
		h.subs = make(map[string]map[*subscriber]struct{})
	}
	set := h.subs[key]
	if set == nil {
		set = make(map[*subscriber]struct{})
		h.subs[key] = set
	}
	set[s] = struct{}{}
	// Run at once (on its own goroutine) if ctx is already done, the
	// removal waits for this call to unlock.
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[key], s)
		if len(h.subs[key]) == 0 {
			delete(h.subs, key)
		}
	})
	return s.ch, nil
}

// Close makes every later Watch return ErrClosed, as Store.Watch must
// once the store is closed. Subscriptions made before it last until their
// contexts end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
}

// Notify wakes the subscribers of each key.
func (h *Hub) Notify(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		for s := range h.subs[k] {
			wake(s.ch)
		}
	}
}

// NotifyAll wakes every subscriber, for a store that may have missed
// changes.
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.subs {
		for s := range set {
			wake(s.ch)
		}
	}
}

// Watchers returns the number of live subscriptions, for tests and metrics.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
