package magiclink

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/magiclink-go/magiclink/store"
)

// Deleting a user. Everything that names a user is reachable from it by
// a bounded read or a prefix scan: its addresses are listed in its record
// (at most maxAddresses), and its sessions, the sign-in, sign-up and
// reverification flows that name it, its sign-in tokens and its queued
// notices each have an index under a prefix of their own. Deletion runs
// in three steps, each one Apply of bounded size:
//
//  1. The user's record becomes a tombstone ({id, deleted:true}, nothing
//     else), its addresses and their index entries are deleted (each
//     address is free to sign up with at once), and a marker under
//     keyDeleting records that a deletion is under way. From this Apply
//     on, every reader treats the user as absent, and no sign-in can
//     complete or hand out a session for it: those write the user's record
//     (or check it) in their own Apply, so they conflict with the
//     tombstone, look again and refuse.
//  2. Batches of at most deleteBatch index entries: each session with its
//     records (so its cookie stops working), each flow with its outbox
//     entry, each sign-in token, each notice, each event.
//  3. The tombstone and the marker, with the user.deleted event.
//
// Users.Delete returns after step 3, so when it returns nothing in the
// store names the user or its addresses. A process that dies in between
// leaves the marker: New finishes every marked deletion before it
// returns, and deleting the user again finishes it too.
//
// The user's events go too (its audit trail, the events of its flows
// appended before it existed, and the webhook deliveries of them not yet
// made); the last Apply appends the user.deleted event,
// which names the user's id and nothing else. What else is kept: link
// records of the user's flows (they name the flow and the client, never
// the address or the user, and expire with the link) and the per-address
// send-limit counters (stored under a hash of the address, for at most
// an hour, so that deleting an account does not reset them), and the
// email events of sign-ups that never completed (the address had no
// account then, so nothing ties them to the user), for
// Config.EventRetention.

// deleteBatch bounds the index entries one Apply of step 2 removes.
const deleteBatch = 128

// Delete deletes the user with id, atomically as far as anyone can
// observe: its sessions stop working, its flows and sign-in tokens die,
// its addresses are free to sign up again, and when it returns nothing
// left in the store names it (but for what has no tie to the user: link
// records, which expire with their links, per-address send-limit
// counters, at most an hour, and the email events of sign-ups that never
// completed, for Config.EventRetention). The deletion runs in bounded
// steps; one cut short by a crash is finished by the next New on the
// store, or by deleting the user again. A user already deleted is resource_not_found.
// A user changed concurrently so often that the deletion cannot start is
// a verification_status_invalid error (ErrConflict), and is left as it
// was; try again.
func (us *Users) Delete(ctx context.Context, id string) error {
	if !validID(id, prefixUser) {
		return notFound("user")
	}
	a := us.a
	// Every round lost leaves the user as it was: user_changed, and
	// nothing of it is touched (finishDeletion runs only on a tombstone).
	_, err := retryApplyOr(userChanged, func() (bool, error) {
		l, err := a.loadUserRecord(ctx, id)
		if err != nil {
			return false, err
		}
		if l.v.Deleted {
			return true, nil // a deletion that did not finish: finish it
		}
		now := a.now()
		ops := []store.Op{
			l.swap(userRec{ID: id, Deleted: true, CreatedAt: l.v.CreatedAt, UpdatedAt: ms(now)}, noExpiry),
			store.Put(keyDeleting+id, []byte{}, noExpiry),
		}
		for _, eid := range l.v.EmailAddressIDs {
			le, err := load[flowRec](ctx, a.st, keyEmail+eid)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return false, err
			}
			more, err := a.forgetAddress(ctx, le)
			if err != nil {
				return false, err
			}
			ops = append(append(ops, more...), store.Delete(keyOutbox+eid))
		}
		if err := a.st.Apply(ctx, ops...); err != nil {
			return false, err // a conflict: another round
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return a.finishDeletion(ctx, id)
}

// finishDeletion runs steps 2 and 3 of the deletion of the user with id,
// whose record is a tombstone.
func (a *Auth) finishDeletion(ctx context.Context, id string) error {
	prefixes := []string{keyUserSession + id + "/", keyUserFlow + id + "/", keyUserToken + id + "/", noticePrefix(id), keyUserEvent + id + "/"}
	for _, prefix := range prefixes {
		for {
			items, err := a.st.List(ctx, prefix, deleteBatch)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				break
			}
			var ops []store.Op
			for _, it := range items {
				ops = append(ops, store.Delete(it.Key))
				rest := strings.TrimPrefix(it.Key, prefix)
				switch {
				case strings.HasPrefix(prefix, keyUserSession):
					ops = append(ops, store.Delete(keySession+rest), store.Delete(keySessionTok+string(it.Value)))
				case strings.HasPrefix(prefix, keyUserFlow):
					_, flowID, _ := strings.Cut(rest, "/")
					ops = append(ops, store.Delete(rest), store.Delete(keyOutbox+flowID))
					more, err := a.flowEventOps(ctx, flowID)
					if err != nil {
						return err
					}
					ops = append(ops, more...)
				case strings.HasPrefix(prefix, keyUserToken):
					ops = append(ops, store.Delete(keySignInToken+rest))
				case strings.HasPrefix(prefix, keyUserEvent):
					ops = append(ops, store.Delete(keyEvent+rest))
				}
			}
			if err := a.st.Apply(ctx, uniqueOps(ops)...); err != nil {
				return err
			}
		}
	}
	l, err := load[userRec](ctx, a.st, keyUser+id)
	switch {
	case isNotFound(err):
		return a.st.Apply(ctx, store.Delete(keyDeleting+id))
	case err != nil:
		return err
	case !l.v.Deleted:
		return errors.New("magiclink: deleting a user: the record is not a tombstone")
	}
	now := a.now()
	return a.apply(ctx, append(a.emit(ctx, EventUserDeleted, id, deletedObject{"user", id, true}, now),
		store.DeleteIf(l.key, l.raw), store.Delete(keyDeleting+id))...)
}

// uniqueOps drops later ops on a key already in ops (a flow's outbox entry
// and a session's records are named once each, but a store refuses any
// key twice in one Apply).
func uniqueOps(ops []store.Op) []store.Op {
	seen := make(map[string]bool, len(ops))
	out := ops[:0]
	for _, op := range ops {
		if !seen[op.Key] {
			seen[op.Key] = true
			out = append(out, op)
		}
	}
	return out
}

// resumeDeletions finishes the deletions a process that died left
// unfinished. New calls it before returning.
func (a *Auth) resumeDeletions(ctx context.Context) error {
	items, err := a.st.List(ctx, keyDeleting, 0)
	if err != nil {
		return err
	}
	for _, it := range items {
		id := strings.TrimPrefix(it.Key, keyDeleting)
		if err := a.finishDeletion(ctx, id); err != nil {
			return err
		}
		a.log.Info("magiclink: finished deleting a user", slog.String("user_id", id))
	}
	return nil
}

// keyFlowEvent + flow id + "/" + inverted event id: empty. It indexes the
// events of a flow that named no user when they were appended (the email
// of a sign-up, sent before its account existed), so that deleting the
// account the flow led to finds them.
const keyFlowEvent = "evtf/"

// flowEvents returns ops, the ops of an event about the flow f, with the
// event's flow index entry when f names no user yet.
func flowEvents(f *flowRec, ops []store.Op) []store.Op {
	if f.UserID != "" {
		return ops
	}
	for _, op := range ops {
		if inv, ok := strings.CutPrefix(op.Key, keyEvent); ok && op.Kind == store.OpInsert {
			return append(ops, store.Put(keyFlowEvent+f.ID+"/"+inv, []byte{}, op.ExpiresAt))
		}
	}
	return ops
}

// flowEventOps returns the ops that delete the events of the flow with
// flowID that its index holds (a handful: one per email sent).
func (a *Auth) flowEventOps(ctx context.Context, flowID string) ([]store.Op, error) {
	items, err := a.st.List(ctx, keyFlowEvent+flowID+"/", 0)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for _, it := range items {
		ops = append(ops, store.Delete(it.Key), store.Delete(keyEvent+strings.TrimPrefix(it.Key, keyFlowEvent+flowID+"/")))
	}
	return ops, nil
}
