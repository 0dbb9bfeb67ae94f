package magiclink_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/internal/sendtiming"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/maildir"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

// Environment of the crash test's child process.
const (
	crashDBEnv   = "MAGICLINK_CRASH_DB"   // the bbolt file; set only in the child
	crashMailEnv = "MAGICLINK_CRASH_MAIL" // the folder the child's mail is written to
	crashTagEnv  = "MAGICLINK_CRASH_TAG"  // makes the child's addresses unique
	crashHookEnv = "MAGICLINK_CRASH_HOOK" // the webhook receiver's URL and secret, space-separated
	// crashRoundsEnv sets how many times TestCrashSafety kills a child;
	// default 20 (CI runs more).
	crashRoundsEnv = "MAGICLINK_CRASH_ROUNDS"
)

// TestCrashSafety runs this test binary as a child that signs up, signs
// in and out through the Go API against a bbolt file, printing an
// acknowledgement after each committed step (deleting every third user
// it signs up), and kills it with SIGKILL at a random moment, many
// times. After each kill the file must pass bbolt's
// consistency check, every acknowledged write must be there, no
// acknowledged consume may be undone, and a message whose link was
// accepted by PrepareVerification must still be delivered.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rounds := 20
	if s := os.Getenv(crashRoundsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashRoundsEnv, s)
		}
		rounds = n
	}
	rcv := startCrashReceiver(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "crash.db")
	mailDir := filepath.Join(dir, "mail")
	var all []crashAcks
	start := time.Now()
	steps, deletions := 0, 0
	for round := range rounds {
		rcv.setFlaky(round%5 == 0) // the receiver is down half the time while some children run
		acks := runCrashChild(t, db, mailDir, round)
		rcv.setFlaky(false)
		steps += acks.n
		deletions += len(acks.deleted)
		checkCrashRound(t, db, mailDir, round, acks, all)
		all = append(all, acks)
		if t.Failed() {
			return
		}
	}
	// Later rounds and their reopenings undid nothing of earlier ones.
	a := openCrashDB(t, db, mailtest.New())
	defer a.Close()
	for _, acks := range all {
		checkDurable(t, a, acks)
	}
	t.Logf("%d kill rounds, %d acknowledged steps (%d user deletions), in %v", rounds, steps, deletions, time.Since(start).Round(time.Millisecond))
}

// crashAcks is what a child acknowledged before it was killed.
type crashAcks struct {
	n        int
	clients  map[string]string // cookie token → client id
	users    map[string]string // address → user id
	sessions map[string]string // cookie token → user id, for sessions not being ended
	sessIDs  map[string]string // cookie token → session id
	sessUser map[string]string // cookie token → user id, of every session acknowledged
	ended    []string          // cookie tokens of sessions signed out
	endedIDs []string          // their session ids
	started  time.Time         // when the child started: its events are not older
	consumed []string          // link tokens confirmed
	deleting map[string]string // user id → address, of deletions begun (maybe not finished)
	deleted  map[string]string // user id → address, of deletions acknowledged
	prepared map[string]int    // address → links prepared for it
	flows    map[string]string // flow id → address
	done     map[string]bool   // address + " " + message kind of flows confirmed
}

// runCrashChild starts the child, kills it at a random moment and returns
// the acknowledgements it printed.
func runCrashChild(t *testing.T, db, mailDir string, round int) crashAcks {
	t.Helper()
	cmd, stdout := deliverytest.StartChild(t, "TestCrashChild",
		crashDBEnv+"="+db, crashMailEnv+"="+mailDir, crashTagEnv+"="+strconv.Itoa(round))
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short by the kill was never acknowledged
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()

	acks := crashAcks{clients: map[string]string{}, users: map[string]string{}, sessions: map[string]string{},
		sessIDs: map[string]string{}, prepared: map[string]int{}, flows: map[string]string{}, done: map[string]bool{},
		started: time.Now(), deleting: map[string]string{}, deleted: map[string]string{}, sessUser: map[string]string{}}
	var kill <-chan time.Time
	killed := false
	record := func(line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		switch f[0] {
		case "ready":
			// Kill within the next few dozen steps, at a random moment.
			kill = time.After(time.Duration(rand.Int64N(int64(200 * time.Millisecond))))
			return
		case "error":
			t.Errorf("round %d: child: %s", round, line)
			return
		case "intent":
			switch f[1] {
			case "ending":
				// Until "ended", the session may or may not be ended.
				delete(acks.sessions, f[2])
			case "deleting":
				// Until "deleted", the user may or may not be deleted,
				// but never half.
				acks.deleting[f[2]] = f[3]
				delete(acks.users, f[3])
				// Its sessions go, and their events with it.
				for tok, uid := range acks.sessUser {
					if uid == f[2] {
						delete(acks.sessions, tok)
						acks.endedIDs = slices.DeleteFunc(acks.endedIDs, func(id string) bool { return id == acks.sessIDs[tok] })
						delete(acks.sessIDs, tok)
					}
				}
			}
			return
		case "ack":
		default:
			return // the test framework's own output
		}
		acks.n++
		switch f[1] {
		case "client":
			acks.clients[f[3]] = f[2]
		case "prepared":
			acks.prepared[f[3]]++
			acks.flows[f[2]] = f[3]
		case "consume":
			acks.consumed = append(acks.consumed, f[3])
			kind := mailer.KindSignIn
			if strings.HasPrefix(f[2], "sua_") {
				kind = mailer.KindSignUp
			}
			acks.done[acks.flows[f[2]]+" "+string(kind)] = true
		case "user":
			acks.users[f[2]] = f[3]
		case "session":
			acks.sessions[f[2]] = f[3]
			acks.sessIDs[f[2]] = f[4]
			acks.sessUser[f[2]] = f[3]
		case "ended":
			acks.ended = append(acks.ended, f[2])
			acks.endedIDs = append(acks.endedIDs, f[3])
		case "deleted":
			acks.deleted[f[2]] = f[3]
		}
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if !killed {
					t.Fatalf("round %d: the child exited on its own: %v", round, cmd.Wait())
				}
				cmd.Wait()
				return acks
			}
			record(line)
		case <-kill:
			kill = nil
			killed = true
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// The lines printed before the kill are still read.
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("round %d: the child did not get ready within 60s", round)
		}
	}
}

// openCrashDB opens the crash test's bbolt file as an app restarting
// would, at once and on the real clock: the outbox leases the killed
// child held have not run out, and must not delay its emails.
func openCrashDB(t *testing.T, db string, m mailer.Mailer) *magiclink.Auth {
	t.Helper()
	a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", DBPath: db, Mailer: m, Logger: slog.New(slog.DiscardHandler),
		Limits: magiclink.Limits{Disabled: true}, Webhooks: crashWebhooks()})
	if err != nil {
		t.Fatalf("reopening after a kill: %v", err)
	}
	return a
}

// checkCrashRound checks the file after round's kill; earlier are the
// acknowledgements of the rounds before.
func checkCrashRound(t *testing.T, db, mailDir string, round int, acks crashAcks, earlier []crashAcks) {
	t.Helper()
	bdb, err := bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("round %d: bbolt open: %v", round, err)
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	bdb.Close()
	if err != nil {
		t.Fatalf("round %d: bbolt check: %v", round, err)
	}

	mt := mailtest.New()
	a := openCrashDB(t, db, mt)
	defer a.Close()
	checkDurable(t, a, acks)
	checkCrashEvents(t, a, acks, round)

	// Every link PrepareVerification accepted is delivered: by the child
	// before it died, or by the restarted app now.
	delivered := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	// A message being written at the kill leaves its temporary file: the
	// next maildir on the folder removes it.
	if _, err := maildir.New(mailDir, maildir.Config{}); err != nil {
		t.Fatal(err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(mailDir, ".tmp-*")); len(tmps) > 0 {
		t.Errorf("round %d: %d temporary files left in the mail folder after maildir.New", round, len(tmps))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for addr := range acks.prepared {
			if strings.Contains(string(data), "\r\nTo: <"+addr+">\r\n") {
				delivered[addr]++
			}
		}
	}
	// The one message in flight at the kill must come within seconds of
	// the restart, though the killed child's claim on it has not run out.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := 0
	for addr, n := range acks.prepared {
		for delivered[addr] < n {
			msgs, err := mt.Wait(ctx, seen+1)
			if err != nil {
				t.Fatalf("round %d: %d links accepted for %s, %d delivered: %v", round, n, addr, delivered[addr], err)
			}
			seen++
			delivered[msgs[seen-1].To]++
		}
	}
	// No email in anyone's inbox holds a dead link: a link is live, or
	// its flow was completed (by this link or another of the same send).
	// A send retried because the kill came mid-send (or mid-renewal)
	// left the earlier link working.
	// (The links of users deleted since are gone with their flows.)
	gone := func(to string) bool {
		for _, r := range append(earlier, acks) {
			for _, addr := range r.deleting {
				if to == addr {
					return true
				}
			}
		}
		return false
	}
	var tokens []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if to := headerTo(string(data)); !gone(to) {
			tokens = append(tokens, deliverytest.Message{Data: string(data)}.Token(t))
		}
	}
	for _, m := range mt.Messages() {
		if !gone(m.To) {
			tokens = append(tokens, authtest.LinkToken(t, m))
		}
	}
	for _, tok := range tokens {
		if st, err := magiclink.LinkState(a, tok); err != nil || (st != "live" && st != "used") {
			t.Errorf("round %d: a delivered link is %s (%v); want live or used", round, st, err)
		}
	}
	a.Close()
	// The restarted app sends nothing for a flow already completed. (It
	// may send the message of a link prepared but not acknowledged.)
	for _, m := range mt.Messages() {
		if acks.done[m.To+" "+string(m.Kind)] {
			t.Errorf("round %d: %s message to %s after restart, but its flow is complete", round, m.Kind, m.To)
		}
	}
}

// checkDurable asserts that what acks acknowledged is in a's store.
func checkDurable(t *testing.T, a *magiclink.Auth, acks crashAcks) {
	t.Helper()
	ctx := context.Background()
	for tok, id := range acks.clients {
		if c, err := a.Clients.Lookup(ctx, tok); err != nil || c.ID != id {
			t.Errorf("acknowledged client %s: %+v, %v", id, c, err)
		}
	}
	for addr, id := range acks.users {
		if u, err := a.Users.FindByEmail(ctx, addr); err != nil || u.ID != id {
			t.Errorf("acknowledged user %s of %s: %+v, %v", id, addr, u, err)
		}
	}
	for tok, userID := range acks.sessions {
		if s, err := a.Sessions.Lookup(ctx, tok); err != nil || s.UserID != userID {
			t.Errorf("acknowledged session of %s does not authenticate: %+v, %v", userID, s, err)
		}
	}
	for _, tok := range acks.ended {
		if s, err := a.Sessions.Lookup(ctx, tok); !errors.Is(err, magiclink.ErrUnauthenticated) {
			t.Errorf("acknowledged sign-out undone: %+v, %v", s, err)
		}
	}
	// A deletion is all or nothing: acknowledged ones are complete (no
	// record names the user or its address), and one the kill cut short
	// is either complete or not begun.
	items, err := a.Store().List(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for id, addr := range acks.deleting {
		_, errGet := a.Users.Get(ctx, id)
		_, errFind := a.Users.FindByEmail(ctx, addr)
		if _, done := acks.deleted[id]; !done && errGet == nil && errFind == nil {
			continue // not begun
		}
		if !errors.Is(errGet, magiclink.ErrNotFound) || !errors.Is(errFind, magiclink.ErrNotFound) {
			t.Errorf("user %s half deleted: Get %v, FindByEmail %v", id, errGet, errFind)
		}
		for _, it := range items {
			// The user.deleted event names the id alone, and stays.
			if strings.Contains(string(it.Value), `"data":{"object":"user","id":"`+id+`","deleted":true}`) ||
				strings.HasPrefix(it.Key, "evtu/"+id+"/") && string(it.Value) == "user.deleted" {
				continue
			}
			if strings.Contains(it.Key, id) || strings.Contains(string(it.Value), id) || strings.Contains(string(it.Value), addr) {
				t.Errorf("deleted user %s: record %s still names it: %s", id, it.Key, it.Value)
			}
		}
	}
	for _, tok := range acks.consumed {
		// No client: a link that were live again would answer
		// client_mismatch without being used.
		if res, err := a.ConfirmLink(ctx, tok, nil); err != nil || res.Status != magiclink.LinkFailed {
			t.Errorf("acknowledged consume undone: %+v, %v", res, err)
		}
	}
}

// TestCrashChild is the child of TestCrashSafety; run alone, it skips.
func TestCrashChild(t *testing.T) {
	db := os.Getenv(crashDBEnv)
	if db == "" {
		t.Skip("the child process of TestCrashSafety")
	}
	deliverytest.ExitWithParent()
	fail := func(format string, args ...any) {
		fmt.Printf("error "+format+"\n", args...)
		os.Exit(2)
	}
	ack := func(format string, args ...any) { fmt.Printf("ack "+format+"\n", args...) }
	md, err := maildir.New(os.Getenv(crashMailEnv), maildir.Config{})
	if err != nil {
		fail("%v", err)
	}
	mt := mailtest.New()
	// Renew outbox claims all the time, so that kills land in renewals
	// too, not only in claims, sends and their records.
	sendtiming.Renew = time.Millisecond
	a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", DBPath: db, Logger: slog.New(slog.DiscardHandler),
		Mailer: mailer.Multi(md, mt), Limits: magiclink.Limits{Disabled: true}, Webhooks: crashWebhooks()})
	if err != nil {
		fail("New: %v", err)
	}
	ctx := context.Background()
	// link waits for the message of kind to addr and returns its link's
	// token. (The outbox may also deliver links an earlier child prepared
	// but did not live to acknowledge.)
	link := func(addr string, kind mailer.Kind) string {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for n := 1; ; n++ {
			msgs, err := mt.Wait(wctx, n)
			if err != nil {
				fail("%v", err)
			}
			if m := msgs[n-1]; m.To == addr && m.Kind == kind {
				u, err := url.Parse(m.Link)
				if err != nil {
					fail("%v", err)
				}
				return u.Query().Get("token")
			}
		}
	}
	// confirmed prepares the flow with id and addr, confirms its link in c
	// and returns the session it created.
	confirmed := func(c *magiclink.Client, id, addr string, kind mailer.Kind, prepare func() error) *magiclink.NewSession {
		if err := prepare(); err != nil {
			fail("prepare: %v", err)
		}
		ack("prepared %s %s", id, addr)
		tok := link(addr, kind)
		res, err := a.ConfirmLink(ctx, tok, c)
		if err != nil || res.Status != magiclink.LinkVerified || res.NewSession == nil {
			fail("confirm %s: %+v, %v", kind, res, err)
		}
		ack("consume %s %s", id, tok)
		return res.NewSession
	}
	tag := os.Getenv(crashTagEnv)
	fmt.Println("ready")
	for i := 0; ; i++ {
		addr := fmt.Sprintf("crash-%s-%d@example.com", tag, i)
		c, ctok, err := a.Clients.Create(ctx)
		if err != nil {
			fail("client: %v", err)
		}
		ack("client %s %s", c.ID, ctok)

		su, err := a.SignUps.Create(ctx, c, magiclink.SignUpParams{EmailAddress: addr})
		if err != nil {
			fail("sign-up: %v", err)
		}
		s := confirmed(c, su.ID, addr, mailer.KindSignUp, func() error {
			_, err := su.PrepareVerification(ctx, magiclink.PrepareParams{})
			return err
		})
		ack("user %s %s", addr, s.UserID)
		ack("session %s %s %s", s.Token, s.UserID, s.ID)
		first, firstID := s.Token, s.ID

		si, err := a.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: addr})
		if err != nil {
			fail("sign-in: %v", err)
		}
		s = confirmed(c, si.ID, addr, mailer.KindSignIn, func() error {
			_, err := si.PrepareVerification(ctx, magiclink.PrepareParams{})
			return err
		})
		ack("session %s %s %s", s.Token, s.UserID, s.ID)

		if i%2 == 0 {
			fmt.Printf("intent ending %s\n", first)
			if _, err := a.Sessions.End(ctx, first); err != nil {
				fail("sign-out: %v", err)
			}
			ack("ended %s %s", first, firstID)
		}
		if i%3 == 1 {
			id := s.UserID
			fmt.Printf("intent deleting %s %s\n", id, addr)
			if err := a.Users.Delete(ctx, id); err != nil {
				fail("delete: %v", err)
			}
			ack("deleted %s %s", id, addr)
		}
	}
}

// headerTo returns the address of a message's To header.
func headerTo(data string) string {
	_, rest, _ := strings.Cut(data, "\r\nTo: <")
	to, _, _ := strings.Cut(rest, ">")
	return to
}
