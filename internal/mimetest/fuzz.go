package mimetest

import (
	"errors"
	"net/mail"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/magiclink-go/magiclink/mailer"
)

// HeaderKeys are the header fields of every composed message, and the only
// ones, canonical and sorted.
var HeaderKeys = []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}

// AddHeaderSeeds adds to f the (to, from, subject) seeds every header fuzz
// test starts from: a plain message and CR or LF smuggled into each input.
func AddHeaderSeeds(f *testing.F) {
	f.Add("ada@example.com", "Example <no-reply@example.com>", "Your sign-in link")
	f.Add("ada@example.com\r\nBcc: eve@example.com", "no-reply@example.com", "hi")
	f.Add("ada@example.com", "no-reply@example.com\nBcc: eve@example.com", "hi")
	f.Add("ada@example.com", "\"x\r\nBcc: eve@example.com\" <no-reply@example.com>", "hi")
	f.Add("ada@example.com", "no-reply@example.com", "hi\r\nBcc: eve@example.com")
	f.Add("ada@example.com", "no-reply@example.com", "hi\rBcc: eve@example.com")
	f.Add("ada@example.com", "no-reply@example.com", "hi\r\n\r\nbody")
	f.Add("ada@example.com", "Café <no-reply@example.com>", "Anmeldelink für Café "+strings.Repeat("ü", 80))
}

// FuzzMessage is the message a header fuzz test sends for its inputs.
func FuzzMessage(to, from, subject string) *mailer.Message {
	return &mailer.Message{To: to, From: from, Subject: subject, Text: "text", HTML: "<p>html</p>"}
}

// Rejected reports whether err, the result of sending FuzzMessage(to, from,
// subject), rejected it. It fails t if the message was accepted though an
// input holds CR or LF, or rejected with an error other than
// mailer.ErrInvalidMessage.
func Rejected(t testing.TB, err error, to, from, subject string) bool {
	t.Helper()
	if strings.ContainsAny(to+from+subject, "\r\n") && err == nil {
		t.Fatalf("accepted CR or LF: to %q, from %q, subject %q", to, from, subject)
	}
	if err != nil && !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Fatalf("error %v, want ErrInvalidMessage", err)
	}
	return err != nil
}

// Written reports whether the message FuzzMessage(to, from, subject) was
// accepted, given err, the result of sending it, and n, the number of
// messages the mailer wrote or delivered for it. It fails t as Rejected
// does, and unless n is 0 for a rejected message and 1 for an accepted
// one.
func Written(t testing.TB, err error, n int, to, from, subject string) bool {
	t.Helper()
	if Rejected(t, err, to, from, subject) {
		if n != 0 {
			t.Fatalf("a rejected message was written or delivered %d times", n)
		}
		return false
	}
	if n != 1 {
		t.Fatalf("an accepted message was written or delivered %d times, want 1", n)
	}
	return true
}

// CheckFuzzed parses raw, the message composed from FuzzMessage(to, from,
// subject), and fails t unless it has exactly the HeaderKeys fields, its To
// is to, its From has the address of from (the sender in effect, after any
// default), its Subject decodes to subject (white space folded) and its
// bodies are unchanged.
func CheckFuzzed(t testing.TB, raw []byte, to, from, subject string) {
	t.Helper()
	p, err := Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	if diff := cmp.Diff(HeaderKeys, p.Keys()); diff != "" {
		t.Fatalf("header fields (-want +got):\n%s\n%s", diff, raw)
	}
	if a, err := mail.ParseAddress(p.Header.Get("To")); err != nil || a.Address != to {
		t.Fatalf("To = %q, want %q (%v)", p.Header.Get("To"), to, err)
	}
	wantFrom, err := mail.ParseAddress(from)
	if err != nil {
		t.Fatalf("accepted From %q, not an address: %v", from, err)
	}
	if a, err := mail.ParseAddress(p.Header.Get("From")); err != nil || a.Address != wantFrom.Address {
		t.Fatalf("From = %q, want address %q (%v)", p.Header.Get("From"), wantFrom.Address, err)
	}
	got, err := p.Subject()
	if err != nil {
		t.Fatalf("decode subject %q: %v", p.Header.Get("Subject"), err)
	}
	// Unfolding normalises white space.
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(subject), " ") {
		t.Fatalf("subject %q came back as %q", subject, got)
	}
	if p.Text != "text\n" || p.HTML != "<p>html</p>\n" {
		t.Fatalf("bodies changed: %q, %q", p.Text, p.HTML)
	}
}
