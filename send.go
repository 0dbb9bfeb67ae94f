package magiclink

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// sendTimeout bounds one delivery attempt.
const sendTimeout = 30 * time.Second

// sender delivers messages off the request path, so a slow or failing
// mail server changes neither the timing nor the answer of a request.
type sender struct {
	a     *Auth
	queue chan job
	wg    sync.WaitGroup

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
}

type job struct {
	kind mailer.Kind
	data mailer.Data
}

func newSender(a *Auth) *sender {
	s := &sender{a: a, queue: make(chan job, 4096)}
	for range 4 {
		s.wg.Add(1)
		go s.run()
	}
	return s
}

// enqueue queues a message; after close it delivers it at once.
func (s *sender) enqueue(kind mailer.Kind, data mailer.Data) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.deliver(job{kind, data})
		return
	}
	s.queue <- job{kind, data}
}

func (s *sender) run() {
	defer s.wg.Done()
	for j := range s.queue {
		s.deliver(j)
	}
}

func (s *sender) deliver(j job) {
	msg, err := s.a.tpl.Render(j.kind, j.data)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		err = s.a.mail.Send(ctx, msg)
		cancel()
	}
	if err != nil {
		// Never log the message: it carries the link.
		s.a.log.Error("magiclink: sending email failed", slog.String("kind", string(j.kind)), slog.Any("error", err))
	}
}

// close stops accepting messages and waits for the queued ones.
func (s *sender) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	s.wg.Wait()
}
