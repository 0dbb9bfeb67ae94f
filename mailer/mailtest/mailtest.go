// Package mailtest provides a Mailer that captures messages in memory, for
// tests: wait for the n-th message without sleeping, read its link, make
// sends fail.
package mailtest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/magiclink-go/magiclink/mailer"
)

// Mailer captures the messages sent through it. It is safe for concurrent
// use. Every message it returns is a copy.
type Mailer struct {
	mu      sync.Mutex
	msgs    []*mailer.Message
	err     error
	changed chan struct{} // closed and replaced whenever msgs grows
}

// New returns an empty Mailer.
func New() *Mailer {
	return &Mailer{changed: make(chan struct{})}
}

// Send validates msg like a real mailer (an invalid message is an error
// wrapping mailer.ErrInvalidMessage) and captures a copy of it. After
// FailWith(err) it captures nothing and returns err.
func (m *Mailer) Send(ctx context.Context, msg *mailer.Message) error {
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("mailtest: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *msg
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.msgs = append(m.msgs, &c)
	close(m.changed)
	m.changed = make(chan struct{})
	return nil
}

// Messages returns the messages captured, oldest first.
func (m *Mailer) Messages() []*mailer.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copies()
}

func (m *Mailer) copies() []*mailer.Message {
	out := make([]*mailer.Message, len(m.msgs))
	for i, msg := range m.msgs {
		c := *msg
		out[i] = &c
	}
	return out
}

// Last returns the last message captured, or nil.
func (m *Mailer) Last() *mailer.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		return nil
	}
	c := *m.msgs[len(m.msgs)-1]
	return &c
}

// Wait blocks until at least n messages have been captured, then returns
// them all, oldest first: the n-th is the result's [n-1]. It returns early,
// with an error wrapping ctx's, when ctx is done.
func (m *Mailer) Wait(ctx context.Context, n int) ([]*mailer.Message, error) {
	for {
		m.mu.Lock()
		got, changed := len(m.msgs), m.changed
		if got >= n {
			msgs := m.copies()
			m.mu.Unlock()
			return msgs, nil
		}
		m.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("mailtest: waiting for message %d, %d captured: %w", n, got, ctx.Err())
		}
	}
}

// LinkFor returns the link of the last message captured for the address to
// (compared case-insensitively), or "" if there is none.
func (m *Mailer) LinkFor(to string) string { return m.lastFor(to).Link }

// CodeFor returns the one-time code of the last message captured for the
// address to (compared case-insensitively), or "" if there is none or it
// carries no code.
func (m *Mailer) CodeFor(to string) string { return m.lastFor(to).Code }

// lastFor returns a copy of the last message captured for to, or an empty
// message.
func (m *Mailer) lastFor(to string) mailer.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if strings.EqualFold(m.msgs[i].To, to) {
			return *m.msgs[i]
		}
	}
	return mailer.Message{}
}

// FailWith makes every following Send return err and capture nothing;
// FailWith(nil) makes sends succeed again.
func (m *Mailer) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Reset forgets the messages captured and any error set by FailWith.
// Waiters keep waiting for their count among the messages captured after
// Reset.
func (m *Mailer) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = nil
	m.err = nil
}
