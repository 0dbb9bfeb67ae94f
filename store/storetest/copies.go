package storetest

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// testCopies checks that the store never shares memory with its callers:
// neither the slices passed to Apply nor those it returns.
func testCopies(t *testing.T, h Harness) {
	scribble := func(b []byte) {
		for i := range b {
			b[i] = 'X'
		}
	}
	t.Run("ApplyValues", func(t *testing.T) {
		e := newEnv(t, h)
		put, ins, old, swp := []byte("put"), []byte("ins"), []byte("put"), []byte("swp")
		e.apply(store.Put("p", put, time.Time{}), store.Insert("i", ins, time.Time{}))
		e.apply(store.Swap("p", old, swp, time.Time{}))
		scribble(put)
		scribble(ins)
		scribble(old)
		scribble(swp)
		e.want("p", "swp")
		e.want("i", "ins")
	})
	t.Run("GetResult", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("value"), time.Time{}))
		a, b := e.get("k"), e.get("k")
		scribble(a)
		if string(b) != "value" {
			t.Fatalf("changing one Get result changed another to %q", b)
		}
		e.want("k", "value")
		// Appending within spare capacity must not reach the store either.
		_ = append(b[:0], "XXXXXXXX"...)
		e.want("k", "value")
	})
	t.Run("ListResult", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k/1", []byte("one"), time.Time{}), store.Put("k/2", []byte("two"), time.Time{}))
		for _, it := range e.list("k/", 0) {
			scribble(it.Value)
		}
		e.want("k/1", "one")
		e.want("k/2", "two")
		items := e.list("k/", 0)
		if len(items) != 2 || string(items[0].Value) != "one" || string(items[1].Value) != "two" {
			t.Fatalf("List after changing an earlier List's values = %v", items)
		}
	})
	// A value read, kept, and compared after later writes still holds
	// what was read.
	t.Run("ResultsOutliveWrites", func(t *testing.T) {
		e := newEnv(t, h)
		e.apply(store.Put("k", []byte("first"), time.Time{}))
		got := e.get("k")
		items := e.list("k", 0)
		for i := range 50 {
			e.apply(store.Put("k", []byte{'n', 'e', 'w', byte(i)}, time.Time{}), store.Put("pad", make([]byte, 4096), time.Time{}))
		}
		e.apply(store.Delete("k"))
		if string(got) != "first" {
			t.Fatalf("a Get result changed to %q after later writes", got)
		}
		if len(items) != 1 || string(items[0].Value) != "first" {
			t.Fatalf("a List result changed to %v after later writes", items)
		}
	})
}
