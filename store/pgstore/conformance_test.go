package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// TestConformance runs the suite every store.Store passes. Each store it
// opens gets a new schema on one database; Reopen opens a new Store on the
// schema of the old one.
func TestConformance(t *testing.T) {
	pool := newPool(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, now func() time.Time) store.Store {
			return openStore(t, pool, Config{Schema: newSchema(t, pool), Now: now, SweepInterval: -1})
		},
		Reopen: func(t *testing.T, s store.Store, now func() time.Time) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := New(context.Background(), pool, Config{Schema: s.(*Store).channel, Now: now, SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			return st // the suite closes it
		},
	})
}
