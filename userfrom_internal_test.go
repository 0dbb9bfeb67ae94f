package magiclink

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/magiclink-go/magiclink/store"
)

// failingUsers is a store whose reads of user records fail while broken
// is set.
type failingUsers struct {
	store.Store
	broken atomic.Bool
}

var errDown = errors.New("store down")

func (f *failingUsers) Get(ctx context.Context, key string) ([]byte, error) {
	if f.broken.Load() && strings.HasPrefix(key, keyUser) {
		return nil, errDown
	}
	return f.Store.Get(ctx, key)
}

// TestUserFromReportsStoreErrors: a user that cannot be loaded is an
// error, not "no user", and it is not remembered: the next call loads
// the user once the store answers again.
func TestUserFromReportsStoreErrors(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv()
	st := &failingUsers{Store: e.st}
	a := e.open(t, func(c *Config) { c.Store = st })
	u, err := a.Users.Create(ctx, UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s, ops := a.newSession(context.Background(), newID(prefixSession), u.ID, newID(prefixClient), a.now(), false)
	if err := st.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	var first, second error
	var got *User
	h := a.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.broken.Store(true)
		_, first = UserFrom(r.Context())
		st.broken.Store(false)
		got, second = UserFrom(r.Context())
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: a.SessionCookieName(), Value: s.Token})
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !errors.Is(first, errDown) {
		t.Errorf("UserFrom with the store down = %v; want the store's error", first)
	}
	if second != nil || got == nil || got.ID != u.ID {
		t.Errorf("UserFrom after the store recovered = %+v, %v; want the user", got, second)
	}
	if u, err := UserFrom(ctx); u != nil || err != nil {
		t.Errorf("UserFrom without a session = %+v, %v; want nil, nil", u, err)
	}
}
