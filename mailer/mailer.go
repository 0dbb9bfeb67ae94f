// Package mailer defines how magiclink sends email: the Mailer interface, the
// Message it sends, the templates that render messages, and the one RFC 5322
// composition (WriteMIME) every implementation that writes raw mail shares.
//
// Implementations live in subpackages:
//
//   - smtp: sends through an SMTP server (STARTTLS, implicit TLS, AUTH).
//   - maildir: writes each message as an .eml file in a folder.
//   - console: prints messages and their links; for development only.
//   - mailtest: captures messages in memory for tests.
//
// Multi sends every message through several mailers, for example through
// SMTP and into a development inbox.
//
// Header injection is impossible by construction: Validate rejects CR, LF
// and other control characters in To, From and Subject, and WriteMIME and
// every implementation call it before anything reaches a header or an SMTP
// command.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Mailer sends one message. Implementations must be safe for concurrent use,
// must not modify msg, and must not log msg.Link or msg.Code (they are
// secrets) unless they exist to show them, as the development mailer in
// package console does.
//
// A Mailer reports failures that retrying cannot fix so that IsPermanent
// recognises them.
type Mailer interface {
	Send(ctx context.Context, msg *Message) error
}

// Kind is the kind of a message: what its link does.
type Kind string

// The kinds of message magiclink sends.
const (
	// KindSignIn carries a sign-in link.
	KindSignIn Kind = "sign_in"
	// KindSignUp carries a link that verifies the address to finish signing up.
	KindSignUp Kind = "sign_up"
	// KindVerifyEmail carries a link that verifies an address added to an account.
	KindVerifyEmail Kind = "verify_email"
	// KindNoAccount answers a sign-in asked for an unknown address: it offers
	// to sign up. Link is the app's sign-up page and carries no token.
	KindNoAccount Kind = "no_account"
	// KindSignUpExisting answers a sign-up asked for a registered address: it
	// carries a sign-in link for the existing account.
	KindSignUpExisting Kind = "sign_up_existing"
	// KindAddressInUse answers an attempt to add to an account an address
	// another account has verified: it tells the address's owner, and
	// carries no token (Link is the app's page).
	KindAddressInUse Kind = "address_in_use"
	// KindWelcome is a welcome email carrying a sign-in-token link, for a
	// user added off a waitlist.
	KindWelcome Kind = "welcome"
	// KindAccountSuspended answers a sign-in (or sign-up) asked for the
	// address of a banned account: it says the account is suspended and
	// carries no link.
	KindAccountSuspended Kind = "account_suspended"
	// KindPrimaryEmailChanged tells the previous primary address of an
	// account that another address became primary: NewEmailAddress,
	// OccurredAt and Device say what happened; Link is the app.
	KindPrimaryEmailChanged Kind = "primary_email_changed"
	// KindReverification carries a link that confirms it is still the
	// account's owner using a session, before a sensitive change.
	KindReverification Kind = "reverification"
)

// Message is one email to send.
type Message struct {
	Kind    Kind   // what the message is for
	From    string // sender, "addr" or "Name <addr>"; empty: the mailer's default sender
	To      string // a bare address, already validated
	Subject string // one line
	Text    string // text/plain body; required
	HTML    string // text/html body; empty: text only
	// Link is the link the message carries: a magic link, which is a
	// secret (never log it), or for a notice such as KindNoAccount a
	// page of the app (the sign-up page).
	Link string
	// Code is the one-time code the message carries, in its body only;
	// empty when none. It is a secret: never log it.
	Code string
	// ExpiresAt is when Link stops working; zero if it does not expire.
	ExpiresAt time.Time
}

// ErrInvalidMessage is wrapped by every error reporting a message that cannot
// be sent as it is (Validate's errors). Such errors are permanent.
var ErrInvalidMessage = errors.New("mailer: invalid message")

// maxSubjectLen bounds Subject, in bytes, so that no header line grows
// beyond what mail servers accept.
const maxSubjectLen = 512

// Validate reports whether m can be sent: To is a bare address (no display
// name), From is empty or an address with an optional display name, Subject
// is at most 512 bytes of UTF-8 on one line, and Text is not empty. To, From
// and Subject must not contain CR, LF or any other control character except
// tab, so they can never add a header or an SMTP command. Errors wrap
// ErrInvalidMessage.
func (m *Message) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if _, err := ParseTo(m.To); err != nil {
		return err
	}
	if m.From != "" {
		if _, err := ParseFrom(m.From); err != nil {
			return err
		}
	}
	if err := checkHeader("subject", m.Subject); err != nil {
		return err
	}
	if len(m.Subject) > maxSubjectLen {
		return fmt.Errorf("%w: subject longer than %d bytes", ErrInvalidMessage, maxSubjectLen)
	}
	if m.Text == "" {
		return fmt.Errorf("%w: empty text body", ErrInvalidMessage)
	}
	return nil
}

// ParseTo parses a recipient: a bare address such as "ada@example.com", with
// no display name, comments or surrounding spaces. Errors wrap
// ErrInvalidMessage.
func ParseTo(to string) (*mail.Address, error) {
	if err := checkHeader("to", to); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return nil, fmt.Errorf("%w: to: not a bare email address", ErrInvalidMessage)
	}
	return a, nil
}

// ParseFrom parses a sender: "addr" or "Name <addr>". Errors wrap
// ErrInvalidMessage.
func ParseFrom(from string) (*mail.Address, error) {
	if err := checkHeader("from", from); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%w: from: not an email address", ErrInvalidMessage)
	}
	return a, nil
}

// checkHeader rejects what could break out of a header line: CR, LF and the
// other control characters, and invalid UTF-8.
func checkHeader(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s: invalid UTF-8", ErrInvalidMessage, field)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%w: %s: contains CR or LF", ErrInvalidMessage, field)
	}
	for _, r := range v {
		// C0 and C1 controls, DEL, and the Unicode line and paragraph
		// separators some clients render as line breaks.
		if (r < ' ' && r != '\t') || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("%w: %s: contains a control character", ErrInvalidMessage, field)
		}
	}
	return nil
}

// IsPermanent reports whether err says that sending the same message again
// cannot succeed, so a retrying sender should give up on it: the message is
// invalid (ErrInvalidMessage), or an error in err's chain has a method
// Permanent() bool that returns true (an SMTP server's 5xx reply, see
// smtp.Error). Everything else — 4xx replies, refused or dropped
// connections, timeouts, cancellation, TLS failures — is temporary, and so is
// nil. For errors joined by errors.Join (Multi), err is permanent only if
// every joined error is.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if err == ErrInvalidMessage { // the chain is walked below, one link at a time
		return true
	}
	switch e := err.(type) {
	case interface{ Permanent() bool }:
		return e.Permanent()
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, x := range errs {
			if !IsPermanent(x) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return IsPermanent(e.Unwrap())
	}
	return false
}
