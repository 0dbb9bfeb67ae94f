package magiclink_test

import (
	"context"
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

// smtpServer is a tiny SMTP server on loopback for the outbox tests. In
// mode "up" it accepts every message; "down" answers the greeting with
// 421 (a temporary failure, as a server in maintenance does); "reject"
// refuses every recipient with 550 (a permanent failure).
type smtpServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	mode     string
	sessions int // connections accepted
	received []smtpMessage
	changed  chan struct{} // closed and replaced when received grows
}

// smtpMessage is a message the server accepted.
type smtpMessage struct {
	To   string
	Data string // as received, dot-unstuffed
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, mode: "up", changed: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) setMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// mailer returns an SMTP mailer that sends to s.
func (s *smtpServer) mailer(t *testing.T) *smtp.Mailer {
	t.Helper()
	m, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: s.ln.Addr().(*net.TCPAddr).Port,
		From: "App <app@example.com>", TLS: smtp.NoTLS, Timeout: 10 * time.Second, HELO: "client.test"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.received...)
}

// wait blocks until the server accepted at least n messages and returns
// them all.
func (s *smtpServer) wait(t *testing.T, n int) []smtpMessage {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got, changed := s.received, s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return s.messages()
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("SMTP server: waited 10s for message %d, got %d", n, len(got))
		}
	}
}

func (s *smtpServer) serve(conn net.Conn) {
	s.mu.Lock()
	mode := s.mode
	s.sessions++
	s.mu.Unlock()
	tp := textproto.NewConn(conn)
	if mode == "down" {
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
			if mode == "reject" {
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
			s.received = append(s.received, smtpMessage{To: to, Data: string(data)})
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			tp.PrintfLine("250 2.0.0 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}

var tokenInLink = regexp.MustCompile(`/verify\?token=([A-Za-z0-9_-]{43})`)

// token returns the magic-link token in a message as a mail client would
// show it: the text part, decoded.
func (m smtpMessage) token(t *testing.T) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var text string
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(msg.Body, params["boundary"])
		p, err := r.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		text = string(b)
	} else {
		t.Fatalf("message is %s, want multipart/alternative", mt)
	}
	sub := tokenInLink.FindStringSubmatch(text)
	if sub == nil {
		t.Fatalf("no link in the message's text part:\n%s", text)
	}
	return sub[1]
}

// waitOutbox blocks until the outbox entry of the flow with id satisfies
// cond (raw is nil when there is none), without polling: it wakes on
// each change of the entry.
func waitOutbox(t *testing.T, a interface {
	Get(context.Context, string) ([]byte, error)
	Watch(context.Context, string) (<-chan struct{}, error)
}, key string, cond func(raw []byte) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	changes, err := a.Watch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for {
		raw, _ := a.Get(ctx, key)
		if cond(raw) {
			return
		}
		select {
		case <-changes:
		case <-ctx.Done():
			t.Fatalf("outbox entry %s: condition not met within 10s; it is %s", key, raw)
		}
	}
}
