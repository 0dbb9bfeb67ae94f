package pgstore

// queries holds the store's SQL for one table. $now is always the store's
// clock, passed by the caller; "live" means expires_at IS NULL OR
// expires_at > $now.
type queries struct {
	get, list string

	// Apply: one statement per operation, each checking its condition and
	// writing in one step. Put, Delete and unclaim have no condition.
	put     string // $1 key, $2 value, $3 expires_at
	delete  string // $1 key
	unclaim string // $1 keys
	// exact: the conditional statements affect one row when their
	// condition holds, none when it does not. fast: the same statements
	// raise division_by_zero when they affect no row.
	exact, fast conditionals

	notify string // $1 channel, $2 payloads

	sweep string // $1 now, $2 chunk size
}

// conditionals are the statements of the operations that have a
// condition.
type conditionals struct {
	insert      string // $1 key, $2 value, $3 expires_at, $4 now
	swap        string // $1 key, $2 old, $3 value, $4 expires_at, $5 now
	deleteIf    string // $1 key, $2 old, $3 now
	check       string // $1 key, $2 old, $3 now
	checkAbsent string // $1 key, $2 now
}

// claimed is the expires_at of a row that Check(key, nil) inserts to lock
// an absent key, and deletes before its transaction ends. No Go time maps
// to it, and it is expired whatever the clock.
const claimed = "'-infinity'"

func newQueries(table string) queries {
	exact := conditionals{
		// An expired row counts as absent: it is overwritten. A live one
		// makes the upsert's WHERE false, so no row is affected.
		insert: `INSERT INTO ` + table + ` AS r (key, value, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
			WHERE r.expires_at <= $4`,
		swap: `UPDATE ` + table + ` SET value = $3, expires_at = $4
			WHERE key = $1 AND value = $2 AND (expires_at IS NULL OR expires_at > $5)`,
		deleteIf: `DELETE FROM ` + table + ` WHERE key = $1 AND value = $2 AND (expires_at IS NULL OR expires_at > $3)`,
		// FOR SHARE holds the row as read until the transaction ends.
		check: `SELECT 1 FROM ` + table + ` WHERE key = $1 AND value = $2 AND (expires_at IS NULL OR expires_at > $3) FOR SHARE`,
		// An absent key has no row to lock: claim it with a row of our own
		// (concurrent writers of the key wait for our transaction, then
		// find it gone), or lock the expired row that stands for absent.
		checkAbsent: `INSERT INTO ` + table + ` AS r (key, value, expires_at) VALUES ($1, '', ` + claimed + `)
			ON CONFLICT (key) DO UPDATE SET expires_at = r.expires_at WHERE r.expires_at <= $2`,
	}
	// 1/count(*) of the rows affected: an error when there are none. The
	// count is not a constant, so the planner cannot fold the division.
	raise := func(dml string) string {
		return `WITH w AS (` + dml + ` RETURNING 1) SELECT 1/count(*) FROM w`
	}
	fast := conditionals{
		insert:      raise(exact.insert),
		swap:        raise(exact.swap),
		deleteIf:    raise(exact.deleteIf),
		check:       `SELECT 1/count(*) FROM (` + exact.check + `) w`,
		checkAbsent: raise(exact.checkAbsent),
	}
	return queries{
		get: `SELECT value FROM ` + table + ` WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)`,
		list: `SELECT key, value, expires_at FROM ` + table +
			` WHERE key >= $1 AND key < $2 AND (expires_at IS NULL OR expires_at > $3) ORDER BY key LIMIT $4`,

		put: `INSERT INTO ` + table + ` AS r (key, value, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		delete:  `DELETE FROM ` + table + ` WHERE key = $1`,
		unclaim: `DELETE FROM ` + table + ` WHERE key = ANY($1) AND expires_at = ` + claimed,
		exact:   exact,
		fast:    fast,
		notify:  `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`,

		// SKIP LOCKED: the sweeper never waits for, nor blocks, an Apply
		// that holds an expired row (to overwrite it, say).
		sweep: `WITH expired AS (
				SELECT key FROM ` + table + ` WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
			DELETE FROM ` + table + ` AS r USING expired WHERE r.key = expired.key`,
	}
}
