// Package compose turns a message into the MIME bytes a transport sends,
// for the mailers that write the message themselves (smtp, maildir).
package compose

import (
	"bytes"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// Message writes msg as MIME dated now, with defaultFrom as its sender when
// msg.From is empty, and returns the bytes and the sender used. A nil or
// invalid msg is an error wrapping mailer.ErrInvalidMessage, prefixed with
// pkg, the transport's name.
func Message(pkg string, msg *mailer.Message, defaultFrom string, now time.Time) (data []byte, from string, err error) {
	if msg == nil {
		return nil, "", fmt.Errorf("%s: %w: nil message", pkg, mailer.ErrInvalidMessage)
	}
	c := *msg
	if c.From == "" {
		c.From = defaultFrom
	}
	var buf bytes.Buffer
	if err := mailer.WriteMIME(&buf, &c, now); err != nil {
		return nil, "", fmt.Errorf("%s: %w", pkg, err)
	}
	return buf.Bytes(), c.From, nil
}
