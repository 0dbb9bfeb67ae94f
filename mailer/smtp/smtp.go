// Package smtp sends magiclink's messages through an SMTP server, with
// STARTTLS or implicit TLS and SMTP AUTH, on the protocol client of
// github.com/wneessen/go-mail.
//
// Each Send opens one connection, delivers one message and closes it. The
// message is composed by mailer.WriteMIME, the composition the maildir
// mailer shares. Errors are *Error values; mailer.IsPermanent tells a 5xx
// reply (give up) from everything else (retry later).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/internal/compose"
)

// TLSPolicy says how a connection is secured.
type TLSPolicy int

// The TLS policies. The zero value, StartTLSMandatory, is the safe default.
const (
	// StartTLSMandatory upgrades the connection with STARTTLS and refuses
	// to go on (ErrNoStartTLS) when the server does not offer it.
	StartTLSMandatory TLSPolicy = iota
	// StartTLSOpportunistic upgrades with STARTTLS when the server offers
	// it and otherwise goes on in clear text. Passwords are still never sent
	// in clear text to a host that is not loopback (see Config).
	StartTLSOpportunistic
	// ImplicitTLS speaks TLS from the first byte ("smtps", usually port 465).
	ImplicitTLS
	// NoTLS never encrypts. Only for a relay on a trusted network or
	// loopback.
	NoTLS
)

// String returns the policy's name.
func (p TLSPolicy) String() string {
	switch p {
	case StartTLSMandatory:
		return "mandatory STARTTLS"
	case StartTLSOpportunistic:
		return "opportunistic STARTTLS"
	case ImplicitTLS:
		return "implicit TLS"
	case NoTLS:
		return "no TLS"
	}
	return "TLSPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Config configures a Mailer. Host and From are required; the zero value of
// every other field is a sensible default.
type Config struct {
	// Host is the SMTP server's host name or IP address.
	Host string
	// Port is the server's port; 0 means 587 (submission) for the STARTTLS
	// policies, 465 for ImplicitTLS and 25 for NoTLS.
	Port int
	// Username and Password, when Username is set, authenticate with SMTP
	// AUTH (PLAIN or LOGIN over TLS or to a loopback host, else only
	// SCRAM-SHA-256, SCRAM-SHA-1 or CRAM-MD5, which do not reveal the
	// password).
	Username string
	Password string // the AUTH password; never logged nor put in errors
	// From is the default sender, "addr" or "Name <addr>", used for
	// messages whose From is empty.
	From string
	// TLS is the TLS policy; the zero value is StartTLSMandatory.
	TLS TLSPolicy
	// TLSConfig configures TLS; nil means the system's roots, TLS 1.2 or
	// later and Host as the server name. When set, its ServerName defaults
	// to Host.
	TLSConfig *tls.Config
	// Timeout bounds each Send's whole conversation, connecting included;
	// 0 means 30 seconds. The context passed to Send may end it sooner.
	Timeout time.Duration
	// HELO is the name sent in EHLO; empty means this machine's host name,
	// or "localhost" when it has none.
	HELO string
}

// Mailer sends messages through an SMTP server. It is safe for concurrent
// use; each Send uses its own connection.
type Mailer struct {
	cfg  Config
	addr string // host:port
	from string // default sender
	now  func() time.Time
}

// ErrNoStartTLS is returned (in an *Error) when StartTLSMandatory is the
// policy and the server does not offer STARTTLS.
var ErrNoStartTLS = errors.New("server does not offer STARTTLS")

// New returns a Mailer for cfg, or an error when cfg is invalid: Host
// missing or malformed (with a port, say), From not an address, Port out of range, an unknown
// TLS policy, a negative Timeout, a HELO name with spaces or control
// characters, or a Username with NoTLS towards a host that is not loopback
// (the password would cross the network in clear text).
func New(cfg Config) (*Mailer, error) {
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, " \t\r\n/@[]") ||
		(strings.Contains(cfg.Host, ":") && net.ParseIP(cfg.Host) == nil) {
		return nil, fmt.Errorf("smtp: invalid host %q (a name or an IP address, without port)", cfg.Host)
	}
	if _, err := mailer.ParseFrom(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: default sender: %w", err)
	}
	if cfg.TLS < StartTLSMandatory || cfg.TLS > NoTLS {
		return nil, fmt.Errorf("smtp: unknown TLS policy %d", int(cfg.TLS))
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case ImplicitTLS:
			cfg.Port = 465
		case NoTLS:
			cfg.Port = 25
		default:
			cfg.Port = 587
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: invalid port %d", cfg.Port)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp: negative timeout %v", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
		if h, err := os.Hostname(); err == nil && validHELO(h) {
			cfg.HELO = h
		}
	}
	if !validHELO(cfg.HELO) {
		return nil, fmt.Errorf("smtp: invalid HELO name %q", cfg.HELO)
	}
	if cfg.Username != "" && cfg.TLS == NoTLS && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("smtp: refusing to send a password in clear text to %s (TLS policy %v)", cfg.Host, cfg.TLS)
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg.TLSConfig = cfg.TLSConfig.Clone()
	}
	if cfg.TLSConfig.ServerName == "" {
		cfg.TLSConfig.ServerName = cfg.Host
	}
	return &Mailer{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		from: cfg.From,
		now:  time.Now,
	}, nil
}

func validHELO(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Send delivers msg, using the default sender when msg.From is empty. It
// validates and composes msg before connecting (an invalid msg is a
// permanent error wrapping mailer.ErrInvalidMessage), then connects,
// secures the connection as the TLS policy says, authenticates, and sends
// MAIL, RCPT and DATA. Every failure after validation is an *Error. Send
// gives up as soon as ctx is done or the Timeout elapses, closing the
// connection; the *Error then wraps context.Canceled or
// context.DeadlineExceeded.
func (m *Mailer) Send(ctx context.Context, msg *mailer.Message) error {
	data, sender, err := compose.Message("smtp", msg, m.from, m.now())
	if err != nil {
		return err
	}
	from, _ := mailer.ParseFrom(sender) // validated by WriteMIME

	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	s := &session{m: m, ctx: ctx}
	err = s.deliver(from.Address, msg.To, data)
	if s.raw != nil {
		_ = s.raw.Close()
	}
	return err
}

// session is one SMTP conversation.
type session struct {
	m      *Mailer
	ctx    context.Context
	raw    net.Conn // the TCP connection, closed when ctx ends
	client *gosmtp.Client
}

func (s *session) deliver(from, to string, data []byte) error {
	cfg := s.m.cfg
	var err error
	if s.raw, err = (&net.Dialer{}).DialContext(s.ctx, "tcp", s.m.addr); err != nil {
		return s.fail("dial", err)
	}
	// Closing the TCP connection when ctx ends (cancelled, or the Timeout
	// elapsed) aborts whatever step is blocked on it, TLS included; fail
	// then sees ctx's error, which is set before this runs.
	stop := context.AfterFunc(s.ctx, func() { _ = s.raw.Close() })
	defer stop()
	conn := s.raw
	if cfg.TLS == ImplicitTLS {
		tc := tls.Client(s.raw, cfg.TLSConfig)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return s.fail("tls", err)
		}
		conn = tc // gosmtp.NewClient sees a *tls.Conn: the session is secure
	}

	if s.client, err = gosmtp.NewClient(conn, cfg.Host); err != nil {
		return s.fail("greeting", err)
	}
	if err := s.client.Hello(cfg.HELO); err != nil {
		return s.fail("ehlo", err)
	}
	if cfg.TLS == StartTLSMandatory || cfg.TLS == StartTLSOpportunistic {
		if ok, _ := s.client.Extension("STARTTLS"); ok {
			if err := s.client.StartTLS(cfg.TLSConfig); err != nil {
				return s.fail("starttls", err)
			}
		} else if cfg.TLS == StartTLSMandatory {
			return s.fail("starttls", ErrNoStartTLS)
		}
	}
	if cfg.Username != "" {
		ok, mechs := s.client.Extension("AUTH")
		if !ok {
			return s.fail("auth", errors.New("server does not offer AUTH"))
		}
		_, secure := s.client.TLSConnectionState()
		auth, err := chooseAuth(strings.Fields(mechs), secure, cfg.Host, cfg.Username, cfg.Password)
		if err != nil {
			return s.fail("auth", err)
		}
		if err := s.client.Auth(auth); err != nil {
			return s.fail("auth", err)
		}
	}
	if err := s.client.Mail("<" + from + ">"); err != nil {
		return s.fail("mail", err)
	}
	if err := s.client.Rcpt("<" + to + ">"); err != nil {
		return s.fail("rcpt", err)
	}
	w, err := s.client.Data()
	if err != nil {
		return s.fail("data", err)
	}
	if _, err := w.Write(data); err != nil {
		return s.fail("data", err)
	}
	if err := w.Close(); err != nil {
		return s.fail("data", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = s.client.Quit()
	return nil
}

// fail wraps err, the failure of step op, as an *Error. When ctx ended,
// the error also wraps ctx's error, whatever the step saw.
func (s *session) fail(op string, err error) error {
	e := &Error{Op: op, Server: s.m.addr, Err: err}
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		e.Code = tpErr.Code
	}
	if ctxErr := s.ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		e.Err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return e
}

// chooseAuth picks the mechanism to authenticate with among those the
// server offers: PLAIN or LOGIN only over TLS or to a loopback host, where
// the password cannot be read on the way; otherwise only mechanisms that
// never send the password itself.
func chooseAuth(offered []string, secure bool, host, user, pass string) (gosmtp.Auth, error) {
	has := func(mech string) bool {
		for _, o := range offered {
			if strings.EqualFold(o, mech) {
				return true
			}
		}
		return false
	}
	if secure || isLoopback(host) {
		allowClear := !secure // loopback only
		switch {
		case has("PLAIN"):
			return gosmtp.PlainAuth("", user, pass, host, allowClear), nil
		case has("LOGIN"):
			return gosmtp.LoginAuth(user, pass, host, allowClear), nil
		}
	}
	switch {
	case has("SCRAM-SHA-256"):
		return gosmtp.ScramSHA256Auth(user, pass), nil
	case has("SCRAM-SHA-1"):
		return gosmtp.ScramSHA1Auth(user, pass), nil
	case has("CRAM-MD5"):
		return gosmtp.CRAMMD5Auth(user, pass), nil
	}
	if !secure {
		return nil, fmt.Errorf("no AUTH mechanism usable without TLS among %q", offered)
	}
	return nil, fmt.Errorf("no supported AUTH mechanism among %q", offered)
}

// isLoopback reports whether host names this machine: "localhost", a name
// under .localhost (RFC 6761), or a loopback IP address.
func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
