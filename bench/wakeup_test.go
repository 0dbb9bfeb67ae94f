package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/benchmetric"
)

// BenchmarkWakeup measures how long after a link's consumption the
// browser waiting for it is answered: the delay from ConfirmLink
// returning to the waiting StartMagicLinkFlow (flow) or long poll, GET
// /auth/sign_ins/{id}?wait=30 over loopback (longpoll), returning. Each
// iteration starts a sign-in, waits until its waiter is subscribed to the
// store, then confirms the link. It reports the delay's median and 99th
// percentile in microseconds; a waiter that returns before ConfirmLink
// does counts as 0.
func BenchmarkWakeup(b *testing.B) {
	b.Run("flow", func(b *testing.B) {
		e := newEnv(b)
		u := e.users(b, 1)[0]
		ctx := context.Background()
		delays := make([]time.Duration, 0, b.N)
		for b.Loop() {
			si, err := e.auth.SignIns.Create(ctx, u.client, magiclink.SignInParams{Identifier: u.addr})
			if err != nil {
				b.Fatal(err)
			}
			drain(e.watch.watching)
			returned := make(chan time.Time, 1)
			go func() {
				out, err := si.StartMagicLinkFlow(ctx, magiclink.FlowParams{RedirectURL: "/done"})
				now := time.Now()
				if err != nil {
					b.Error(err)
				} else if out.Status != magiclink.SignInComplete {
					b.Errorf("StartMagicLinkFlow returned %s", out.Status)
				}
				returned <- now
			}()
			token := e.mail.await(b, u.addr).token
			awaitWatch(b, e.watch.watching)
			delays = append(delays, since(confirmed(b, e, token, u), <-returned))
		}
		reportDelays(b, delays)
	})

	b.Run("longpoll", func(b *testing.B) {
		e := newEnv(b)
		u := e.users(b, 1)[0]
		srv := httptest.NewServer(e.auth.Handler())
		defer srv.Close()
		cookie := &http.Cookie{Name: e.auth.ClientCookieName(), Value: u.clientToken}
		delays := make([]time.Duration, 0, b.N)
		for b.Loop() {
			si, sent := e.prepare(b, u)
			token := sent.token
			drain(e.watch.watching)
			returned := make(chan time.Time, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/auth/sign_ins/"+si.ID+"?wait=30", nil)
				req.AddCookie(cookie)
				resp, err := srv.Client().Do(req)
				if err != nil {
					b.Error(err)
					returned <- time.Now()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				now := time.Now()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("long poll: %s", resp.Status)
				}
				returned <- now
			}()
			awaitWatch(b, e.watch.watching)
			delays = append(delays, since(confirmed(b, e, token, u), <-returned))
		}
		reportDelays(b, delays)
	})
}

// confirmed confirms token in u's browser and returns when ConfirmLink
// returned.
func confirmed(b *testing.B, e *env, token string, u *user) time.Time {
	res, err := e.auth.ConfirmLink(context.Background(), token, u.client)
	now := time.Now()
	if err != nil {
		b.Fatal(err)
	}
	if res.Status != magiclink.LinkVerified {
		b.Fatalf("confirming the link: %s", res.Status)
	}
	return now
}

// since returns end - start, or 0 if end came first.
func since(start, end time.Time) time.Duration { return max(0, end.Sub(start)) }

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// awaitWatch waits until a waiter subscribes to the store.
func awaitWatch(b *testing.B, ch chan string) {
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		b.Fatal("no waiter subscribed within 10s")
	}
}

// reportDelays reports the median and the 99th percentile of delays.
func reportDelays(b *testing.B, delays []time.Duration) {
	benchmetric.Percentiles(b, delays, "", time.Microsecond, "µs")
}

// reportMillis reports the median and the 99th percentile of ds in
// milliseconds, as name-p50-ms and name-p99-ms (p50-ms and p99-ms for an
// empty name).
func reportMillis(b *testing.B, ds []time.Duration, name string) {
	if name != "" {
		name += "-"
	}
	benchmetric.Percentiles(b, ds, name, time.Millisecond, "ms")
}
