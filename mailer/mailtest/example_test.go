package mailtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

func Example() {
	m := mailtest.New()

	// The code under test sends a message, here in the background.
	go func() {
		msg, _ := mailer.DefaultTemplates().Render(mailer.KindSignIn, mailer.Data{
			AppName: "Example",
			To:      "ada@example.com",
			Link:    "https://app.example/auth/verify?token=abc",
		})
		_ = m.Send(context.Background(), msg)
	}()

	// The test waits for it, without sleeping.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := m.Wait(ctx, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msgs[0].Kind, msgs[0].Subject)
	fmt.Println(m.LinkFor("ada@example.com"))
	// Output:
	// sign_in Your sign-in link for Example
	// https://app.example/auth/verify?token=abc
}
