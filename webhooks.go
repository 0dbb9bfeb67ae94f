package magiclink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/magiclink-go/magiclink/internal/worker"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/webhook"
)

// Deliveries. emit queues an event, in the Apply of its change, once per
// consumer: each webhook endpoint whose filter takes it, and the
// in-process subscribers (a consumer of its own) when there are any. A
// queued delivery is a deliveryRec under keyDelivery + consumer id + "/"
// + event id, so that each consumer's queue is one prefix, oldest first.
//
// Each consumer has its own dispatcher goroutine and its own workers, so
// a slow or dead endpoint delays no other and no request. Delivery
// follows the outbox's pattern: a worker claims an entry with a
// compare-and-swap that counts the attempt, leases the entry for
// deliveryLease and schedules the next attempt; several instances sharing
// a store thus share the queue, and an instance that dies holding a lease
// only delays the entry until the lease lapses (on a store only one
// process can open, not at all). An entry is born leased to the process
// whose change queued it, which hands it to its consumer straight after
// the commit (wake): the first attempt reads the entry back instead of
// writing a claim, so a delivered event costs one write, its deletion. A 2xx answer deletes the
// entry; 410 disables the endpoint; anything else (a timeout, a refused
// connection, a redirect, another status) is retried with exponential
// backoff and jitter until deliveryGiveUp after the event. Delivery is at
// least once: every attempt of one event carries the same webhook-id.

// Store keys of deliveries.
const (
	keyDelivery = "whq/"   // + consumer id + "/" + event id: deliveryRec
	keyDisabled = "whoff/" // + endpoint id: the endpoint answered 410 Gone
	subscribers = ":subscribers"
)

// Delivery tuning.
const (
	deliveryTimeout    = 10 * time.Second // one attempt, connection to last byte
	deliveryLease      = time.Minute      // > deliveryTimeout
	deliveryBackoffMin = time.Second
	deliveryBackoffMax = 2 * time.Hour
	deliveryGiveUp     = 24 * time.Hour
	deliveryScan       = 5 * time.Second // picks up other instances' entries and lapsed leases
	deliveryWorkers    = 4               // attempts in flight per consumer and instance
	deliveryPage       = 512             // entries read per pass
	deliveryFresh      = 1024            // entries just queued waiting for a worker, per consumer; beyond, a pass reads them
	deliveryMaxBody    = 4 << 10         // of an answer, read and thrown away
	deliveryCloseGrace = 5 * time.Second
)

// WebhookEndpoint is a receiver of events: every event whose type its
// filter takes is POSTed to URL, signed per Standard Webhooks (see package
// webhook).
type WebhookEndpoint struct {
	// URL is where deliveries go: https, or http to a loopback host (for
	// development) unless AllowInsecure. Redirects are not followed.
	URL string
	// Secrets sign every delivery, each "whsec_" + base64 (see
	// webhook.NewSecret). Usually one; to rotate, list the new secret
	// and the old one until the receiver knows the new: each delivery
	// then carries a signature of each.
	Secrets []string
	// Types lists the event types the endpoint receives; empty: all.
	Types []EventType
	// ID names the endpoint's queue in the store (letters, digits, "_"
	// and "-"); default derived from URL. Instances sharing a store must
	// configure the same endpoints with the same ids.
	ID string
	// AllowInsecure allows an http URL to a host that is not loopback.
	AllowInsecure bool
}

// deliveryRec is a queued delivery of one event to one consumer: the
// state of its lease, nothing more (the event is read from its own
// record).
type deliveryRec = worker.Lease

// consumer is a webhook endpoint or the subscribers, with its dispatcher.
type consumer struct {
	d       *deliverer
	id      string
	url     string   // "" for the subscribers
	secrets []string // of a webhook
	types   map[EventType]bool
	kickc   chan struct{}
	fresh   chan store.Item // entries this process just queued, handed over without a read
	slots   chan struct{}
	busy    sync.Map // keys of the entries this instance is attempting
	// starved is set when a pass left due entries for want of a free
	// worker: the next worker to finish kicks a pass. Otherwise a
	// finishing worker kicks only when it scheduled a retry, so that a
	// busy queue is not read back after every delivery.
	starved atomic.Bool
}

// takes reports whether the consumer receives events of type t.
func (c *consumer) takes(t EventType) bool { return c.types == nil || c.types[t] }

// deliverer runs the consumers' dispatchers.
type deliverer struct {
	a         *Auth
	endpoints []*consumer
	subs      *consumer
	all       []*consumer // subs, then endpoints
	client    *http.Client
	exclusive bool // the store admits one process (store.Exclusive)

	smu   sync.RWMutex
	hooks map[int]func(context.Context, *Event)
	next  int

	stop   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup
	work   sync.WaitGroup
	once   sync.Once
}

var endpointIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// newDeliverer checks the configured endpoints and starts a dispatcher
// for each, and one for the subscribers.
func newDeliverer(a *Auth, eps []WebhookEndpoint) (*deliverer, error) {
	d := &deliverer{a: a, stop: make(chan struct{}), hooks: map[int]func(context.Context, *Event){}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if e, ok := a.st.(store.Exclusive); ok {
		d.exclusive = e.Exclusive()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = 16 << 10
	tr.MaxIdleConnsPerHost = deliveryWorkers // every worker keeps its connection
	tr.ResponseHeaderTimeout = deliveryTimeout
	d.client = &http.Client{Transport: tr, Timeout: deliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	seen := map[string]bool{}
	for i, ep := range eps {
		c, err := d.endpoint(ep)
		if err != nil {
			return nil, fmt.Errorf("magiclink: Config.Webhooks[%d]: %w", i, err)
		}
		if seen[c.id] {
			return nil, fmt.Errorf("magiclink: Config.Webhooks[%d]: id %q used twice", i, c.id)
		}
		seen[c.id] = true
		d.endpoints = append(d.endpoints, c)
	}
	d.subs = d.consumer(subscribers)
	d.all = append([]*consumer{d.subs}, d.endpoints...)
	for _, c := range d.all {
		d.loops.Add(2)
		go c.run()
		go c.runFresh()
	}
	return d, nil
}

func (d *deliverer) consumer(id string) *consumer {
	c := &consumer{d: d, id: id, kickc: make(chan struct{}, 1), fresh: make(chan store.Item, deliveryFresh),
		slots: make(chan struct{}, deliveryWorkers)}
	for range deliveryWorkers {
		c.slots <- struct{}{}
	}
	return c
}

// endpoint validates a configured endpoint.
func (d *deliverer) endpoint(ep WebhookEndpoint) (*consumer, error) {
	u, err := url.Parse(ep.URL)
	if err != nil || u.Host == "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("URL must be an absolute http(s) URL without fragment")
	}
	if u.Scheme == "http" && !ep.AllowInsecure && !loopbackHost(u.Hostname()) {
		return nil, errors.New("URL must be https (http only to a loopback host, unless AllowInsecure)")
	}
	if len(ep.Secrets) == 0 {
		return nil, errors.New("a secret is required")
	}
	for _, s := range ep.Secrets {
		if !strings.HasPrefix(s, webhook.SecretPrefix) {
			return nil, errors.New("secrets must start with " + webhook.SecretPrefix)
		}
		if _, err := webhook.ParseSecret(s); err != nil {
			return nil, errors.New("a secret is not whsec_ followed by the base64 of 24 to 64 bytes")
		}
	}
	id := ep.ID
	if id == "" {
		sum := sha256.Sum256([]byte(ep.URL))
		id = hex.EncodeToString(sum[:8])
	}
	if !endpointIDPattern.MatchString(id) {
		return nil, fmt.Errorf("id %q must be 1 to 64 letters, digits, _ or -", id)
	}
	c := d.consumer(id)
	c.url, c.secrets = u.String(), append([]string(nil), ep.Secrets...)
	if len(ep.Types) > 0 {
		c.types = map[EventType]bool{}
		for _, t := range ep.Types {
			if !knownEventType(t) {
				return nil, fmt.Errorf("unknown event type %q", t)
			}
			c.types[t] = true
		}
	}
	return c, nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// queue returns the ops that queue event id of type t, made at now, for
// every consumer that takes it.
func (d *deliverer) queue(id string, t EventType, now time.Time) []store.Op {
	var ops []store.Op
	// Born leased to this process, which the commit's wake-up sends it
	// off: its first attempt writes no claim, and other instances leave
	// it alone unless this one dies.
	rec := encode(deliveryRec{NextAt: ms(now), LeaseUntil: ms(now.Add(deliveryLease)), Owner: processID, CreatedAt: ms(now)})
	add := func(c *consumer) {
		ops = append(ops, store.Insert(keyDelivery+c.id+"/"+id, rec, now.Add(2*deliveryGiveUp)))
	}
	for _, c := range d.endpoints {
		if c.takes(t) {
			add(c)
		}
	}
	if d.subscribed() {
		add(d.subs)
	}
	return ops
}

// wake hands the deliveries an Apply of ops queued, now committed, to
// their consumers, so that the common case reads nothing back; a consumer
// with too many waiting is kicked to read its queue instead.
func (d *deliverer) wake(ops []store.Op) {
	for _, op := range ops {
		rest, ok := strings.CutPrefix(op.Key, keyDelivery)
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, "/")
		for _, c := range d.all {
			if c.id != id {
				continue
			}
			select {
			case c.fresh <- store.Item{Key: op.Key, Value: op.Value, ExpiresAt: op.ExpiresAt}:
			default:
				c.kick()
			}
		}
	}
}

// runFresh starts an attempt at each entry wake hands over, as workers
// free up.
func (c *consumer) runFresh() {
	defer c.d.loops.Done()
	for {
		select {
		case <-c.d.stop:
			return
		case it := <-c.fresh:
			var r deliveryRec
			if json.Unmarshal(it.Value, &r) == nil && !c.start(it, r, true) {
				return
			}
		}
	}
}

// start begins an attempt at the entry it, unless one of this process is
// at it already. It waits for a free worker if wait, else reports false
// at once when there is none; it also reports false when stopping.
func (c *consumer) start(it store.Item, r deliveryRec, wait bool) bool {
	if wait {
		select {
		case <-c.d.stop:
			return false
		case <-c.slots:
		}
	} else {
		select {
		case <-c.d.stop:
			return false
		case <-c.slots:
		default:
			return false
		}
	}
	if _, busy := c.busy.LoadOrStore(it.Key, true); busy {
		c.slots <- struct{}{}
		return true
	}
	c.d.work.Add(1)
	go c.attempt(it, r)
	return true
}

func (c *consumer) kick() { worker.Kick(c.kickc) }

// run is the consumer's dispatcher: a pass at each kick, at the earliest
// retry falling due and at every scan.
func (c *consumer) run() {
	defer c.d.loops.Done()
	worker.Dispatch(c.d.stop, c.kickc, deliveryScan, c.d.a.now, c.pass)
}

// pass starts an attempt at each due entry while workers are free, and
// returns when the earliest entry not yet due falls due (zero: none).
func (c *consumer) pass() time.Time {
	a := c.d.a
	if c == c.d.subs && !c.d.subscribed() {
		return time.Time{} // entries wait for a subscriber (after a restart, until Subscribe)
	}
	items, err := a.st.List(c.d.ctx, keyDelivery+c.id+"/", deliveryPage)
	if err != nil {
		if c.d.ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			a.log.Warn("magiclink: reading the webhook queue failed", slog.String("endpoint", c.id), slog.Any("error", err))
		}
		return time.Time{}
	}
	if len(items) > 0 && c.url != "" && c.disabled() {
		c.discard(items)
		return time.Time{}
	}
	var next time.Time
	for _, it := range items {
		if _, busy := c.busy.Load(it.Key); busy {
			continue
		}
		var r deliveryRec
		if err := json.Unmarshal(it.Value, &r); err != nil {
			a.log.Error("magiclink: corrupt delivery entry", slog.String("key", it.Key), slog.Any("error", err))
			continue
		}
		if at := c.d.dueAt(&r); a.now().Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if len(c.fresh) > 0 || !c.start(it, r, false) {
			// Workers are taken, or wanted by entries handed over in
			// memory: a worker kicks again when they are done.
			c.starved.Store(true)
			return time.Time{}
		}
	}
	return next
}

// outcome is what an attempt came to.
type outcome int

const (
	delivered outcome = iota
	retry
	gone // 410: the endpoint asks to be disabled
)

// attempt claims the entry it and makes one delivery attempt.
func (c *consumer) attempt(it store.Item, r deliveryRec) {
	retried := false
	defer func() {
		c.busy.Delete(it.Key)
		c.slots <- struct{}{}
		// Entries handed over in memory go first: the queue is read back
		// once they are all started.
		if (len(c.fresh) == 0 && c.starved.Swap(false)) || retried {
			c.kick()
		}
		c.d.work.Done()
	}()
	a := c.d.a
	ctx := c.d.ctx
	now := a.now()
	eventID := it.Key[len(keyDelivery+c.id+"/"):]
	if !now.Before(fromMS(r.CreatedAt).Add(deliveryGiveUp)) {
		if c.settle(it.Key, it.Value) {
			a.log.Error("magiclink: gave up delivering an event", slog.String("endpoint", c.id),
				slog.String("event_id", eventID), slog.Int("attempts", r.Attempts), slog.String("last_error", r.LastError))
			a.observe(ctx, Observation{Kind: ObserveWebhook, Name: "gave_up", Endpoint: c.id})
		}
		return
	}
	born := r.Attempts == 0 && r.Owner == processID && now.Before(fromMS(r.LeaseUntil).Add(-deliveryTimeout))
	r.Claim(now, processID, deliveryLease, deliveryBackoff)
	raw := it.Value
	if born {
		// No claim to write, but a pass may have listed the entry before
		// an attempt of this process delivered and deleted it: make sure
		// it is still there, unchanged.
		if cur, err := a.st.Get(ctx, it.Key); err != nil || !bytes.Equal(cur, it.Value) {
			return
		}
	} else {
		// Claim it, in one compare-and-swap that counts the attempt
		// and schedules the next, so that of several instances one wins.
		raw = encode(r)
		if err := a.st.Apply(ctx, store.Swap(it.Key, it.Value, raw, it.ExpiresAt)); err != nil {
			if !isConflict(err) && ctx.Err() == nil {
				a.log.Warn("magiclink: claiming a delivery failed", slog.String("endpoint", c.id), slog.Any("error", err))
			}
			return // another instance has it, or the store is unwell: the scan comes back
		}
	}
	l, err := load[eventRec](ctx, a.st, keyEvent+invertID(eventID))
	if isNotFound(err) {
		c.settle(it.Key, raw)
		return
	}
	if err != nil {
		retried = true
		c.release(it.Key, raw, r, err.Error())
		return
	}
	ev := l.v.event()
	if c.url != "" && c.disabled() {
		c.settle(it.Key, raw) // disabled meanwhile by another attempt
		return
	}
	var res outcome
	var why string
	if c.url == "" {
		res, why = c.d.call(ctx, ev)
	} else {
		res, why = c.post(ctx, ev)
	}
	switch res {
	case delivered:
		c.settle(it.Key, raw)
		a.observe(ctx, Observation{Kind: ObserveWebhook, Name: "ok", Endpoint: c.id})
	case gone:
		c.disable()
		c.settle(it.Key, raw)
		a.observe(ctx, Observation{Kind: ObserveWebhook, Name: "failed", Endpoint: c.id})
	default:
		retried = true
		c.release(it.Key, raw, r, why)
		a.observe(ctx, Observation{Kind: ObserveWebhook, Name: "retried", Endpoint: c.id})
	}
}

// dueAt returns when the entry r may next be attempted. A lease held by
// another process on a store only one process can open (store.Exclusive)
// was left by a process that is gone: the entry is due at once, as the
// outbox's.
func (d *deliverer) dueAt(r *deliveryRec) time.Time {
	if r.Owner == processID {
		// Leased to this process: pass skips the entries its attempts
		// hold, so one it does not is free to go.
		return fromMS(r.NextAt)
	}
	if r.LeaseUntil != 0 && d.exclusive {
		return time.Time{}
	}
	return fromMS(max(r.NextAt, r.LeaseUntil))
}

// deliveryBackoff is the wait after the n-th attempt (n >= 1):
// deliveryBackoffMin doubling up to deliveryBackoffMax, with jitter (half
// to all of it) so that instances and entries do not retry in lockstep.
func deliveryBackoff(n int) time.Duration {
	return worker.Backoff(n, deliveryBackoffMin, deliveryBackoffMax)
}

// bookkeeping bounds recording an attempt's outcome, which close does not
// cancel: an answered delivery is recorded as delivered.
func (d *deliverer) bookkeeping() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(d.ctx), deliveryTimeout)
}

// settle deletes the entry if it is still as claimed, and reports whether
// it did.
func (c *consumer) settle(key string, raw []byte) bool {
	ctx, cancel := c.d.bookkeeping()
	defer cancel()
	err := c.d.a.st.Apply(ctx, store.DeleteIf(key, raw))
	if err != nil && !isConflict(err) {
		c.d.a.log.Warn("magiclink: deleting a delivered event's entry failed; it may be delivered again",
			slog.String("endpoint", c.id), slog.Any("error", err))
	}
	return err == nil
}

// release records a failed attempt and gives up the lease; the claim
// already scheduled the next attempt.
func (c *consumer) release(key string, raw []byte, r deliveryRec, why string) {
	ctx, cancel := c.d.bookkeeping()
	defer cancel()
	r.Release(why)
	if err := c.d.a.st.Apply(ctx, store.Swap(key, raw, encode(r), fromMS(r.CreatedAt).Add(2*deliveryGiveUp))); err != nil && !isConflict(err) {
		c.d.a.log.Warn("magiclink: recording a failed delivery failed", slog.String("endpoint", c.id), slog.Any("error", err))
	}
}

// post makes one HTTP delivery of ev. The answer's body is read, at most
// deliveryMaxBody of it, only so the connection can be reused.
func (c *consumer) post(ctx context.Context, ev *Event) (outcome, string) {
	body, err := json.Marshal(ev)
	if err != nil {
		return retry, err.Error()
	}
	h, err := webhook.Headers(ev.ID, c.d.a.now(), body, c.secrets...)
	if err != nil {
		return retry, err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return retry, err.Error()
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "magiclink-webhooks")
	resp, err := c.d.client.Do(req)
	if err != nil {
		return retry, scrubURL(err, c.url)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, deliveryMaxBody))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return delivered, ""
	case resp.StatusCode == http.StatusGone:
		return gone, ""
	}
	return retry, "status " + strconv.Itoa(resp.StatusCode)
}

// scrubURL returns err's text without the endpoint's URL, whose query may
// hold a token of the receiver's.
func scrubURL(err error, u string) string {
	return strings.ReplaceAll(err.Error(), u, "[endpoint]")
}

// disabled reports whether the endpoint answered 410 Gone.
func (c *consumer) disabled() bool {
	_, err := c.d.a.st.Get(c.d.ctx, keyDisabled+c.id)
	return err == nil
}

// disable records that the endpoint answered 410 Gone: nothing more is
// delivered to it until EnableWebhook.
func (c *consumer) disable() {
	ctx, cancel := c.d.bookkeeping()
	defer cancel()
	a := c.d.a
	if err := a.st.Apply(ctx, store.Put(keyDisabled+c.id, []byte(strconv.FormatInt(ms(a.now()), 10)), time.Time{})); err != nil {
		a.log.Warn("magiclink: disabling a webhook endpoint failed", slog.String("endpoint", c.id), slog.Any("error", err))
		return
	}
	a.log.Warn("magiclink: webhook endpoint answered 410 Gone and is disabled", slog.String("endpoint", c.id))
}

// discard deletes the queued entries of a disabled endpoint.
func (c *consumer) discard(items []store.Item) {
	for _, it := range items {
		if _, busy := c.busy.Load(it.Key); !busy {
			c.settle(it.Key, it.Value)
		}
	}
}

// EnableWebhook turns back on the endpoint with id (WebhookEndpoint.ID,
// or the one derived from its URL, as WebhookEndpointIDs lists) after it
// answered 410 Gone. Events emitted while it was disabled are not sent.
func (a *Auth) EnableWebhook(ctx context.Context, id string) error {
	err := a.st.Apply(ctx, store.Delete(keyDisabled+id))
	for _, c := range a.deliver.endpoints {
		c.kick()
	}
	return err
}

// WebhookEndpointIDs returns the ids of the configured endpoints, in
// Config.Webhooks order.
func (a *Auth) WebhookEndpointIDs() []string {
	ids := make([]string, 0, len(a.deliver.endpoints))
	for _, c := range a.deliver.endpoints {
		ids = append(ids, c.id)
	}
	return ids
}

// close stops the dispatchers and waits for attempts in flight, cancelling
// them after deliveryCloseGrace. What was not delivered stays queued.
func (d *deliverer) close() {
	worker.Shutdown(&d.once, d.stop, &d.loops, &d.work, deliveryCloseGrace, d.cancel, d.a.log,
		"magiclink: closing with an event delivery still running: a subscriber ignores cancellation")
}
