package mailtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
)

func message(to, link string) *mailer.Message {
	return &mailer.Message{Kind: mailer.KindSignIn, To: to, Subject: "Sign in", Text: link, Link: link, Code: link[len(link)-1:]}
}

func TestCapture(t *testing.T) {
	m := mailtest.New()
	if m.Last() != nil || len(m.Messages()) != 0 || m.LinkFor("ada@example.com") != "" {
		t.Fatal("a new Mailer is not empty")
	}
	for _, msg := range []*mailer.Message{
		message("ada@example.com", "https://app.example/1"),
		message("bob@example.com", "https://app.example/2"),
		message("Ada@Example.com", "https://app.example/3"),
	} {
		if err := m.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(m.Messages()); got != 3 {
		t.Fatalf("%d messages, want 3", got)
	}
	if got := m.Last().Link; got != "https://app.example/3" {
		t.Errorf("Last().Link = %q", got)
	}
	if got := m.LinkFor("ada@example.com"); got != "https://app.example/3" {
		t.Errorf("LinkFor(ada) = %q, want the latest", got)
	}
	if got := m.LinkFor("bob@example.com"); got != "https://app.example/2" {
		t.Errorf("LinkFor(bob) = %q", got)
	}
	if got := m.CodeFor("ADA@example.com") + m.CodeFor("bob@example.com") + m.CodeFor("eve@example.com"); got != "32" {
		t.Errorf("CodeFor(ada, bob, eve) = %q, want the latest of each and none", got)
	}

	// Returned messages are copies.
	m.Messages()[0].Link = "changed"
	m.Last().Link = "changed"
	if m.Messages()[0].Link != "https://app.example/1" || m.Last().Link != "https://app.example/3" {
		t.Error("a returned message shares memory with the capture")
	}

	m.Reset()
	if len(m.Messages()) != 0 || m.Last() != nil {
		t.Error("Reset() kept messages")
	}
}

func TestSendCopiesAndValidates(t *testing.T) {
	m := mailtest.New()
	msg := message("ada@example.com", "https://app.example/1")
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	msg.Link = "changed"
	if m.Last().Link != "https://app.example/1" {
		t.Error("Send kept the caller's pointer")
	}
	bad := message("ada@example.com\r\nBcc: eve@example.com", "x")
	if err := m.Send(t.Context(), bad); !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Errorf("Send(invalid) = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Send(ctx, message("ada@example.com", "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled) = %v", err)
	}
	if n := len(m.Messages()); n != 1 {
		t.Errorf("%d messages captured, want 1", n)
	}
}

func TestFailWith(t *testing.T) {
	m := mailtest.New()
	boom := errors.New("boom")
	m.FailWith(boom)
	if err := m.Send(t.Context(), message("ada@example.com", "x")); !errors.Is(err, boom) {
		t.Errorf("Send() = %v, want boom", err)
	}
	if len(m.Messages()) != 0 {
		t.Error("a failed send was captured")
	}
	m.FailWith(nil)
	if err := m.Send(t.Context(), message("ada@example.com", "x")); err != nil {
		t.Errorf("Send() = %v after FailWith(nil)", err)
	}
	m.FailWith(boom)
	m.Reset()
	if err := m.Send(t.Context(), message("ada@example.com", "x")); err != nil {
		t.Errorf("Send() = %v after Reset", err)
	}
}

func TestWait(t *testing.T) {
	m := mailtest.New()
	const n = 10
	var wg sync.WaitGroup
	got := make(chan []*mailer.Message, 1)
	wg.Go(func() {
		msgs, err := m.Wait(t.Context(), n)
		if err != nil {
			t.Error(err)
		}
		got <- msgs
	})
	for range n {
		wg.Go(func() {
			if err := m.Send(context.Background(), message("ada@example.com", "x")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if msgs := <-got; len(msgs) < n {
		t.Errorf("Wait returned %d messages, want at least %d", len(msgs), n)
	}

	// Already there: no blocking.
	if msgs, err := m.Wait(t.Context(), 1); err != nil || len(msgs) != n {
		t.Errorf("Wait(1) = %d messages, %v", len(msgs), err)
	}

	// Never coming: the context ends the wait.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := m.Wait(ctx, n+1)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait() = %v, want context.Canceled", err)
	}
}
