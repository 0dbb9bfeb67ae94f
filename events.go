package magiclink

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// The event stream. Every state change that matters appends an event in
// the same Apply as the change itself (a transactional outbox): no change
// commits without its event, and no event without its change, whatever
// crashes. A change builds its event's ops with emit and adds them to its
// own; the Apply then goes through apply, which wakes the deliveries.
//
// An event is kept under keyEvent for Config.EventRetention (the audit
// trail, GET /v1/events), indexed by user under keyUserEvent, and queued,
// in the same Apply, once for each webhook endpoint whose filter takes it
// and once for the in-process subscribers if there are any (see
// webhooks.go). Keys hold the id with its hex digits inverted, so that
// listing a prefix in key order yields the newest event first.

// Store keys of the stream.
const (
	keyEvent     = "evt/"  // + inverted event id: eventRec
	keyUserEvent = "evtu/" // + user id + "/" + inverted event id: the event's type
	keyInstance  = "instance"
)

// EventType names what happened. The names are Clerk's.
type EventType string

// The event types.
const (
	EventUserCreated         EventType = "user.created"
	EventUserUpdated         EventType = "user.updated"
	EventUserDeleted         EventType = "user.deleted"
	EventSessionCreated      EventType = "session.created"
	EventSessionEnded        EventType = "session.ended"
	EventSessionRevoked      EventType = "session.revoked"
	EventSessionRemoved      EventType = "session.removed"
	EventEmailCreated        EventType = "email.created"
	EventEmailFailed         EventType = "email.failed"
	EventSignInTokenCreated  EventType = "sign_in_token.created"
	EventSignInTokenAccepted EventType = "sign_in_token.accepted"
	EventSignInTokenRevoked  EventType = "sign_in_token.revoked"
)

// EventTypes returns every event type, in a new slice each call.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

var eventTypes = []EventType{EventUserCreated, EventUserUpdated, EventUserDeleted,
	EventSessionCreated, EventSessionEnded, EventSessionRevoked, EventSessionRemoved,
	EventEmailCreated, EventEmailFailed,
	EventSignInTokenCreated, EventSignInTokenAccepted, EventSignInTokenRevoked}

// knownEventType reports whether t is one of the event types.
func knownEventType(t EventType) bool { return slices.Contains(eventTypes, t) }

// DefaultEventRetention is how long events are kept when
// Config.EventRetention is zero.
const DefaultEventRetention = 30 * 24 * time.Hour

// prefixEvent starts event ids.
const prefixEvent = "evt_"

// Event is one entry of the stream: what changed, when, and the object as
// the Backend API shows it after the change. It never holds a secret.
type Event struct {
	// ID is unique and sorts by time: "evt_" and 32 hex digits. Webhook
	// deliveries carry it as webhook-id.
	ID string
	// Type says what happened.
	Type EventType
	// Timestamp is when the change was made.
	Timestamp time.Time
	// InstanceID identifies the deployment (every Auth sharing a store).
	InstanceID string
	// UserID is the user the event concerns, if any.
	UserID string
	// Data is the object's JSON as the Backend API shows it: a user, a
	// session, a sign-in token or an email.
	Data json.RawMessage
	// ClientIP and UserAgent are the request's that caused the change,
	// when a request did.
	ClientIP  string
	UserAgent string
}

// eventRec is a stored event: the Event's fields.
type eventRec struct {
	ID         string          `json:"id"`
	Type       EventType       `json:"type"`
	Timestamp  int64           `json:"ts"`
	InstanceID string          `json:"instance_id"`
	UserID     string          `json:"user_id,omitempty"`
	Data       json.RawMessage `json:"data"`
	ClientIP   string          `json:"ip,omitempty"`
	UserAgent  string          `json:"ua,omitempty"`
}

func (r *eventRec) event() *Event {
	return &Event{ID: r.ID, Type: r.Type, Timestamp: fromMS(r.Timestamp), InstanceID: r.InstanceID,
		UserID: r.UserID, Data: r.Data, ClientIP: r.ClientIP, UserAgent: r.UserAgent}
}

// MarshalJSON encodes the event in Clerk's envelope, the body of its
// webhook deliveries and of the audit trail's entries:
// {data, object:"event", type, timestamp, instance_id, id,
// event_attributes:{http_request:{client_ip, user_agent}}}.
func (e *Event) MarshalJSON() ([]byte, error) {
	type httpRequest struct {
		ClientIP  string `json:"client_ip"`
		UserAgent string `json:"user_agent"`
	}
	type attributes struct {
		HTTPRequest *httpRequest `json:"http_request,omitempty"`
	}
	attrs := attributes{}
	if e.ClientIP != "" || e.UserAgent != "" {
		attrs.HTTPRequest = &httpRequest{e.ClientIP, e.UserAgent}
	}
	data := e.Data
	if data == nil {
		data = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Data            json.RawMessage `json:"data"`
		Object          string          `json:"object"`
		Type            EventType       `json:"type"`
		Timestamp       int64           `json:"timestamp"`
		InstanceID      string          `json:"instance_id"`
		ID              string          `json:"id"`
		EventAttributes attributes      `json:"event_attributes"`
	}{data, "event", e.Type, e.Timestamp.UnixMilli(), e.InstanceID, e.ID, attrs})
}

// emit returns the ops that append an event of type t, about data (the
// object as the Backend API shows it after the change) and the user with
// userID ("" for none), at now: the ops go into the same Apply as the
// change, which must then be made with apply so that deliveries start at
// once. ctx supplies the client IP and user agent of the request, if any.
// Each call makes a new event: call it again when an Apply is retried.
func (a *Auth) emit(ctx context.Context, t EventType, userID string, data any, now time.Time) []store.Op {
	raw, err := json.Marshal(data)
	if err != nil {
		panic("magiclink: encoding an event: " + err.Error())
	}
	id := newID(prefixEvent)
	rec := eventRec{ID: id, Type: t, Timestamp: ms(now), InstanceID: a.instanceID, UserID: userID, Data: raw}
	if ip, ok := ClientIPFrom(ctx); ok {
		rec.ClientIP = ip.String()
	}
	rec.UserAgent = userAgentFrom(ctx)
	inv := invertID(id)
	keep := now.Add(a.eventKeep())
	ops := make([]store.Op, 0, 2+len(a.deliver.endpoints))
	ops = append(ops, store.Insert(keyEvent+inv, encode(rec), keep))
	if userID != "" {
		ops = append(ops, store.Insert(keyUserEvent+userID+"/"+inv, []byte(t), keep))
	}
	return append(ops, a.deliver.queue(id, t, now)...)
}

// apply is st.Apply for changes that may carry events: after a commit it
// wakes the deliveries of the events among ops. Every Apply holding ops
// from emit goes through it.
func (a *Auth) apply(ctx context.Context, ops ...store.Op) error {
	if err := a.st.Apply(ctx, ops...); err != nil {
		return err
	}
	a.deliver.wake(ops)
	return nil
}

// eventKeep is how long a stored event is kept: its retention, and at
// least as long as a delivery may still need it.
func (a *Auth) eventKeep() time.Duration {
	return max(a.cfg.EventRetention, 2*deliveryGiveUp)
}

// invertID returns id with each hex digit d replaced by 15-d, so that
// newer ids sort first.
func invertID(id string) string {
	b := []byte(strings.TrimPrefix(id, prefixEvent))
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9':
			b[i] = "fedcba9876"[c-'0']
		case 'a' <= c && c <= 'f':
			b[i] = "543210"[c-'a']
		}
	}
	return string(b)
}

// eventIDOf returns the event id an inverted key suffix stands for.
func eventIDOf(inv string) string { return prefixEvent + invertID(inv) }

// userAgentKey is the context key of the request's user agent.
type userAgentKey struct{}

// maxUserAgent bounds the user agent kept with an event.
const maxUserAgent = 512

// withUserAgent puts the request's User-Agent in its context, for the
// events the request causes.
func withUserAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ua := r.UserAgent(); ua != "" {
			r = r.WithContext(context.WithValue(r.Context(), userAgentKey{}, truncate(ua, maxUserAgent)))
		}
		next.ServeHTTP(w, r)
	})
}

func userAgentFrom(ctx context.Context) string {
	s, _ := ctx.Value(userAgentKey{}).(string)
	return s
}

// instanceRec is the stored identity of the deployment.
type instanceRec struct {
	ID string `json:"id"`
}

// initInstance reads the deployment's id, creating it on first start.
func (a *Auth) initInstance(ctx context.Context) error {
	id, err := retryApplyOr(func() error { return store.ErrConflict }, func() (string, error) {
		l, err := load[instanceRec](ctx, a.st, keyInstance)
		if err == nil {
			return l.v.ID, nil
		}
		if !isNotFound(err) {
			return "", err
		}
		rec := instanceRec{ID: newID("ins_")}
		if err := a.st.Apply(ctx, store.Insert(keyInstance, encode(rec), time.Time{})); err != nil {
			return "", err // a conflict: another instance created it; read it
		}
		return rec.ID, nil
	})
	a.instanceID = id
	return err
}

// emailData is the data of email.created and email.failed: who the
// message went to and which it was, never its link or any secret.
type emailData struct {
	apiObject
	ToEmailAddress string  `json:"to_email_address"`
	EmailAddressID *string `json:"email_address_id"`
	UserID         *string `json:"user_id"`
	// Slug names the template, the message's kind.
	Slug     string `json:"slug"`
	Status   string `json:"status"`
	FlowID   string `json:"flow_id"`
	Attempts int    `json:"attempts"`
}

// emailEvent returns the data of an event about the outbox entry r of the
// flow f, in status "sent" or "failed".
func emailEvent(f *flowRec, r outboxRec, status string) *emailData {
	e := &emailData{apiObject: apiObject{"email", "ema_" + r.SendID}, ToEmailAddress: f.Address, UserID: strOrNil(f.UserID),
		Slug: string(r.Kind), Status: status, FlowID: f.ID, Attempts: r.Attempts}
	if f.Kind == kindEmail {
		e.EmailAddressID = strOrNil(f.ID)
	} else if f.UserID != "" {
		e.EmailAddressID = strOrNil(f.EmailAddressID)
	}
	return e
}
