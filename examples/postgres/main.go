// Command postgres is examples/basic with its data in PostgreSQL, which
// several instances can share (docs/several-instances.md). It is a module
// of its own, so that pgx stays out of the root module's dependency graph.
// It takes examples/basic's flags, and -postgres:
//
//	-postgres DSN   keep the data in PostgreSQL at DSN, e.g.
//	                postgres://user:pass@host/db; creates pgstore's schema
//	                if it is missing (pgstore.Migrate). Without it, the
//	                data is in the bbolt file, as examples/basic's.
//
// Instances on one database share their rate limits' counts too. Run it
// from this folder:
//
//	go run . -postgres postgres://user:pass@host/db
package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/examples/internal/demo"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore"
)

// postgresFlag is -postgres.
var postgresFlag = demo.StoreFlag{
	Name:  "postgres",
	Usage: "keep the data in PostgreSQL at this `DSN` (postgres://user:pass@host/db) instead of the bbolt file; creates the schema if missing",
	Open:  openPostgres,
}

func main() { demo.Main("postgres", postgresFlag) }

// openPostgres connects to the database at dsn, creates pgstore's schema
// if it is missing (Migrate is idempotent, so every instance may run it
// at start-up) and returns the store and a function that closes it and
// its connections.
func openPostgres(ctx context.Context, dsn string, logger *slog.Logger) (store.Store, func() error, error) {
	cfg, err := pgstore.PoolConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := pgstore.Migrate(ctx, pool, pgstore.Config{}); err != nil {
		pool.Close()
		return nil, nil, err
	}
	st, err := pgstore.New(ctx, pool, pgstore.Config{Logger: logger})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return st, func() error {
		err := st.Close()
		pool.Close()
		return err
	}, nil
}
