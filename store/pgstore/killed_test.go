package pgstore_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/deliverytest"
	"github.com/magiclink-go/magiclink/internal/sendtiming"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// Environment of TestInstanceKilledChild.
const (
	killDSNEnv   = "MAGICLINK_KILL_DSN"
	killSMTPEnv  = "MAGICLINK_KILL_SMTP"
	killLeaseEnv = "MAGICLINK_KILL_LEASE"
)

// Fault: one of two instances is killed with SIGKILL while it sends,
// holding the claims of the emails it was sending, with more waiting.
// Rule: the other instance sends every one of them once its claims run
// out (sendtiming.Lease after the last renewal; shortened here to 2 s),
// and each address gets one email whose link works.
func TestInstanceKilledMidSendTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	const lease = 2 * time.Second
	deliverytest.ShortLeases(t, lease, lease/10)
	held, live := deliverytest.StartSMTP(t), deliverytest.StartSMTP(t)
	held.Hold()
	dsn := pgtest.Start(t)

	cmd, stdout := deliverytest.StartChild(t, "TestInstanceKilledChild",
		killDSNEnv+"="+dsn, killSMTPEnv+"="+held.Addr(), killLeaseEnv+"="+lease.String())
	flows := map[string]prepared{}
	r := bufio.NewScanner(stdout)
	for r.Scan() {
		f := strings.Fields(r.Text())
		if len(f) == 3 && f[0] == "prepared" {
			flows[f[1]] = prepared{id: f[2]}
		}
		if len(f) == 1 && f[0] == "ready" {
			break
		}
	}
	if len(flows) != killedEmails {
		cmd.Process.Kill()
		t.Fatalf("the child prepared %d links; want %d", len(flows), killedEmails)
	}
	held.WaitEntered(t, 16) // its 16 senders are at work
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()
	held.Drop() // what it was sending never reaches anyone

	b := newInstance(t, dsn, nil, func(c *magiclink.Config) { c.Mailer = live.Mailer(t); c.Limits.Disabled = true })
	live.Wait(t, killedEmails)
	t.Logf("all %d emails sent %v after the kill (lease %v)", killedEmails, time.Since(killed).Round(time.Millisecond), lease)
	for _, f := range flows {
		deliverytest.WaitKey(t, b.store, outboxPrefix+f.id, deliverytest.Gone)
	}
	b.auth.Close()
	checkInboxes(t, b.auth, flows, live.Messages(), true)
}

// killedEmails is how many links the killed child prepares.
const killedEmails = 20

// TestInstanceKilledChild is the instance TestInstanceKilledMidSendTakenOver
// kills; run alone, it skips.
func TestInstanceKilledChild(t *testing.T) {
	dsn := os.Getenv(killDSNEnv)
	if dsn == "" {
		t.Skip("the child process of TestInstanceKilledMidSendTakenOver")
	}
	deliverytest.ExitWithParent()
	lease, err := time.ParseDuration(os.Getenv(killLeaseEnv))
	if err != nil {
		t.Fatal(err)
	}
	sendtiming.Lease, sendtiming.Renew = lease, lease/10
	in := newInstance(t, dsn, nil, func(c *magiclink.Config) {
		c.Mailer = deliverytest.MailerAt(t, os.Getenv(killSMTPEnv))
		c.Limits.Disabled = true
	})
	flows := prepareSignUps(t, addresses("killed", killedEmails), in.auth)
	for addr, f := range flows {
		fmt.Printf("prepared %s %s\n", addr, f.id)
	}
	fmt.Println("ready")
	select {} // until killed
}
