package magiclink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
)

// Metadata updates merge as Clerk's: objects key by key, null removes a
// key, anything else replaces.
func ExampleUsers_UpdateMetadata() {
	auth, _ := exampleAuth()
	defer auth.Close()
	ctx := context.Background()
	user := exampleUser(auth, "ada@example.com")
	_, err := auth.Users.Update(ctx, user.ID, magiclink.UserUpdate{
		PublicMetadata: magiclink.Metadata{"plan": "pro", "limits": map[string]any{"seats": 3, "projects": 10}}})
	if err != nil {
		log.Fatal(err)
	}
	user, err = auth.Users.UpdateMetadata(ctx, user.ID, magiclink.MetadataUpdate{
		PublicMetadata: magiclink.Metadata{"limits": map[string]any{"seats": 5, "projects": nil}}})
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.Marshal(user.PublicMetadata)
	fmt.Println(string(out))
	// Output: {"limits":{"seats":5},"plan":"pro"}
}

// Deleting a user frees its addresses at once, and a second deletion
// finds nothing.
func ExampleUsers_Delete() {
	auth, _ := exampleAuth()
	defer auth.Close()
	ctx := context.Background()
	user := exampleUser(auth, "ada@example.com")
	if err := auth.Users.Delete(ctx, user.ID); err != nil {
		log.Fatal(err)
	}
	_, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	fmt.Println(err)
	fmt.Println(errors.Is(auth.Users.Delete(ctx, user.ID), magiclink.ErrNotFound))
	// Output:
	// <nil>
	// true
}

// An app's own sensitive route: only sessions verified in the last five
// minutes get through; others get 403 session_reverification_required,
// on which magiclink.withReverification in the browser runs a
// reverification and retries.
func ExampleAuth_RequireReverification() {
	auth, _ := exampleAuth()
	defer auth.Close()
	mux := http.NewServeMux()
	mux.Handle("POST /billing/close", auth.RequireReverification(5*time.Minute, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "closed")
	})))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/billing/close", nil)) // no session
	fmt.Println(rec.Code)
	// Output: 401
}

// A welcome email for a user let in off a waitlist: create the user, issue
// a sign-in token, and put its link in the email. Opening the link shows a
// confirm page whose button signs the user in.
func ExampleSignInTokens_Create() {
	auth, _ := exampleAuth()
	defer auth.Close()
	ctx := context.Background()

	user := exampleUser(auth, "ada@example.com")
	tok, err := auth.SignInTokens.Create(ctx, user.ID, magiclink.SignInTokenParams{ExpiresIn: 7 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status)
	fmt.Println(strings.HasPrefix(tok.URL, "https://app.example/auth/ticket?token="))
	// Or a page of your own that redeems tok.Token with the ticket
	// strategy, as in the seeds' custom flow:
	fmt.Println("https://app.example/accept-token?token=" + tok.Token[:10] + "…")

	// Redeeming it (what POST /auth/sign_ins {strategy: "ticket"} does):
	client, _, err := auth.Clients.Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	si, err := auth.SignIns.Create(ctx, client, magiclink.SignInParams{Strategy: "ticket", Ticket: tok.Token})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(si.Status)
	_, err = auth.SignIns.Create(ctx, client, magiclink.SignInParams{Strategy: "ticket", Ticket: tok.Token})
	fmt.Println(magiclink.AsError(err).Code)
	// Output:
	// pending
	// true
	// https://app.example/accept-token?token=eyJhbGciOi…
	// complete
	// sign_in_token_already_used_code
}
