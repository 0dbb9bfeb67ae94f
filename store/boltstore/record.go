package boltstore

import (
	"encoding/binary"
	"math"
	"time"
)

// A record, as stored: an 8-byte big-endian expiry in Unix nanoseconds
// (0: never), then the value.
const headerLen = 8

// The range of expiries a record can hold: the times time.UnixNano can
// represent (years 1678 to 2262), clamped to at least 1 ns after the epoch
// so that no real expiry reads as "never".
var (
	minExpiry = time.Unix(0, 1)
	maxExpiry = time.Unix(0, math.MaxInt64)
)

// encode returns the stored form of value expiring at expiresAt.
func encode(value []byte, expiresAt time.Time) []byte {
	rec := make([]byte, headerLen+len(value))
	binary.BigEndian.PutUint64(rec, uint64(expiryNanos(expiresAt)))
	copy(rec[headerLen:], value)
	return rec
}

// decode splits a stored record. ok is false if rec is absent, expired at
// now (Unix nanoseconds), or shorter than its header (never written by
// this package). value aliases rec.
func decode(rec []byte, now int64) (value []byte, expiry int64, ok bool) {
	if len(rec) < headerLen {
		return nil, 0, false
	}
	expiry = int64(binary.BigEndian.Uint64(rec))
	if expiry != 0 && expiry <= now {
		return nil, 0, false
	}
	return rec[headerLen:], expiry, true
}

// expiryNanos encodes an expiry: 0 for the zero time (never), else Unix
// nanoseconds clamped to the range a record can hold. The store's clock is
// read through it too, so expiries and clock compare on one scale.
func expiryNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minExpiry):
		return 1
	case t.After(maxExpiry):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// expiryTime decodes an expiry.
func expiryTime(nanos int64) time.Time {
	if nanos == 0 {
		return time.Time{}
	}
	return time.Unix(0, nanos)
}

// clone copies b out of a transaction. The copy is never nil: a present
// record's value can be passed back as the Old of a Check.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
