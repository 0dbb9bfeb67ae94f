package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/maildir"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/boltstore"
	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// The HTTP benchmarks run magiclink's server in a process of its own (this
// test binary, started again with serverEnv set), so that its CPU time is
// measured apart from the load generator's. The server is what an app
// would run: Auth.Handler on a loopback listener, links mailed to a
// maildir, send limits off (a load test; examples/basic -rate-limits=false).
const (
	serverEnv   = "MAGICLINK_BENCH_SERVER"             // "bolt:<file>" or "pg:<DSN>"
	maildirEnv  = "MAGICLINK_BENCH_MAILDIR"            // where the server writes mail
	usersEnv    = "MAGICLINK_BENCH_USERS"              // users the server creates: user0@example.com …
	poolSizeEnv = "MAGICLINK_BENCH_PG_CONNS"           // the server's pgx pool size; default pgstore.DefaultMaxConns
	profileEnv  = "MAGICLINK_BENCH_SERVER_CPUPROFILE"  // a file for the server's CPU profile
	heapEnv     = "MAGICLINK_BENCH_SERVER_HEAPPROFILE" // a file for its heap profile, written on SIGUSR1
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		if err := serve(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

// serve runs the benchmark server: it prints "ready <base URL>" once its
// users exist and serves until its standard input closes.
func serve(spec string) error {
	ctx := context.Background()
	if p := os.Getenv(profileEnv); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if p := os.Getenv(heapEnv); p != "" {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		go func() {
			for range sig {
				runtime.GC()
				if f, err := os.Create(p); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}()
	}
	kind, arg, _ := strings.Cut(spec, ":")
	var st store.Store
	switch kind {
	case "bolt":
		bs, err := boltstore.Open(arg, boltstore.Config{})
		if err != nil {
			return err
		}
		defer bs.Close()
		st = bs
	case "pg":
		cfg, err := pgstore.PoolConfig(arg)
		if err != nil {
			return err
		}
		if n, err := strconv.Atoi(os.Getenv(poolSizeEnv)); err == nil && n > 0 {
			cfg.MaxConns = int32(n)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := pgstore.Migrate(ctx, pool, pgstore.Config{}); err != nil {
			return err
		}
		ps, err := pgstore.New(ctx, pool, pgstore.Config{})
		if err != nil {
			return err
		}
		defer ps.Close()
		st = ps
	default:
		return fmt.Errorf("unknown store %q", kind)
	}
	mail, err := maildir.New(os.Getenv(maildirEnv), maildir.Config{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	auth, err := magiclink.New(magiclink.Config{
		BaseURL: base,
		Store:   st,
		Mailer:  mail,
		Limits:  magiclink.Limits{Disabled: true},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer auth.Close()
	users, _ := strconv.Atoi(os.Getenv(usersEnv))
	for i := range users {
		if _, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: fmt.Sprintf("user%d@example.com", i)}); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: auth.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("ready %s\n", base)
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it, or dies
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// server is a running benchmark server.
type server struct {
	base    string // its base URL
	maildir string
	cmd     *exec.Cmd
}

// startServer starts a benchmark server on spec's store that creates users
// users and mails to the folder mail (empty: a new one), stopped when tb
// ends.
func startServer(tb testing.TB, spec string, users int, mail string, env ...string) *server {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	if mail == "" {
		mail = filepath.Join(tb.TempDir(), "mail")
	}
	s := &server{maildir: mail}
	s.cmd = exec.Command(self, "-test.run", "^$")
	s.cmd.Env = append(os.Environ(), serverEnv+"="+spec, maildirEnv+"="+s.maildir, usersEnv+"="+strconv.Itoa(users))
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = os.Stderr
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		s.cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		tb.Fatalf("benchmark server: %q, %v", line, err)
	}
	s.base = base
	return s
}

// cpu returns the CPU time the server has used so far.
func (s *server) cpu() time.Duration { return procCPU(s.cmd.Process.Pid) }

// procCPU returns the CPU time (user and system) process pid has used.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}
