package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *mailer.Message)
		ok     bool
	}{
		{"valid", func(m *mailer.Message) {}, true},
		{"empty from is the default sender", func(m *mailer.Message) { m.From = "" }, true},
		{"bare from", func(m *mailer.Message) { m.From = "no-reply@example.com" }, true},
		{"unicode subject", func(m *mailer.Message) { m.Subject = "Ihr Anmeldelink für Café" }, true},
		{"tab in subject", func(m *mailer.Message) { m.Subject = "a\tb" }, true},
		{"text only", func(m *mailer.Message) { m.HTML = "" }, true},
		{"nil-like empty to", func(m *mailer.Message) { m.To = "" }, false},
		{"to with name", func(m *mailer.Message) { m.To = "Ada <ada@example.com>" }, false},
		{"to with spaces", func(m *mailer.Message) { m.To = " ada@example.com" }, false},
		{"to without domain", func(m *mailer.Message) { m.To = "ada" }, false},
		{"two recipients", func(m *mailer.Message) { m.To = "ada@example.com, bob@example.com" }, false},
		{"to with LF", func(m *mailer.Message) { m.To = "ada@example.com\nBcc: eve@example.com" }, false},
		{"to with CR", func(m *mailer.Message) { m.To = "ada@example.com\rBcc: eve@example.com" }, false},
		{"from with CRLF", func(m *mailer.Message) { m.From = "x@example.com\r\nBcc: eve@example.com" }, false},
		{"from with CRLF in name", func(m *mailer.Message) { m.From = "\"Ex\r\nBcc: eve@example.com\" <x@example.com>" }, false},
		{"from not an address", func(m *mailer.Message) { m.From = "nobody" }, false},
		{"subject with CRLF", func(m *mailer.Message) { m.Subject = "hi\r\nBcc: eve@example.com" }, false},
		{"subject with LF", func(m *mailer.Message) { m.Subject = "hi\nBcc: eve@example.com" }, false},
		{"subject with NUL", func(m *mailer.Message) { m.Subject = "hi\x00" }, false},
		{"subject with a C1 control", func(m *mailer.Message) { m.Subject = "hi\u0085Bcc: eve@example.com" }, false},
		{"subject with a line separator", func(m *mailer.Message) { m.Subject = "hi\u2028Bcc: eve@example.com" }, false},
		{"subject with invalid UTF-8", func(m *mailer.Message) { m.Subject = "hi\xff" }, false},
		{"subject too long", func(m *mailer.Message) { m.Subject = strings.Repeat("a", 513) }, false},
		{"no text", func(m *mailer.Message) { m.Text = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mimetest.SignIn()
			tt.change(m)
			err := m.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok {
				if !errors.Is(err, mailer.ErrInvalidMessage) {
					t.Fatalf("Validate() = %v, want ErrInvalidMessage", err)
				}
				if !mailer.IsPermanent(err) {
					t.Errorf("IsPermanent(%v) = false", err)
				}
			}
		})
	}
	var nilMsg *mailer.Message
	if err := nilMsg.Validate(); !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Errorf("nil Validate() = %v", err)
	}
}

type permErr bool

func (p permErr) Error() string   { return fmt.Sprintf("permanent=%t", bool(p)) }
func (p permErr) Permanent() bool { return bool(p) }

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"cancelled", context.Canceled, false},
		{"invalid message", mailer.ErrInvalidMessage, true},
		{"wrapped invalid message", fmt.Errorf("send: %w", mailer.ErrInvalidMessage), true},
		{"permanent", permErr(true), true},
		{"temporary", permErr(false), false},
		{"wrapped permanent", fmt.Errorf("a: %w", fmt.Errorf("b: %w", permErr(true))), true},
		{"joined, all permanent", errors.Join(permErr(true), mailer.ErrInvalidMessage), true},
		{"joined, one temporary", errors.Join(permErr(true), permErr(false)), false},
		{"joined, one plain", errors.Join(errors.New("boom"), permErr(true)), false},
		{"multi-%w", fmt.Errorf("%w %w", permErr(true), permErr(true)), true},
	}
	for _, tt := range tests {
		if got := mailer.IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent(%v) = %t, want %t", tt.name, tt.err, got, tt.want)
		}
	}
}
