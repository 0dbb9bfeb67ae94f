package maildir_test

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/maildir"
)

const testLink = "https://app.example/auth/verify?token=abc&x=1"

var nameRE = regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\.eml$`)

// files returns the names in dir, failing on any that is not a finished
// .eml file.
func files(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !nameRE.MatchString(e.Name()) {
			t.Errorf("unexpected file %q (a temporary file left behind?)", e.Name())
		}
		names = append(names, e.Name())
	}
	return names
}

func TestSend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail", "inbox")
	m, err := maildir.New(dir, maildir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Dir() != dir {
		t.Errorf("Dir() = %q", m.Dir())
	}
	msg := mimetest.Rendered(t, testLink)
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	names := files(t, dir)
	if len(names) != 1 {
		t.Fatalf("%d files, want 1", len(names))
	}
	path := filepath.Join(dir, names[0])
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mimetest.Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	if diff := cmp.Diff(mimetest.HeaderKeys, p.Keys()); diff != "" {
		t.Errorf("header fields (-want +got):\n%s", diff)
	}
	if a, err := mail.ParseAddress(p.Header.Get("From")); err != nil || a.String() != "\"magiclink\" <no-reply@localhost>" {
		t.Errorf("From = %q", p.Header.Get("From"))
	}
	if s, _ := p.Subject(); s != msg.Subject || p.Header.Get("To") != "<ada@example.com>" {
		t.Errorf("Subject %q, To %q", s, p.Header.Get("To"))
	}
	if !strings.Contains(p.Text, testLink) || !strings.Contains(p.HTML, "token=abc&amp;x=1") {
		t.Errorf("bodies lack the link:\n%s\n%s", p.Text, p.HTML)
	}
	if runtime.GOOS != "windows" {
		for _, check := range []struct {
			path string
			want os.FileMode
		}{{path, 0o600}, {dir, 0o700}} {
			fi, err := os.Stat(check.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != check.want {
				t.Errorf("%s: mode %v, want %v", check.path, fi.Mode().Perm(), check.want)
			}
		}
	}
}

func TestConfigFrom(t *testing.T) {
	dir := t.TempDir()
	m, err := maildir.New(dir, maildir.Config{From: "Example <hello@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), mimetest.Rendered(t, testLink)); err != nil {
		t.Fatal(err)
	}
	names := files(t, dir)
	raw, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mimetest.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Header.Get("From"); got != `"Example" <hello@example.com>` {
		t.Errorf("From = %q", got)
	}
}

func TestNew(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, newMailer := range map[string]func() (*maildir.Mailer, error){
		"empty":        func() (*maildir.Mailer, error) { return maildir.New("", maildir.Config{}) },
		"a file":       func() (*maildir.Mailer, error) { return maildir.New(file, maildir.Config{}) },
		"under a file": func() (*maildir.Mailer, error) { return maildir.New(filepath.Join(file, "x"), maildir.Config{}) },
		"bad sender": func() (*maildir.Mailer, error) {
			return maildir.New(t.TempDir(), maildir.Config{From: "x@example.com\r\nBcc: eve@example.com"})
		},
	} {
		if _, err := newMailer(); err == nil {
			t.Errorf("%s: New() = nil error", name)
		}
	}
}

func TestSendConcurrent(t *testing.T) {
	dir := t.TempDir()
	m, err := maildir.New(dir, maildir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := m.Send(context.Background(), mimetest.Rendered(t, testLink)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	names := files(t, dir)
	if len(names) != n {
		t.Fatalf("%d files, want %d", len(names), n)
	}
	ids := map[string]bool{}
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := mimetest.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids[p.Header.Get("Message-Id")] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct Message-IDs, want %d", len(ids), n)
	}
}

func TestSendRejects(t *testing.T) {
	dir := t.TempDir()
	m, err := maildir.New(dir, maildir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	msg := mimetest.Rendered(t, testLink)
	msg.To = "ada@example.com\r\nBcc: eve@example.com"
	if err := m.Send(t.Context(), msg); !errors.Is(err, mailer.ErrInvalidMessage) || !mailer.IsPermanent(err) {
		t.Errorf("Send() = %v, want a permanent ErrInvalidMessage", err)
	}
	if err := m.Send(t.Context(), nil); !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Errorf("Send(nil) = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Send(ctx, mimetest.Rendered(t, testLink)); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled) = %v", err)
	}
	if names := files(t, dir); len(names) != 0 {
		t.Errorf("files written: %q", names)
	}
}

func TestSendFolderGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inbox")
	m, err := maildir.New(dir, maildir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), mimetest.Rendered(t, testLink))
	if err == nil || mailer.IsPermanent(err) {
		t.Errorf("Send() = %v, want a temporary error", err)
	}
}

// FuzzHeaders shows that no CR or LF in To, From or Subject adds a header to
// a written file: either Send rejects the message and writes nothing, or the
// one new file holds exactly the expected header fields.
func FuzzHeaders(f *testing.F) {
	mimetest.AddHeaderSeeds(f)
	f.Add("ada@example.com\r\nBcc: eve@example.com", "", "hi")
	f.Add("ada@example.com", "", "hi\r\nBcc: eve@example.com")
	f.Add("ada@example.com", "", "default sender")
	f.Fuzz(func(t *testing.T, to, from, subject string) {
		dir := t.TempDir()
		m, err := maildir.New(dir, maildir.Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(context.Background(), mimetest.FuzzMessage(to, from, subject))
		names := files(t, dir)
		if !mimetest.Written(t, err, len(names), to, from, subject) {
			return
		}
		raw, err := os.ReadFile(filepath.Join(dir, names[0]))
		if err != nil {
			t.Fatal(err)
		}
		if from == "" {
			from = maildir.DefaultFrom
		}
		mimetest.CheckFuzzed(t, raw, to, from, subject)
	})
}
