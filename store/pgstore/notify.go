package pgstore

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// maxPayload is the most bytes of one notification's payload: PostgreSQL
// refuses 8000 or more.
const maxPayload = 7999

// flushTimeout bounds the last notifications sent when the Store closes.
const flushTimeout = 5 * time.Second

// notifier tells the other instances which keys this Store's Applies
// wrote, after they committed.
//
// A NOTIFY inside the writing transaction would make the notification
// atomic with the commit, but PostgreSQL serialises the commits of all
// notifying transactions (a database-wide lock held through the commit's
// WAL flush), which ends group commit: every Apply would wait for the
// flushes of all before it. Instead, the keys of committed Applies are
// collected here, and one goroutine sends them in batches, each batch one
// statement in a transaction of its own. That transaction writes nothing
// to the WAL but its commit record, which PostgreSQL does not wait to
// flush (a notification has nothing to make durable), so the lock is held
// for microseconds. While
// one batch is on its way, the keys of the Applies committing meanwhile
// gather for the next: the busier the store, the larger the batches, with
// no timer. Keys are packed into payloads of up to maxPayload bytes.
//
// A batch that fails is sent again (with backoff) until it goes through
// or the Store closes, when what is pending is sent one last time. Only a
// process that dies between a commit and its batch's send loses that
// notification; the other instances' waiters then see the change on
// their next read (a long poll's wait ends within 30 s).
type notifier struct {
	pool    *pgxpool.Pool
	channel string
	self    string // the Store's sender id, which starts every payload
	query   string
	log     *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
	wake    chan struct{}  // 1-buffered: there are pending keys
	sent    func(keys int) // test hook: a batch of keys was sent
}

// add queues keys to notify.
func (n *notifier) add(keys []string) {
	if len(keys) == 0 {
		return
	}
	n.mu.Lock()
	if n.pending == nil {
		n.pending = make(map[string]struct{})
	}
	for _, k := range keys {
		n.pending[k] = struct{}{}
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// take returns the pending keys and forgets them.
func (n *notifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := make([]string, 0, len(n.pending))
	for k := range n.pending {
		keys = append(keys, k)
	}
	clear(n.pending)
	return keys
}

// run sends batches until ctx is done, then sends what is still pending
// once more.
func (n *notifier) run(ctx context.Context) {
	delay := minBackoff
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			defer cancel()
			if keys := n.take(); len(keys) > 0 {
				if err := n.send(fctx, keys); err != nil {
					n.log.Warn("pgstore: notifying other instances failed on close", "channel", n.channel, "keys", len(keys), "err", err)
				}
			}
			return
		case <-n.wake:
		}
		keys := n.take()
		if len(keys) == 0 {
			continue
		}
		if err := n.send(ctx, keys); err != nil {
			n.add(keys) // again, with whatever came meanwhile
			if ctx.Err() != nil {
				continue
			}
			n.log.Warn("pgstore: notifying other instances failed; retrying", "channel", n.channel, "keys", len(keys), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			delay = min(2*delay, maxBackoff)
			continue
		}
		delay = minBackoff
		if n.sent != nil {
			n.sent(len(keys))
		}
	}
}

// send notifies keys in one statement, its own transaction.
func (n *notifier) send(ctx context.Context, keys []string) error {
	_, err := n.pool.Exec(ctx, n.query, n.channel, payloads(n.self, keys))
	return err
}

// payloads packs keys into notification payloads of at most maxPayload
// bytes: "<sender>:<key in hex>,<key in hex>…" (keys may hold any byte;
// payloads are text). With a 16-character sender id, a key of
// store.MaxKeyLen bytes takes 529 bytes, so every payload holds at least
// fifteen.
func payloads(sender string, keys []string) []string {
	var out []string
	var p strings.Builder
	for _, k := range keys {
		if p.Len() > 0 && p.Len()+1+2*len(k) > maxPayload {
			out = append(out, p.String())
			p.Reset()
		}
		if p.Len() == 0 {
			p.WriteString(sender)
			p.WriteByte(':')
		} else {
			p.WriteByte(',')
		}
		p.WriteString(hex.EncodeToString([]byte(k)))
	}
	if p.Len() > 0 {
		out = append(out, p.String())
	}
	return out
}

// parsePayload reverses payloads for one payload.
func parsePayload(p string) (sender string, keys []string, ok bool) {
	sender, list, ok := strings.Cut(p, ":")
	if !ok {
		return "", nil, false
	}
	for h := range strings.SplitSeq(list, ",") {
		k, err := hex.DecodeString(h)
		if err != nil {
			return "", nil, false
		}
		keys = append(keys, string(k))
	}
	return sender, keys, true
}
