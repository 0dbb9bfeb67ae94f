package mimetest

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// SignIn returns a sign-in message written out field by field, with
// every field set, for tests of what a mailer does with each one.
func SignIn() *mailer.Message {
	return &mailer.Message{
		Kind:      mailer.KindSignIn,
		From:      "Example <no-reply@example.com>",
		To:        "ada@example.com",
		Subject:   "Your sign-in link for Example",
		Text:      "Use this link:\n\nhttps://app.example/auth/verify?token=abc\n",
		HTML:      `<p><a href="https://app.example/auth/verify?token=abc">Sign in</a></p>`,
		Link:      "https://app.example/auth/verify?token=abc",
		ExpiresAt: time.Date(2025, 3, 14, 15, 19, 26, 0, time.UTC),
	}
}

// Rendered returns the sign-in message the default templates render for
// ada@example.com with link.
func Rendered(t testing.TB, link string) *mailer.Message {
	t.Helper()
	msg, err := mailer.DefaultTemplates().Render(mailer.KindSignIn, mailer.Data{
		AppName: "Example", To: "ada@example.com", Link: link, ExpiresIn: "10 minutes",
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
