package mailer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
)

type recorder struct {
	got []*mailer.Message
	err error
}

func (r *recorder) Send(_ context.Context, msg *mailer.Message) error {
	c := *msg
	r.got = append(r.got, &c)
	msg.Subject = "changed by a careless mailer"
	return r.err
}

func TestMulti(t *testing.T) {
	failing := &recorder{err: permErr(false)}
	a, b := &recorder{}, &recorder{}
	m := mailer.Multi(a, failing, b)
	msg := mimetest.SignIn()
	err := m.Send(t.Context(), msg)
	if !errors.Is(err, permErr(false)) {
		t.Fatalf("Send() = %v, want the failing mailer's error", err)
	}
	if mailer.IsPermanent(err) {
		t.Errorf("IsPermanent = true for a temporary failure")
	}
	for i, r := range []*recorder{a, failing, b} {
		if len(r.got) != 1 {
			t.Fatalf("mailer %d got %d messages, want 1", i, len(r.got))
		}
		if r.got[0].Subject != mimetest.SignIn().Subject {
			t.Errorf("mailer %d saw subject %q: a previous mailer's change leaked", i, r.got[0].Subject)
		}
	}
	if msg.Subject != mimetest.SignIn().Subject {
		t.Errorf("caller's message changed: %q", msg.Subject)
	}
	if err := mailer.Multi(a, b).Send(t.Context(), msg); err != nil {
		t.Errorf("Send() = %v", err)
	}
	if err := mailer.Multi(&recorder{err: permErr(true)}).Send(t.Context(), msg); !mailer.IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false, want true when every failure is permanent", err)
	}
}
