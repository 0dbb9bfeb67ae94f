package mailer_test

import (
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// BenchmarkRender renders a sign-in message (subject, text and HTML), as
// the outbox does for every email.
func BenchmarkRender(b *testing.B) {
	data := mailer.Data{AppName: "Example", To: "ada@example.com", Link: "https://app.example/auth/verify?token=abc",
		ExpiresAt: time.Unix(1e9, 0), ExpiresIn: "10 minutes"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mailer.DefaultTemplates().Render(mailer.KindSignIn, data); err != nil {
			b.Fatal(err)
		}
	}
}
