package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/magiclink-go/magiclink/store"
)

// rollbackTimeout bounds the ROLLBACK of a failed Apply, which runs even
// when the caller's context is done.
const rollbackTimeout = 5 * time.Second

// Apply implements store.Store.
//
// It runs in one READ COMMITTED transaction, sent as one batch (BEGIN and
// every statement) and then committed or rolled back: two round trips.
// Each operation is one statement that checks its condition and writes in
// one step, on the row of its key:
//
//   - DeleteIf: DELETE … WHERE key = $1 AND value = $2 AND live. Of
//     concurrent consumers of one token, the first takes the row lock; the
//     others wait for it, re-check the condition against the committed
//     result (PostgreSQL re-evaluates WHERE on the new row version), find
//     the row gone and affect nothing: exactly one wins.
//   - Insert: INSERT … ON CONFLICT (key) DO UPDATE … WHERE the existing
//     row is expired. A concurrent insert of the same key waits for ours;
//     no unique violation can arise.
//   - Swap: UPDATE … WHERE key = $1 AND value = $2 AND live.
//   - Check(key, old): SELECT … FOR SHARE, which keeps the row as read
//     until commit.
//   - Check(key, nil): the key must stay absent until commit, but an
//     absent key has no row to lock, so the statement inserts a claim row
//     (expired by construction, invisible to others until commit, deleted
//     before commit); a concurrent writer of that key waits for the
//     transaction and then finds no row. An existing expired row is
//     locked instead.
//   - Put and Delete: plain upsert and delete.
//
// A conditional statement that affects no row is a failed condition: the
// transaction rolls back and Apply returns a *store.ConflictError for the
// first such operation in ops. Statements run in key order, so concurrent
// Applies take their row locks in one order and cannot deadlock.
//
// The keys written are notified (pg_notify) inside the transaction, so
// listeners hear of them when and only when it commits; this Store's own
// watchers are woken directly after the commit. If the commit's
// outcome is unknown (the connection broke during COMMIT), Apply returns
// the error although the transaction may have committed.
func (s *Store) Apply(ctx context.Context, ops ...store.Op) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.Validate(ops); err != nil {
		return err
	}
	now := s.now()
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ops[a].Key, ops[b].Key) })

	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	var claims [][]byte
	var written, payloads []string
	for _, i := range order {
		op := ops[i]
		k := []byte(op.Key)
		switch op.Kind {
		case store.OpPut:
			b.Queue(s.q.put, k, nonNil(op.Value), expiry(op.ExpiresAt))
		case store.OpInsert:
			b.Queue(s.q.insert, k, nonNil(op.Value), expiry(op.ExpiresAt), now)
		case store.OpSwap:
			b.Queue(s.q.swap, k, nonNil(op.Old), nonNil(op.Value), expiry(op.ExpiresAt), now)
		case store.OpDelete:
			b.Queue(s.q.delete, k)
		case store.OpDeleteIf:
			b.Queue(s.q.deleteIf, k, nonNil(op.Old), now)
		case store.OpCheck:
			if op.Old == nil {
				b.Queue(s.q.checkAbsent, k, now)
				claims = append(claims, k)
			} else {
				b.Queue(s.q.check, k, op.Old, now)
			}
		}
		if op.Writes() {
			written = append(written, op.Key)
			payloads = append(payloads, payload(s.id, op.Key))
		}
	}
	if len(claims) > 0 {
		b.Queue(s.q.unclaim, claims)
	}
	if len(payloads) > 0 {
		b.Queue(s.q.notify, s.channel, payloads)
	}

	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		tx.Rollback(rctx) // a no-op after Commit
	}()
	failed := -1
	for n := range b.Len() {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("pgstore: apply: %w", err)
		}
		if n == 0 || n > len(order) { // BEGIN, unclaim, notify
			continue
		}
		i := order[n-1]
		if conditional(ops[i].Kind) && tag.RowsAffected() == 0 && (failed < 0 || i < failed) {
			failed = i
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("pgstore: apply: %w", err)
	}
	if failed >= 0 {
		return &store.ConflictError{Key: ops[failed].Key, Kind: ops[failed].Kind}
	}
	// This Store's watchers are woken here, at once; its listener skips
	// the echo of these notifications. When the commit's outcome is
	// unknown, they are woken all the same: a spurious wake-up is allowed,
	// a missed one is not.
	err := tx.Commit(ctx)
	s.hub.Notify(written...)
	if err != nil {
		return fmt.Errorf("pgstore: apply: commit: %w", err)
	}
	return nil
}

// conditional reports whether an op of kind k has a condition, that is,
// whether affecting no row means it failed.
func conditional(k store.OpKind) bool {
	return k == store.OpInsert || k == store.OpSwap || k == store.OpDeleteIf || k == store.OpCheck
}

// nonNil returns b, or an empty slice for nil: nil would be sent as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// expiry returns the expires_at parameter for t: NULL for the zero time.
func expiry(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
