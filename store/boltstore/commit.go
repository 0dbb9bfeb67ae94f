package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/magiclink-go/magiclink/store"
)

// Limits of one group commit: a batch takes at most maxBatch Applies and,
// beyond its first Apply, at most maxBatchBytes of encoded values.
const (
	maxBatch      = 256
	maxBatchBytes = 8 << 20
)

// request is one Apply waiting for the committer.
type request struct {
	ctx  context.Context
	ops  []store.Op
	recs [][]byte // stored form of each op's new value; nil for ops that write none
	size int      // total length of recs
	done chan error
}

func newRequest(ctx context.Context, ops []store.Op) *request {
	r := &request{ctx: ctx, ops: ops, recs: make([][]byte, len(ops)), done: make(chan error, 1)}
	for i, op := range ops {
		if op.Writes() && !op.Deletes() {
			r.recs[i] = encode(op.Value, op.ExpiresAt)
			r.size += len(r.recs[i])
		}
	}
	return r
}

// Apply implements store.Store. Concurrent Applies share transactions
// (see the package doc); each still succeeds or fails on its own.
func (s *Store) Apply(ctx context.Context, ops ...store.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.Validate(ops); err != nil {
		return err
	}
	r := newRequest(ctx, ops)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the request will be committed or refused; its result
	// is awaited even if ctx ends, so that an error always means nothing
	// was written.
	return <-r.done
}

// commitLoop is the committer. It takes the first queued Apply at once,
// adds whatever else is queued by then, commits them in one transaction,
// and repeats: Applies that arrive during a commit go in the next one.
// There is no timer. After each commit the committer yields the processor
// once (runtime.Gosched, not a sleep), so that callers it has just
// released, and others already runnable, can queue their next Apply before
// it looks at the queue: under load this roughly doubles the Applies per
// transaction. After Close it commits what is still queued and returns.
func (s *Store) commitLoop() {
	defer s.wg.Done()
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case r := <-s.queue:
			batch = s.gather(append(batch, r))
		case <-s.stop:
			// Close has set closed, so no Apply is sending: what is in
			// the queue now is all there will be.
			for {
				select {
				case r := <-s.queue:
					batch = s.gather(append(batch, r))
					s.commit(batch)
					clear(batch)
					batch = batch[:0]
				default:
					return
				}
			}
		}
		s.commit(batch)
		clear(batch)
		batch = batch[:0]
		runtime.Gosched()
	}
}

// gather adds queued requests to batch, without waiting, up to the limits
// of one batch.
func (s *Store) gather(batch []*request) []*request {
	size := 0
	for len(batch) < maxBatch && size < maxBatchBytes {
		select {
		case r := <-s.queue:
			batch = append(batch, r)
			size += r.size
		default:
			return batch
		}
	}
	return batch
}

// commit runs batch in one read-write transaction. Each request's
// conditions are checked in order against the bucket as the requests
// before it left it; a request whose conditions fail writes nothing and
// gets its *store.ConflictError, the others are written. Results are
// delivered only after the commit: if it fails, every request gets the
// error. Requests whose context ended while queued are refused before the
// transaction.
func (s *Store) commit(batch []*request) {
	live := batch[:0] // filtered in place
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	now := s.nowNanos()
	var results []error
	// keys are those written, by the requests whose conditions held.
	keys, err := s.update(func(b *bolt.Bucket) ([]string, error) {
		results = make([]error, len(live))
		var keys []string
		get := func(key string) ([]byte, bool) {
			v, _, ok := decode(b.Get([]byte(key)), now)
			return v, ok
		}
		for i, r := range live {
			if err := store.Conditions(r.ops, get); err != nil {
				results[i] = err
				continue
			}
			for j, op := range r.ops {
				var err error
				switch {
				case op.Deletes():
					err = b.Delete([]byte(op.Key))
				case op.Writes():
					err = b.Put([]byte(op.Key), r.recs[j])
				}
				if err != nil {
					return nil, fmt.Errorf("%s %q: %w", op.Kind, op.Key, err)
				}
				if op.Writes() {
					keys = append(keys, op.Key)
				}
			}
		}
		return keys, nil
	})
	if err != nil {
		err = fmt.Errorf("boltstore: commit: %w", unavailable(err))
		s.log.Error("boltstore: group commit failed", "applies", len(live), "err", err)
		for _, r := range live {
			r.done <- err
		}
		return
	}
	s.commits.Add(1)
	s.hub.Notify(keys...)
	for i, r := range live {
		r.done <- results[i]
	}
}

// update runs fn on the bucket in one write transaction. The keys fn
// returns, those it changed, are marked in the read cache before the
// commit is visible to any reader and released once it is; if the
// transaction fails, the cache is reset.
func (s *Store) update(fn func(b *bolt.Bucket) ([]string, error)) ([]string, error) {
	var keys []string
	began := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if keys, err = fn(tx.Bucket(bucket)); err != nil {
			return err
		}
		s.cache.begin(keys) // before the commit is visible to any reader
		began = true
		return nil
	})
	if began {
		s.cache.end(keys)
	}
	if err != nil {
		s.cache.reset()
	}
	return keys, err
}

// unavailable returns err, wrapped in store.ErrUnavailable when it says
// the disk is full or read-only: a condition that may clear by itself.
func unavailable(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
