// Package bench holds magiclink's benchmarks against the session libraries
// people use (alexedwards/scs, gorilla/sessions) and against the disk's
// limit. It is its own module so that the peers stay out of magiclink's
// dependencies; everything is in the _test.go files:
//
//   - BenchmarkSessionCheck: one request with a session cookie whose
//     handler reads the user id, through magiclink's RequireSession on
//     boltstore, scs's LoadAndSave on its memstore, and gorilla's CookieStore.
//   - BenchmarkFsync and BenchmarkFlow: the disk's ceiling (write 4 KiB,
//     fsync) and complete sign-in flows through the Go API on boltstore
//     at 1, 8 and 64 concurrent callers, reported as flows/s and as a
//     ratio to that ceiling.
//   - BenchmarkWakeup: how long after ConfirmLink returns the waiting
//     StartMagicLinkFlow, or the waiting long poll, returns.
//   - BenchmarkVerifyHTTP: POST /auth/verify through the real handler over
//     loopback.
//   - BenchmarkHTTPFlow: complete sign-ins over loopback HTTP by 32
//     browsers against a server in a process of its own (its CPU time
//     measured apart), on bbolt and on PostgreSQL, links mailed to a
//     maildir.
//   - BenchmarkPGBaseline and BenchmarkPGConsume: PostgreSQL's own
//     single-row UPSERT transactions and pgstore's consume of a token, at
//     1, 8 and 64 clients, in one run so that they compare.
//
// The PostgreSQL benchmarks use the server store/pgstore/pgtest starts
// (or MAGICLINK_POSTGRES_DSN); without one they are skipped, unless
// MAGICLINK_REQUIRE_POSTGRES=1.
//
// run.sh runs them all and prints the benchstat table and the ratios.
package bench
