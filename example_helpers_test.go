package magiclink_test

import (
	"context"
	"log"
	"net/url"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// The examples' own set-up, which an app does its own way.

// exampleAuth returns an Auth on a memory store whose emails are kept
// for the example to read; an app passes its store and smtp.New(…) or a
// Mailer of its own.
func exampleAuth() (*magiclink.Auth, *mailtest.Mailer) {
	mail := mailtest.New()
	auth, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{}), Mailer: mail})
	if err != nil {
		log.Fatal(err)
	}
	return auth, mail
}

// exampleUser creates a user with the address addr.
func exampleUser(auth *magiclink.Auth, addr string) *magiclink.User {
	user, err := auth.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: addr})
	if err != nil {
		log.Fatal(err)
	}
	return user
}

// linkToken waits for the n-th email and returns the token of its link,
// which a person would get by clicking it.
func linkToken(mail *mailtest.Mailer, n int) string {
	msgs, err := mail.Wait(context.Background(), n)
	if err != nil {
		log.Fatal(err)
	}
	u, err := url.Parse(msgs[n-1].Link)
	if err != nil {
		log.Fatal(err)
	}
	return u.Query().Get("token")
}
