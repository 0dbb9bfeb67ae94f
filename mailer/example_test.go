package mailer_test

import (
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

func ExampleTemplates_Render() {
	msg, err := mailer.DefaultTemplates().Render(mailer.KindSignIn, mailer.Data{
		AppName:   "Example",
		To:        "ada@example.com",
		Link:      "https://app.example/auth/verify?token=abc",
		ExpiresIn: mailer.FormatDuration(10 * time.Minute),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Subject:", msg.Subject)
	fmt.Println()
	fmt.Print(msg.Text)
	// Output:
	// Subject: Your sign-in link for Example
	//
	// Use this link to sign in to Example.
	//
	// https://app.example/auth/verify?token=abc
	//
	// This link expires in 10 minutes and works once. If you did not ask for it, ignore this email.
}
