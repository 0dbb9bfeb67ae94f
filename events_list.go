package magiclink

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// The audit trail: the events kept for Config.EventRetention, newest
// first, by user and by type.

// Limits of Events.List.
const (
	DefaultEventLimit = 10
	MaxEventLimit     = 500
	eventScanBudget   = 10000 // records read per page at most; a page may then be short, with a cursor
)

// Events reads the audit trail.
type Events struct{ a *Auth }

// EventQuery selects events for Events.List. Zero fields select all.
type EventQuery struct {
	// UserID keeps the events about this user (the user may be deleted).
	UserID string
	// Type keeps the events of this type.
	Type EventType
	// Since keeps the events at or after this time.
	Since time.Time
	// Limit is the most events returned: 1 to MaxEventLimit; zero means
	// DefaultEventLimit.
	Limit int
	// Cursor continues a listing: a previous page's NextCursor.
	Cursor string
}

// EventPage is one page of the audit trail, newest first.
type EventPage struct {
	Events []*Event
	// NextCursor, when not empty, fetches the next (older) page as
	// EventQuery.Cursor.
	NextCursor string
}

// MarshalJSON encodes the page as GET /v1/events serves it:
// {object:"list", data:[event…], next_cursor}.
func (p *EventPage) MarshalJSON() ([]byte, error) {
	evs := p.Events
	if evs == nil {
		evs = []*Event{}
	}
	return json.Marshal(struct {
		Object     string   `json:"object"`
		Data       []*Event `json:"data"`
		NextCursor *string  `json:"next_cursor"`
	}{"list", evs, strOrNil(p.NextCursor)})
}

// Get returns the event with id, or a resource_not_found error.
func (es *Events) Get(ctx context.Context, id string) (*Event, error) {
	if !validID(id, prefixEvent) {
		return nil, notFound("event")
	}
	l, err := load[eventRec](ctx, es.a.st, keyEvent+invertID(id))
	if isNotFound(err) || (err == nil && es.expired(&l.v)) {
		return nil, notFound("event")
	}
	if err != nil {
		return nil, err
	}
	return l.v.event(), nil
}

// expired reports whether an event is past the retention (it may still
// be stored for a delivery).
func (es *Events) expired(r *eventRec) bool {
	return !es.a.now().Before(fromMS(r.Timestamp).Add(es.a.cfg.EventRetention))
}

// List returns the events q selects, newest first.
func (es *Events) List(ctx context.Context, q EventQuery) (*EventPage, error) {
	if q.Limit == 0 {
		q.Limit = DefaultEventLimit
	}
	if q.Limit < 1 || q.Limit > MaxEventLimit {
		return nil, paramValue("limit", "param_range", "min", "1", "max", strconv.Itoa(MaxEventLimit))
	}
	if q.UserID != "" && !validID(q.UserID, prefixUser) {
		return nil, paramInvalid("user_id", "param_user_id")
	}
	if q.Type != "" && !knownEventType(q.Type) {
		return nil, paramValue("type", "param_event_type")
	}
	if q.Cursor != "" && !validID(q.Cursor, prefixEvent) {
		return nil, paramInvalid("cursor", "param_cursor")
	}
	prefix := keyEvent
	if q.UserID != "" {
		prefix = keyUserEvent + q.UserID + "/"
	}
	from := prefix
	if q.Cursor != "" {
		from = prefix + invertID(q.Cursor) + "\x00" // just after the cursor's key
	}
	page := &EventPage{}
	scanned := 0
	for {
		batch := min(max(2*q.Limit, 64), eventScanBudget-scanned)
		items, err := store.ListFrom(ctx, es.a.st, prefix, from, batch)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			scanned++
			last := eventIDOf(it.Key[len(prefix):])
			r, done, err := es.read(ctx, it, q, prefix)
			if err != nil {
				return nil, err
			}
			if done {
				return page, nil // older than Since or the retention: the end
			}
			if r != nil {
				page.Events = append(page.Events, r.event())
				if len(page.Events) == q.Limit {
					page.NextCursor = last
					return page, nil
				}
			}
			from = it.Key + "\x00"
		}
		if len(items) < batch {
			return page, nil
		}
		if scanned >= eventScanBudget {
			// Read enough for one request: the caller continues from here.
			page.NextCursor = eventIDOf(items[len(items)-1].Key[len(prefix):])
			return page, nil
		}
	}
}

// read returns the event a listed record stands for if q selects it (nil
// if not), and done when the record is older than q.Since or the
// retention, so that no later record is selected either.
func (es *Events) read(ctx context.Context, it store.Item, q EventQuery, prefix string) (r *eventRec, done bool, err error) {
	if prefix != keyEvent {
		// A user's index: the value is the type, the event is read only
		// when the type matches.
		if q.Type != "" && EventType(it.Value) != q.Type {
			return nil, false, nil
		}
		l, err := load[eventRec](ctx, es.a.st, keyEvent+it.Key[len(prefix):])
		if isNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		r = &l.v
	} else {
		r = new(eventRec)
		if err := json.Unmarshal(it.Value, r); err != nil {
			return nil, false, err
		}
	}
	if es.expired(r) || (!q.Since.IsZero() && fromMS(r.Timestamp).Before(q.Since)) {
		return nil, true, nil
	}
	if q.Type != "" && r.Type != q.Type {
		return nil, false, nil
	}
	return r, false, nil
}

// listEvents answers GET /events?user_id=&type=&since=&limit=&cursor=:
// since is Unix milliseconds.
func (a *Auth) listEvents(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q := EventQuery{UserID: v.Get("user_id"), Type: EventType(v.Get("type")), Cursor: v.Get("cursor")}
	if s := v.Get("since"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return paramInvalid("since", "param_unix_ms")
		}
		q.Since = time.UnixMilli(n)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxEventLimit {
			return paramValue("limit", "param_range", "min", "1", "max", strconv.Itoa(MaxEventLimit))
		}
		q.Limit = n
	}
	page, err := a.Events.List(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
