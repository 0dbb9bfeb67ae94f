package magiclink

import (
	"context"
	"slices"
	"time"

	"github.com/magiclink-go/magiclink/internal/worker"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

// Notices are emails that carry no link to use, such as the one telling
// the previous primary address of an account that the primary address
// changed. They go through the outbox like links do (queued in the Apply
// that makes the change, delivered and retried by the sender), under
// keyOutbox + "ntc_" + user id + "_" + a unique id, so that deleting the
// user finds them with a prefix scan.

// keyNoticeFlow is the flow key of every notice's outbox entry. No record
// is ever written under it: a notice belongs to no flow.
const keyNoticeFlow = "notice/"

// noticeRec is what a notice says, kept in its outbox entry until sent.
type noticeRec struct {
	UserID          string `json:"user_id"`
	To              string `json:"to"`
	NewEmailAddress string `json:"new_email_address,omitempty"`
	Device          string `json:"device,omitempty"`
	Locale          string `json:"locale,omitempty"`
	At              int64  `json:"at"`
}

// noticePrefix returns the outbox prefix of the notices of a user.
func noticePrefix(userID string) string { return keyOutbox + "ntc_" + userID + "_" }

// noticePut returns the op that queues a notice of kind to the user with
// userID.
func (a *Auth) noticePut(userID string, kind mailer.Kind, n noticeRec, now time.Time) store.Op {
	r := outboxRec{FlowKey: keyNoticeFlow, Kind: kind, Lease: worker.Lease{NextAt: ms(now), CreatedAt: ms(now)}, Notice: &n}
	return store.Put(noticePrefix(userID)+newID(""), encode(r), now.Add(2*sendGiveUp))
}

// setPrimary makes the verified address id the primary address of r and
// returns the ops that check the address and queue the notice to the
// previous primary address.
func (a *Auth) setPrimary(ctx context.Context, r *userRec, id string) ([]store.Op, error) {
	bad := paramValue("primary_email_address_id", "primary_email_address_id")
	if !validID(id, prefixEmail) || !slices.Contains(r.EmailAddressIDs, id) {
		return nil, bad
	}
	l, err := load[flowRec](ctx, a.st, keyEmail+id)
	if isNotFound(err) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if l.v.UserID != r.ID || l.v.Ver == nil || l.v.Ver.Status != string(VerificationVerified) {
		return nil, bad
	}
	ops := []store.Op{store.Check(l.key, l.raw)}
	now := a.now()
	if old, err := load[flowRec](ctx, a.st, keyEmail+r.PrimaryEmailAddressID); err == nil {
		ops = append(ops, a.noticePut(r.ID, mailer.KindPrimaryEmailChanged, noticeRec{UserID: r.ID, To: old.v.Address, Locale: a.cat.Match(r.Locale, old.v.Locale),
			NewEmailAddress: l.v.Address, Device: describeActivity(activityFrom(ctx)), At: ms(now)}, now))
	} else if !isNotFound(err) {
		return nil, err
	}
	r.PrimaryEmailAddressID = id
	return ops, nil
}

// deliverNotice claims the notice entry it as r and sends it.
func (s *sender) deliverNotice(it store.Item, r outboxRec, free func()) {
	a, n := s.a, r.Notice
	raw := encode(r)
	if err := a.st.Apply(s.ctx, store.Swap(it.Key, it.Value, raw, it.ExpiresAt)); err != nil {
		if !isConflict(err) {
			s.release(it.Key, it.Value, r, err)
		}
		return // claimed by another sender
	}
	msg, err := a.tpl.Render(r.Kind, mailer.Data{To: n.To, Link: a.url("/"), Brand: a.cfg.Brand,
		Messages: a.msgs(n.Locale), NewEmailAddress: n.NewEmailAddress, Device: n.Device, OccurredAt: fromMS(n.At)})
	s.transmit(s.hold(it.Key, raw, r, it.ExpiresAt), msg, err, secrets{}, free, func(r outboxRec) []store.Op {
		return a.emit(context.Background(), EventEmailCreated, n.UserID,
			emailEvent(&flowRec{Address: n.To, UserID: n.UserID}, r, "sent"), a.now())
	})
}
