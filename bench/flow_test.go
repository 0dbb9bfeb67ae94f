package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/webhook"
)

// fsyncNanos is the latest BenchmarkFsync result (ns per durable 4 KiB
// write), which BenchmarkFlow compares its throughput with. BenchmarkFsync
// is declared first so that it runs first.
var fsyncNanos atomic.Int64

// BenchmarkFsync is the disk's ceiling for durable commits: write 4 KiB
// at the start of a file in a temporary folder, then fsync it. It reports
// fsyncs/s; a commit of any store needs at least one.
func BenchmarkFsync(b *testing.B) {
	dir := b.TempDir()
	measureFsync(b, 1, dir) // allocate the block first
	b.ResetTimer()
	ns := measureFsync(b, b.N, dir)
	fsyncNanos.Store(ns)
	b.ReportMetric(1e9/float64(ns), "fsyncs/s")
}

// measureFsync times n writes of 4 KiB, each followed by an fsync, in
// dir, and returns the mean nanoseconds of one.
func measureFsync(tb testing.TB, n int, dir string) int64 {
	f, err := os.OpenFile(filepath.Join(dir, "fsync"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	start := time.Now()
	for i := range n {
		page[0] = byte(i)
		if _, err := f.WriteAt(page, 0); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
	}
	return max(1, time.Since(start).Nanoseconds()/int64(max(n, 1)))
}

// cpuTime returns the CPU time (user and system) this process has used.
// Per flow, it is what the machine's cores bound: with other work on the
// machine, flows/s falls but CPU time per flow hardly moves.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fsyncCeiling returns fsyncs per second as BenchmarkFsync last measured
// it in this run, or, when it did not run (-bench Flow), as a short
// measurement now.
func fsyncCeiling(b *testing.B) float64 {
	ns := fsyncNanos.Load()
	if ns == 0 {
		dir := b.TempDir()
		measureFsync(b, 1, dir)
		ns = measureFsync(b, 200, dir)
		fsyncNanos.Store(ns)
	}
	return 1e9 / float64(ns)
}

// BenchmarkFlow runs complete sign-in flows through the Go API on
// boltstore with durable writes: create the sign-in, prepare it (the
// email goes to a capturing no-op mailer), confirm its link in the browser
// that asked for it — or, in the code/ variant, type its code there — and
// look up the session it created. Send limits are off. Callers run
// concurrently, each with its own user and browser; b.N is the total
// number of flows. It reports flows/s and flows per fsync (flows/s
// divided by BenchmarkFsync's fsyncs/s), the CPU time the process spent
// per flow, which bounds flows/s at cores/(CPU time per flow) however
// fast the disk, and the store writes (Applies) per flow: a code costs no
// more than a link.
//
// The "events/" runs deliver every event (a sign-in's email.created and
// session.created) to one webhook endpoint on loopback that answers 204:
// the cost of the event stream, against the runs without.
func BenchmarkFlow(b *testing.B) {
	for _, by := range []string{"", "code/", "events/"} {
		for _, callers := range []int{1, 8, 64} {
			b.Run(by+"callers="+strconv.Itoa(callers), func(b *testing.B) {
				var mods []func(*magiclink.Config)
				if by == "events/" {
					mods = append(mods, webhookEndpoint(b))
				}
				e := newEnv(b, mods...)
				signIn := e.signIn
				if by == "code/" {
					signIn = e.signInByCode
				}
				users := e.users(b, callers)
				b.ReportAllocs()
				applies0 := e.watch.applies.Load()
				cpu := runFlows(b, e, users, signIn)
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "flows/s")
				b.ReportMetric(rate/fsyncCeiling(b), "flows/fsync")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/flow")
				b.ReportMetric(float64(e.watch.applies.Load()-applies0)/float64(b.N), "applies/flow")
			})
		}
	}
}

// runFlows runs b.N flows in all, one goroutine per user, each a signIn
// and a lookup of the session it created, with the timer running only
// around them, and returns the CPU time the process spent meanwhile.
func runFlows(b *testing.B, e *env, users []*user, signIn func(testing.TB, *user) string) time.Duration {
	ctx := context.Background()
	cpu0 := cpuTime()
	runN(b, len(users), func(w, _ int) error {
		_, err := e.auth.Sessions.Lookup(ctx, signIn(b, users[w]))
		return err
	})
	return cpuTime() - cpu0
}

// webhookEndpoint configures one webhook endpoint, a loopback server that
// answers every delivery 204, for every event type.
func webhookEndpoint(b *testing.B) func(*magiclink.Config) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return func(c *magiclink.Config) {
		c.Webhooks = []magiclink.WebhookEndpoint{{URL: srv.URL, Secrets: []string{webhook.NewSecret()}}}
	}
}
