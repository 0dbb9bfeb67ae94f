// Package maildir provides a Mailer that writes each message as one RFC 5322
// file, <timestamp>-<random>.eml, directly in a folder — a development inbox
// that any mail client opens, or a pickup folder for another program.
//
// Files appear atomically: each is written under a temporary name in the
// same folder (a hidden name not ending in .eml), synced, and renamed, so a
// reader that looks only at *.eml never sees a partial message. A process
// that dies while writing leaves its temporary file behind: New removes
// those no process is writing (on Unix, those whose lock it can take; a
// writer holds an flock on its file). Messages are
// composed by mailer.WriteMIME, as the smtp mailer's are.
//
// The files hold the messages' links, which are secrets: they are created
// with mode 0600, in a folder New creates with mode 0700.
package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/internal/compose"
)

// DefaultFrom is the sender of messages whose From is empty, unless
// Config.From sets another.
const DefaultFrom = "magiclink <no-reply@localhost>"

// Mailer writes messages as .eml files in a folder. It is safe for
// concurrent use, also by several processes sharing the folder.
type Mailer struct {
	dir  string
	from string
	now  func() time.Time
}

// Config configures a Mailer. The zero value is ready to use.
type Config struct {
	// From is the default sender, "addr" or "Name <addr>", used for
	// messages whose From is empty; default DefaultFrom. New rejects an
	// invalid one.
	From string
}

// New returns a Mailer writing into dir, which it creates (mode 0700) if it
// does not exist. It fails when dir is empty or not a folder, or when the
// default sender is invalid.
func New(dir string, cfg Config) (*Mailer, error) {
	if dir == "" {
		return nil, errors.New("maildir: empty folder name")
	}
	m := &Mailer{dir: dir, from: cfg.From, now: time.Now}
	if m.from == "" {
		m.from = DefaultFrom
	}
	if _, err := mailer.ParseFrom(m.from); err != nil {
		return nil, fmt.Errorf("maildir: default sender: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("maildir: %s is not a folder", dir)
	}
	// Temporary files of writers that died.
	tmps, _ := filepath.Glob(filepath.Join(dir, tempPattern))
	for _, p := range tmps {
		removeAbandoned(p)
	}
	return m, nil
}

// tempPattern names the temporary files messages are written to.
const tempPattern = ".tmp-*"

// createTemp creates a temporary file in m's folder and locks it. It
// tries again if a clean-up removed the file before the lock was taken.
func (m *Mailer) createTemp() (*os.File, error) {
	for {
		f, err := os.CreateTemp(m.dir, tempPattern)
		if err != nil {
			return nil, err
		}
		if err := lockTemp(f); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		mine, err1 := f.Stat()
		named, err2 := os.Stat(f.Name())
		if err1 == nil && err2 == nil && os.SameFile(mine, named) {
			return f, nil
		}
		f.Close()
		if err1 != nil {
			return nil, err1
		}
	}
}

// Dir returns the folder the Mailer writes into.
func (m *Mailer) Dir() string { return m.dir }

// Send writes msg, with the default sender when msg.From is empty, as a new
// .eml file: multipart/alternative (text and HTML) or text only, CRLF line
// endings. An invalid msg is an error wrapping mailer.ErrInvalidMessage, and
// writes nothing.
func (m *Mailer) Send(ctx context.Context, msg *mailer.Message) error {
	now := m.now()
	data, _, err := compose.Message("maildir", msg, m.from, now)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.write(data, now); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}

// write stores data atomically as a new .eml file.
func (m *Mailer) write(data []byte, now time.Time) (err error) {
	f, err := m.createTemp()
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var r [8]byte
	_, _ = rand.Read(r[:]) // never fails
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:]) + ".eml"
	if err := os.Rename(tmp, filepath.Join(m.dir, name)); err != nil {
		return err
	}
	// Make the rename durable where the platform allows it.
	if d, err := os.Open(m.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
