package magiclink_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/magiclink-go/magiclink"
)

// A server-rendered app signs a browser in with the code from its email,
// protects a page with RequireSession, and signs the browser out: four
// handlers, no JavaScript. The browser here is a cookie jar of requests
// made with httptest.
func ExampleAuth_SignOut() {
	auth, mail := exampleAuth()
	defer auth.Close()
	exampleUser(auth, "ada@example.com")

	mux := http.NewServeMux()
	// POST /start: create the sign-in and send its email. Nothing blocks.
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		client, err := auth.RequestClient(w, r) // sets the client cookie on a first visit
		if err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		si, err := auth.SignIns.Create(r.Context(), client, magiclink.SignInParams{Identifier: r.FormValue("email")})
		if err == nil {
			si, err = si.PrepareVerification(r.Context(), magiclink.PrepareParams{Strategy: magiclink.StrategyEmailCode})
		}
		if err != nil {
			http.Error(w, "try again", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, si.ID) // a real page: "check your email", with a code form carrying the id
	})
	// POST /code: the code typed into that form completes the sign-in.
	mux.HandleFunc("POST /code", func(w http.ResponseWriter, r *http.Request) {
		client, err := auth.RequestClient(w, r)
		if err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		si, err := auth.SignIns.Get(r.Context(), client, r.FormValue("id"))
		if err == nil {
			si, err = si.AttemptFirstFactor(r.Context(), magiclink.AttemptParams{Strategy: magiclink.StrategyEmailCode, Code: r.FormValue("code")})
		}
		if e := auth.ErrorFor(r, err); e != nil {
			// A wrong or malformed code (Meta["remaining_attempts"] left),
			// or one that can no longer work (ErrVerificationFailed,
			// ErrExpired: start again), in the browser's language.
			http.Error(w, e.LongMessage, e.Status)
			return
		}
		sess, err := si.ClaimSession(r.Context())
		if err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		auth.SetSessionCookie(w, r, sess)
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.Handle("GET /account", auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := magiclink.UserFrom(r.Context())
		if err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "signed in as ", user.PrimaryEmailAddress())
	})))
	mux.HandleFunc("POST /sign-out", func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.SignOut(w, r); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	browser := &exampleBrowser{h: mux}
	id := browser.do("POST", "/start", "email=ada@example.com").Body.String()
	msgs, _ := mail.Wait(context.Background(), 1)
	fmt.Println(browser.do("POST", "/code", "id="+id+"&code=000000x").Code) // a malformed code
	fmt.Println(browser.do("POST", "/code", "id="+id+"&code="+msgs[0].Code).Header().Get("Location"))
	fmt.Println(browser.do("GET", "/account", "").Body.String())
	browser.do("POST", "/sign-out", "")
	fmt.Println(browser.do("GET", "/account", "").Code)
	// Output:
	// 422
	// /account
	// signed in as ada@example.com
	// 401
}

// exampleBrowser sends requests to h with the cookies h set, as a browser
// would.
type exampleBrowser struct {
	h       http.Handler
	cookies map[string]*http.Cookie
}

func (b *exampleBrowser) do(method, path, form string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://app.example"+path, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	if b.cookies == nil {
		b.cookies = map[string]*http.Cookie{}
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}
