package smtp

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a small SMTP server on loopback for the tests: EHLO/HELO,
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT. It can be told
// to answer any command with a given reply, or to stop answering at some
// point (a hang), and records what it received.
type testServer struct {
	opts serverOpts
	ln   net.Listener
	port int
	hung chan string // receives the hang point when the server hangs

	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	auths    []authAttempt
	received []received
	wg       sync.WaitGroup
}

type serverOpts struct {
	cert        tls.Certificate
	startTLS    bool   // offer STARTTLS
	implicitTLS bool   // speak TLS from the first byte
	user, pass  string // when set, offer AUTH PLAIN and require it before MAIL
	// replies replaces the normal reply to a command (an upper-case verb,
	// "GREETING" for the banner, "DATA-END" for the end of the data).
	replies map[string]string
	// hangAt is the point ("GREETING", a verb, "DATA-END") where the server
	// stops answering, after telling hung. At "STARTTLS" it answers 220 and
	// then never starts the TLS handshake.
	hangAt string
}

type authAttempt struct {
	user string
	tls  bool // the connection was TLS when AUTH was sent
	ok   bool
}

type received struct {
	from  string
	rcpts []string
	data  []byte // as sent, CRLF line endings, dot-unstuffed
	tls   bool
	auth  string // the user authenticated, "" if none
}

func startServer(t testing.TB, opts serverOpts) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.implicitTLS {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{opts.cert}})
	}
	s := &testServer{
		opts:  opts,
		ln:    ln,
		port:  ln.Addr().(*net.TCPAddr).Port,
		hung:  make(chan string, 16),
		conns: make(map[net.Conn]bool),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[conn] = true
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				conn.Close()
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
			s.serve(conn)
		}()
	}
}

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

func (s *testServer) authAttempts() []authAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]authAttempt(nil), s.auths...)
}

func (s *testServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// hang tells the test that the server stopped answering at point, and
// waits until the client goes away.
func (s *testServer) hang(conn net.Conn, point string) {
	s.hung <- point
	_, _ = io.Copy(io.Discard, conn)
}

func (s *testServer) serve(conn net.Conn) {
	isTLS := s.opts.implicitTLS
	tp := textproto.NewConn(conn)
	reply := func(point, normal string) (string, bool) {
		if s.opts.hangAt == point {
			s.hang(conn, point)
			return "", false
		}
		if r, ok := s.opts.replies[point]; ok {
			return r, true
		}
		return normal, true
	}

	r, ok := reply("GREETING", "220 test.local ESMTP ready")
	if !ok {
		return
	}
	_ = tp.PrintfLine("%s", r)
	if !strings.HasPrefix(r, "220") {
		return
	}
	var cur *received
	authUser := ""
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb != "DATA" { // DATA's override is handled below
			if r, overridden := s.opts.replies[verb]; overridden {
				_ = tp.PrintfLine("%s", r)
				if verb == "QUIT" {
					return
				}
				continue
			}
		}
		switch verb {
		case "EHLO":
			if _, ok := reply(verb, ""); !ok {
				return
			}
			lines := []string{"test.local"}
			if s.opts.startTLS && !isTLS {
				lines = append(lines, "STARTTLS")
			}
			if s.opts.user != "" {
				lines = append(lines, "AUTH PLAIN")
			}
			lines = append(lines, "HELP")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = tp.PrintfLine("250%s%s", sep, l)
			}
		case "HELO":
			_ = tp.PrintfLine("250 test.local")
		case "STARTTLS":
			if !s.opts.startTLS || isTLS {
				_ = tp.PrintfLine("502 5.5.1 not offered")
				continue
			}
			_ = tp.PrintfLine("220 2.0.0 go ahead")
			if s.opts.hangAt == "STARTTLS" {
				s.hang(conn, "STARTTLS")
				return
			}
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.opts.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, isTLS, cur, authUser = tc, true, nil, ""
			tp = textproto.NewConn(conn)
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if s.opts.user == "" || !strings.EqualFold(mech, "PLAIN") {
				_ = tp.PrintfLine("504 5.5.4 unrecognized authentication type")
				continue
			}
			if initial == "" {
				_ = tp.PrintfLine("334 ")
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			ok := len(parts) == 3 && parts[1] == s.opts.user && parts[2] == s.opts.pass
			s.mu.Lock()
			s.auths = append(s.auths, authAttempt{user: parts[min(1, len(parts)-1)], tls: isTLS, ok: ok})
			s.mu.Unlock()
			if !ok {
				_ = tp.PrintfLine("535 5.7.8 authentication credentials invalid")
				continue
			}
			authUser = parts[1]
			_ = tp.PrintfLine("235 2.7.0 authenticated")
		case "MAIL":
			if s.opts.user != "" && authUser == "" {
				_ = tp.PrintfLine("530 5.7.0 authentication required")
				continue
			}
			if _, ok := reply(verb, ""); !ok {
				return
			}
			cur = &received{from: envelopeAddr(arg, "FROM:"), tls: isTLS, auth: authUser}
			_ = tp.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			if cur == nil {
				_ = tp.PrintfLine("503 5.5.1 MAIL first")
				continue
			}
			if _, ok := reply(verb, ""); !ok {
				return
			}
			cur.rcpts = append(cur.rcpts, envelopeAddr(arg, "TO:"))
			_ = tp.PrintfLine("250 2.1.5 ok")
		case "DATA":
			if cur == nil || len(cur.rcpts) == 0 {
				_ = tp.PrintfLine("503 5.5.1 RCPT first")
				continue
			}
			r, ok := reply(verb, "354 end data with <CR><LF>.<CR><LF>")
			if !ok {
				return
			}
			_ = tp.PrintfLine("%s", r)
			if !strings.HasPrefix(r, "354") {
				continue
			}
			data, err := readData(tp.R)
			if err != nil {
				return
			}
			r, ok = reply("DATA-END", "250 2.0.0 queued")
			if !ok {
				return
			}
			if strings.HasPrefix(r, "250") {
				cur.data = data
				s.mu.Lock()
				s.received = append(s.received, *cur)
				s.mu.Unlock()
			}
			cur = nil
			_ = tp.PrintfLine("%s", r)
		case "RSET":
			cur = nil
			_ = tp.PrintfLine("250 2.0.0 ok")
		case "NOOP":
			_ = tp.PrintfLine("250 2.0.0 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			_ = tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}

// envelopeAddr returns the address in "FROM:<addr> PARAMS".
func envelopeAddr(arg, prefix string) string {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "!" + arg
	}
	a, _, _ := strings.Cut(arg[len(prefix):], " ")
	return strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
}

// readData reads a DATA body up to its final ".", undoing dot-stuffing and
// keeping line endings as they were sent.
func readData(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if bytes.Equal(line, []byte(".\r\n")) {
			return b.Bytes(), nil
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			return nil, errors.New("bare LF in DATA")
		}
		b.Write(bytes.TrimPrefix(line, []byte(".")))
	}
}

// newCert returns a self-signed certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test.local"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
