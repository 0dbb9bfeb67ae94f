// Package deliverytest has what tests of email delivery share across
// modules: a small SMTP server on loopback that can be slow, down, refuse
// recipients or hold messages, and a wait on a store key that wakes on
// each change instead of polling.
package deliverytest

import (
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer/smtp"
)

// Modes of an SMTPServer.
const (
	Up     = "up"     // accepts every message
	Down   = "down"   // answers the greeting with 421, as a server in maintenance does
	Reject = "reject" // refuses every recipient with 550, a permanent failure
)

// SMTPServer is a tiny SMTP server on loopback.
type SMTPServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	mode     string
	delay    time.Duration // before answering each message's data
	held     chan struct{} // when not nil, each message's data waits for it to close
	dropped  chan struct{} // closed and replaced by Drop
	conns    map[net.Conn]bool
	sessions int // connections accepted
	entered  int // messages whose data was read
	received []Message
	changed  chan struct{} // closed and replaced when entered or received grows
}

// Message is a message the server accepted.
type Message struct {
	To   string
	Data string // as received, dot-unstuffed
}

// StartSMTP starts a server in mode Up, stopped when t ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{ln: ln, mode: Up, changed: make(chan struct{}), dropped: make(chan struct{}), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, conn)
					s.mu.Unlock()
					conn.Close()
				}()
				conn.SetDeadline(time.Now().Add(time.Minute))
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.Drop()
		s.wg.Wait()
	})
	return s
}

// SetMode sets the mode of the connections accepted from now on.
func (s *SMTPServer) SetMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// SetDelay makes the server wait d after reading each message's data
// before it answers: a slow server.
func (s *SMTPServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hold makes each message's data wait, unanswered, until Release or Drop.
func (s *SMTPServer) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = make(chan struct{})
}

// Release lets the held messages, and those to come, be accepted.
func (s *SMTPServer) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// Drop closes every open connection without answering, as a server that
// crashed does; a held message is not accepted.
func (s *SMTPServer) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	close(s.dropped)
	s.dropped = make(chan struct{})
}

// Addr returns the server's address, host:port.
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Mailer returns an SMTP mailer that sends to s.
func (s *SMTPServer) Mailer(t testing.TB) *smtp.Mailer {
	t.Helper()
	return MailerAt(t, s.Addr())
}

// MailerAt returns an SMTP mailer that sends to the test server at addr
// (another process's SMTPServer.Addr).
func MailerAt(t testing.TB, addr string) *smtp.Mailer {
	t.Helper()
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := smtp.New(smtp.Config{Host: tcp.IP.String(), Port: tcp.Port,
		From: "App <app@example.com>", TLS: smtp.NoTLS, Timeout: 10 * time.Second, HELO: "client.test"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.received...)
}

// Wait blocks until the server accepted at least n messages and returns
// them all.
func (s *SMTPServer) Wait(t testing.TB, n int) []Message {
	t.Helper()
	s.until(t, func() bool { return len(s.received) >= n }, "accepted message", n)
	return s.Messages()
}

// WaitEntered blocks until the server read the data of at least n
// messages, accepted or not (held, being delayed).
func (s *SMTPServer) WaitEntered(t testing.TB, n int) {
	t.Helper()
	s.until(t, func() bool { return s.entered >= n }, "message data", n)
}

// until waits, for up to a minute, for cond (called with s.mu held).
func (s *SMTPServer) until(t testing.TB, cond func() bool, what string, n int) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("SMTP server: waited a minute for %s %d", what, n)
		}
	}
}

// bump wakes the waiters; s.mu is held.
func (s *SMTPServer) bump() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *SMTPServer) serve(conn net.Conn) {
	s.mu.Lock()
	mode := s.mode
	s.sessions++
	s.mu.Unlock()
	tp := textproto.NewConn(conn)
	if mode == Down {
		tp.PrintfLine("421 4.3.2 test.local is down for maintenance")
		return
	}
	tp.PrintfLine("220 test.local ESMTP")
	var to string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			tp.PrintfLine("250-test.local")
			tp.PrintfLine("250 8BITMIME")
		case "HELO", "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "MAIL":
			tp.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			if mode == Reject {
				tp.PrintfLine("550 5.1.1 no such mailbox")
				continue
			}
			_, addr, _ := strings.Cut(arg, "<")
			to, _, _ = strings.Cut(addr, ">")
			tp.PrintfLine("250 2.1.5 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.entered++
			s.bump()
			delay, held, dropped := s.delay, s.held, s.dropped
			s.mu.Unlock()
			if held != nil {
				select {
				case <-held:
				case <-dropped:
					return
				}
			}
			time.Sleep(delay) // the server is slow: part of the fault, not of the test's timing
			s.mu.Lock()
			if !s.conns[conn] { // dropped meanwhile
				s.mu.Unlock()
				return
			}
			s.received = append(s.received, Message{To: to, Data: string(data)})
			s.bump()
			s.mu.Unlock()
			if err := tp.PrintfLine("250 2.0.0 queued"); err != nil {
				return
			}
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}

var tokenInLink = regexp.MustCompile(`/verify\?token=([A-Za-z0-9_-]{43})`)

// Token returns the magic-link token in m as a mail client would show
// it: from the text part, decoded.
func (m Message) Token(t testing.TB) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("message is %s, want multipart/alternative", mt)
	}
	p, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart() // decodes quoted-printable
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(p)
	sub := tokenInLink.FindStringSubmatch(string(b))
	if sub == nil {
		t.Fatalf("no link in the message's text part:\n%s", b)
	}
	return sub[1]
}
