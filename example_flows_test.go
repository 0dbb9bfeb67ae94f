package magiclink_test

import (
	"context"
	"fmt"
	"log"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// Signing up by magic link through the Go API: create the sign-up, send
// the link, and confirm it in the same browser (what the confirm page's
// POST does). The browser then has a session.
func ExampleSignUps_Create() {
	auth, mail := exampleAuth()
	defer auth.Close()
	ctx := context.Background()

	browser, _, err := auth.Clients.Create(ctx) // its token is the browser's cookie value
	if err != nil {
		log.Fatal(err)
	}
	su, err := auth.SignUps.Create(ctx, browser, magiclink.SignUpParams{EmailAddress: "ada@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(su.Status)
	if _, err := su.PrepareVerification(ctx, magiclink.PrepareParams{RedirectURL: "/welcome"}); err != nil {
		log.Fatal(err)
	}

	res, err := auth.ConfirmLink(ctx, linkToken(mail, 1), browser)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.RedirectURL, res.NewSession != nil)

	su, err = auth.SignUps.Get(ctx, browser, su.ID)
	if err != nil {
		log.Fatal(err)
	}
	user, err := auth.Users.Get(ctx, su.CreatedUserID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(su.Status, user.PrimaryEmailAddress())
	// Output:
	// missing_requirements
	// verified /welcome true
	// complete ada@example.com
}

// StartMagicLinkFlow sends the link and blocks until it is confirmed —
// here on another device, with same-client binding turned off — and the
// waiting side then claims the session for its browser.
func ExampleSignIn_StartMagicLinkFlow() {
	mail := mailtest.New()
	auth, err := magiclink.New(magiclink.Config{
		BaseURL:          "https://app.example",
		Store:            memstore.New(memstore.Config{}),
		Mailer:           mail,
		AllowCrossClient: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	ctx := context.Background()
	if _, err := auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "grace@example.com"}); err != nil {
		log.Fatal(err)
	}

	laptop, _, _ := auth.Clients.Create(ctx)
	phone, _, _ := auth.Clients.Create(ctx)
	si, err := auth.SignIns.Create(ctx, laptop, magiclink.SignInParams{Identifier: "grace@example.com"})
	if err != nil {
		log.Fatal(err)
	}

	// The person opens the email on the phone and confirms.
	go func() {
		if _, err := auth.ConfirmLink(ctx, linkToken(mail, 1), phone); err != nil {
			log.Fatal(err)
		}
	}()

	si, err = si.StartMagicLinkFlow(ctx, magiclink.FlowParams{RedirectURL: "/verified"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(si.Status, si.FirstFactorVerification.Status, si.FirstFactorVerification.VerifiedFromTheSameClient)
	sess, err := si.ClaimSession(ctx) // set its Token as the laptop's session cookie
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sess.ID == si.CreatedSessionID)
	// Output:
	// complete verified false
	// true
}
