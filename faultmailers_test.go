package magiclink_test

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

// Mailers that fail the way mail servers do, for the outbox's tests.
// Each records what it delivered in its embedded capture mailer.

// blockingMailer holds every Send until release is closed; entered
// receives each recipient as its Send begins.
type blockingMailer struct {
	*mailtest.Mailer
	entered chan string
	release chan struct{}
}

func (m *blockingMailer) Send(ctx context.Context, msg *mailer.Message) error {
	m.entered <- msg.To
	select {
	case <-m.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return m.Mailer.Send(ctx, msg)
}

// newBlockingMailer returns a blockingMailer whose entered holds up to n
// recipients unread.
func newBlockingMailer(n int) *blockingMailer {
	return &blockingMailer{Mailer: mailtest.New(), entered: make(chan string, n), release: make(chan struct{})}
}

// lostAnswer delivers every message, but while fail is set it then
// reports a temporary error, as when the connection drops after the mail
// server accepted the message and before its answer arrived.
type lostAnswer struct {
	*mailtest.Mailer
	fail atomic.Bool
}

func (m *lostAnswer) Send(ctx context.Context, msg *mailer.Message) error {
	if err := m.Mailer.Send(ctx, msg); err != nil || !m.fail.Load() {
		return err
	}
	return errors.New("read tcp 127.0.0.1:25: connection reset by peer")
}

func newLostAnswer() *lostAnswer { return &lostAnswer{Mailer: mailtest.New()} }
