package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/magiclink-go/magiclink"
)

// sink keeps the user id a handler read, so nothing is optimised away.
var sink string

// discardWriter is a ResponseWriter that keeps nothing but its header map,
// which each request starts empty.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// serveSession runs h for b.N requests carrying cookie, each a fresh
// shallow copy of one request (as a server would hand a handler), and
// fails unless every one reaches the handler. Besides the wall time per
// request it reports the process's CPU time per request (GC included),
// which other work on the machine disturbs less.
func serveSession(b *testing.B, h http.Handler, cookie *http.Cookie) {
	base := httptest.NewRequest(http.MethodGet, "/account", nil)
	base.AddCookie(cookie)
	w := &discardWriter{h: http.Header{}}
	sink = ""
	h.ServeHTTP(w, base.WithContext(context.Background()))
	if sink == "" || w.code >= 300 {
		b.Fatalf("the handler did not see the session (status %d)", w.code)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, base.WithContext(context.Background()))
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if sink == "" {
		b.Fatal("lost the session")
	}
}

// BenchmarkSessionCheck is the per-request session check: one request
// with a session cookie whose handler reads the signed-in user's id,
// through magiclink's RequireSession (boltstore), scs's LoadAndSave (on
// scs's memstore) and gorilla/sessions' CookieStore.
func BenchmarkSessionCheck(b *testing.B) {
	b.Run("magiclink", func(b *testing.B) {
		e := newEnv(b)
		u := e.users(b, 1)[0]
		token := e.signIn(b, u)
		h := e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sink = magiclink.SessionFrom(r.Context()).UserID
		}))
		serveSession(b, h, &http.Cookie{Name: e.auth.SessionCookieName(), Value: token})
	})

	b.Run("scs", func(b *testing.B) {
		// scs on the store its own module ships, memstore: its bbolt
		// store is a separate module the module proxy here does not
		// serve. memstore is the faster of the two, so the comparison
		// favours scs.
		sm := scs.New()
		sm.Store = memstore.NewWithCleanupInterval(0)
		ctx, err := sm.Load(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		sm.Put(ctx, "user_id", "user_0123456789abcdef0123456789abcdef")
		token, _, err := sm.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sink = sm.GetString(r.Context(), "user_id")
		}))
		serveSession(b, h, &http.Cookie{Name: sm.Cookie.Name, Value: token})
	})

	b.Run("gorilla", func(b *testing.B) {
		cs := sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		rec := httptest.NewRecorder()
		s, err := cs.Get(r, "session")
		if err != nil {
			b.Fatal(err)
		}
		s.Values["user_id"] = "user_0123456789abcdef0123456789abcdef"
		if err := s.Save(r, rec); err != nil {
			b.Fatal(err)
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			b.Fatalf("gorilla set %d cookies", len(cookies))
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := cs.Get(r, "session")
			if err != nil || s.IsNew {
				http.Error(w, "no session", http.StatusUnauthorized)
				return
			}
			sink, _ = s.Values["user_id"].(string)
		})
		serveSession(b, h, &http.Cookie{Name: "session", Value: cookies[0].Value})
	})
}
