package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func testGet(t *testing.T, h Harness) {
	t.Run("Absent", func(t *testing.T) {
		e := newEnv(t, h)
		e.absent("nobody")
	})
	t.Run("Present", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("v"), time.Time{}))
		e.want("k", "v")
		e.absent("k2") // a longer key is another key
		e.absent("K")
	})
}

// testOps checks each kind of op on a key that is absent, present or
// expired. "Expired" records are written to expire one minute after
// start, then the clock moves exactly one minute: a record whose
// ExpiresAt is not after the clock is expired.
func testOps(t *testing.T, h Harness) {
	v1, v2 := []byte("v1"), []byte("v2")
	later := start.Add(time.Hour)
	present := []store.Op{store.Put("k", v1, later)}
	expired := []store.Op{store.Put("k", v1, start.Add(time.Minute))}
	tests := []struct {
		name     string
		setup    []store.Op
		advance  time.Duration
		op       store.Op
		conflict bool
		want     string // value of "k" afterwards; "" means absent
	}{
		{name: "Put/Absent", op: store.Put("k", v2, later), want: "v2"},
		{name: "Put/Present", setup: present, op: store.Put("k", v2, later), want: "v2"},
		{name: "Put/Expired", setup: expired, advance: time.Minute, op: store.Put("k", v2, later), want: "v2"},

		{name: "Insert/Absent", op: store.Insert("k", v2, later), want: "v2"},
		{name: "Insert/Present", setup: present, op: store.Insert("k", v2, later), conflict: true, want: "v1"},
		{name: "Insert/Expired", setup: expired, advance: time.Minute, op: store.Insert("k", v2, later), want: "v2"},

		{name: "Swap/Equal", setup: present, op: store.Swap("k", v1, v2, later), want: "v2"},
		{name: "Swap/Unequal", setup: present, op: store.Swap("k", v2, []byte("v3"), later), conflict: true, want: "v1"},
		{name: "Swap/Absent", op: store.Swap("k", v1, v2, later), conflict: true},
		{name: "Swap/AbsentNilOld", op: store.Swap("k", nil, v2, later), conflict: true},
		{name: "Swap/Expired", setup: expired, advance: time.Minute, op: store.Swap("k", v1, v2, later), conflict: true},

		{name: "Delete/Present", setup: present, op: store.Delete("k")},
		{name: "Delete/Absent", op: store.Delete("k")},
		{name: "Delete/Expired", setup: expired, advance: time.Minute, op: store.Delete("k")},

		{name: "DeleteIf/Equal", setup: present, op: store.DeleteIf("k", v1)},
		{name: "DeleteIf/Unequal", setup: present, op: store.DeleteIf("k", v2), conflict: true, want: "v1"},
		{name: "DeleteIf/Absent", op: store.DeleteIf("k", v1), conflict: true},
		{name: "DeleteIf/Expired", setup: expired, advance: time.Minute, op: store.DeleteIf("k", v1), conflict: true},

		{name: "Check/NilOld/Absent", op: store.Check("k", nil)},
		{name: "Check/NilOld/Present", setup: present, op: store.Check("k", nil), conflict: true, want: "v1"},
		{name: "Check/NilOld/Expired", setup: expired, advance: time.Minute, op: store.Check("k", nil)},
		{name: "Check/Equal", setup: present, op: store.Check("k", v1), want: "v1"},
		{name: "Check/Unequal", setup: present, op: store.Check("k", v2), conflict: true, want: "v1"},
		{name: "Check/Absent", op: store.Check("k", v1), conflict: true},
		{name: "Check/Expired", setup: expired, advance: time.Minute, op: store.Check("k", v1), conflict: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, h)
			if len(tt.setup) > 0 {
				e.apply(tt.setup...)
			}
			e.clock.Advance(tt.advance)
			if tt.conflict {
				e.conflict("k", tt.op.Kind, tt.op)
			} else {
				e.apply(tt.op)
			}
			if tt.want == "" {
				e.absent("k")
			} else {
				e.want("k", tt.want)
			}
		})
	}

	// Writes replace the expiry along with the value.
	t.Run("Put/ReplacesExpiry", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", v1, start.Add(time.Minute)))
		e.apply(store.Put("k", v2, time.Time{}))
		e.clock.Advance(24 * time.Hour)
		e.want("k", "v2")
	})
	t.Run("Swap/SetsExpiry", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", v1, time.Time{}))
		e.apply(store.Swap("k", v1, v2, start.Add(time.Minute)))
		e.clock.Advance(time.Minute - time.Millisecond)
		e.want("k", "v2")
		e.clock.Advance(time.Millisecond)
		e.absent("k")
	})
	t.Run("Insert/AfterDelete", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Insert("k", v1, time.Time{}))
		e.apply(store.Delete("k"))
		e.apply(store.Insert("k", v2, time.Time{}))
		e.want("k", "v2")
	})
	// An empty value is a present record: Get returns it as a non-nil
	// empty slice, so asserting "unchanged" with the value read works.
	t.Run("EmptyValue", func(t *testing.T) {
		for _, v := range [][]byte{nil, {}} {
			e := newEnv(t, h)
			e.apply(store.Put("k", v, time.Time{}))
			got, err := e.s.Get(e.ctx(), "k")
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("Get of a record written with value %#v = %#v, %v; want a non-nil empty slice", v, got, err)
			}
			e.conflict("k", store.OpInsert, store.Insert("k", v1, time.Time{}))
			e.apply(store.Check("k", got))
			e.apply(store.Swap("k", got, v1, time.Time{}))
			e.want("k", "v1")
		}
	})
}

func testAtomicity(t *testing.T, h Harness) {
	// setup gives every op of the Apply under test a key its condition
	// holds on, plus "taken", which already exists.
	setup := []store.Op{
		store.Put("swap", []byte("s0"), time.Time{}),
		store.Put("del", []byte("d0"), time.Time{}),
		store.Put("delif", []byte("e0"), time.Time{}),
		store.Put("check", []byte("c0"), time.Time{}),
		store.Put("taken", []byte("t0"), time.Time{}),
	}
	unchanged := func(e *env) {
		e.t.Helper()
		e.absent("put")
		e.absent("ins")
		e.want("swap", "s0")
		e.want("del", "d0")
		e.want("delif", "e0")
		e.want("check", "c0")
		e.want("taken", "t0")
	}
	good := []store.Op{
		store.Put("put", []byte("p1"), time.Time{}),
		store.Insert("ins", []byte("i1"), time.Time{}),
		store.Swap("swap", []byte("s0"), []byte("s1"), time.Time{}),
		store.Delete("del"),
		store.DeleteIf("delif", []byte("e0")),
		store.Check("check", []byte("c0")),
	}

	t.Run("AllWritten", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(setup...)
		e.apply(good...)
		e.want("put", "p1")
		e.want("ins", "i1")
		e.want("swap", "s1")
		e.absent("del")
		e.absent("delif")
		e.want("check", "c0")
		e.want("taken", "t0")
	})
	t.Run("LastConditionFails", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(setup...)
		ops := append(append([]store.Op(nil), good...), store.Insert("taken", []byte("t1"), time.Time{}))
		e.conflict("taken", store.OpInsert, ops...)
		unchanged(e)
	})
	t.Run("FirstConditionFails", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(setup...)
		ops := append([]store.Op{store.DeleteIf("taken", []byte("wrong"))}, good...)
		e.conflict("taken", store.OpDeleteIf, ops...)
		unchanged(e)
	})
	t.Run("FailingCheck", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(setup...)
		ops := append(append([]store.Op(nil), good[:5]...), store.Check("check", []byte("other")))
		e.conflict("check", store.OpCheck, ops...)
		unchanged(e)
	})
	// Of several failing conditions, the first in ops order is reported,
	// whatever the order of their keys.
	t.Run("FirstInOpsOrderReported", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(setup...)
		ops := append(append([]store.Op(nil), good...), store.Check("zz", []byte("absent")), store.DeleteIf("aa", []byte("absent")))
		e.conflict("zz", store.OpCheck, ops...)
		unchanged(e)
	})
}

func testValidation(t *testing.T, h Harness) {
	long := strings.Repeat("k", store.MaxKeyLen+1)
	big := make([]byte, store.MaxValueLen+1)
	tests := []struct {
		name string
		ops  []store.Op
	}{
		{"NoOps", nil},
		{"DuplicateKey", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Put("dup", nil, time.Time{}), store.Delete("dup")}},
		{"DuplicateKeyCheck", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Check("dup", nil), store.Put("dup", nil, time.Time{})}},
		{"EmptyKey", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Put("", []byte("1"), time.Time{})}},
		{"OversizedKey", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Put(long, []byte("1"), time.Time{})}},
		{"OversizedValue", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Put("big", big, time.Time{})}},
		{"OversizedSwapValue", []store.Op{store.Put("ok", []byte("1"), time.Time{}), store.Swap("big", nil, big, time.Time{})}},
		{"ZeroKind", []store.Op{store.Put("ok", []byte("1"), time.Time{}), {Key: "zero"}}},
		{"UnknownKind", []store.Op{store.Put("ok", []byte("1"), time.Time{}), {Kind: store.OpCheck + 1, Key: "unknown"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, h)
			err := e.s.Apply(e.ctx(), tt.ops...)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Apply(%s) = %v, want store.ErrInvalid", fmtOps(tt.ops), err)
			}
			e.absent("ok")
		})
	}
	t.Run("GetInvalidKey", func(t *testing.T) {
		e := newEnv(t, h)
		for _, k := range []string{"", long} {
			if _, err := e.s.Get(e.ctx(), k); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Get of a %d-byte key = %v, want store.ErrInvalid", len(k), err)
			}
		}
	})
	t.Run("WatchInvalidKey", func(t *testing.T) {
		e := newEnv(t, h)
		for _, k := range []string{"", long} {
			if _, err := e.s.Watch(e.ctx(), k); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Watch of a %d-byte key = %v, want store.ErrInvalid", len(k), err)
			}
		}
	})
	// Every store accepts keys and values up to the limits.
	t.Run("Limits", func(t *testing.T) {
		e := newEnv(t, h)
		key := strings.Repeat("x", store.MaxKeyLen)
		value := make([]byte, store.MaxValueLen)
		for i := range value {
			value[i] = byte(i * 7)
		}
		e.apply(store.Put(key, value, time.Time{}))
		got := e.get(key)
		if string(got) != string(value) {
			t.Fatalf("Get of a %d-byte value returned %d different bytes", len(value), len(got))
		}
	})
	// Values are bytes, not text: any byte value round-trips.
	t.Run("BinaryValue", func(t *testing.T) {
		e := newEnv(t, h)
		value := make([]byte, 256)
		for i := range value {
			value[i] = byte(i)
		}
		e.apply(store.Put("bin", value, time.Time{}))
		e.want("bin", string(value))
	})
}
