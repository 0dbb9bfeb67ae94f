package pgstore

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/accounttest"
	"github.com/magiclink-go/magiclink/store"
)

// TestAccounts runs the account-lifecycle suite (users, metadata,
// addresses, sessions, bans, deletion, reverification; over HTTP and Go)
// on PostgreSQL, each case on a schema of its own.
func TestAccounts(t *testing.T) {
	pool := newPool(t)
	accounttest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		return openStore(t, pool, Config{Schema: newSchema(t, pool), Now: now})
	})
}
