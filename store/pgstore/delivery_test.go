package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/internal/racetest"
	"github.com/magiclink-go/magiclink/internal/sendtiming"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// The tests in this file inject the faults of delivery under load: a
// slow mail server, an instance dying with emails claimed, the database
// restarting right after a send, and the database stopped. Each names the
// fault and the rule it proves.

// outboxPrefix is the store key prefix of the outbox's entries.
const outboxPrefix = "outbox/"

// prepared is a sign-up whose link was asked for.
type prepared struct {
	client *magiclink.Client
	id     string
}

// prepareSignUps starts a sign-up for each address, on the instances in
// turn, and prepares its link.
func prepareSignUps(t *testing.T, addrs []string, auths ...*magiclink.Auth) map[string]prepared {
	t.Helper()
	ctx := context.Background()
	flows := make([]prepared, len(addrs))
	for _, err := range racetest.Run(len(addrs), func(i int, _ func()) error {
		a := auths[i%len(auths)]
		c, _, err := a.Clients.Create(ctx)
		if err != nil {
			return err
		}
		su, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addrs[i]})
		if err != nil {
			return err
		}
		if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{}); err != nil {
			return err
		}
		flows[i] = prepared{c, su.ID}
		return nil
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]prepared{}
	for i, addr := range addrs {
		out[addr] = flows[i]
	}
	return out
}

// addresses returns n addresses tagged with tag.
func addresses(tag string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d@example.com", tag, i)
	}
	return out
}

// checkInboxes checks that every address got at least one of msgs and,
// when once is set, exactly one, and that the link of every one still
// works: confirmed without a client it answers client_mismatch, which
// uses nothing up.
func checkInboxes(t *testing.T, a *magiclink.Auth, flows map[string]prepared, msgs []deliverytest.Message, once bool) {
	t.Helper()
	got := map[string]int{}
	dead := 0
	for _, m := range msgs {
		got[m.To]++
		res, err := a.ConfirmLink(context.Background(), m.Token(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != magiclink.LinkClientMismatch {
			dead++
		}
	}
	dups := 0
	for addr := range flows {
		switch n := got[addr]; {
		case n == 0:
			t.Errorf("%s got no email", addr)
		case n > 1:
			dups += n - 1
		}
	}
	if dead > 0 {
		t.Errorf("%d of %d emails hold a dead link (%d duplicates)", dead, len(msgs), dups)
	}
	if once && dups > 0 {
		t.Errorf("%d duplicate emails for %d prepares", dups, len(flows))
	}
}

// Fault: two instances on one database, a mail server slower than an
// outbox claim lasts, and hundreds of links asked for at once. Rule: an
// entry is claimed only when it is about to be sent and its claim is
// renewed while the server works, so neither instance takes over what the
// other is sending: every address gets exactly one email, and its link
// works.
func TestInstanceSlowSMTPNoDuplicates(t *testing.T) {
	// Fifteen renewals fit in a lease: a late one does not lose it.
	deliverytest.ShortLeases(t, 1500*time.Millisecond, 100*time.Millisecond)
	srv := deliverytest.StartSMTP(t)
	srv.SetDelay(1600 * time.Millisecond) // longer than a lease
	dsn := pgtest.Start(t)
	mod := func(c *magiclink.Config) { c.Mailer = srv.Mailer(t); c.Limits.Disabled = true }
	a, b := newInstance(t, dsn, nil, mod), newInstance(t, dsn, nil, mod)
	const n = 200
	flows := prepareSignUps(t, addresses("slow", n), a.auth, b.auth)
	srv.Wait(t, n)
	for _, f := range flows {
		deliverytest.WaitKey(t, a.store, outboxPrefix+f.id, deliverytest.Gone)
	}
	a.auth.Close()
	b.auth.Close()
	checkInboxes(t, a.auth, flows, srv.Messages(), true)
}

// Fault: an instance dies while sending, holding the claims of the
// emails it was sending, with more emails waiting. Rule: the emails it
// had not claimed go out from another instance at once; those it claimed
// are taken over when their claims run out, sendtiming.Lease (15 s) after
// the dead instance's last renewal; each address gets one email, and its
// link works.
func TestInstanceDeadInstanceTakenOver(t *testing.T) {
	dead, live := deliverytest.StartSMTP(t), deliverytest.StartSMTP(t)
	dead.Hold()
	dsn := pgtest.Start(t)
	clock := storetest.NewClock(time.Now())
	a := newInstance(t, dsn, nil, func(c *magiclink.Config) { c.Mailer = dead.Mailer(t); c.Now = clock.Now; c.Limits.Disabled = true })
	const n, workers = 20, 16
	flows := prepareSignUps(t, addresses("dead", n), a.auth)
	dead.WaitEntered(t, workers)
	// The instance dies: its connections to the database go, and with
	// them its renewals and records.
	a.store.Close()

	ctx := context.Background()
	items, err := a.store.List(ctx, outboxPrefix, 0)
	if err == nil {
		t.Fatalf("List on a closed store: %d items", len(items))
	}
	b := newInstance(t, dsn, nil, func(c *magiclink.Config) { c.Mailer = live.Mailer(t); c.Now = clock.Now; c.Limits.Disabled = true })
	for _, m := range live.Wait(t, n-workers) { // what the dead instance had not claimed goes at once
		deliverytest.WaitKey(t, b.store, outboxPrefix+flows[m.To].id, deliverytest.Gone)
	}
	items, err = b.store.List(ctx, outboxPrefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != workers {
		t.Fatalf("%d entries left; want the %d the dead instance claimed", len(items), workers)
	}
	for _, it := range items {
		var e struct {
			LeaseUntil int64 `json:"lease_until"`
		}
		if err := json.Unmarshal(it.Value, &e); err != nil {
			t.Fatal(err)
		}
		if bound := time.UnixMilli(e.LeaseUntil).Sub(clock.Now()); bound <= 0 || bound > sendtiming.Lease {
			t.Fatalf("a dead instance's claim holds its entry for %v more; want at most %v", bound, sendtiming.Lease)
		}
	}
	clock.Advance(sendtiming.Lease) // the claims run out; the next scan takes the entries over
	live.Wait(t, n)
	for _, f := range flows {
		deliverytest.WaitKey(t, b.store, outboxPrefix+f.id, deliverytest.Gone)
	}
	dead.Drop() // the dead instance's messages never reach anyone
	b.auth.Close()
	checkInboxes(t, b.auth, flows, live.Messages(), true)
}

// failWatch is a store that reports on failed each Apply deleting an
// outbox entry that failed.
type failWatch struct {
	store.Store
	failed chan error
}

func (s failWatch) Apply(ctx context.Context, ops ...store.Op) error {
	err := s.Store.Apply(ctx, ops...)
	if err != nil && ops[0].Kind == store.OpDeleteIf && strings.HasPrefix(ops[0].Key, outboxPrefix) {
		select {
		case s.failed <- err:
		default:
		}
	}
	return err
}

// Fault: the database restarts right after the mail server accepted a
// message, before the send is recorded. Rule: recording it is retried
// until the database is back: no second email, and the link in the first
// one works.
func TestInstanceDatabaseRestartAfterSend(t *testing.T) {
	pg := pgtest.NewServer(t)
	srv := deliverytest.StartSMTP(t)
	srv.Hold()
	failed := make(chan error, 1)
	in := newInstance(t, pg.DSN(), nil, func(c *magiclink.Config) {
		c.Mailer = srv.Mailer(t)
		c.Store = failWatch{c.Store, failed}
	})
	flows := prepareSignUps(t, []string{"restart@example.com"}, in.auth)
	srv.WaitEntered(t, 1)
	pg.Stop()
	srv.Release() // accepted while the database is down
	select {
	case err := <-failed:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("recording the send failed with %v; want an error wrapping store.ErrUnavailable", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the send was not recorded, nor tried")
	}
	pg.Start()
	f := flows["restart@example.com"]
	deliverytest.WaitKey(t, in.store, outboxPrefix+f.id, deliverytest.Gone)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails; want 1", len(msgs))
	}
	res, err := in.auth.ConfirmLink(context.Background(), msgs[0].Token(t), f.client)
	if err != nil || res.Status != magiclink.LinkVerified {
		t.Fatalf("the first email's link: %+v, %v; want verified", res, err)
	}
}

// Fault: the database is stopped, then started again. Rule: requests
// answer 503 service_unavailable with Retry-After, never 500, and the
// same instance answers 200 once the database is back, without a
// restart.
func TestInstanceDatabaseStopped(t *testing.T) {
	pg := pgtest.NewServer(t)
	in := newInstance(t, pg.DSN(), mailtest.New(), nil)
	post := func() (*http.Response, string) {
		t.Helper()
		res, err := http.Post(in.srv.URL+"/auth/sign_ins", "application/json", strings.NewReader(`{"identifier":"stopped@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	pg.Stop()
	res, body := post()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, `"service_unavailable"`) {
		t.Fatalf("database stopped: %d, Retry-After %q, %s; want 503 service_unavailable with Retry-After", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	pg.Start()
	// The pool's connections died with the server: a request may meet
	// one of them and be answered 503 again, never anything else.
	for try := 1; ; try++ {
		res, body := post()
		if res.StatusCode == http.StatusOK {
			break
		}
		if res.StatusCode != http.StatusServiceUnavailable || try == 20 {
			t.Fatalf("try %d after the database is back: %d %s", try, res.StatusCode, body)
		}
	}
}
