package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/internal/sendtiming"
	"github.com/magiclink-go/magiclink/internal/worker"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// The outbox. PrepareVerification does not send anything: in the Apply
// that starts a new verification it writes an outbox entry under
// keyOutbox + the flow's id, and wakes the sender. The sender claims a due
// entry when one of its workers is free to send it, mints the link's
// token, records its hash and sends the message; a temporary failure is
// retried with exponential backoff, a permanent one (or giving up after
// sendGiveUp) marks the verification failed and is reported through
// Config.OnSendFailure.
//
// The token is minted at send time, not at prepare time, because a secret
// is never stored: the entry says which message to send for which flow,
// never the link. Each attempt mints a new token. Every link minted for
// one prepare (one SendID) stays valid until one of them is used, the
// verification expires, or a new prepare supersedes them: a retry of the
// same send never kills a link an earlier attempt may have delivered.
//
// Several instances may share a store: an entry is claimed with a
// compare-and-swap that leases it for sendtiming.Lease, so only one
// sender works on it at a time. A sender claims an entry only when a
// worker is free to send it at once, and renews the lease every
// sendtiming.Renew while the message is being sent, so a lease never runs
// out while a live sender works on it. An instance that dies holding
// leases delays those entries by at most one lease. On a store only one
// process can open (bbolt, store.Exclusive), a lease held by another
// process was left by a process that is gone: its entry is due at once.
//
// Delivery is at least once: if the process dies, or the store cannot be
// reached for sendBookkeep, after the mail server accepted a message but
// before the entry's deletion is committed, the message is sent again,
// with a new link; both links work. A message whose acceptance was
// recorded is never sent again.

// keyOutbox + flow id: an outboxRec, the message a verification still has
// to send. There is at most one per flow: a newer prepare replaces it.
const keyOutbox = "outbox/"

// Sender tuning. The lease and its renewal are in package sendtiming.
const (
	sendTimeout    = 30 * time.Second // one delivery attempt
	sendBackoffMin = time.Second      // first retry, doubling up to sendBackoffMax
	sendBackoffMax = 5 * time.Minute
	sendGiveUp     = 24 * time.Hour  // after this, an undelivered message is given up
	sendScan       = 5 * time.Second // how often the outbox is scanned for other instances' entries and lapsed leases
	sendWorkers    = 16              // messages claimed and being sent at once, per instance
	sendCloseGrace = 10 * time.Second
	// Recording an attempt's outcome is retried, with waits doubling from
	// bookkeepRetryMin to bookkeepRetryMax, for up to sendBookkeep: long
	// enough to ride out a database restart.
	sendBookkeep     = time.Minute
	bookkeepRetryMin = 100 * time.Millisecond
	bookkeepRetryMax = 5 * time.Second
)

// processID tells this process's leases from those of other processes.
var processID = newID("")

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
	SendID string `json:"send_id"`
	// Lease is the state of its delivery; its LastError is scrubbed of
	// the link.
	worker.Lease
	// Notice, when set, makes the entry a notice (see notice.go): a
	// message without a link, belonging to no flow.
	Notice *noticeRec `json:"notice,omitempty"`
}

// dueAt returns when the entry may next be claimed (zero: now).
func (s *sender) dueAt(r *outboxRec) time.Time {
	if r.LeaseUntil != 0 && s.exclusive && r.Owner != processID {
		// Only one process can open the store, so the one that claimed
		// the entry is gone, and its attempt with it.
		return time.Time{}
	}
	return fromMS(max(r.NextAt, r.LeaseUntil))
}

// outboxPut returns the op that queues the message of the verification f
// has just started (f.Ver.SendID set) at now, replacing any message still
// queued for the flow.
func (a *Auth) outboxPut(key string, f *flowRec, kind mailer.Kind, now time.Time) store.Op {
	r := outboxRec{FlowKey: key, Kind: kind, SendID: f.Ver.SendID, Lease: worker.Lease{NextAt: ms(now), CreatedAt: ms(now)}}
	// The expiry only collects entries no instance was left to deliver
	// or give up on.
	return store.Put(keyOutbox+f.ID, encode(r), now.Add(2*sendGiveUp))
}

// backoff returns the wait after the n-th attempt (n >= 1): sendBackoffMin
// doubling up to sendBackoffMax, with jitter (half to all of it), so that
// instances and entries do not retry in lockstep.
func backoff(n int) time.Duration { return worker.Backoff(n, sendBackoffMin, sendBackoffMax) }

// sender delivers the outbox off the request path, so a slow or failing
// mail server changes neither the timing nor the answer of a request.
type sender struct {
	a         *Auth
	lease     time.Duration // how long a claim holds an entry
	renew     time.Duration // how often a held claim is extended
	exclusive bool          // the store admits one process (store.Exclusive)
	kickc     chan struct{} // a wake-up: an entry was queued or a worker freed
	slots     chan struct{} // one token per worker free to claim and send an entry
	stop      chan struct{} // closed by close

	// ctx is cancelled when close's grace period runs out: in-flight
	// sends are asked to stop and their entries stay for the next start.
	ctx    context.Context
	cancel context.CancelFunc

	busy sync.Map // keys of the entries this sender is claiming, delivering or recording

	loop sync.WaitGroup // the dispatcher
	work sync.WaitGroup // attempts in flight
	once sync.Once
}

// newSender starts the sender. Its first pass resumes whatever an earlier
// process left in the outbox.
func newSender(a *Auth) *sender {
	s := &sender{a: a, lease: sendtiming.Lease, renew: sendtiming.Renew,
		kickc: make(chan struct{}, 1), slots: make(chan struct{}, sendWorkers), stop: make(chan struct{})}
	if e, ok := a.st.(store.Exclusive); ok {
		s.exclusive = e.Exclusive()
	}
	for range sendWorkers {
		s.slots <- struct{}{}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loop.Add(1)
	go s.run()
	return s
}

// kick wakes the sender for a pass; it never blocks.
func (s *sender) kick() { worker.Kick(s.kickc) }

// run is the dispatcher: a pass at every wake-up — a kick, the earliest
// retry or lease end falling due, or the periodic scan that picks up
// entries queued by other instances.
func (s *sender) run() {
	defer s.loop.Done()
	worker.Dispatch(s.stop, s.kickc, sendScan, s.a.now, s.pass)
}

// pass starts an attempt at each due entry while a worker is free. It
// returns when the earliest entry not yet due falls due, or zero when
// there is none (or no free worker: the next to finish kicks).
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
		if _, busy := s.busy.Load(it.Key); busy {
			continue // ours already: its worker kicks when done
		}
		var r outboxRec
		if err := json.Unmarshal(it.Value, &r); err != nil {
			s.a.log.Error("magiclink: corrupt outbox entry", slog.String("key", it.Key), slog.Any("error", err))
			continue
		}
		now := s.a.now()
		if at := s.dueAt(&r); now.Before(at) {
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
		// An entry is claimed only by a worker free to send it at once:
		// a claimed entry never waits in a local queue.
		select {
		case <-s.slots:
		default:
			return time.Time{}
		}
		s.busy.Store(it.Key, true)
		s.work.Add(1)
		go s.attempt(it, s.claimed(r, now))
	}
	return next
}

// attempt claims the entry it as r and, if the claim wins, delivers it
// and records the outcome. Its worker is freed as soon as the mailer is
// done with the message (free), before the outcome is recorded.
func (s *sender) attempt(it store.Item, r outboxRec) {
	freed := false
	free := func() {
		if !freed {
			freed = true
			s.slots <- struct{}{}
			s.kick()
		}
	}
	defer func() {
		free()
		s.busy.Delete(it.Key)
		s.kick()
		s.work.Done()
	}()
	s.deliver(it, r, free)
}

// claimed returns the entry r as an attempt at now claims it: the
// attempt counted, the entry leased to this process, the next attempt
// scheduled.
func (s *sender) claimed(r outboxRec, now time.Time) outboxRec {
	r.Claim(now, processID, s.lease, backoff)
	return r
}

// deliver makes one attempt at the entry it, which it claims as r. The
// claim is written in the same Apply as the link it mints, so that a
// message costs one durable write less. An outcome that mints nothing is
// recorded against the entry as it was read (it.Value), so that it does
// nothing if another sender claimed the entry meanwhile.
func (s *sender) deliver(it store.Item, r outboxRec, free func()) {
	if r.Notice != nil {
		s.deliverNotice(it, r, free)
		return
	}
	a := s.a
	key := it.Key
	// Each round reads the flow afresh and returns what to do with the
	// entry; a flow changed meanwhile (a conflict on its key) is another
	// round.
	next, err := retryApplyOr(flowContended, func() (func(), error) {
		lf, err := load[flowRec](s.ctx, a.st, r.FlowKey)
		if isNotFound(err) {
			return func() { s.drop(key, it.Value) }, nil
		}
		if err != nil {
			return nil, err
		}
		f := lf.v
		now := a.now()
		if f.Ver == nil || f.Ver.SendID != r.SendID || !f.pending() || f.Ver.Status != string(VerificationUnverified) {
			// Superseded by a newer prepare, or settled: nothing to send.
			return func() { s.drop(key, it.Value) }, nil
		}
		if f.abandoned(now) || !now.Before(fromMS(r.CreatedAt).Add(sendGiveUp)) {
			r.Attempts-- // this claim sends nothing
			last := r.LastError
			if last == "" {
				last = "none"
			}
			return func() {
				s.fail(key, it.Value, r, fmt.Errorf("%w after %d attempts (last error: %s)", ErrSendGaveUp, r.Attempts, last))
			}, nil
		}
		// Mint the link and the code. Every kind mints them, the
		// no-account message (which carries neither) included, so that
		// the flow and the store change the same way whether or not the
		// address has an account. Links minted by earlier attempts of
		// this send stay valid: they carry the same SendID (see
		// deadLink); and every attempt of a send mails the same code.
		expire := now.Add(a.cfg.LinkTTL)
		f.Ver.ExpireAt = ms(expire)
		raw := encode(r)
		// The claim comes first, so that losing the entry is the
		// conflict reported.
		ops := []store.Op{store.Swap(key, it.Value, raw, it.ExpiresAt), {}}
		var sec secrets
		if a.linksOn() {
			sec.token = newToken()
			hash := hashToken(sec.token)
			f.Ver.TokenHash = hash
			link := linkRec{Kind: f.Kind, FlowKey: r.FlowKey, ClientID: f.ClientID, RedirectURL: f.RedirectURL,
				ExpireAt: ms(expire), SendID: r.SendID}
			ops = append(ops, store.Insert(keyLink+hash, encode(link), expire.Add(flowLifetime)))
		}
		if a.codesOn() {
			sec.code = a.sendCode(&f)
			f.Ver.CodeHash = a.codeHash(&f, sec.code)
		}
		ops[1] = lf.swap(f, flowExpiry(&f))
		err = a.st.Apply(s.ctx, ops...)
		if ce := (*store.ConflictError)(nil); errors.As(err, &ce) && ce.Key == key {
			return func() {}, nil // claimed by another sender, or replaced by a newer prepare
		}
		if err != nil {
			return nil, err
		}
		return func() { s.send(s.hold(key, raw, r, it.ExpiresAt), &f, sec, expire, free) }, nil
	})
	if err != nil {
		s.release(key, it.Value, r, err)
		return
	}
	next()
}

// flowContended is the error of an attempt at an outbox entry that lost
// every round to changes of its flow.
func flowContended() error { return errors.New("magiclink: too much contention on the flow") }

// secrets are what one message carries that is never stored: its link's
// token and its code, each empty when the message carries none.
type secrets struct{ token, code string }

// send renders and sends the message carrying sec, holding the entry's
// lease meanwhile, and records the outcome.
func (s *sender) send(h *held, f *flowRec, sec secrets, expire time.Time, free func()) {
	a := s.a
	data := mailer.Data{To: f.Address, Code: sec.code, ExpiresAt: expire, ValidFor: a.cfg.LinkTTL,
		Brand: a.cfg.Brand, Messages: a.msgs(a.flowLanguage(s.ctx, f))}
	if sec.token != "" {
		data.Link = a.linkURL(sec.token)
	}
	switch h.kind {
	case mailer.KindNoAccount:
		data.Link, data.Code, data.ExpiresAt, data.ValidFor = a.absolute(a.cfg.SignUpURL), "", time.Time{}, 0
	case mailer.KindAddressInUse:
		// The verification this message stands for can never succeed:
		// its link and code go nowhere.
		data.Link, data.Code, data.ExpiresAt, data.ValidFor = a.absolute(a.cfg.FallbackURL), "", time.Time{}, 0
	case mailer.KindAccountSuspended:
		data.Link, data.Code, data.ExpiresAt, data.ValidFor = "", "", time.Time{}, 0
	}
	msg, err := a.tpl.Render(h.kind, data)
	s.transmit(h, msg, err, sec, free, func(r outboxRec) []store.Op {
		return flowEvents(f, a.emit(context.Background(), EventEmailCreated, f.UserID, emailEvent(f, r, "sent"), a.now()))
	})
}

// transmit hands msg, rendered with err, to the mailer, then records the
// outcome, with the ops sent returns once the mailer accepted it; sec is
// scrubbed from errors.
func (s *sender) transmit(h *held, msg *mailer.Message, err error, sec secrets, free func(), sent func(outboxRec) []store.Op) {
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, sendTimeout)
		err = s.a.mail.Send(ctx, msg)
		cancel()
	} else {
		// Templates do not get better by waiting.
		err = permanent{err}
	}
	free()
	raw, r := h.end()
	switch {
	case err == nil:
		s.drop(h.key, raw, sent(r)...)
		s.a.observe(s.ctx, Observation{Kind: ObserveSend, Name: string(r.Kind), Outcome: "ok"})
	case mailer.IsPermanent(err):
		s.fail(h.key, raw, r, scrub(err, sec))
	default:
		s.release(h.key, raw, r, scrub(err, sec))
	}
}

// held is an entry an attempt has claimed. Until end, a goroutine renews
// its lease every renew interval, so that the lease cannot run out while
// the message is being sent, however slow the mail server.
type held struct {
	s    *sender
	key  string
	exp  time.Time   // the entry's expiry, kept by each renewal
	raw  []byte      // the entry as last written: the claim or its latest renewal
	rec  outboxRec   // written by the renewals: read it only after end
	kind mailer.Kind // rec's kind, which renewals do not change
	stop chan struct{}
	done chan struct{}
}

// hold starts renewing the lease of the entry at key, claimed as raw
// (rec).
func (s *sender) hold(key string, raw []byte, rec outboxRec, exp time.Time) *held {
	h := &held{s: s, key: key, exp: exp, raw: raw, rec: rec, kind: rec.Kind, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renewing()
	return h
}

// renewing extends the lease every renew interval until end. A renewal
// that fails is tried again at the next tick: the lease outlasts a few.
// One that finds the entry changed stops: the entry is no longer ours
// (its lease ran out and another sender took it, or a newer prepare
// replaced it), and recording the outcome will find that too.
func (h *held) renewing() {
	defer close(h.done)
	worker.Every(h.stop, h.s.renew, func() bool {
		r := h.rec
		r.LeaseUntil = ms(h.s.a.now().Add(h.s.lease))
		raw := encode(r)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.s.ctx), h.s.lease)
		err := h.s.a.st.Apply(ctx, store.Swap(h.key, h.raw, raw, h.exp))
		cancel()
		switch {
		case err == nil:
			h.raw, h.rec = raw, r
		case isConflict(err):
			return false
		case !errors.Is(err, store.ErrClosed):
			h.s.a.log.Warn("magiclink: renewing the claim of an outbox entry failed", slog.String("flow_id", flowID(h.key)), slog.Any("error", err))
		}
		return true
	})
}

// end stops renewing and returns the entry as last written.
func (h *held) end() ([]byte, outboxRec) {
	close(h.stop)
	<-h.done
	return h.raw, h.rec
}

// persist runs op, the recording of an attempt's outcome, until it
// succeeds or conflicts, waiting between tries from bookkeepRetryMin
// doubling to bookkeepRetryMax, for up to sendBookkeep: a database that
// restarts meanwhile delays the record instead of losing it. The context
// op gets is not cancelled by close, so that a message the server
// accepted is recorded as sent even when close's grace ran out meanwhile.
func (s *sender) persist(op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), sendBookkeep)
	defer cancel()
	waits := worker.NewDoubling(bookkeepRetryMin, bookkeepRetryMax)
	for {
		err := op(ctx)
		if err == nil || isConflict(err) || errors.Is(err, store.ErrClosed) {
			return err
		}
		if !worker.Sleep(ctx, waits.Next()) {
			return err
		}
	}
}

// drop deletes the entry if it is still as raw: the message was sent
// (its email.created event is among more), or there is nothing left to
// send.
func (s *sender) drop(key string, raw []byte, more ...store.Op) {
	ops := append([]store.Op{store.DeleteIf(key, raw)}, more...)
	err := s.persist(func(ctx context.Context) error { return s.a.apply(ctx, ops...) })
	if err != nil && !isConflict(err) {
		s.a.log.Error("magiclink: deleting a sent outbox entry failed; it may be sent again, with a new link", slog.String("flow_id", flowID(key)), slog.Any("error", err))
	}
}

// release ends a failed attempt that may succeed later: it records the
// attempt (r) in place of the entry as raw, lease given up, so that the
// retry follows the backoff set at the claim.
func (s *sender) release(key string, raw []byte, r outboxRec, cause error) {
	s.a.log.Warn("magiclink: sending email failed; will retry", slog.String("kind", string(r.Kind)),
		slog.String("flow_id", flowID(key)), slog.Int("attempt", r.Attempts),
		slog.Time("next_attempt", fromMS(r.NextAt)), slog.Any("error", cause))
	r.Release(cause.Error())
	err := s.persist(func(ctx context.Context) error {
		return s.a.st.Apply(ctx, store.Swap(key, raw, encode(r), fromMS(r.CreatedAt).Add(2*sendGiveUp)))
	})
	if err != nil && !isConflict(err) && !errors.Is(err, store.ErrClosed) {
		// The lease runs out instead.
		s.a.log.Warn("magiclink: releasing an outbox entry failed", slog.Any("error", err))
	}
}

// fail gives up on the entry, if it is still as raw: it deletes it, marks
// its verification failed so that a waiting tab learns it, and reports
// the failure, once.
func (s *sender) fail(key string, raw []byte, r outboxRec, cause error) {
	a := s.a
	to, done := "", false
	err := s.persist(func(ctx context.Context) error {
		var err error
		done, err = retryApplyOr(flowContended, func() (bool, error) {
			ops := []store.Op{store.DeleteIf(key, raw)}
			lf, err := load[flowRec](ctx, a.st, r.FlowKey)
			switch {
			case err == nil:
				f := lf.v
				to = f.Address
				ops = append(ops, flowEvents(&f, a.emit(ctx, EventEmailFailed, f.UserID, emailEvent(&f, r, "failed"), a.now()))...)
				if f.Ver != nil && f.Ver.SendID == r.SendID && f.Ver.Status == string(VerificationUnverified) {
					f.Ver.Status = string(VerificationFailed)
					f.Ver.TokenHash = "" // no link of this verification works any more
					f.Ver.SendFailed = true
					ops = append(ops, lf.swap(f, flowExpiry(&f)))
				}
			case !isNotFound(err):
				return false, err
			}
			err = a.apply(ctx, ops...)
			if ce := (*store.ConflictError)(nil); errors.As(err, &ce) && ce.Key == key {
				return false, nil // no longer ours: claimed by another sender or replaced by a newer prepare
			}
			return err == nil, err
		})
		return err
	})
	if err != nil {
		if !errors.Is(err, store.ErrClosed) {
			// The lease runs out, and a later attempt gives up again.
			a.log.Warn("magiclink: giving up on an email: recording it failed", slog.Any("error", err))
		}
		return
	}
	if !done {
		return
	}
	a.observe(s.ctx, Observation{Kind: ObserveSend, Name: string(r.Kind), Outcome: "failed"})
	a.log.Error("magiclink: email not delivered", slog.String("kind", string(r.Kind)),
		slog.String("flow_id", flowID(key)), slog.Int("attempts", r.Attempts), slog.Any("error", cause))
	if hook := a.cfg.OnSendFailure; hook != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), sendBookkeep)
		defer cancel()
		hook(ctx, SendFailure{FlowID: flowID(key), Kind: r.Kind, To: to, Attempts: r.Attempts, Err: cause})
	}
}

// close stops claiming entries, lets deliveries in flight finish within
// sendCloseGrace, then cancels them and waits up to as long again. What
// was not delivered stays in the outbox for the next start.
func (s *sender) close() {
	worker.Shutdown(&s.once, s.stop, &s.loop, &s.work, sendCloseGrace, s.cancel, s.a.log,
		"magiclink: closing with an email send still running: the mailer ignores cancellation")
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
