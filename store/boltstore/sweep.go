package boltstore

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/magiclink-go/magiclink/internal/worker"
)

// sweepLoop deletes expired records every s.interval until Close.
func (s *Store) sweepLoop() {
	defer s.wg.Done()
	worker.Every(s.stop, s.interval, func() bool {
		n, err := s.sweepOnce()
		if err != nil {
			s.log.Error("boltstore: sweep failed", "deleted", n, "err", err)
		} else if n > 0 {
			s.log.Debug("boltstore: swept expired records", "deleted", n)
		}
		if s.onSweep != nil {
			s.onSweep(n, err)
		}
		return true
	})
}

// sweepOnce deletes the records expired at the store's clock and returns
// how many it deleted. It walks the bucket in short read transactions,
// each followed by a short write transaction deleting what it found (see
// scanExpired and deleteExpired), so it never holds bbolt's write lock for
// long, nor a long read transaction, which would stall a commit that
// needs to grow the file. After each write transaction it rests for as
// long as that transaction took, so that the committer, which waits for
// bbolt's one write lock, holds it at least half the time: the Applies of
// a busy store keep their latency while a million expired records go. It
// stops early when the store is closing.
func (s *Store) sweepOnce() (int, error) {
	total := 0
	var after []byte
	for {
		now := s.nowNanos()
		keys, next, err := s.scanExpired(after, now)
		if err != nil {
			return total, fmt.Errorf("boltstore: sweep: %w", err)
		}
		began := time.Now()
		n, err := s.deleteExpired(keys, now)
		took := time.Since(began)
		total += n
		if err != nil {
			return total, fmt.Errorf("boltstore: sweep: %w", err)
		}
		if next == nil {
			return total, nil
		}
		after = next
		rest := time.NewTimer(took)
		select {
		case <-s.stop:
			rest.Stop()
			return total, nil
		case <-rest.C:
		}
	}
}

// scanExpired examines the records after the key after (nil: from the
// first) in key order, at most s.sweepScan of them, and returns the keys
// of at most s.sweepChunk that are expired at now, and the last key it
// examined, or nil if it reached the end.
func (s *Store) scanExpired(after []byte, now int64) (expired [][]byte, last []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		expired, last = nil, nil
		c := tx.Bucket(bucket).Cursor()
		k, rec := c.First()
		if after != nil {
			k, rec = c.Seek(after)
			if bytes.Equal(k, after) {
				k, rec = c.Next()
			}
		}
		for seen := 0; k != nil; k, rec = c.Next() {
			if _, _, live := decode(rec, now); !live {
				expired = append(expired, clone(k))
			}
			if seen++; seen == s.sweepScan || len(expired) == s.sweepChunk {
				last = clone(k)
				break
			}
		}
		return nil
	})
	return expired, last, err
}

// deleteExpired deletes, in one write transaction, those of keys that are
// still expired at now: a record written again since it was scanned is
// kept. It returns how many it deleted.
func (s *Store) deleteExpired(keys [][]byte, now int64) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	deleted, err := s.update(func(b *bolt.Bucket) ([]string, error) {
		var deleted []string
		for _, k := range keys {
			rec := b.Get(k)
			if rec == nil {
				continue // deleted since
			}
			if _, _, live := decode(rec, now); live {
				continue // written again since
			}
			if err := b.Delete(k); err != nil {
				return nil, err
			}
			deleted = append(deleted, string(k))
		}
		return deleted, nil
	})
	if err != nil {
		return 0, err
	}
	return len(deleted), nil
}
