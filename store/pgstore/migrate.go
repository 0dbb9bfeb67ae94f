package pgstore

import (
	"context"
	_ "embed"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaSQL is schema.sql, with the placeholder :"schema" for the quoted
// schema name.
//
//go:embed schema.sql
var schemaSQL string

// Migrate creates the schema, table and index the store needs, if they do
// not exist yet, in the schema cfg.Schema (default DefaultSchema).
// It is idempotent and safe to run from several processes at once: it
// holds a transaction-level advisory lock while it runs. New does not
// migrate: run Migrate at deployment or start-up, with a role allowed to
// create the schema.
//
// The SQL it runs, in one transaction, is the module's schema.sql, where
// :"schema" stands for the quoted schema name (psql's syntax for a variable
// used as an identifier, so that `psql -v schema=magiclink -1 -f
// schema.sql` applies it by hand):
//
//	CREATE SCHEMA IF NOT EXISTS :"schema";
//
//	CREATE TABLE IF NOT EXISTS :"schema".records (
//	    key        bytea       PRIMARY KEY,
//	    value      bytea       NOT NULL,
//	    expires_at timestamptz NULL
//	);
//
//	CREATE INDEX IF NOT EXISTS records_expires_at
//	    ON :"schema".records (expires_at) WHERE expires_at IS NOT NULL;
func Migrate(ctx context.Context, pool *pgxpool.Pool, cfg Config) error {
	schema, err := schemaOf(cfg)
	if err != nil {
		return err
	}
	if pool == nil {
		return fmt.Errorf("pgstore: migrate: nil pool")
	}
	lock := fnv.New64a()
	lock.Write([]byte("magiclink/pgstore/migrate/" + schema))
	ddl := strings.ReplaceAll(schemaSQL, `:"schema"`, pgx.Identifier{schema}.Sanitize())
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lock.Sum64())); err != nil {
			return fmt.Errorf("pgstore: migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
		return nil
	})
}
