// Package console provides a Mailer FOR DEVELOPMENT ONLY. It sends nothing:
// it prints each message — recipient, kind, subject, THE LINK ITSELF and
// the one-time code — to a log/slog logger or an io.Writer, so that a
// developer can open the link or type the code.
//
// Anyone who can read its output can sign in as any user. Never use it in
// production; use package smtp there.
package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// Config configures a Mailer. The zero value logs to slog.Default().
type Config struct {
	// Logger receives one record per message; nil means slog.Default().
	// Ignored when Writer is set.
	Logger *slog.Logger
	// Writer, when set, receives each message as a block of text
	// (headers, link and text body) instead of a log record.
	Writer io.Writer
}

// Mailer prints messages instead of sending them. FOR DEVELOPMENT ONLY: it
// prints every link. It is safe for concurrent use.
type Mailer struct {
	logger *slog.Logger
	mu     sync.Mutex // serialises writes to w
	w      io.Writer
}

// New returns a development Mailer. FOR DEVELOPMENT ONLY: it prints every
// link, and anyone who reads them can sign in.
func New(cfg Config) *Mailer {
	if cfg.Writer != nil {
		return &Mailer{w: cfg.Writer}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Mailer{logger: cfg.Logger}
}

// Send validates msg (see mailer.Message.Validate), like a real mailer,
// and prints it.
func (m *Mailer) Send(ctx context.Context, msg *mailer.Message) error {
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.w == nil {
		attrs := []slog.Attr{
			slog.String("kind", string(msg.Kind)),
			slog.String("to", msg.To),
			slog.String("subject", msg.Subject),
			slog.String("link", msg.Link),
		}
		if msg.Code != "" {
			attrs = append(attrs, slog.String("code", msg.Code))
		}
		if !msg.ExpiresAt.IsZero() {
			attrs = append(attrs, slog.Time("expires_at", msg.ExpiresAt))
		}
		m.logger.LogAttrs(ctx, slog.LevelInfo, "magiclink: development mailer, email not sent", attrs...)
		return nil
	}
	var b bytes.Buffer
	b.WriteString("==== magiclink development mailer: email not sent ====\n")
	fmt.Fprintf(&b, "Kind:    %s\n", msg.Kind)
	if msg.From != "" {
		fmt.Fprintf(&b, "From:    %s\n", msg.From)
	}
	fmt.Fprintf(&b, "To:      %s\n", msg.To)
	fmt.Fprintf(&b, "Subject: %s\n", msg.Subject)
	fmt.Fprintf(&b, "Link:    %s\n", msg.Link)
	if msg.Code != "" {
		fmt.Fprintf(&b, "Code:    %s\n", msg.Code)
	}
	if !msg.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, "Expires: %s\n", msg.ExpiresAt.Format(time.RFC3339))
	}
	b.WriteString("\n")
	b.WriteString(msg.Text)
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteString("\n")
	}
	b.WriteString("====\n")
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.w.Write(b.Bytes())
	return err
}
