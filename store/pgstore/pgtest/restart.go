package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Server is a PostgreSQL server of one test's own, which the test may stop
// and start again to see how code rides out a database outage or restart.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu  sync.Mutex
	srv *server // nil while stopped
}

// NewServer starts a server for tb alone — initdb into a temporary
// directory, postgres on a free port of 127.0.0.1 — stopped and removed
// when tb ends. It needs the server binaries even when
// MAGICLINK_POSTGRES_DSN is set, as a shared server cannot be stopped;
// without them it skips tb (fails it when MAGICLINK_REQUIRE_POSTGRES=1).
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	bin, why := findBinaries()
	if why == "" {
		_, why = credential()
	}
	if why != "" {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("pgtest: %s (and %s=1)", why, EnvRequire)
		}
		tb.Skipf("pgtest: %s", why)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	cred, _ := credential()
	srv, err := initAndStart(bin, dir, cred)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("pgtest: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: dir, port: srv.port, srv: srv}
	tb.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}

// DSN returns the connection string of the server's database postgres.
func (s *Server) DSN() string {
	return (&server{port: s.port}).dsn("postgres")
}

// Stop shuts the server down as `pg_ctl stop -m fast` does: open
// connections are closed, new ones refused, until Start. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	if err := s.srv.halt(); err != nil {
		s.tb.Errorf("pgtest: %v", err)
	}
	s.srv = nil
}

// Start starts the stopped server again, on the same port and data, and
// returns once it accepts connections.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	cred, _ := credential()
	srv, err := launchOn(s.bin, s.dir, cred, s.port)
	if err != nil {
		s.tb.Fatalf("pgtest: restart: %v", err)
	}
	s.srv = srv
}
