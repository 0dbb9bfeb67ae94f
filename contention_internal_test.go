package magiclink

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// An attempt at a code whose flow changes under every round gives up
// after maxRetries rounds with the contention error (an internal error,
// not an answer about the code), and changes nothing: the same code works
// once the contention is over.
func TestCodeAttemptContended(t *testing.T) {
	ctx := context.Background()
	e, st, a := openContended(t)
	_, su := prepareSignUp(t, a, "contended-code@example.com")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := e.mail.Wait(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	code := msgs[0].Code
	st.contend(keySignUp + su.ID)
	_, err = su.AttemptVerification(ctx, AttemptParams{Code: code})
	if err == nil || AsError(err) != nil || !strings.Contains(err.Error(), "too much contention") || st.refused.Load() != maxRetries {
		t.Fatalf("attempt on an always contended flow = %v after %d rounds; want the contention error after %d", err, st.refused.Load(), maxRetries)
	}
	st.prefix.Store(nil)
	got, err := su.AttemptVerification(ctx, AttemptParams{Code: code})
	if err != nil || got.Status != SignUpComplete {
		t.Fatalf("the code once the contention is over: %+v, %v; want the sign-up complete", got, err)
	}
}

// A send whose flow changes under every round gives up the attempt after
// maxRetries rounds: the entry is released with the contention as its
// last error, and sent once the contention is over.
func TestOutboxDeliverContended(t *testing.T) {
	ctx := context.Background()
	e, st, a := openContended(t)
	st.contend(keyLink) // only the sender's Apply, which mints the link, has one
	_, su := prepareSignUp(t, a, "contended-send@example.com")
	key := keyOutbox + su.ID
	waitOutbox(t, a, key, func(r *outboxRec) bool { return strings.Contains(r.LastError, "too much contention on the flow") })
	if n := st.refused.Load(); n != maxRetries {
		t.Fatalf("%d rounds lost; want %d", n, maxRetries)
	}
	if n := len(e.mail.Messages()); n != 0 {
		t.Fatalf("%d messages sent while contended", n)
	}
	st.prefix.Store(nil)
	e.clock.Advance(time.Minute) // past the retry's backoff
	KickSender(a)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.mail.Wait(wctx, 1); err != nil {
		t.Fatal(err)
	}
}

// openContended returns an Auth on a test environment whose store is a
// contendedStore, contending nothing yet.
func openContended(t *testing.T) (*testEnv, *contendedStore, *Auth) {
	e := newTestEnv()
	st := &contendedStore{Store: e.st}
	e.st = st
	return e, st, e.open(t, nil)
}

// waitOutbox waits until the outbox entry at key satisfies cond.
func waitOutbox(t *testing.T, a *Auth, key string, cond func(*outboxRec) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		changed, err := a.st.Watch(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := a.st.Get(ctx, key)
		var r outboxRec
		if err == nil && json.Unmarshal(raw, &r) == nil && cond(&r) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%s: condition not met: %s, %v", key, raw, err)
		}
	}
}
