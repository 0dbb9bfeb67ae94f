package mailer_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
)

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

func writeMIME(t *testing.T, msg *mailer.Message) (*mimetest.Message, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := mailer.WriteMIME(&buf, msg, testNow); err != nil {
		t.Fatalf("WriteMIME() = %v", err)
	}
	p, err := mimetest.Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, buf.Bytes())
	}
	return p, buf.Bytes()
}

func TestWriteMIME(t *testing.T) {
	msg := mimetest.SignIn()
	msg.Text = "Use this link:\n\nhttps://app.example/auth/verify?token=" + strings.Repeat("x", 120) + "\n\n.\nFrom here on\n--not-a-boundary\n"
	msg.HTML = "<p>Caf\u00e9 &amp; <a href=\"https://app.example/x?a=1&amp;b=2\">link</a></p>"
	p, raw := writeMIME(t, msg)

	if diff := cmp.Diff(mimetest.HeaderKeys, p.Keys()); diff != "" {
		t.Errorf("header fields (-want +got):\n%s", diff)
	}
	checks := map[string]string{
		"Date":           "Fri, 14 Mar 2025 15:09:26 +0100",
		"From":           `"Example" <no-reply@example.com>`,
		"To":             "<ada@example.com>",
		"Subject":        msg.Subject,
		"Mime-Version":   "1.0",
		"Auto-Submitted": "auto-generated",
	}
	for k, want := range checks {
		if got := p.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if d, err := p.Header.Date(); err != nil || !d.Equal(testNow) {
		t.Errorf("Date() = %v, %v", d, err)
	}
	if id := p.Header.Get("Message-Id"); !regexp.MustCompile(`^<[a-z2-7]{26}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "multipart/alternative; boundary=") {
		t.Errorf("Content-Type = %q", p.Header.Get("Content-Type"))
	}
	if p.Text != msg.Text {
		t.Errorf("text (-want +got):\n%s", cmp.Diff(msg.Text, p.Text))
	}
	if p.HTML != msg.HTML+"\n" {
		t.Errorf("html (-want +got):\n%s", cmp.Diff(msg.HTML+"\n", p.HTML))
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long: %q", i, len(line), line)
		}
	}

	// Every message gets its own Message-ID.
	p2, _ := writeMIME(t, msg)
	if p.Header.Get("Message-Id") == p2.Header.Get("Message-Id") {
		t.Error("two messages share a Message-ID")
	}
}

func TestWriteMIMETextOnly(t *testing.T) {
	msg := mimetest.SignIn()
	msg.HTML = ""
	msg.Text = "no final line break"
	p, _ := writeMIME(t, msg)
	if got := p.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if p.Text != msg.Text+"\n" || p.HTML != "" {
		t.Errorf("text %q, html %q", p.Text, p.HTML)
	}
}

func TestWriteMIMESubjects(t *testing.T) {
	tests := []string{
		"",
		"plain ASCII",
		"Ihr Anmeldelink für Café — ✓",
		strings.Repeat("word ", 60),
		strings.Repeat("é", 200),
		strings.Repeat("x", 300),
		"  leading and trailing  ",
		"=?utf-8?q?looks_encoded?= but is not",
		"=??B??=",
		"_=?_",
	}
	for _, subject := range tests {
		msg := mimetest.SignIn()
		msg.Subject = subject
		p, raw := writeMIME(t, msg)
		got, err := p.Subject()
		if err != nil {
			t.Errorf("decode subject %q: %v", subject, err)
			continue
		}
		if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(subject), " ") {
			t.Errorf("subject %q came back as %q", subject, got)
		}
		head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		for _, line := range strings.Split(string(head), "\r\n") {
			if len(line) > 998 {
				t.Errorf("subject %q: header line of %d characters", subject, len(line))
			}
			if strings.Contains(subject, " ") && !strings.Contains(subject, "xxxxxxxxxx") && len(line) > 78 {
				t.Errorf("subject %q: line not folded: %q", subject, line)
			}
		}
	}
}

func TestWriteMIMERejects(t *testing.T) {
	tests := map[string]func(m *mailer.Message){
		"no from":           func(m *mailer.Message) { m.From = "" },
		"injected to":       func(m *mailer.Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" },
		"injected from":     func(m *mailer.Message) { m.From = "x@example.com\nBcc: eve@example.com" },
		"injected subject":  func(m *mailer.Message) { m.Subject = "hi\r\n\r\n<html>" },
		"subject with a CR": func(m *mailer.Message) { m.Subject = "hi\rBcc: eve@example.com" },
	}
	for name, change := range tests {
		msg := mimetest.SignIn()
		change(msg)
		var buf bytes.Buffer
		err := mailer.WriteMIME(&buf, msg, testNow)
		if !errors.Is(err, mailer.ErrInvalidMessage) {
			t.Errorf("%s: WriteMIME() = %v, want ErrInvalidMessage", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes of an invalid message", name, buf.Len())
		}
	}
}

// FuzzHeaders shows that no input to To, From or Subject adds a header:
// WriteMIME either rejects the message (always, when an input holds CR or
// LF) or writes exactly the expected header fields, once each, with CRLF line
// endings, carrying the inputs.
func FuzzHeaders(f *testing.F) {
	mimetest.AddHeaderSeeds(f)
	f.Add("ada@example.com", "=?utf-8?q?=0D=0ABcc:_eve@example.com?= <no-reply@example.com>", "=?utf-8?q?a=0D=0Ab?=")
	f.Add("ada@example.com", "no-reply@example.com", strings.Repeat("long subject ", 30))
	f.Add("ada@example.com", "no-reply@example.com", "tab\there")
	f.Add("ada@example.com", "no-reply@example.com", "=??B??=")
	f.Fuzz(func(t *testing.T, to, from, subject string) {
		var buf bytes.Buffer
		err := mailer.WriteMIME(&buf, mimetest.FuzzMessage(to, from, subject), testNow)
		if mimetest.Rejected(t, err, to, from, subject) {
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes of a rejected message", buf.Len())
			}
			return
		}
		mimetest.CheckFuzzed(t, buf.Bytes(), to, from, subject)
	})
}
