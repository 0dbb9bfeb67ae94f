package magiclink_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/magiclink-go/magiclink"
)

// A server-rendered app signs a browser in with the code from its email,
// protects a page with RequireSession, and signs the browser out: four
// handlers, no JavaScript.
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

	// A browser: a TLS test server (the cookies are __Host-, so Secure)
	// and a client with a cookie jar that does not follow redirects.
	server := httptest.NewTLSServer(mux)
	defer server.Close()
	browser := server.Client()
	browser.Jar, _ = cookiejar.New(nil)
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	send := func(method, path, form string) (*http.Response, string) {
		req, _ := http.NewRequest(method, server.URL+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := browser.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}

	_, id := send("POST", "/start", "email=ada@example.com")
	msgs, _ := mail.Wait(context.Background(), 1)
	res, _ := send("POST", "/code", "id="+id+"&code=000000x") // a malformed code
	fmt.Println(res.StatusCode)
	res, _ = send("POST", "/code", "id="+id+"&code="+msgs[0].Code)
	fmt.Println(res.Header.Get("Location"))
	_, account := send("GET", "/account", "")
	fmt.Println(account)
	send("POST", "/sign-out", "")
	res, _ = send("GET", "/account", "")
	fmt.Println(res.StatusCode)
	// Output:
	// 422
	// /account
	// signed in as ada@example.com
	// 401
}
