package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// sweepChunk is the most rows one sweep statement deletes, so that no
// sweep holds many locks or writes much WAL in one transaction.
const sweepChunk = 1000

// Sweep deletes the expired records now and returns how many it deleted.
// It works in chunks of at most 1000 rows, each its own statement, and
// skips rows that an Apply holds locked (it overwrites or checks them);
// several instances may sweep at once. The Store calls it every
// Config.SweepInterval; expired records are treated as absent whether or
// not they have been swept.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	return s.sweep(ctx)
}

func (s *Store) sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, s.q.sweep, s.now(), sweepChunk)
		if err != nil {
			return total, fmt.Errorf("pgstore: sweep: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < sweepChunk {
			return total, nil
		}
	}
}

// sweepEvery sweeps every interval until ctx is done.
func (s *Store) sweepEvery(ctx context.Context, interval time.Duration, h *hooks) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("pgstore: sweep failed", "err", err)
		case n > 0:
			s.log.Debug("pgstore: swept expired records", "count", n)
		}
		if err == nil && h != nil && h.swept != nil {
			h.swept(n)
		}
	}
}
