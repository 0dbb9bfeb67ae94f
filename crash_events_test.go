package magiclink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

// The crash test's events: the child delivers to a receiver in the
// parent that is down half the time in every fifth round; after each kill, every change the
// child acknowledged has its event exactly once, every event has its
// change, and the restarted app delivers every event.

// crashRcv is the parent's receiver, for checkCrashEvents.
var crashRcv *receiver

// startCrashReceiver starts the receiver and passes its URL and secret
// to the children and the restarted apps through crashHookEnv.
func startCrashReceiver(t *testing.T) *receiver {
	r := newReceiver(t, nil)
	r.setTolerance(10 * time.Minute) // the restarted app's clock runs 5 minutes ahead
	t.Setenv(crashHookEnv, r.endpoint().URL+" "+r.secret)
	crashRcv = r
	t.Cleanup(func() { crashRcv = nil })
	return r
}

// crashWebhooks is the endpoint the child and the restarted apps deliver
// to, or none outside the crash test.
func crashWebhooks() []magiclink.WebhookEndpoint {
	url, secret, ok := strings.Cut(os.Getenv(crashHookEnv), " ")
	if !ok {
		return nil
	}
	return []magiclink.WebhookEndpoint{{URL: url, Secrets: []string{secret}}}
}

// checkCrashEvents checks the events of a round against what its child
// acknowledged, then waits for the restarted app a to deliver them all.
func checkCrashEvents(t *testing.T, a *magiclink.Auth, acks crashAcks, round int) {
	t.Helper()
	ctx := context.Background()
	var all []*magiclink.Event
	q := magiclink.EventQuery{Since: acks.started.Add(-time.Second), Limit: magiclink.MaxEventLimit}
	for {
		page, err := a.Events.List(ctx, q)
		if err != nil {
			t.Fatalf("round %d: listing events: %v", round, err)
		}
		all = append(all, page.Events...)
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	count := map[magiclink.EventType]map[string]int{} // type → object id → events
	for _, e := range all {
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Data, &obj); err != nil {
			t.Fatalf("round %d: event %s: %v", round, e.ID, err)
		}
		if count[e.Type] == nil {
			count[e.Type] = map[string]int{}
		}
		count[e.Type][obj.ID]++
	}
	// No acknowledged change without its event, and one event a change.
	for addr, id := range acks.users {
		if n := count[magiclink.EventUserCreated][id]; n != 1 {
			t.Errorf("round %d: user %s of %s has %d user.created events", round, id, addr, n)
		}
	}
	for tok, id := range acks.sessIDs {
		if n := count[magiclink.EventSessionCreated][id]; n != 1 {
			t.Errorf("round %d: session %s (%s…) has %d session.created events", round, id, tok[:4], n)
		}
	}
	for _, id := range acks.endedIDs {
		if n := count[magiclink.EventSessionEnded][id]; n != 1 {
			t.Errorf("round %d: ended session %s has %d session.ended events", round, id, n)
		}
	}
	// No event without its change.
	for id, n := range count[magiclink.EventUserCreated] {
		if _, err := a.Users.Get(ctx, id); err != nil || n != 1 {
			t.Errorf("round %d: user.created ×%d for %s, which reads %v", round, n, id, err)
		}
	}
	for id := range count[magiclink.EventSessionCreated] {
		_, err := a.Sessions.Get(ctx, id)
		if (err == nil) == (count[magiclink.EventSessionEnded][id] == 1) {
			t.Errorf("round %d: session.created for %s: the session reads %v with %d session.ended events", round, id, err, count[magiclink.EventSessionEnded][id])
		}
	}
	if len(acks.users) > 0 && len(all) == 0 {
		t.Errorf("round %d: no events", round)
	}
	// At least once: every event reaches the receiver.
	for _, e := range all {
		crashRcv.waitFor(fmt.Sprintf("round %d: event %s (%s) to be delivered", round, e.ID, e.Type), func() bool { return crashRcv.answered(e.ID) })
	}
}
