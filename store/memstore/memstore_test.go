package memstore

import (
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/internal/hubtest"
	"github.com/magiclink-go/magiclink/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, now func() time.Time) store.Store {
			return New(Config{Now: now})
		},
	})
}

func TestZeroConfig(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	ctx := t.Context()
	if err := s.Apply(ctx, store.Put("k", []byte("v"), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

// TestExpiredDropped checks the lazy expiry the Store doc promises:
// expired records leave memory when touched or listed.
func TestExpiredDropped(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := t.Context()
	tests := []struct {
		name  string
		touch func(s *Store) error
	}{
		{"Get", func(s *Store) error { _, err := s.Get(ctx, "a"); return ignore(err, store.ErrNotFound) }},
		{"Apply", func(s *Store) error { return s.Apply(ctx, store.Check("a", nil)) }},
		{"List", func(s *Store) error { _, err := s.List(ctx, "a", 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := storetest.NewClock(start)
			s := New(Config{Now: clock.Now})
			defer s.Close()
			if err := s.Apply(ctx,
				store.Put("a", []byte("1"), start.Add(time.Minute)),
				store.Put("b", []byte("2"), start.Add(time.Minute)),
			); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			if err := tt.touch(s); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			_, a := s.data["a"]
			_, b := s.data["b"]
			s.mu.Unlock()
			if a {
				t.Error(`expired record "a" still held after it was touched`)
			}
			if !b {
				t.Error(`expired record "b" dropped though not touched`)
			}
		})
	}
}

// TestWatchReleased checks that a subscription ends with its context.
func TestWatchReleased(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	hubtest.WatchReleased(t, s, &s.hub)
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}
