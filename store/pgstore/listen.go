package pgstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink/store"
)

// Timing of the listening connection.
const (
	// idleCheck is how long the listener waits for a notification before
	// it pings the server, so that a silently dead connection (a peer gone
	// without a FIN) is found within idleCheck+pingTimeout.
	idleCheck      = 30 * time.Second
	pingTimeout    = 5 * time.Second
	connectTimeout = 10 * time.Second
	minBackoff     = 50 * time.Millisecond
	maxBackoff     = 5 * time.Second
)

// hooks let tests observe and pace the listener and the sweeper. They run
// on the goroutine of the listener or the sweeper.
type hooks struct {
	disconnected func()         // the connection was lost; reconnecting next
	reconnected  func()         // listening again, every watcher woken
	pinged       func()         // the server answered a ping after silence
	swept        func(n int64)  // the background sweeper deleted n rows
	notified     func(keys int) // the notifier sent a batch of keys
	idleCheck    time.Duration  // replaces idleCheck, if not zero
}

// listener keeps one connection listening on the store's channel and
// wakes the hub's watchers of each key notified.
type listener struct {
	pool    *pgxpool.Pool
	channel string
	self    string // the Store's sender id: its own notifications are skipped
	hub     *store.Hub
	log     *slog.Logger
	hooks   *hooks
	pid     atomic.Uint32 // backend PID of the connection; 0 while there is none
}

// connect takes a connection out of the pool for good (so it was made
// with all of the pool's settings and hooks, and the pool replaces it) and
// listens on the channel with it.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: listen: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("pgstore: listen: %w", err)
	}
	l.pid.Store(conn.PgConn().PID())
	return conn, nil
}

// run serves conn until ctx is done, replacing it whenever it is lost.
// After each reconnection it wakes every watcher: notifications sent while
// no connection listened are lost, and watchers must re-read.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	for {
		err := l.serve(ctx, conn)
		l.pid.Store(0)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("pgstore: listening connection lost; reconnecting", "channel", l.channel, "err", err)
		if l.hooks != nil && l.hooks.disconnected != nil {
			l.hooks.disconnected()
		}
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.hub.NotifyAll()
		l.log.Info("pgstore: listening again", "channel", l.channel)
		if l.hooks != nil && l.hooks.reconnected != nil {
			l.hooks.reconnected()
		}
	}
}

// serve passes conn's notifications to the hub until ctx is done or conn
// fails, pinging the server whenever it has been silent for idleCheck.
func (l *listener) serve(ctx context.Context, conn *pgx.Conn) error {
	idle := idleCheck
	if l.hooks != nil && l.hooks.idleCheck != 0 {
		idle = l.hooks.idleCheck
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, idle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			sender, keys, ok := parsePayload(n.Payload)
			if !ok || n.Channel != l.channel {
				l.log.Warn("pgstore: unexpected notification", "channel", n.Channel)
				continue
			}
			if sender != l.self { // Apply woke this Store's watchers itself
				l.hub.Notify(keys...)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			if l.hooks != nil && l.hooks.pinged != nil {
				l.hooks.pinged()
			}
		default:
			return err
		}
	}
}

// reconnect connects again, at once and then with exponential backoff
// (with jitter, so that many instances do not retry in step), until it
// succeeds or ctx is done (nil).
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	delay := minBackoff
	for {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		conn, err := l.connect(cctx)
		cancel()
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := delay/2 + rand.N(delay/2+1)
		l.log.Warn("pgstore: reconnecting failed", "channel", l.channel, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

// newSenderID returns a random sender id for a Store.
func newSenderID() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// closeConn closes conn, waiting at most a second for the server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
