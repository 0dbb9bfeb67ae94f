// Package pgstore is a store.Store on PostgreSQL, for magiclink
// deployments of several instances sharing one database.
//
// Records live in one table, <schema>.records (see Migrate for the SQL).
// Apply runs in one READ COMMITTED transaction whose statements each check
// their condition and write in one step, with row locks taken in key order;
// see Store.Apply. Watch works across instances: every Apply notifies the
// written keys on a LISTEN/NOTIFY channel named after the schema, inside
// its transaction, and each Store keeps one connection listening to it.
//
// Usage:
//
//	cfg, err := pgstore.PoolConfig("postgres://app@db/app")
//	...
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//	...
//	if err := pgstore.Migrate(ctx, pool, pgstore.Config{}); err != nil { ... }
//	st, err := pgstore.New(ctx, pool, pgstore.Config{})
//	...
//	defer st.Close()
//
// The listening connection is taken out of the pool for good (the pool
// opens another in its place), so it is made with the pool's settings and
// hooks. LISTEN needs a session of its own: connect directly, or through a
// pooler in session mode, not transaction mode.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

// DefaultSchema is the schema used when Config.Schema is empty.
const DefaultSchema = "magiclink"

// DefaultSweepInterval is the sweep interval used when
// Config.SweepInterval is zero.
const DefaultSweepInterval = time.Minute

// Config configures a Store and Migrate. Zero fields mean the defaults.
type Config struct {
	// Schema is the PostgreSQL schema holding the table records, and the
	// name of the notification channel: 1 to 63 lowercase ASCII letters,
	// digits or underscores, not starting with a digit. Default
	// DefaultSchema. Stores sharing data must use the same schema.
	Schema string

	// Now is the clock that decides expiry; default time.Now. It is
	// passed to every query, so the database's own clock plays no part.
	Now func() time.Time

	// SweepInterval is how often the Store deletes expired rows; default
	// DefaultSweepInterval, negative: never (call Sweep yourself, or
	// leave it to another instance).
	SweepInterval time.Duration

	// Logger receives warnings: a lost listening connection, a failed
	// sweep. Default slog.Default().
	Logger *slog.Logger

	hooks *hooks // for tests
}

// Store is a store.Store on PostgreSQL. Create it with New or Open. All
// methods are safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	now      func() time.Time
	channel  string
	id       string // sender id in this Store's notifications
	q        queries
	log      *slog.Logger
	hub      store.Hub
	listen   *listener
	notify   *notifier

	closed atomic.Bool
	stop   context.CancelFunc // stops the listener and the sweeper
	wg     sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// schemaOf returns the schema cfg names, checked.
func schemaOf(cfg Config) (string, error) {
	if cfg.Schema == "" {
		return DefaultSchema, nil
	}
	if !schemaName.MatchString(cfg.Schema) {
		return "", fmt.Errorf("%w: pgstore: schema %q: want 1 to 63 of [a-z0-9_], not starting with a digit", store.ErrInvalid, cfg.Schema)
	}
	return cfg.Schema, nil
}

// New returns a Store on pool, whose table Migrate must have created. It
// opens the listening connection before it returns, so that Watch misses
// nothing from then on, and starts the sweeper. The pool stays the
// caller's: Close does not close it.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pgstore: nil pool", store.ErrInvalid)
	}
	schema, err := schemaOf(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool:    pool,
		now:     cfg.Now,
		channel: schema,
		id:      newSenderID(),
		q:       newQueries(pgx.Identifier{schema, "records"}.Sanitize()),
		log:     cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var table *string
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1)::text", pgx.Identifier{schema, "records"}.Sanitize()).Scan(&table); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if table == nil {
		return nil, fmt.Errorf("pgstore: table %s.records does not exist: run pgstore.Migrate first", schema)
	}

	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.listen = &listener{
		pool:    pool,
		channel: s.channel,
		self:    s.id,
		hub:     &s.hub,
		log:     s.log,
		hooks:   cfg.hooks,
	}
	s.notify = &notifier{
		pool:    pool,
		channel: s.channel,
		self:    s.id,
		query:   s.q.notify,
		log:     s.log,
		wake:    make(chan struct{}, 1),
	}
	if cfg.hooks != nil {
		s.notify.sent = cfg.hooks.notified
	}
	conn, err := s.listen.connect(ctx)
	if err != nil {
		stop()
		return nil, err
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.listen.run(bg, conn)
	}()
	go func() {
		defer s.wg.Done()
		s.notify.run(bg)
	}()

	interval := cfg.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sweepEvery(bg, interval, cfg.hooks)
		}()
	}
	return s, nil
}

// DefaultMaxConns is the pool size PoolConfig sets when the connection
// string does not (pgxpool's own default is the number of CPUs, at least
// 4). A flow makes about 30 short round trips to the database; with 4
// connections, requests queue for one, and on two cores a load of 32
// users ran 1.5 to 1.9 times more sign-ins per second with 16 (see
// BENCHMARKS.md). Each instance holds up to this many connections, plus
// its listening one.
const DefaultMaxConns = 16

// PoolConfig parses connString (a URL or keyword/value string, as
// pgxpool.ParseConfig takes) into a pool configuration for a Store: the
// pool holds up to DefaultMaxConns connections unless connString sets
// pool_max_conns.
func PoolConfig(connString string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !strings.Contains(connString, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	return cfg, nil
}

// Open connects a new pool to the database named by connString (see
// PoolConfig) and returns a Store on it, which closes the pool on Close.
// Migrate must have run.
func Open(ctx context.Context, connString string, cfg Config) (*Store, error) {
	pc, err := PoolConfig(connString)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := store.ValidKey(key); err != nil {
		return nil, err
	}
	var v []byte
	err := s.pool.QueryRow(ctx, s.q.get, []byte(key), s.now()).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, opError("get", err)
	}
	return nonNil(v), nil
}

// List implements store.Store. It reads one snapshot.
func (s *Store) List(ctx context.Context, prefix string, limit int) ([]store.Item, error) {
	return s.ListFrom(ctx, prefix, prefix, limit)
}

// ListFrom implements store.RangeLister.
func (s *Store) ListFrom(ctx context.Context, prefix, from string, limit int) ([]store.Item, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lim any // NULL: no limit
	if limit > 0 {
		lim = int64(limit)
	}
	rows, err := s.pool.Query(ctx, s.q.list, []byte(max(prefix, from)), prefixEnd(prefix), s.now(), lim)
	if err != nil {
		return nil, opError("list", err)
	}
	var items []store.Item
	for rows.Next() {
		var (
			key []byte
			it  store.Item
			exp *time.Time
		)
		if err := rows.Scan(&key, &it.Value, &exp); err != nil {
			rows.Close()
			return nil, opError("list", err)
		}
		it.Key, it.Value = string(key), nonNil(it.Value)
		if exp != nil {
			it.ExpiresAt = *exp
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("list", err)
	}
	return items, nil
}

// prefixEnd returns the least byte string above every key starting with
// prefix: the bound of List's index range.
func prefixEnd(prefix string) []byte {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1]
		}
	}
	// prefix is empty or all 0xff: above every key of at most MaxKeyLen
	// bytes.
	end := make([]byte, store.MaxKeyLen+1)
	for i := range end {
		end[i] = 0xff
	}
	return end
}

// Watch implements store.Store. Changes made through any Store on the same
// database and schema wake the watcher, as do changes made while the
// listening connection was down (it wakes every watcher once it is back).
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	return s.hub.Watch(ctx, key)
}

// Close stops the listener and the sweeper, and closes the pool if Open
// created it. It waits for them to stop; calls after the first do nothing.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.hub.Close()
	s.stop()
	s.wg.Wait()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}
