package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
)

const (
	testUser = "mailer@example.com"
	testPass = "s3cret-pa55word"
	testLink = "https://app.example/auth/verify?token=Zm9vYmFyYmF6cXV4&x=1"
)

// env is a test server and a Mailer pointed at it.
type env struct {
	srv  *testServer
	m    *Mailer
	cert tls.Certificate
}

func newEnv(t *testing.T, opts serverOpts, mod func(*Config)) *env {
	t.Helper()
	cert, pool := newCert(t)
	opts.cert = cert
	srv := startServer(t, opts)
	cfg := Config{
		Host:      "127.0.0.1",
		Port:      srv.port,
		From:      "Example <no-reply@example.com>",
		TLSConfig: &tls.Config{RootCAs: pool},
		Timeout:   30 * time.Second,
		HELO:      "client.test",
	}
	if opts.user != "" {
		cfg.Username, cfg.Password = opts.user, opts.pass
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, m: m, cert: cert}
}

// checkDelivered asserts that the server received exactly one message,
// msg, intact, and returns what it received.
func checkDelivered(t *testing.T, srv *testServer, msg *mailer.Message) received {
	t.Helper()
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.from != "no-reply@example.com" || !cmp.Equal(r.rcpts, []string{msg.To}) {
		t.Errorf("envelope: MAIL FROM %q, RCPT TO %q", r.from, r.rcpts)
	}
	p, err := mimetest.Parse(r.data)
	if err != nil {
		t.Fatalf("parse received message: %v\n%s", err, r.data)
	}
	if diff := cmp.Diff(mimetest.HeaderKeys, p.Keys()); diff != "" {
		t.Errorf("header fields (-want +got):\n%s", diff)
	}
	if a, err := mail.ParseAddress(p.Header.Get("From")); err != nil || a.Name != "Example" || a.Address != "no-reply@example.com" {
		t.Errorf("From = %q", p.Header.Get("From"))
	}
	if a, err := mail.ParseAddress(p.Header.Get("To")); err != nil || a.Address != msg.To {
		t.Errorf("To = %q", p.Header.Get("To"))
	}
	if s, _ := p.Subject(); s != msg.Subject {
		t.Errorf("Subject = %q, want %q", s, msg.Subject)
	}
	if d, err := p.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %q (%v)", p.Header.Get("Date"), err)
	}
	if !strings.Contains(p.Text, testLink) {
		t.Errorf("text/plain part lacks the link:\n%s", p.Text)
	}
	if !strings.Contains(p.HTML, `href="`+html.EscapeString(testLink)+`"`) {
		t.Errorf("text/html part lacks the link:\n%s", p.HTML)
	}
	return r
}

func TestSendStartTLSAuth(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true, user: testUser, pass: testPass}, nil)
	msg := mimetest.Rendered(t, testLink)
	if err := e.m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	r := checkDelivered(t, e.srv, msg)
	if !r.tls || r.auth != testUser {
		t.Errorf("delivered with TLS %t, authenticated as %q", r.tls, r.auth)
	}
	auths := e.srv.authAttempts()
	if len(auths) != 1 || !auths[0].tls || !auths[0].ok {
		t.Errorf("AUTH attempts %+v, want one successful over TLS", auths)
	}
	if msg.From != "" {
		t.Errorf("Send changed the caller's message: From = %q", msg.From)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	e := newEnv(t, serverOpts{implicitTLS: true, user: testUser, pass: testPass}, func(c *Config) { c.TLS = ImplicitTLS })
	msg := mimetest.Rendered(t, testLink)
	if err := e.m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if r := checkDelivered(t, e.srv, msg); !r.tls || r.auth != testUser {
		t.Errorf("delivered with TLS %t, authenticated as %q", r.tls, r.auth)
	}
	if auths := e.srv.authAttempts(); len(auths) != 1 || !auths[0].tls {
		t.Errorf("AUTH attempts %+v, want one over TLS", auths)
	}
}

func TestSendTLSPolicies(t *testing.T) {
	tests := []struct {
		name     string
		offer    bool // the server offers STARTTLS
		policy   TLSPolicy
		auth     bool
		wantTLS  bool
		wantFail bool
	}{
		{"mandatory, offered", true, StartTLSMandatory, true, true, false},
		{"mandatory, not offered", false, StartTLSMandatory, true, false, true},
		{"opportunistic, offered", true, StartTLSOpportunistic, true, true, false},
		{"opportunistic, not offered, loopback", false, StartTLSOpportunistic, true, false, false},
		{"none, offered", true, NoTLS, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := serverOpts{startTLS: tt.offer}
			if tt.auth {
				opts.user, opts.pass = testUser, testPass
			}
			e := newEnv(t, opts, func(c *Config) { c.TLS = tt.policy })
			msg := mimetest.Rendered(t, testLink)
			err := e.m.Send(t.Context(), msg)
			if tt.wantFail {
				var se *Error
				if !errors.Is(err, ErrNoStartTLS) || !errors.As(err, &se) || se.Op != "starttls" {
					t.Fatalf("Send() = %v, want an *Error wrapping ErrNoStartTLS", err)
				}
				if mailer.IsPermanent(err) {
					t.Error("a missing STARTTLS is reported permanent")
				}
				if n := len(e.srv.authAttempts()); n != 0 {
					t.Errorf("%d AUTH attempts without TLS", n)
				}
				if n := len(e.srv.messages()); n != 0 {
					t.Errorf("%d messages delivered without TLS", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send() = %v", err)
			}
			if r := checkDelivered(t, e.srv, msg); r.tls != tt.wantTLS {
				t.Errorf("delivered with TLS %t, want %t", r.tls, tt.wantTLS)
			}
		})
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true, user: testUser, pass: testPass}, func(c *Config) { c.TLSConfig = nil })
	err := e.m.Send(t.Context(), mimetest.Rendered(t, testLink))
	var se *Error
	if !errors.As(err, &se) || se.Op != "starttls" || mailer.IsPermanent(err) {
		t.Fatalf("Send() = %v, want a temporary starttls *Error", err)
	}
	if n := len(e.srv.authAttempts()); n != 0 {
		t.Errorf("%d AUTH attempts after a failed handshake", n)
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name          string
		replies       map[string]string
		password      string // "" is the right one
		wantOp        string
		wantCode      int
		wantPermanent bool
	}{
		{"greeting 421", map[string]string{"GREETING": "421 4.3.2 busy, try later"}, "", "greeting", 421, false},
		{"greeting 554", map[string]string{"GREETING": "554 5.7.1 go away"}, "", "greeting", 554, true},
		{"wrong password", nil, "wrong", "auth", 535, true},
		{"auth 454", map[string]string{"AUTH": "454 4.7.0 temporary authentication failure"}, "", "auth", 454, false},
		{"mail 451", map[string]string{"MAIL": "451 4.3.0 try again later"}, "", "mail", 451, false},
		{"mail 550", map[string]string{"MAIL": "550 5.7.1 sender rejected"}, "", "mail", 550, true},
		{"rcpt 450", map[string]string{"RCPT": "450 4.2.1 mailbox busy"}, "", "rcpt", 450, false},
		{"rcpt 550", map[string]string{"RCPT": "550 5.1.1 no such user"}, "", "rcpt", 550, true},
		{"data 554", map[string]string{"DATA": "554 5.5.1 no valid recipients"}, "", "data", 554, true},
		{"end of data 452", map[string]string{"DATA-END": "452 4.3.1 insufficient storage"}, "", "data", 452, false},
		{"end of data 552", map[string]string{"DATA-END": "552 5.3.4 message too big"}, "", "data", 552, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, serverOpts{startTLS: true, user: testUser, pass: testPass, replies: tt.replies}, func(c *Config) {
				if tt.password != "" {
					c.Password = tt.password
				}
			})
			err := e.m.Send(t.Context(), mimetest.Rendered(t, testLink))
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Send() = %v, want an *Error", err)
			}
			if se.Op != tt.wantOp || se.Code != tt.wantCode || se.Server != fmt.Sprintf("127.0.0.1:%d", e.srv.port) {
				t.Errorf("Send() = %#v, want op %q, code %d", se, tt.wantOp, tt.wantCode)
			}
			if got := mailer.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %t, want %t", err, got, tt.wantPermanent)
			}
			for _, secret := range []string{testPass, "Zm9vYmFyYmF6cXV4"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a secret", err)
				}
			}
			if n := len(e.srv.messages()); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m, err := New(Config{Host: "127.0.0.1", Port: port, From: "no-reply@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), mimetest.Rendered(t, testLink))
	var se *Error
	if !errors.As(err, &se) || se.Op != "dial" || se.Code != 0 {
		t.Fatalf("Send() = %v, want a dial *Error", err)
	}
	if mailer.IsPermanent(err) {
		t.Error("a refused connection is reported permanent")
	}
}

func TestSendCancel(t *testing.T) {
	for _, point := range []string{"GREETING", "STARTTLS", "RCPT", "DATA-END"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t, serverOpts{startTLS: true, hangAt: point}, nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- e.m.Send(ctx, mimetest.Rendered(t, testLink)) }()
			if got := <-e.srv.hung; got != point {
				t.Fatalf("server hung at %q", got)
			}
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Send() = %v, want context.Canceled", err)
			}
			if mailer.IsPermanent(err) {
				t.Error("cancellation is reported permanent")
			}
		})
	}

	t.Run("before sending", func(t *testing.T) {
		e := newEnv(t, serverOpts{startTLS: true}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := e.m.Send(ctx, mimetest.Rendered(t, testLink)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send() = %v, want context.Canceled", err)
		}
		if n := e.srv.connections(); n != 0 {
			t.Errorf("%d connections with a cancelled context", n)
		}
	})
}

func TestSendTimeout(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true, hangAt: "GREETING"}, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	err := e.m.Send(t.Context(), mimetest.Rendered(t, testLink))
	if !errors.Is(err, context.DeadlineExceeded) || mailer.IsPermanent(err) {
		t.Fatalf("Send() = %v, want a temporary context.DeadlineExceeded", err)
	}
}

func TestSendInvalidMessage(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true}, nil)
	for _, change := range []func(*mailer.Message){
		func(m *mailer.Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" },
		func(m *mailer.Message) { m.To = "ada@example.com>\r\nRCPT TO:<eve@example.com" },
		func(m *mailer.Message) { m.From = "x@example.com\r\nRCPT TO:<eve@example.com>" },
		func(m *mailer.Message) { m.Subject = "hi\nBcc: eve@example.com" },
		func(m *mailer.Message) { m.Text = "" },
	} {
		msg := mimetest.Rendered(t, testLink)
		change(msg)
		err := e.m.Send(t.Context(), msg)
		if !errors.Is(err, mailer.ErrInvalidMessage) || !mailer.IsPermanent(err) {
			t.Errorf("Send(%+v) = %v, want a permanent ErrInvalidMessage", msg, err)
		}
	}
	if err := e.m.Send(t.Context(), nil); !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Errorf("Send(nil) = %v", err)
	}
	if n := e.srv.connections(); n != 0 {
		t.Errorf("%d connections for invalid messages", n)
	}
}

func TestSendDotsAndLongLines(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true}, nil)
	msg := mimetest.Rendered(t, testLink)
	msg.Text = ".\n..\n. leading dot\n" + strings.Repeat("long line ", 200) + "\n" + testLink + "\n"
	msg.From = "Other Sender <other@example.org>"
	if err := e.m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := e.srv.messages()
	if len(got) != 1 || got[0].from != "other@example.org" {
		t.Fatalf("received %+v", got)
	}
	p, err := mimetest.Parse(got[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != msg.Text {
		t.Errorf("text (-want +got):\n%s", cmp.Diff(msg.Text, p.Text))
	}
}

func TestSendConcurrent(t *testing.T) {
	e := newEnv(t, serverOpts{startTLS: true, user: testUser, pass: testPass}, nil)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			msg := mimetest.Rendered(t, testLink)
			msg.To = fmt.Sprintf("user%d@example.com", i)
			errs <- e.m.Send(t.Context(), msg)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := e.srv.messages()
	ids, rcpts := map[string]bool{}, map[string]bool{}
	for _, r := range got {
		p, err := mimetest.Parse(r.data)
		if err != nil {
			t.Fatal(err)
		}
		ids[p.Header.Get("Message-Id")] = true
		rcpts[r.rcpts[0]] = true
	}
	if len(got) != n || len(ids) != n || len(rcpts) != n {
		t.Errorf("received %d messages, %d Message-IDs, %d recipients; want %d each", len(got), len(ids), len(rcpts), n)
	}
}

func TestNew(t *testing.T) {
	valid := Config{Host: "smtp.example.com", From: "Example <no-reply@example.com>"}
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"no host", func(c *Config) { c.Host = "" }, false},
		{"host with a path", func(c *Config) { c.Host = "smtp.example.com/x" }, false},
		{"host with a port", func(c *Config) { c.Host = "smtp.example.com:587" }, false},
		{"bracketed IPv6 host", func(c *Config) { c.Host = "[::1]" }, false},
		{"IPv6 host", func(c *Config) { c.Host = "::1" }, true},
		{"no from", func(c *Config) { c.From = "" }, false},
		{"from with CRLF", func(c *Config) { c.From = "a@example.com\r\nBcc: b@example.com" }, false},
		{"from not an address", func(c *Config) { c.From = "nobody" }, false},
		{"negative port", func(c *Config) { c.Port = -1 }, false},
		{"port too large", func(c *Config) { c.Port = 70000 }, false},
		{"unknown policy", func(c *Config) { c.TLS = NoTLS + 1 }, false},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, false},
		{"HELO with a space", func(c *Config) { c.HELO = "a b" }, false},
		{"HELO with CRLF", func(c *Config) { c.HELO = "a\r\nMAIL FROM:<x>" }, false},
		{"password in clear text to a remote host", func(c *Config) { c.TLS, c.Username = NoTLS, "u" }, false},
		{"password in clear text to loopback", func(c *Config) { c.TLS, c.Username, c.Host = NoTLS, "u", "localhost" }, true},
		{"no TLS without password", func(c *Config) { c.TLS = NoTLS }, true},
	}
	for _, tt := range tests {
		cfg := valid
		tt.change(&cfg)
		_, err := New(cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%s: New() = %v, want ok %t", tt.name, err, tt.ok)
		}
	}

	for policy, port := range map[TLSPolicy]int{StartTLSMandatory: 587, StartTLSOpportunistic: 587, ImplicitTLS: 465, NoTLS: 25} {
		cfg := valid
		cfg.TLS = policy
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if m.cfg.Port != port || m.cfg.Timeout != 30*time.Second || m.cfg.TLSConfig.ServerName != cfg.Host || m.cfg.HELO == "" {
			t.Errorf("%v: defaults %+v", policy, m.cfg)
		}
	}

	// The caller's TLS config is copied, not changed.
	own := &tls.Config{MinVersion: tls.VersionTLS13}
	cfg := valid
	cfg.TLSConfig = own
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if own.ServerName != "" || m.cfg.TLSConfig.ServerName != "smtp.example.com" || m.cfg.TLSConfig.MinVersion != tls.VersionTLS13 {
		t.Errorf("TLS config: caller's %+v, mailer's %+v", own, m.cfg.TLSConfig)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Config
	}{
		{"smtp://user:pass@smtp.example.com:587", Config{Host: "smtp.example.com", Port: 587, Username: "user", Password: "pass", TLS: StartTLSMandatory}},
		{"smtp://smtp.example.com", Config{Host: "smtp.example.com", TLS: StartTLSMandatory}},
		{"smtp://smtp.example.com:25/", Config{Host: "smtp.example.com", Port: 25, TLS: StartTLSMandatory}},
		{"smtp://u%40example.com:p%40ss%2Fword@10.0.0.5:2525", Config{Host: "10.0.0.5", Port: 2525, Username: "u@example.com", Password: "p@ss/word", TLS: StartTLSMandatory}},
		{"smtp://localhost:1025", Config{Host: "localhost", Port: 1025, TLS: StartTLSOpportunistic}},
		{"smtp://127.0.0.1:1025", Config{Host: "127.0.0.1", Port: 1025, TLS: StartTLSOpportunistic}},
		{"smtp://[::1]:1025", Config{Host: "::1", Port: 1025, TLS: StartTLSOpportunistic}},
		{"smtp://mail.localhost", Config{Host: "mail.localhost", TLS: StartTLSOpportunistic}},
		{"smtps://user:pass@smtp.example.com", Config{Host: "smtp.example.com", Username: "user", Password: "pass", TLS: ImplicitTLS}},
		{"smtps://localhost:465", Config{Host: "localhost", Port: 465, TLS: ImplicitTLS}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.url)
		if err != nil {
			t.Errorf("ParseURL(%q) = %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.url, diff)
		}
	}

	for _, bad := range []string{
		"", "smtp://", "http://smtp.example.com", "smtp:smtp.example.com",
		"smtp://smtp.example.com:0", "smtp://smtp.example.com:99999", "smtp://smtp.example.com:x",
		"smtp://smtp.example.com/path", "smtp://smtp.example.com?tls=none", "smtp://smtp.example.com#f",
		"smtp://user:pa ss@smtp.example.com\x7f",
	} {
		_, err := ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) = nil error", bad)
			continue
		}
		if strings.Contains(err.Error(), "pa ss") {
			t.Errorf("ParseURL error %q shows the password", err)
		}
	}
}

func TestFromURL(t *testing.T) {
	m, err := FromURL("smtps://user:pass@smtp.example.com", "Example <no-reply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Port != 465 || m.cfg.TLS != ImplicitTLS || m.from != "Example <no-reply@example.com>" {
		t.Errorf("FromURL: %+v", m.cfg)
	}
	if _, err := FromURL("smtp://smtp.example.com", ""); err == nil {
		t.Error("FromURL without a sender = nil error")
	}
	if _, err := FromURL("ftp://x", "no-reply@example.com"); err == nil {
		t.Error("FromURL(ftp://) = nil error")
	}

	// End to end: a loopback smtp:// URL goes without STARTTLS when the
	// server does not offer it, and authenticates.
	e := newEnv(t, serverOpts{user: testUser, pass: testPass}, nil)
	m, err = FromURL(fmt.Sprintf("smtp://%s:%s@127.0.0.1:%d", strings.ReplaceAll(testUser, "@", "%40"), testPass, e.srv.port), "Example <no-reply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	msg := mimetest.Rendered(t, testLink)
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if r := checkDelivered(t, e.srv, msg); r.tls || r.auth != testUser {
		t.Errorf("delivered with TLS %t, authenticated as %q", r.tls, r.auth)
	}
}

func TestDefaultPolicy(t *testing.T) {
	tests := map[string]TLSPolicy{
		"localhost":        StartTLSOpportunistic,
		"LOCALHOST.":       StartTLSOpportunistic,
		"mail.localhost":   StartTLSOpportunistic,
		"127.0.0.1":        StartTLSOpportunistic,
		"127.1.2.3":        StartTLSOpportunistic,
		"::1":              StartTLSOpportunistic,
		"[::1]":            StartTLSOpportunistic,
		"smtp.example.com": StartTLSMandatory,
		"localhost.evil":   StartTLSMandatory,
		"notlocalhost":     StartTLSMandatory,
		"10.0.0.1":         StartTLSMandatory,
		"192.168.1.1":      StartTLSMandatory,
		"::2":              StartTLSMandatory,
		"0.0.0.0":          StartTLSMandatory,
	}
	for host, want := range tests {
		if got := defaultPolicy(host); got != want {
			t.Errorf("defaultPolicy(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestChooseAuth(t *testing.T) {
	tests := []struct {
		offered string
		secure  bool
		host    string
		want    string // mechanism, "" for an error
	}{
		{"PLAIN LOGIN", true, "smtp.example.com", "PLAIN"},
		{"LOGIN", true, "smtp.example.com", "LOGIN"},
		{"CRAM-MD5 PLAIN", true, "smtp.example.com", "PLAIN"},
		{"SCRAM-SHA-256 SCRAM-SHA-1", true, "smtp.example.com", "SCRAM-SHA-256"},
		{"XOAUTH2", true, "smtp.example.com", ""},
		{"PLAIN LOGIN", false, "smtp.example.com", ""},
		{"PLAIN CRAM-MD5", false, "smtp.example.com", "CRAM-MD5"},
		{"SCRAM-SHA-1 PLAIN", false, "smtp.example.com", "SCRAM-SHA-1"},
		{"PLAIN", false, "localhost", "PLAIN"},
		{"plain", false, "127.0.0.1", "PLAIN"},
		{"LOGIN", false, "127.0.0.1", "LOGIN"},
	}
	for _, tt := range tests {
		offered := strings.Fields(tt.offered)
		a, err := chooseAuth(offered, tt.secure, tt.host, "u", "p")
		if tt.want == "" {
			if err == nil {
				t.Errorf("chooseAuth(%q, secure %t, %s) = nil error", tt.offered, tt.secure, tt.host)
			}
			continue
		}
		if err != nil {
			t.Errorf("chooseAuth(%q, secure %t, %s) = %v", tt.offered, tt.secure, tt.host, err)
			continue
		}
		mech, _, err := a.Start(&gosmtp.ServerInfo{Name: tt.host, TLS: tt.secure, Auth: offered})
		if err != nil || mech != tt.want {
			t.Errorf("chooseAuth(%q, secure %t, %s) starts %q (%v), want %q", tt.offered, tt.secure, tt.host, mech, err, tt.want)
		}
	}
}

func TestTLSPolicyString(t *testing.T) {
	for p, want := range map[TLSPolicy]string{
		StartTLSMandatory: "mandatory STARTTLS", StartTLSOpportunistic: "opportunistic STARTTLS",
		ImplicitTLS: "implicit TLS", NoTLS: "no TLS", 9: "TLSPolicy(9)",
	} {
		if got := p.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// FuzzHeaders sends messages with arbitrary To, From and Subject through a
// real SMTP conversation and shows that no CR or LF in them ever adds a
// header or an SMTP command: either Send rejects the message before
// connecting, or the server receives exactly one MAIL FROM, one RCPT TO
// and a message with exactly the expected header fields.
func FuzzHeaders(f *testing.F) {
	mimetest.AddHeaderSeeds(f)
	f.Add("ada@example.com>\r\nRCPT TO:<eve@example.com", "no-reply@example.com", "hi")
	f.Add("ada@example.com", "no-reply@example.com>\r\nRCPT TO:<eve@example.com", "hi")
	f.Add("ada@example.com", "no-reply@example.com", "hi\n.\r\nMAIL FROM:<eve@example.com>")
	f.Add("ada@example.com", "", "default sender")

	cert, pool := newCert(f)
	srv := startServer(f, serverOpts{cert: cert})
	m, err := New(Config{Host: "127.0.0.1", Port: srv.port, From: "no-reply@example.com", TLS: NoTLS, TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex // one conversation at a time, so the server's record is this one's
	f.Fuzz(func(t *testing.T, to, from, subject string) {
		mu.Lock()
		defer mu.Unlock()
		before := len(srv.messages())
		err := m.Send(context.Background(), mimetest.FuzzMessage(to, from, subject))
		got := srv.messages()[before:]
		if !mimetest.Written(t, err, len(got), to, from, subject) {
			return
		}
		if from == "" {
			from = "no-reply@example.com" // the default sender
		}
		wantFrom, _ := mail.ParseAddress(from)
		if got[0].from != wantFrom.Address || !cmp.Equal(got[0].rcpts, []string{to}) {
			t.Fatalf("envelope: MAIL FROM %q, RCPT TO %q; want %q, %q", got[0].from, got[0].rcpts, wantFrom.Address, to)
		}
		mimetest.CheckFuzzed(t, got[0].data, to, from, subject)
	})
}
