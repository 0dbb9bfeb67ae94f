package smtp

import "fmt"

// Error reports a failed SMTP conversation: the step that failed, the
// server's reply code if it sent one, and the cause. It never contains the
// message, its link or the password.
//
// A reply in the 5xx range is permanent (mailer.IsPermanent reports true):
// the server refused the message, the recipient or the credentials, and
// sending the same message again will fail the same way. Anything else —
// a 4xx reply, a refused or dropped connection, a timeout, a TLS failure,
// a missing STARTTLS — is temporary: a retry later may succeed.
type Error struct {
	// Op is the step that failed: "dial", "tls" (implicit TLS handshake),
	// "greeting", "ehlo", "starttls", "auth", "mail", "rcpt" or "data".
	Op string
	// Server is the server's address, host:port.
	Server string
	// Code is the server's SMTP reply code, such as 421 or 550; 0 when the
	// failure was not a reply.
	Code int
	// Err is the cause.
	Err error
}

// Error returns a one-line description.
func (e *Error) Error() string {
	return fmt.Sprintf("smtp: %s %s: %v", e.Op, e.Server, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether the server refused for good: a 5xx reply.
func (e *Error) Permanent() bool { return e.Code >= 500 && e.Code <= 599 }
