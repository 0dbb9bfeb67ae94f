package magiclink_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// A welcome email for a user let in off a waitlist: create the user, issue
// a sign-in token, and put its link in the email. Opening the link shows a
// confirm page whose button signs the user in.
func ExampleSignInTokens_Create() {
	auth, err := magiclink.New(magiclink.Config{
		BaseURL: "https://app.example",
		Store:   memstore.New(memstore.Config{}),
		Mailer:  mailtest.New(), // smtp.New(…) in production
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	ctx := context.Background()

	user, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		log.Fatal(err)
	}
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
