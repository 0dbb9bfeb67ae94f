package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// The outbox. PrepareVerification does not send anything: in the Apply
// that starts a new verification it writes an outbox entry under
// keyOutbox + the flow's id, and wakes the sender. The sender claims due
// entries, mints the link's token, records its hash and sends the message;
// a temporary failure is retried with exponential backoff, a permanent one
// (or giving up after sendGiveUp) marks the verification failed and is
// reported through Config.OnSendFailure.
//
// The token is minted at send time, not at prepare time, because a secret
// is never stored: the entry says which message to send for which flow,
// never the link. Each attempt mints a new token, which supersedes the one
// an earlier, failed attempt minted.
//
// Several instances may share a store: an entry is claimed with a
// compare-and-swap that leases it for sendLease, so only one sender works
// on it at a time, and an instance that dies holding a lease only delays
// the entry until the lease runs out.
//
// Delivery is at least once: if the process dies after the mail server
// accepted a message but before the entry's deletion (one Apply) is
// committed, the message is sent again, with a new link. A message whose
// acceptance was recorded is never sent again.

// keyOutbox + flow id: an outboxRec, the message a verification still has
// to send. There is at most one per flow: a newer prepare replaces it.
const keyOutbox = "outbox/"

// Sender tuning.
const (
	sendTimeout    = 30 * time.Second // one delivery attempt
	sendLease      = 2 * time.Minute  // how long a claim holds an entry; > sendTimeout
	sendBackoffMin = time.Second      // first retry, doubling up to sendBackoffMax
	sendBackoffMax = 5 * time.Minute
	sendGiveUp     = 24 * time.Hour  // after this, an undelivered message is given up
	sendScan       = 5 * time.Second // how often the outbox is scanned for other instances' entries and lapsed leases
	sendWorkers    = 16              // messages handed to the mailer at once, per instance
	sendAttempts   = 256             // attempts (claim, mint, send, record) in flight per instance
	sendCloseGrace = 10 * time.Second
	sendMinWake    = 10 * time.Millisecond
	sendBookkeep   = 10 * time.Second // bounds recording an attempt's outcome
	maxErrorText   = 500              // bytes of an error kept in an entry
)

// ErrSendGaveUp is wrapped by SendFailure.Err when the sender gave up on a
// message after retrying temporary failures for a day, or because its
// sign-in or sign-up was abandoned before the message could be sent.
var ErrSendGaveUp = errors.New("magiclink: gave up sending the email")

// SendFailure describes a message that will not be delivered, as reported
// to Config.OnSendFailure. It never holds the link.
type SendFailure struct {
	// FlowID is the sign-in, sign-up or email address the message was for.
	FlowID string
	// Kind is the kind of message.
	Kind mailer.Kind
	// To is the recipient.
	To string
	// Attempts is how many times sending was tried.
	Attempts int
	// Err is why: the mailer's permanent error (mailer.IsPermanent reports
	// true), or an error wrapping ErrSendGaveUp with the last error seen.
	Err error
}

// outboxRec is an outbox entry: which message to send for which
// verification, and the state of its delivery. It holds no secret.
type outboxRec struct {
	FlowKey string      `json:"flow"`
	Kind    mailer.Kind `json:"kind"`
	// SendID is the verification's verRec.SendID: if the flow's differs,
	// a newer prepare superseded this message.
	SendID     string `json:"send_id"`
	Attempts   int    `json:"attempts"`
	NextAt     int64  `json:"next_at"`               // no attempt before this
	LeaseUntil int64  `json:"lease_until,omitempty"` // claimed by a sender until this
	CreatedAt  int64  `json:"created_at"`
	LastError  string `json:"last_error,omitempty"` // of the last failed attempt, scrubbed of the link
}

// dueAt returns when the entry may next be claimed.
func (r *outboxRec) dueAt() time.Time {
	return fromMS(max(r.NextAt, r.LeaseUntil))
}

// outboxPut returns the op that queues the message of the verification f
// has just started (f.Ver.SendID set) at now, replacing any message still
// queued for the flow.
func (a *Auth) outboxPut(key string, f *flowRec, kind mailer.Kind, now time.Time) store.Op {
	r := outboxRec{FlowKey: key, Kind: kind, SendID: f.Ver.SendID, NextAt: ms(now), CreatedAt: ms(now)}
	// The expiry only collects entries no instance was left to deliver
	// or give up on.
	return store.Put(keyOutbox+f.ID, encode(r), now.Add(2*sendGiveUp))
}

// backoff returns the wait after the n-th attempt (n >= 1): sendBackoffMin
// doubling up to sendBackoffMax, with jitter (half to all of it), so that
// instances and entries do not retry in lockstep.
func backoff(n int) time.Duration {
	d := sendBackoffMax
	if n <= 20 {
		d = min(sendBackoffMin<<(n-1), sendBackoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// sender delivers the outbox off the request path, so a slow or failing
// mail server changes neither the timing nor the answer of a request.
type sender struct {
	a     *Auth
	kickc chan struct{} // a wake-up: an entry was queued or a worker freed
	slots chan struct{} // one token per attempt that may start
	mail  chan struct{} // one token per mailer.Send that may run
	stop  chan struct{} // closed by close

	// ctx is cancelled when close's grace period runs out: in-flight
	// sends are asked to stop and their entries stay for the next start.
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	busy map[string]bool // entries this sender is claiming or delivering

	loop sync.WaitGroup // the dispatcher
	work sync.WaitGroup // deliveries in flight
	once sync.Once
}

// newSender starts the sender. Its first pass resumes whatever an earlier
// process left in the outbox.
func newSender(a *Auth) *sender {
	s := &sender{a: a, kickc: make(chan struct{}, 1), slots: make(chan struct{}, sendAttempts),
		mail: make(chan struct{}, sendWorkers), stop: make(chan struct{})}
	for range sendAttempts {
		s.slots <- struct{}{}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loop.Add(1)
	go s.run()
	return s
}

// kick wakes the sender for a pass; it never blocks.
func (s *sender) kick() {
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// run is the dispatcher: a pass at every wake-up — a kick, the earliest
// retry falling due, or the periodic scan that picks up entries queued by
// other instances and leases of instances that died.
func (s *sender) run() {
	defer s.loop.Done()
	dispatch(s.stop, s.kickc, sendScan, s.a.now, s.pass)
}

// pass starts an attempt (claim, then delivery) at each due entry while
// workers are idle. It returns when the earliest entry not yet due falls
// due, or zero when there is none (or no idle worker: the next to finish
// kicks).
func (s *sender) pass() time.Time {
	items, err := s.a.st.List(s.ctx, keyOutbox, 0)
	if err != nil {
		if s.ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			s.a.log.Warn("magiclink: reading the outbox failed", slog.Any("error", err))
		}
		return time.Time{}
	}
	var next time.Time
	for _, it := range items {
		if s.isBusy(it.Key) {
			continue // ours already: its worker kicks when done
		}
		var r outboxRec
		if err := json.Unmarshal(it.Value, &r); err != nil {
			s.a.log.Error("magiclink: corrupt outbox entry", slog.String("key", it.Key), slog.Any("error", err))
			continue
		}
		now := s.a.now()
		if at := r.dueAt(); now.Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		select {
		case <-s.stop:
			return time.Time{}
		default:
		}
		select {
		case <-s.slots:
		default:
			return time.Time{}
		}
		s.setBusy(it.Key, true)
		s.work.Add(1)
		go s.attempt(it, r, now)
	}
	return next
}

// attempt claims the entry it and, if the claim wins, delivers it, then
// frees its worker. Each attempt runs on its own goroutine, claim
// included, so that the claims and deliveries of many entries, each a
// durable write, share commits instead of queueing behind each other.
func (s *sender) attempt(it store.Item, r outboxRec, now time.Time) {
	defer func() {
		s.setBusy(it.Key, false)
		s.slots <- struct{}{}
		s.kick()
		s.work.Done()
	}()
	s.deliver(it, claimed(r, now))
}

// isBusy reports whether this sender is working on the entry at key.
func (s *sender) isBusy(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy[key]
}

// setBusy records that this sender started or finished working on the
// entry at key, so that passes meanwhile leave it alone.
func (s *sender) setBusy(key string, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !busy {
		delete(s.busy, key)
		return
	}
	if s.busy == nil {
		s.busy = make(map[string]bool)
	}
	s.busy[key] = true
}

// claimed returns the entry r as an attempt at now claims it: the
// attempt counted, the entry leased, the next attempt scheduled.
func claimed(r outboxRec, now time.Time) outboxRec {
	r.Attempts++
	r.LeaseUntil = ms(now.Add(sendLease))
	r.NextAt = ms(now.Add(backoff(r.Attempts)))
	return r
}

// claim takes an entry for one attempt, in one compare-and-swap, so that
// of several senders exactly one wins. It returns the entry as claimed.
func (s *sender) claim(it store.Item, r outboxRec, now time.Time) ([]byte, outboxRec, bool) {
	r = claimed(r, now)
	raw := encode(r)
	return raw, r, s.lease(store.Swap(it.Key, it.Value, raw, it.ExpiresAt))
}

// lease writes the compare-and-swap op that claims an entry and reports
// whether it won.
func (s *sender) lease(claim store.Op) bool {
	if err := s.a.st.Apply(s.ctx, claim); err != nil {
		if !isConflict(err) && s.ctx.Err() == nil {
			s.a.log.Warn("magiclink: claiming an outbox entry failed", slog.Any("error", err))
		}
		return false
	}
	return true
}

// deliver makes one attempt at the entry it, which it claims as r. The
// claim is written in the same Apply as the link it mints, so that a
// message costs one durable write less; an outcome that mints nothing
// writes the claim on its own first (own), and does nothing if another
// sender won it.
func (s *sender) deliver(it store.Item, r outboxRec) {
	a := s.a
	key, raw := it.Key, encode(r)
	claim := store.Swap(key, it.Value, raw, it.ExpiresAt)
	pending := true
	own := func() bool {
		if pending && s.lease(claim) {
			pending = false
		}
		return !pending
	}
	for range maxRetries {
		lf, err := load[flowRec](s.ctx, a.st, r.FlowKey)
		if isNotFound(err) {
			if own() {
				s.drop(key, raw)
			}
			return
		}
		if err != nil {
			if own() {
				s.release(key, raw, r, err)
			}
			return
		}
		f := lf.v
		now := a.now()
		if f.Ver == nil || f.Ver.SendID != r.SendID || !f.pending() || f.Ver.Status != string(VerificationUnverified) {
			// Superseded by a newer prepare, or settled: nothing to send.
			if own() {
				s.drop(key, raw)
			}
			return
		}
		if f.abandoned(now) || !now.Before(fromMS(r.CreatedAt).Add(sendGiveUp)) {
			if !own() {
				return
			}
			r.Attempts-- // this claim sends nothing
			last := r.LastError
			if last == "" {
				last = "none"
			}
			s.fail(key, raw, r, fmt.Errorf("%w after %d attempts (last error: %s)", ErrSendGaveUp, r.Attempts, last))
			return
		}
		// Mint the link and the code. Every kind mints them, the
		// no-account message (which carries neither) included, so that
		// the flow and the store change the same way whether or not the
		// address has an account.
		expire := now.Add(a.cfg.LinkTTL)
		f.Ver.ExpireAt = ms(expire)
		entry := store.Check(key, raw)
		if pending {
			entry = claim // first, so that losing the entry is the conflict reported
		}
		ops := []store.Op{entry, {}}
		token, code := "", ""
		if a.linksOn() {
			token = newToken()
			hash := hashToken(token)
			f.Ver.TokenHash = hash
			link := linkRec{Kind: f.Kind, FlowKey: r.FlowKey, Address: f.Address, ClientID: f.ClientID, RedirectURL: f.RedirectURL, ExpireAt: ms(expire)}
			ops = append(ops, store.Insert(keyLink+hash, encode(link), expire.Add(flowLifetime)))
		}
		if a.codesOn() {
			code = newCode(a.cfg.EmailCodes.Length)
			f.Ver.CodeHash = a.codeHash(&f, code)
		}
		ops[1] = lf.swap(f, flowExpiry(&f))
		err = a.st.Apply(s.ctx, ops...)
		if ce := (*store.ConflictError)(nil); errors.As(err, &ce) && ce.Key == key {
			return // claimed by another sender, replaced by a newer prepare, or claimed again after our lease
		}
		if isConflict(err) {
			continue // the flow changed: look again
		}
		if err != nil {
			if own() {
				s.release(key, raw, r, err)
			}
			return
		}
		pending = false
		s.send(key, raw, r, &f, secrets{token, code}, expire)
		return
	}
	if own() {
		s.release(key, raw, r, errors.New("magiclink: too much contention on the flow"))
	}
}

// secrets are what one message carries that is never stored: its link's
// token and its code, each empty when the message carries none.
type secrets struct{ token, code string }

// send renders and sends the message carrying sec, and records the
// outcome.
func (s *sender) send(key string, raw []byte, r outboxRec, f *flowRec, sec secrets, expire time.Time) {
	a := s.a
	data := mailer.Data{To: f.Address, Code: sec.code, ExpiresAt: expire, ValidFor: a.cfg.LinkTTL,
		Brand: a.cfg.Brand, Messages: a.msgs(a.flowLanguage(s.ctx, f))}
	if sec.token != "" {
		data.Link = a.linkURL(sec.token)
	}
	if r.Kind == mailer.KindNoAccount {
		data.Link, data.Code, data.ExpiresAt, data.ValidFor = a.absolute(a.cfg.SignUpURL), "", time.Time{}, 0
	}
	msg, err := a.tpl.Render(r.Kind, data)
	if err != nil {
		// Templates do not get better by waiting.
		s.fail(key, raw, r, permanent{scrub(err, sec)})
		return
	}
	select {
	case s.mail <- struct{}{}:
	case <-s.ctx.Done():
		s.release(key, raw, r, s.ctx.Err())
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, sendTimeout)
	err = a.mail.Send(ctx, msg)
	cancel()
	<-s.mail
	switch {
	case err == nil:
		s.drop(key, raw, a.emit(context.Background(), EventEmailCreated, f.UserID, emailEvent(f, r, "sent"), a.now())...)
	case mailer.IsPermanent(err):
		s.fail(key, raw, r, scrub(err, sec))
	default:
		s.release(key, raw, r, scrub(err, sec))
	}
}

// bookkeeping returns the context that records an attempt's outcome: not
// cancelled by close, so that a message the server accepted is recorded
// as sent even when close's grace ran out meanwhile.
func (s *sender) bookkeeping() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.ctx), sendBookkeep)
}

// drop deletes the entry if it is still as claimed: the message was sent
// (its email.created event is among more), or there is nothing left to
// send.
func (s *sender) drop(key string, raw []byte, more ...store.Op) {
	ctx, cancel := s.bookkeeping()
	defer cancel()
	var err error
	for range 3 {
		if err = s.a.apply(ctx, append([]store.Op{store.DeleteIf(key, raw)}, more...)...); err == nil || isConflict(err) {
			return
		}
	}
	s.a.log.Error("magiclink: deleting a sent outbox entry failed; it may be sent again", slog.String("flow_id", flowID(key)), slog.Any("error", err))
}

// release ends a failed attempt that may succeed later: it gives up the
// lease so that the retry follows the backoff set at the claim.
func (s *sender) release(key string, raw []byte, r outboxRec, cause error) {
	s.a.log.Warn("magiclink: sending email failed; will retry", slog.String("kind", string(r.Kind)),
		slog.String("flow_id", flowID(key)), slog.Int("attempt", r.Attempts),
		slog.Time("next_attempt", fromMS(r.NextAt)), slog.Any("error", cause))
	r.LeaseUntil = 0
	r.LastError = truncate(cause.Error(), maxErrorText)
	ctx, cancel := s.bookkeeping()
	defer cancel()
	if err := s.a.st.Apply(ctx, store.Swap(key, raw, encode(r), fromMS(r.CreatedAt).Add(2*sendGiveUp))); err != nil && !isConflict(err) {
		// The lease runs out instead.
		s.a.log.Warn("magiclink: releasing an outbox entry failed", slog.Any("error", err))
	}
}

// fail gives up on the entry: it deletes it, marks its verification
// failed so that a waiting tab learns it, and reports the failure, once.
func (s *sender) fail(key string, raw []byte, r outboxRec, cause error) {
	a := s.a
	ctx, cancel := s.bookkeeping()
	defer cancel()
	for range maxRetries {
		ops := []store.Op{store.DeleteIf(key, raw)}
		to := ""
		lf, err := load[flowRec](ctx, a.st, r.FlowKey)
		switch {
		case err == nil:
			f := lf.v
			to = f.Address
			ops = append(ops, a.emit(ctx, EventEmailFailed, f.UserID, emailEvent(&f, r, "failed"), a.now())...)
			if f.Ver != nil && f.Ver.SendID == r.SendID && f.Ver.Status == string(VerificationUnverified) {
				f.Ver.Status = string(VerificationFailed)
				f.Ver.TokenHash = "" // no link of this verification works any more
				f.Ver.SendFailed = true
				ops = append(ops, lf.swap(f, flowExpiry(&f)))
			}
		case !isNotFound(err):
			a.log.Warn("magiclink: giving up on an email: reading its flow failed", slog.Any("error", err))
			return // the lease runs out and a later attempt gives up again
		}
		err = a.apply(ctx, ops...)
		if ce := (*store.ConflictError)(nil); errors.As(err, &ce) && ce.Key == key {
			return // no longer ours: replaced by a newer prepare
		}
		if isConflict(err) {
			continue
		}
		if err != nil {
			a.log.Warn("magiclink: giving up on an email: recording it failed", slog.Any("error", err))
			return
		}
		a.log.Error("magiclink: email not delivered", slog.String("kind", string(r.Kind)),
			slog.String("flow_id", flowID(key)), slog.Int("attempts", r.Attempts), slog.Any("error", cause))
		if hook := a.cfg.OnSendFailure; hook != nil {
			hook(ctx, SendFailure{FlowID: flowID(key), Kind: r.Kind, To: to, Attempts: r.Attempts, Err: cause})
		}
		return
	}
}

// close stops claiming entries, lets deliveries in flight finish within
// sendCloseGrace, then cancels them and waits up to as long again. What
// was not delivered stays in the outbox for the next start.
func (s *sender) close() {
	s.once.Do(func() {
		close(s.stop)
		s.loop.Wait()
		if !drain(&s.work, sendCloseGrace, s.cancel) {
			s.a.log.Error("magiclink: closing with an email send still running: the mailer ignores cancellation")
		}
	})
}

// flowID returns the flow id of an outbox key.
func flowID(key string) string { return strings.TrimPrefix(key, keyOutbox) }

// permanent marks an error as one that retrying cannot fix.
type permanent struct{ error }

func (e permanent) Unwrap() error   { return e.error }
func (e permanent) Permanent() bool { return true }

// scrubbed is an error whose text held the link's token, with the token
// replaced.
type scrubbed struct {
	msg       string
	permanent bool
}

func (e *scrubbed) Error() string   { return e.msg }
func (e *scrubbed) Permanent() bool { return e.permanent }

// scrub returns err, or a copy of its text without the message's token
// and code if it has them: a mailer's error must not carry the link or
// the code into logs, the outbox or OnSendFailure.
func scrub(err error, sec secrets) error {
	msg := err.Error()
	for _, v := range []string{sec.token, sec.code} {
		if v != "" {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, permanent: mailer.IsPermanent(err)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
