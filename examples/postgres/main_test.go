package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/examples/internal/demo"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/store/pgstore"
	"github.com/magiclink-go/magiclink/store/pgstore/pgtest"
)

// TestMain lets tests start a PostgreSQL server of their own (pgtest):
// those that need one are skipped when the machine has none, unless
// MAGICLINK_REQUIRE_POSTGRES=1.
func TestMain(m *testing.M) { pgtest.Main(m) }

// newTestApp wires the app with args, a fresh bbolt file beside, and
// closes it when the test ends.
func newTestApp(t *testing.T, args ...string) *demo.Wired {
	t.Helper()
	a, err := demo.Wire(append([]string{"-db", filepath.Join(t.TempDir(), "test.db"), "-base-url", "http://127.0.0.1:1"}, args...),
		slog.New(slog.DiscardHandler), postgresFlag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a
}

// TestPostgres runs two apps on one database with -postgres, as two
// instances would: each creates the schema at start-up if it is missing,
// what one stores the other sees, and they share the send limits.
func TestPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	a, b := newTestApp(t, "-postgres", dsn), newTestApp(t, "-postgres", dsn)
	for _, app := range []*demo.Wired{a, b} {
		if _, ok := app.Store.(*pgstore.Store); !ok {
			t.Fatalf("store is %T; want *pgstore.Store", app.Store)
		}
	}
	ctx := context.Background()
	u, err := a.Auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Auth.Users.FindByEmail(ctx, "ada@example.com")
	if err != nil || got.ID != u.ID {
		t.Fatalf("the other instance finds %v, %v; want user %s", got, err, u.ID)
	}

	// A link sent by one instance starts the address's cooldown on both.
	for i, app := range []*demo.Wired{a, b} {
		c := authtest.Client(t, app.Auth)
		si, err := app.Auth.SignIns.Create(ctx, c, magiclink.SignInParams{Identifier: "ada@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = si.PrepareVerification(ctx, magiclink.PrepareParams{})
		switch e := magiclink.AsError(err); {
		case i == 0 && err != nil:
			t.Fatalf("first link: %v", err)
		case i == 1 && (e == nil || e.Code != "too_many_requests"):
			t.Fatalf("second link, from the other instance, within the cooldown: %v; want too_many_requests", err)
		}
	}
}

// TestPostgresUnreachable: a database that cannot be reached is an error
// at start-up, and no bbolt file is made instead.
func TestPostgresUnreachable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "test.db")
	a, err := demo.Wire([]string{"-db", db, "-postgres", "postgres://magiclink@127.0.0.1:1/none?connect_timeout=5"},
		slog.New(slog.DiscardHandler), postgresFlag)
	if err == nil {
		a.Close()
		t.Fatal("the app started without a database")
	}
	if !strings.Contains(err.Error(), "-postgres") {
		t.Errorf("error %q does not name -postgres", err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a bbolt file was made: %v", err)
	}
}
