package magiclink_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/accounttest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// The account-lifecycle suite on the stores of this module; store/pgstore
// runs it on PostgreSQL.

func TestAccountsMemstore(t *testing.T) {
	accounttest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		st := memstore.New(memstore.Config{Now: now})
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestAccountsBoltstore(t *testing.T) {
	accounttest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "accounts.db"), boltstore.Config{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
