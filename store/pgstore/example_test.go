package pgstore_test

import (
	"context"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

// A Store on an application's pool: migrate once, then open the store,
// consume a token and wait for a change made by any instance.
func Example() {
	ctx := context.Background()
	cfg, err := pgstore.PoolConfig("postgres://app@db.internal/app") // 16 connections
	if err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool, pgstore.Config{}); err != nil {
		log.Fatal(err)
	}
	st, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Single use: of any number of concurrent consumers, one succeeds.
	err = st.Apply(ctx,
		store.DeleteIf("token/…", []byte("flow/…")),
		store.Put("session/…", []byte("…"), time.Now().Add(24*time.Hour)))
	if err != nil {
		log.Print(err) // errors.Is(err, store.ErrConflict): used already
	}

	// Subscribe, read, then wait: a change committed through any Store
	// on this database and schema wakes the watcher.
	changed, err := st.Watch(ctx, "flow/…")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := st.Get(ctx, "flow/…"); err != nil {
		log.Print(err)
	}
	<-changed
}
