-- The schema of pgstore, magiclink's PostgreSQL store. Migrate runs this
-- file in one transaction, with every :"schema" replaced by the configured
-- schema name (default magiclink). Every statement is idempotent. To apply
-- it by hand instead:
--
--   psql -v schema=magiclink -1 -f schema.sql

CREATE SCHEMA IF NOT EXISTS :"schema";

-- One row per record. Keys are bytes (Go strings may hold any byte) and
-- sort in byte order, as store.Store.List requires. A NULL expires_at
-- never expires; a row whose expires_at is not after the store's clock is
-- treated as absent and removed by the sweeper.
CREATE TABLE IF NOT EXISTS :"schema".records (
    key        bytea       PRIMARY KEY,
    value      bytea       NOT NULL,
    expires_at timestamptz NULL
);

-- For the sweeper, which deletes expired rows in bounded chunks.
CREATE INDEX IF NOT EXISTS records_expires_at
    ON :"schema".records (expires_at) WHERE expires_at IS NOT NULL;
