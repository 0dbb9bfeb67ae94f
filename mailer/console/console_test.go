package console_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/console"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	m := console.New(console.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err := m.Send(t.Context(), mimetest.SignIn()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"kind=sign_in", "to=ada@example.com", `subject="Your sign-in link for Example"`,
		`link="https://app.example/auth/verify?token=abc"`, "expires_at=2025-03-14T15:19:26.000Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	m := console.New(console.Config{Writer: &buf})
	msg := mimetest.SignIn()
	msg.From = "Example <no-reply@example.com>"
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	want := `==== magiclink development mailer: email not sent ====
Kind:    sign_in
From:    Example <no-reply@example.com>
To:      ada@example.com
Subject: Your sign-in link for Example
Link:    https://app.example/auth/verify?token=abc
Expires: 2025-03-14T15:19:26Z

Use this link:

https://app.example/auth/verify?token=abc
====
`
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	m := console.New(console.Config{Writer: &buf})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := m.Send(context.Background(), mimetest.SignIn()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "Link:    https://app.example/auth/verify?token=abc\n"); n != 20 {
		t.Errorf("%d complete messages, want 20", n)
	}
}

func TestRejects(t *testing.T) {
	var buf bytes.Buffer
	m := console.New(console.Config{Writer: &buf})
	msg := mimetest.SignIn()
	msg.Subject = "hi\nLink:    https://evil.example/"
	if err := m.Send(t.Context(), msg); !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Errorf("Send() = %v, want ErrInvalidMessage", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Send(ctx, mimetest.SignIn()); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled) = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

func TestDefaultLogger(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	if err := console.New(console.Config{}).Send(t.Context(), mimetest.SignIn()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "token=abc") {
		t.Errorf("default logger got %q", buf.String())
	}
}
