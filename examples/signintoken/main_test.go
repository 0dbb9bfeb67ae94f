package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/authtest"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// app is what examples/basic mounts: the Frontend API at /auth and the
// Backend API at /v1.
func app(t *testing.T, key string) (*magiclink.Auth, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	auth, err := magiclink.New(magiclink.Config{BaseURL: srv.URL, Store: memstore.New(memstore.Config{}), Mailer: mailtest.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	mux.Handle("/auth/", auth.Handler())
	mux.Handle("/v1/", auth.BackendHandler(key))
	return auth, srv
}

func env(key string) func(string) string {
	return func(name string) string {
		if name == "MAGICLINK_SECRET_KEY" {
			return key
		}
		return ""
	}
}

func TestWelcomeEmail(t *testing.T) {
	const key = "sk_test_example"
	auth, srv := app(t, key)
	ctx := context.Background()
	dir := t.TempDir()

	// Twice: the first run creates the user, the second finds it.
	var tokens []string
	for i := range 2 {
		var out strings.Builder
		err := run(ctx, []string{"-api", srv.URL + "/v1", "-email", "ada@example.com", "-expires-in", "48h"}, env(key), &out)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		link := regexp.MustCompile(`Link: +(\S+)`).FindStringSubmatch(out.String())
		if link == nil || !strings.HasPrefix(link[1], srv.URL+"/accept-token?token=") ||
			!strings.Contains(out.String(), "This link expires in 2 days") ||
			!strings.Contains(out.String(), srv.URL+"/auth/ticket?token=") {
			t.Fatalf("run %d printed no welcome email with an accept-token link, a 2-day expiry and the token's url (%d bytes)", i, out.Len())
		}
		u, _ := url.Parse(link[1])
		tokens = append(tokens, u.Query().Get("token"))
	}
	// The link's token signs Ada in, once.
	u, err := auth.Users.FindByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	client := authtest.Client(t, auth)
	for _, tok := range tokens {
		si, err := auth.SignIns.Create(ctx, client, magiclink.SignInParams{Strategy: "ticket", Ticket: tok})
		if err != nil || si.Status != magiclink.SignInComplete {
			t.Fatalf("redeeming the emailed token: %v", err)
		}
		if s, _ := si.ClaimSession(ctx); s == nil || s.UserID != u.ID {
			t.Fatalf("session = %+v; want one for %s", s, u.ID)
		}
	}

	// With -mail-dir, the email is an .eml file.
	var out strings.Builder
	if err := run(ctx, []string{"-api", srv.URL + "/v1", "-email", "bob@example.com", "-mail-dir", dir}, env(key), &out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d .eml files; want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	eml := strings.ReplaceAll(string(raw), "=\r\n", "") // undo quoted-printable soft breaks
	if !strings.Contains(eml, "To: <bob@example.com>") || !strings.Contains(eml, "/accept-token?token=3D") {
		t.Fatalf("the .eml file (%d bytes) lacks the recipient or the link", len(raw))
	}
}

func TestErrors(t *testing.T) {
	_, srv := app(t, "sk_test_example")
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		key  string
		want string
	}{
		{[]string{"-api", srv.URL + "/v1"}, "sk_test_example", "-email is required"},
		{[]string{"-api", srv.URL + "/v1", "-email", "ada@example.com"}, "", "MAGICLINK_SECRET_KEY"},
		{[]string{"-api", srv.URL + "/v1", "-email", "ada@example.com"}, "sk_wrong", "401 authentication_invalid"},
		{[]string{"-api", srv.URL + "/v1", "-email", "not an address"}, "sk_test_example", "422"},
		{[]string{"-api", srv.URL + "/v1", "-email", "ada@example.com", "-expires-in", "0s"}, "sk_test_example", "expires_in_seconds"},
	} {
		var out strings.Builder
		err := run(ctx, tc.args, env(tc.key), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("run %v = %v; want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}
