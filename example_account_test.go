package magiclink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// Metadata updates merge as Clerk's: objects key by key, null removes a
// key, anything else replaces.
func ExampleUsers_UpdateMetadata() {
	auth, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example",
		Store: memstore.New(memstore.Config{}), Mailer: mailtest.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	ctx := context.Background()
	user, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = auth.Users.Update(ctx, user.ID, magiclink.UserUpdate{
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
	auth, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example",
		Store: memstore.New(memstore.Config{}), Mailer: mailtest.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	ctx := context.Background()
	user, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	if err := auth.Users.Delete(ctx, user.ID); err != nil {
		log.Fatal(err)
	}
	_, err = auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
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
	auth, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example",
		Store: memstore.New(memstore.Config{}), Mailer: mailtest.New()})
	if err != nil {
		log.Fatal(err)
	}
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
