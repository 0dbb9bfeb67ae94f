package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// TestCorruptRecordErrorsWrap: a record that cannot be decoded is an
// error whose chain keeps the decoder's error.
func TestCorruptRecordErrorsWrap(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	st, a := e.st, e.open(t, nil)
	token := newToken()
	if err := st.Apply(ctx,
		store.Put(keySignIn+"bad", []byte("{"), time.Time{}),
		store.Put(tokenKey(keySessionTok, token), []byte("x"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	_, err := load[flowRec](ctx, st, keySignIn+"bad")
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Errorf("load of a corrupt flow: %v; want a *json.SyntaxError in its chain", err)
	}
	if _, err := a.Sessions.Lookup(ctx, token); !errors.Is(err, errCorruptSession) {
		t.Errorf("Lookup of a corrupt session: %v; want errCorruptSession in its chain", err)
	}
	if _, err := loadSession(ctx, st, tokenKey(keySessionTok, token)); !errors.Is(err, errCorruptSession) {
		t.Errorf("loadSession of a corrupt session: %v; want errCorruptSession in its chain", err)
	}
}
