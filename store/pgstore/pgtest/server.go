package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a private PostgreSQL server started for one test binary.
type server struct {
	dir  string // temporary directory: data/, the unix socket
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when postgres has exited
	log  *logTail
}

const readyLine = "database system is ready to accept connections"

// findBinaries returns the directory holding initdb and postgres, or why
// there is none.
func findBinaries() (dir, why string) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if q, err := exec.LookPath("postgres"); err == nil {
			if p, err = filepath.EvalSymlinks(p); err == nil {
				if q, err = filepath.EvalSymlinks(q); err == nil && filepath.Dir(p) == filepath.Dir(q) {
					return filepath.Dir(p), ""
				}
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, ""
		}
	}
	return "", "no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql/*/bin"
}

// version returns the major version in a path /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// credential returns whom to run PostgreSQL as: nil (the current user)
// unless the tests run as root, which PostgreSQL refuses.
func credential() (*syscall.Credential, string) {
	if os.Geteuid() != 0 {
		return nil, ""
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, ""
	}
	return nil, "running as root, and there is no user postgres or nobody to run PostgreSQL as"
}

// startServer creates a cluster in a new temporary directory and starts
// postgres on it. It returns why not when the tests cannot have a server,
// and an error when starting one failed.
func startServer(bin string) (*server, string, error) {
	cred, why := credential()
	if why != "" {
		return nil, why, nil
	}
	removeStale()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	s, err := initAndStart(bin, dir, cred)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return s, "", nil
}

func initAndStart(bin, dir string, cred *syscall.Credential) (*server, error) {
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// --no-sync: the cluster is thrown away; the server itself runs with
	// fsync on, as durability is part of what the tests check.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var err error
	for range 3 { // another process may take the free port first
		var s *server
		s, err = launch(bin, dir, cred)
		if err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "could not create any TCP/IP sockets") {
			break
		}
	}
	return nil, err
}

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(bin, dir string, cred *syscall.Credential) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return launchOn(bin, dir, cred, port)
}

// launchOn starts postgres on port and waits until it accepts
// connections.
func launchOn(bin, dir string, cred *syscall.Credential, port int) (*server, error) {
	s := &server{dir: dir, port: port, done: make(chan struct{}), log: &logTail{closed: make(chan struct{})}}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=200",
		"-c", "lc_messages=C")
	s.cmd.Dir = dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Should the test binary die, the kernel asks postgres for a
		// fast shutdown: no server outlives its tests.
		Pdeathsig: syscall.SIGINT,
	}
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	ready := make(chan struct{})
	go s.log.scan(pr, ready)

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits:
		// keep this goroutine on its thread for the server's lifetime.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			pw.Close()
			close(s.done)
			return
		}
		started <- nil
		s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		<-s.log.closed
		return nil, fmt.Errorf("postgres exited before accepting connections:\n%s", s.log)
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("postgres did not accept connections in 2 minutes:\n%s", s.log)
	}
}

// dsn returns the connection string of database name on s.
func (s *server) dsn(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// stop shuts the server down (fast shutdown: SIGINT, as pg_ctl stop -m
// fast) and removes its directory.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	return s.halt()
}

// halt shuts the server down (fast shutdown) and keeps its files.
func (s *server) halt() error {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("postgres did not stop in a minute: killed")
	}
}

// ownerFile, in a server's directory, holds the pid of the test binary
// that made it.
const ownerFile = "owner.pid"

// removeStale removes the directories of servers whose test binary died
// without cleaning up (a panicking test ends the process before Main can;
// the server itself gets SIGINT from the kernel).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or just being made
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail keeps the last lines postgres printed, for error messages.
type logTail struct {
	mu     sync.Mutex
	lines  []string
	closed chan struct{} // closed when scan has read everything
}

// scan reads r to its end, closing ready at the server's ready line.
func (l *logTail) scan(r io.Reader, ready chan<- struct{}) {
	defer close(l.closed)
	sc := bufio.NewScanner(r)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.lines = append(l.lines, line)
		if len(l.lines) > 50 {
			l.lines = l.lines[1:]
		}
		l.mu.Unlock()
		if !signalled && strings.Contains(line, readyLine) {
			signalled = true
			close(ready)
		}
	}
	io.Copy(io.Discard, r)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
