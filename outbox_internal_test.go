package magiclink

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/sendtiming"
	"github.com/magiclink-go/magiclink/store"
)

// KickSender wakes a's email sender for a pass at once, as a prepare
// does. Tests on a fake clock call it after moving the clock past a retry
// or a lease, instead of waiting for the periodic scan.
func KickSender(a *Auth) { a.sender.kick() }

// OutboxPrefix is the store key prefix of outbox entries; an entry's key
// is OutboxPrefix + the flow's id.
const OutboxPrefix = keyOutbox

// An entry claimed by an instance that then died is left alone until the
// claim's lease runs out, and then delivered by another instance.
func TestOutboxLeaseOfDeadInstance(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	st, mt, clock := e.st, e.mail, e.clock

	// The first instance prepares a link, and "dies" before it can send:
	// its sender is stopped first, then the claim it would have made is
	// written as it would have written it.
	a := e.open(t, nil)
	a.sender.close()
	prepareSignUp(t, a, "lease@example.com")
	items, err := st.List(ctx, keyOutbox, 0)
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox = %d entries, %v; want 1", len(items), err)
	}
	var r outboxRec
	if err := json.Unmarshal(items[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	// The claim another instance made, and then died holding.
	dead := &sender{a: a, lease: sendtiming.Lease}
	r = dead.claimed(r, clock.Now())
	r.Owner = "another process"
	claim := store.Swap(items[0].Key, items[0].Value, encode(r), items[0].ExpiresAt)
	if err := st.Apply(ctx, claim); err != nil {
		t.Fatal(err)
	} else if err := st.Apply(ctx, claim); !isConflict(err) {
		t.Fatalf("claiming an entry twice: %v; want a conflict", err)
	}
	a.Close()

	// A second instance starts: its first pass must not touch the
	// leased entry, and says when to look again.
	b := e.open(t, nil)
	if next := b.sender.pass(); !next.Equal(fromMS(r.LeaseUntil)) {
		t.Fatalf("next wake-up = %v; want the lease's end %v", next, fromMS(r.LeaseUntil))
	}
	if n := len(mt.Messages()); n != 0 {
		t.Fatalf("%d messages sent under another instance's lease", n)
	}
	if bound := fromMS(r.LeaseUntil).Sub(clock.Now()); bound != sendtiming.Lease {
		t.Fatalf("the claim holds the entry for %v; want %v", bound, sendtiming.Lease)
	}
	clock.Advance(sendtiming.Lease)
	KickSender(b)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := mt.Wait(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "lease@example.com" {
		t.Fatalf("sent to %s", msgs[0].To)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: sendBackoffMax, 1000: sendBackoffMax} {
		for range 100 {
			if d := backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v; want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

// LinkState says, without using it, what the link with token is now:
// "live"; "used" (its verification settled: this link or another of the
// same send was used, or sending failed); "superseded" (a newer prepare
// replaced it); "expired"; or "unknown".
func LinkState(a *Auth, token string) (string, error) {
	ctx := context.Background()
	hash := hashToken(token)
	ll, err := load[linkRec](ctx, a.st, keyLink+hash)
	if isNotFound(err) {
		return "unknown", nil
	}
	if err != nil {
		return "", err
	}
	lf, err := load[flowRec](ctx, a.st, ll.v.FlowKey)
	if isNotFound(err) {
		return "unknown", nil
	}
	if err != nil {
		return "", err
	}
	f := lf.v
	switch {
	case f.Ver != nil && !ll.v.of(f.Ver, hash):
		return "superseded", nil
	case deadLink(&ll.v, &f, hash, a.now()) == LinkExpired:
		return "expired", nil
	case deadLink(&ll.v, &f, hash, a.now()) != "":
		return "used", nil
	}
	return "live", nil
}
