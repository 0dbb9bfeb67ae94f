package magiclink

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

func sitKids(t testing.TB, a *Auth) []string {
	t.Helper()
	keys, err := a.SignInTokens.keys.jwks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestKeysGeneratedOnceAndShared(t *testing.T) {
	e := newTestEnv()
	// Instances starting at the same time on one store agree on one key.
	const n = 8
	auths := make([]*Auth, n)
	var wg sync.WaitGroup
	for i := range auths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := New(e.config())
			if err != nil {
				t.Error(err)
				return
			}
			auths[i] = a
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := sitKids(t, auths[0])
	for _, a := range auths {
		defer a.Close()
		if got := sitKids(t, a); len(got) != 1 || got[0] != want[0] {
			t.Fatalf("instances disagree on the key: %v vs %v", got, want)
		}
	}
	if !validKid(want[0]) {
		t.Fatalf("kid %q has not the shape of a thumbprint", want[0])
	}
	// The same key after a restart.
	if got := sitKids(t, e.open(t, nil)); got[0] != want[0] {
		t.Fatal("a restart generated a new key")
	}
}

func TestKeyRotation(t *testing.T) {
	e := newTestEnv()
	st, clock := e.st, e.clock
	a, b := e.open(t, nil), e.open(t, nil)
	ctx := context.Background()
	u, err := a.Users.Create(ctx, UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.SignInTokens.Create(ctx, u.ID, SignInTokenParams{ExpiresIn: MaxSignInTokenLifetime})
	if err != nil {
		t.Fatal(err)
	}
	first := sitKids(t, a)[0]

	kid, err := a.SignInTokens.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kid == first {
		t.Fatal("rotation kept the key")
	}
	// The other instance sees the new key at once, and both keys verify.
	if got := sitKids(t, b); len(got) != 2 || got[0] != first || got[1] != kid {
		t.Fatalf("kids after rotation = %v; want [%s %s]", got, first, kid)
	}
	fresh, err := b.SignInTokens.Create(ctx, u.ID, SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := ticketHeader(strings.Split(fresh.Token, ".")[0]); h != kid {
		t.Fatalf("new token signed by %s; want %s", h, kid)
	}
	// The retired private key is erased from the store.
	raw, err := st.Get(ctx, keySigningKeys)
	if err != nil {
		t.Fatal(err)
	}
	var rec keySetRec
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Keys) != 2 || rec.Keys[0].Seed != nil || rec.Keys[0].RetiredAt == 0 || rec.Keys[1].Seed == nil {
		t.Fatalf("stored key set after rotation = %+v", rec)
	}
	// A token signed by the retired key works until it expires.
	clock.Advance(MaxSignInTokenLifetime - time.Hour)
	c, _, err := b.Clients.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignIns.Create(ctx, c, SignInParams{Strategy: StrategyTicket, Ticket: old.Token}); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	// Once nothing it signed can be live, the retired key is dropped.
	clock.Advance(2*time.Hour + 24*time.Hour)
	if got := sitKids(t, a); len(got) != 1 || got[0] != kid {
		t.Fatalf("kids after the retired key's tokens expired = %v", got)
	}
	if _, err := a.SignInTokens.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _ = st.Get(ctx, keySigningKeys)
	rec = keySetRec{}
	_ = json.Unmarshal(raw, &rec)
	if len(rec.Keys) != 2 || rec.Keys[0].Kid != kid {
		t.Fatalf("rotation did not prune the expired key: %+v", rec)
	}
}

func TestKeySetCorrupt(t *testing.T) {
	e := newTestEnv()
	if err := e.st.Apply(context.Background(), store.Put(keySigningKeys, []byte(`{"keys":[]}`), time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := New(e.config()); err == nil {
		t.Fatal("New accepted an empty key set")
	}
}
