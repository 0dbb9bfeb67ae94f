//go:build unix

package maildir_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/mailer/maildir"
)

// Fault: a process died while writing a message, leaving its temporary
// file. Rule: New removes it, but not the temporary file of a writer
// still at work (another process sharing the folder), nor anyone else's
// files.
func TestNewRemovesAbandonedTempFiles(t *testing.T) {
	dir := t.TempDir()
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("From: half a mess"), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := os.Create(filepath.Join(dir, ".tmp-456"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := syscall.Flock(int(live.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := maildir.New(dir, maildir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if exists(".tmp-123") {
		t.Error("the dead writer's temporary file is still there")
	}
	if !exists(".tmp-456") || !exists("notes.txt") {
		t.Errorf("New removed a file being written (%v) or someone else's (%v)", !exists(".tmp-456"), !exists("notes.txt"))
	}
	if err := m.Send(context.Background(), mimetest.Rendered(t, testLink)); err != nil {
		t.Fatal(err)
	}
	live.Close()
	os.Remove(filepath.Join(dir, ".tmp-456"))
	os.Remove(filepath.Join(dir, "notes.txt"))
	if got := files(t, dir); len(got) != 1 {
		t.Fatalf("files after one send: %v", got)
	}
}
