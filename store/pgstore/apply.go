package pgstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

// rollbackTimeout bounds the ROLLBACK of a failed Apply, which runs even
// when the caller's context is done.
const rollbackTimeout = 5 * time.Second

// Apply implements store.Store.
//
// It runs in one READ COMMITTED transaction. Each operation is one
// statement that checks its condition and writes in one step, on the row
// of its key:
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
// Statements run in key order, so concurrent Applies take their row locks
// in one order and cannot deadlock. The whole transaction is one round
// trip: BEGIN, the statements and COMMIT go in one pipeline, and each
// conditional statement divides by the number of rows it affected, so a
// failed condition is an error that aborts the transaction before COMMIT
// (the server skips the rest of the pipeline; a ROLLBACK follows). Apply
// then returns a *store.ConflictError for the first failed operation in
// the order of ops: when an operation given earlier comes later in key
// order and was never evaluated, the Apply runs again with every
// statement evaluated (applyExact) to find out.
//
// No NOTIFY is sent inside the transaction: PostgreSQL serialises the
// commits of notifying transactions, WAL flush included. Once the commit
// returns, this Store's own watchers are woken directly and the keys are
// handed to the notifier, which sends them to the other instances in
// batches (see notifier). If the commit's outcome is unknown (the
// connection broke), Apply returns the error although the transaction may
// have committed, and wakes the watchers all the same.
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

	failed, err := s.apply(ctx, ops, order, now, false)
	if failed >= 0 && !firstFailed(ops, order, failed) {
		failed, err = s.apply(ctx, ops, order, now, true)
	}
	if failed >= 0 {
		return &store.ConflictError{Key: ops[failed].Key, Kind: ops[failed].Kind}
	}
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) {
		return opError("apply", err) // the server refused it: nothing committed
	}
	// Committed, or perhaps committed: a spurious wake-up is allowed, a
	// missed one is not.
	var written []string
	for _, op := range ops {
		if op.Writes() {
			written = append(written, op.Key)
		}
	}
	s.hub.Notify(written...)
	s.notify.add(written)
	if err != nil {
		return opError("apply", err)
	}
	return nil
}

// apply runs ops as one transaction, their statements in key order
// (order), and returns the index in ops of the operation whose condition
// failed (-1 if none did) or the error that ended it.
//
// Unless exact, the statements of conditional operations raise
// division_by_zero when they affect no row, and BEGIN, the statements and
// COMMIT go in one pipeline: one round trip. The first failed condition
// in key order ends the transaction. With exact, the statements are sent
// plainly, every one is evaluated, and the transaction is committed or
// rolled back in a second round trip: the failed condition reported is
// the first in the order of ops.
func (s *Store) apply(ctx context.Context, ops []store.Op, order []int, now time.Time, exact bool) (failed int, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Release() // the pool destroys a connection left in a transaction
	q := &s.q.fast
	if exact {
		q = &s.q.exact
	}
	b := &pgx.Batch{}
	b.Queue(beginTx)
	var claims [][]byte
	for _, i := range order {
		op := ops[i]
		k := []byte(op.Key)
		switch op.Kind {
		case store.OpPut:
			b.Queue(s.q.put, k, nonNil(op.Value), expiry(op.ExpiresAt))
		case store.OpInsert:
			b.Queue(q.insert, k, nonNil(op.Value), expiry(op.ExpiresAt), now)
		case store.OpSwap:
			b.Queue(q.swap, k, nonNil(op.Old), nonNil(op.Value), expiry(op.ExpiresAt), now)
		case store.OpDelete:
			b.Queue(s.q.delete, k)
		case store.OpDeleteIf:
			b.Queue(q.deleteIf, k, nonNil(op.Old), now)
		case store.OpCheck:
			if op.Old == nil {
				b.Queue(q.checkAbsent, k, now)
				claims = append(claims, k)
			} else {
				b.Queue(q.check, k, op.Old, now)
			}
		}
	}
	if len(claims) > 0 {
		b.Queue(s.q.unclaim, claims)
	}
	if !exact {
		b.Queue("COMMIT")
	}

	failed = -1
	br := conn.SendBatch(ctx, b)
	for n := range b.Len() {
		tag, err := br.Exec()
		op := n - 1 // the statement's position in order, if it is an op's
		if err != nil {
			var pgErr *pgconn.PgError
			if !exact && op >= 0 && op < len(order) && errors.As(err, &pgErr) && pgErr.Code == divisionByZero {
				failed, err = order[op], nil
			}
			br.Close()
			s.rollback(ctx, conn)
			return failed, err
		}
		if exact && op >= 0 && op < len(order) && conditional(ops[order[op]].Kind) && tag.RowsAffected() == 0 && (failed < 0 || order[op] < failed) {
			failed = order[op]
		}
	}
	if err := br.Close(); err != nil {
		s.rollback(ctx, conn)
		return -1, err
	}
	if !exact {
		return -1, nil
	}
	if failed >= 0 {
		s.rollback(ctx, conn)
		return failed, nil
	}
	_, err = conn.Exec(ctx, "COMMIT")
	return -1, err
}

// beginTx starts every Apply's transaction, whatever the database's
// default isolation level.
const beginTx = "BEGIN ISOLATION LEVEL READ COMMITTED"

// divisionByZero is the SQLSTATE of a failed condition in apply's
// pipeline.
const divisionByZero = "22012"

// rollback ends the failed or unfinished transaction on conn, if any,
// even when ctx is done. If it cannot, the pool destroys conn on release.
func (s *Store) rollback(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() == 'I' || conn.Conn().IsClosed() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	conn.Exec(rctx, "ROLLBACK")
}

// firstFailed reports whether the operation ops[failed], whose condition
// failed first in key order, is also the first to fail in the order of
// ops: whether every conditional operation given before it was evaluated
// (came before it in key order) and therefore held.
func firstFailed(ops []store.Op, order []int, failed int) bool {
	after := false
	for _, i := range order {
		if after && i < failed && conditional(ops[i].Kind) {
			return false
		}
		after = after || i == failed
	}
	return true
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
