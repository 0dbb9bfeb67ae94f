package magiclink_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// TestNewRefusesNilMailer: no configuration silently prints live links.
func TestNewRefusesNilMailer(t *testing.T) {
	_, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{})})
	if err == nil || !strings.Contains(err.Error(), "Mailer") {
		t.Fatalf("New without a Mailer = %v; want an error naming Config.Mailer", err)
	}
}

// TestNewRefusesSharedPrefix: the two handlers cannot be mounted at one
// path.
func TestNewRefusesSharedPrefix(t *testing.T) {
	for _, cfg := range []magiclink.Config{
		{Prefix: "/api", BackendPrefix: "/api"},
		{BackendPrefix: "/auth"},
		{BackendPrefix: "v1"},
		{BackendPrefix: "/v1/"},
	} {
		cfg.BaseURL, cfg.Mailer, cfg.Store = "https://app.example", mailtest.New(), memstore.New(memstore.Config{})
		if a, err := magiclink.New(cfg); err == nil {
			a.Close()
			t.Errorf("New with Prefix %q, BackendPrefix %q worked", cfg.Prefix, cfg.BackendPrefix)
		}
	}
}

// TestDefaultStore: without a Store, New opens the bbolt file at DBPath,
// says so in the log with its absolute path, and Close closes it (the file
// can be opened again at once).
func TestDefaultStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	var logs bytes.Buffer
	cfg := magiclink.Config{BaseURL: "https://app.example", Mailer: mailtest.New(), DBPath: path,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	a, err := magiclink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), path) {
		t.Fatalf("log %q does not name the file %s", logs.String(), path)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := magiclink.New(cfg) // fails with a lock error if Close left it open
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// TestPassedStoreStaysOpen: a Store passed in is the caller's; Close
// leaves it open.
func TestPassedStoreStaysOpen(t *testing.T) {
	st := memstore.New(memstore.Config{})
	a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Mailer: mailtest.New(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(t.Context(), "anything"); errors.Is(err, store.ErrClosed) {
		t.Fatal("Auth.Close closed the Store passed in")
	}
	st.Close()
}
