package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// inboxSize bounds how many messages the dev inbox keeps.
const inboxSize = 200

// inbox is the development inbox: a mailer.Mailer that keeps the last
// messages sent in memory, and the pages at /dev/mail that show them.
// It shows every link it receives, so it must never be part of a
// production app.
type inbox struct {
	mu      sync.Mutex
	msgs    []*inboxMessage // oldest first
	count   int             // messages ever received; numbers them
	changed chan struct{}   // closed and replaced at every new message
}

// inboxMessage is one message the inbox received.
type inboxMessage struct {
	N      int
	SentAt time.Time
	*mailer.Message
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{})} }

// Send keeps a copy of msg.
func (in *inbox) Send(_ context.Context, msg *mailer.Message) error {
	m := *msg
	in.mu.Lock()
	defer in.mu.Unlock()
	in.count++
	in.msgs = append(in.msgs, &inboxMessage{N: in.count, SentAt: time.Now(), Message: &m})
	if len(in.msgs) > inboxSize {
		in.msgs = in.msgs[len(in.msgs)-inboxSize:]
	}
	close(in.changed)
	in.changed = make(chan struct{})
	return nil
}

// messages returns the messages kept, newest first, how many were ever
// received, and a channel closed when the next one arrives.
func (in *inbox) messages() ([]*inboxMessage, int, <-chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]*inboxMessage, len(in.msgs))
	for i, m := range in.msgs {
		out[len(out)-1-i] = m
	}
	return out, in.count, in.changed
}

// wait blocks until more than n messages were ever received, d passes or
// ctx ends, and returns the count then.
func (in *inbox) wait(ctx context.Context, n int, d time.Duration) int {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		_, count, changed := in.messages()
		if count > n {
			return count
		}
		select {
		case <-changed:
		case <-t.C:
			return count
		case <-ctx.Done():
			return count
		}
	}
}

// segment is a piece of a text body: plain text, or a link.
type segment struct{ Text, URL string }

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Segments splits the text body so that its links can be made clickable.
func (m *inboxMessage) Segments() []segment {
	var out []segment
	prev := 0
	for _, loc := range linkRE.FindAllStringIndex(m.Text, -1) {
		link := m.Text[loc[0]:loc[1]]
		out = append(out, segment{Text: m.Text[prev:loc[0]]}, segment{Text: link, URL: link})
		prev = loc[1]
	}
	return append(out, segment{Text: m.Text[prev:]})
}

// handleInbox serves /dev/mail: every message kept, newest first.
func (s *site) handleInbox(w http.ResponseWriter, r *http.Request) {
	msgs, count, _ := s.inbox.messages()
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, "inbox.html", "Dev inbox", struct {
		Messages []*inboxMessage
		Count    int
	}{msgs, count})
}

// handleMessage serves /dev/mail/{n}: one message.
func (s *site) handleMessage(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("n"))
	msgs, _, _ := s.inbox.messages()
	for _, m := range msgs {
		if m.N == n {
			w.Header().Set("Referrer-Policy", "no-referrer")
			s.render(w, r, "message.html", m.Subject, m)
			return
		}
	}
	s.notFound(w, r)
}

// handleInboxWait serves /dev/mail/wait?after=N, a long poll that answers
// {"count": C} once more than N messages were received (or after 25 s),
// so the inbox page can refresh itself.
func (s *site) handleInboxWait(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	count := s.inbox.wait(r.Context(), after, 25*time.Second)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]int{"count": count})
}
