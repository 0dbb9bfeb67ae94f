// Package store defines the small storage interface magiclink persists
// through, and helpers for implementing it.
//
// A Store is a key-value store with expiring records, atomic multi-key
// conditional writes (Apply) and change notifications (Watch). It uses only
// standard-library types, so a store for any database can live in its own
// module without importing magiclink.
//
// Single use, the heart of magic links, is an Apply whose first operation is
// DeleteIf(tokenKey, valueRead): of any number of concurrent callers that
// read the same record, exactly one Apply succeeds; the others get
// ErrConflict and change nothing.
//
// Implementations: memstore (in memory, for tests), boltstore (the default,
// a bbolt file), and pgstore (PostgreSQL, its own module). Every
// implementation must pass the conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store. Compare with errors.Is.
var (
	// ErrNotFound is returned by Get for a key that is absent or expired.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned by Apply when a condition of one of its
	// operations does not hold; nothing was written.
	ErrConflict = errors.New("store: conflict")
	// ErrClosed is returned by any call on a closed Store.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is returned for an invalid key, value or operation.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrUnavailable is wrapped by errors of a store that cannot serve the
	// call for now, and may again later without anyone's intervention:
	// its database refuses connections, is restarting, is read-only, or
	// its disk is full. Nothing was written. magiclink answers such
	// requests 503 service_unavailable with Retry-After.
	ErrUnavailable = errors.New("store: unavailable")
)

// Limits every Store accepts at least; callers stay within them.
const (
	MaxKeyLen   = 256     // bytes
	MaxValueLen = 1 << 20 // bytes
)

// Store is the storage interface. All methods are safe for concurrent use.
//
// A record whose ExpiresAt is not zero and not after the store's clock is
// expired: every method treats it exactly as absent, and the store deletes it
// eventually. Values returned are the caller's to keep (copies).
type Store interface {
	// Get returns the value of key, or ErrNotFound. The value of a present
	// record is never nil, even when empty, so that it can be passed back
	// as the Old of a Check (where nil means absent).
	Get(ctx context.Context, key string) ([]byte, error)

	// Apply performs ops atomically and durably: either every condition
	// holds and every write is committed before Apply returns, or Apply
	// returns an error and nothing changed. A failed condition is reported
	// as an error wrapping ErrConflict (a *ConflictError). A key may appear
	// at most once in ops. After a successful Apply, watchers of every key
	// written are notified.
	Apply(ctx context.Context, ops ...Op) error

	// List returns the live records whose keys start with prefix, in key
	// order, at most limit of them (limit <= 0: all).
	List(ctx context.Context, prefix string, limit int) ([]Item, error)

	// Watch subscribes to changes of key until ctx is done. The returned
	// channel receives a value (coalesced, never blocking the writer) after
	// each committed change of key. Wake-ups may be spurious — a store that
	// lost track of changes (a dropped connection) wakes every watcher — so
	// callers re-read the record after each receive. Subscribe first, then
	// read, then wait: no change is missed. The channel is never closed.
	Watch(ctx context.Context, key string) (<-chan struct{}, error)

	// Close releases the store's resources and stops background work.
	Close() error
}

// Exclusive is implemented by a Store that only one process can have open
// at a time, as a bbolt file. Whatever another process left in such a
// store, it left before it went away: magiclink then resends at once the
// emails an earlier process was sending when it stopped, instead of
// waiting for their claims to run out.
type Exclusive interface {
	// Exclusive reports whether no other process can use the store while
	// this one has it open.
	Exclusive() bool
}

// Item is one record returned by List.
type Item struct {
	Key       string
	Value     []byte
	ExpiresAt time.Time // zero: never
}

// OpKind says what an Op does.
type OpKind uint8

// The kinds of Op.
const (
	// OpPut writes Value unconditionally.
	OpPut OpKind = iota + 1
	// OpInsert writes Value only if the key is absent (or expired).
	OpInsert
	// OpSwap writes Value only if the current value equals Old.
	OpSwap
	// OpDelete deletes the key; deleting an absent key is not a conflict.
	OpDelete
	// OpDeleteIf deletes the key only if its current value equals Old.
	OpDeleteIf
	// OpCheck writes nothing and holds only if the current value equals
	// Old (nil Old: only if the key is absent).
	OpCheck
)

// String returns the kind's name.
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpInsert:
		return "insert"
	case OpSwap:
		return "swap"
	case OpDelete:
		return "delete"
	case OpDeleteIf:
		return "delete-if"
	case OpCheck:
		return "check"
	}
	return "unknown"
}

// Op is one operation of an Apply. Build it with Put, Insert, Swap, Delete,
// DeleteIf or Check.
type Op struct {
	Kind      OpKind
	Key       string
	Value     []byte    // new value (put, insert, swap)
	Old       []byte    // expected current value (swap, delete-if, check)
	ExpiresAt time.Time // of the new value; zero: never
}

// Put writes value under key unconditionally.
func Put(key string, value []byte, expiresAt time.Time) Op {
	return Op{Kind: OpPut, Key: key, Value: value, ExpiresAt: expiresAt}
}

// Insert writes value under key only if key is absent.
func Insert(key string, value []byte, expiresAt time.Time) Op {
	return Op{Kind: OpInsert, Key: key, Value: value, ExpiresAt: expiresAt}
}

// Swap replaces old with value only if key currently holds old.
func Swap(key string, old, value []byte, expiresAt time.Time) Op {
	return Op{Kind: OpSwap, Key: key, Old: old, Value: value, ExpiresAt: expiresAt}
}

// Delete removes key if present.
func Delete(key string) Op { return Op{Kind: OpDelete, Key: key} }

// DeleteIf removes key only if it currently holds old: the single-use
// primitive.
func DeleteIf(key string, old []byte) Op { return Op{Kind: OpDeleteIf, Key: key, Old: old} }

// Check asserts that key holds old (nil: that key is absent) without
// writing it.
func Check(key string, old []byte) Op { return Op{Kind: OpCheck, Key: key, Old: old} }

// ConflictError is the error Apply returns when a condition fails. It
// wraps ErrConflict.
type ConflictError struct {
	Key  string // the key whose condition failed
	Kind OpKind // the operation whose condition failed
}

// Error names the operation and key whose condition failed.
func (e *ConflictError) Error() string {
	return "store: conflict: " + e.Kind.String() + " " + e.Key
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }
