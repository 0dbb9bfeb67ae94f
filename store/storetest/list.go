package storetest

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func testList(t *testing.T, h Harness) {
	// Written in no particular order; List returns byte order (so "B"
	// before "a", whatever a database's collation would say).
	written := []string{"user/b", "user/a", "users", "user/", "user/ü", "other/x", "user/B", "user/a/1", "user", "user0"}
	fill := func(e *env) {
		e.t.Helper()
		for _, k := range written {
			e.apply(store.Put(k, []byte(k+"-v"), time.Time{}))
		}
	}
	tests := []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"user/", 0, []string{"user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü"}},
		{"user", 0, []string{"user", "user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü", "user0", "users"}},
		{"", 0, []string{"other/x", "user", "user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü", "user0", "users"}},
		{"user/a", 0, []string{"user/a", "user/a/1"}},
		{"user/ü", 0, []string{"user/ü"}},
		{"nobody", 0, nil},
		{"user/c", 0, nil},
		{"usera", 0, nil},
		{"user/", -1, []string{"user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü"}},
		{"user/", 1, []string{"user/"}},
		{"user/", 3, []string{"user/", "user/B", "user/a"}},
		{"user/", 6, []string{"user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü"}},
		{"user/", 100, []string{"user/", "user/B", "user/a", "user/a/1", "user/b", "user/ü"}},
		{"", 2, []string{"other/x", "user"}},
	}
	t.Run("PrefixOrderLimit", func(t *testing.T) {
		e := newEnv(t, h)
		fill(e)
		for _, tt := range tests {
			items := e.list(tt.prefix, tt.limit)
			if got := keys(items); !equalStrings(got, tt.want) {
				t.Errorf("List(%q, %d) = %q, want %q", tt.prefix, tt.limit, got, tt.want)
				continue
			}
			for _, it := range items {
				if string(it.Value) != it.Key+"-v" {
					t.Errorf("List(%q, %d): %q has value %q, want %q", tt.prefix, tt.limit, it.Key, it.Value, it.Key+"-v")
				}
				if !it.ExpiresAt.IsZero() {
					t.Errorf("List(%q, %d): %q has ExpiresAt %v, want zero", tt.prefix, tt.limit, it.Key, it.ExpiresAt)
				}
			}
		}
	})
	t.Run("Empty", func(t *testing.T) {
		e := newEnv(t, h)
		if items := e.list("", 0); len(items) != 0 {
			t.Fatalf("List of an empty store = %q", keys(items))
		}
	})
	t.Run("From", func(t *testing.T) {
		e := newEnv(t, h)
		fill(e)
		for _, tt := range []struct {
			prefix, from string
			limit        int
			want         []string
		}{
			{"user/", "user/a", 0, []string{"user/a", "user/a/1", "user/b", "user/ü"}},
			{"user/", "user/a0", 2, []string{"user/b", "user/ü"}},
			{"user/", "user/a/1", 1, []string{"user/a/1"}},
			{"user/", "", 2, []string{"user/", "user/B"}},
			{"user/", "user/z", 0, []string{"user/ü"}},
			{"user/", "v", 0, nil},
			{"user", "user0", 0, []string{"user0", "users"}},
		} {
			items, err := store.ListFrom(e.ctx(), e.s, tt.prefix, tt.from, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(items); !equalStrings(got, tt.want) {
				t.Errorf("ListFrom(%q, %q, %d) = %q, want %q", tt.prefix, tt.from, tt.limit, got, tt.want)
			}
		}
	})
	t.Run("SeesDeletes", func(t *testing.T) {
		e := newEnv(t, h)
		fill(e)
		e.apply(store.Delete("user/a"), store.DeleteIf("user/b", []byte("user/b-v")))
		want := []string{"user/", "user/B", "user/a/1", "user/ü"}
		if got := keys(e.list("user/", 0)); !equalStrings(got, want) {
			t.Fatalf("List after deletes = %q, want %q", got, want)
		}
	})
}
