package magiclink_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/storetest"
	"github.com/magiclink-go/magiclink/webhook"
)

// TestWebhooksSurviveDowntimeAndRestart: the receiver refuses for a
// while, the process stops and starts again on the same bbolt file, the
// receiver comes back: every event arrives, with the webhook-id it was
// first tried with.
func TestWebhooksSurviveDowntimeAndRestart(t *testing.T) {
	var rcv *receiver
	open, clock := newRestarts(t, func(c *magiclink.Config) { c.Webhooks = []magiclink.WebhookEndpoint{rcv.endpoint()} })
	rcv = newReceiver(t, clock.Now)
	rcv.setStatus(http.StatusServiceUnavailable)
	a := open()
	var users []string
	for _, addr := range []string{"ada@example.com", "grace@example.com", "edsger@example.com"} {
		u, err := a.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: addr})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	ids := func() []string { // the webhook-ids tried so far
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		var out []string
		for id := range rcv.tries {
			out = append(out, id)
		}
		return out
	}
	rcv.waitFor("each event tried once", func() bool { return len(ids()) == 3 })
	tried := ids()
	a.Close()

	rcv.setStatus(0)
	clock.Advance(time.Hour) // past the backoff: the new process finds them due
	a = open()
	defer a.Close()
	got := rcv.waitTypes(map[string]int{"user.created": 3})
	for _, id := range tried {
		found := false
		for _, d := range got {
			found = found || d.id == id
		}
		if !found {
			t.Errorf("webhook-id %s tried before the restart was not delivered after it", id)
		}
	}
	for _, d := range got {
		if !strings.Contains(strings.Join(users, " "), d.event["data"].(map[string]any)["id"].(string)) {
			t.Errorf("delivered %s", d.body)
		}
	}
}

// TestWebhookGoneDisablesEndpoint: 410 turns the endpoint off until
// EnableWebhook; another endpoint goes on receiving.
func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	var gone, other *receiver
	var logs syncbuf.Buffer
	e := newEnv(t, func(c *magiclink.Config) {
		gone, other = newReceiver(t, c.Now), newReceiver(t, c.Now)
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Webhooks = []magiclink.WebhookEndpoint{gone.endpoint(), other.endpoint()}
	})
	ctx := context.Background()
	gone.setStatus(http.StatusGone)
	u, err := e.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tries := func() int {
		gone.mu.Lock()
		defer gone.mu.Unlock()
		return len(gone.tries)
	}
	gone.waitFor("the 410", func() bool { return tries() == 1 })
	deadline := time.After(10 * time.Second)
	for !bytes.Contains(logs.Bytes(), []byte("is disabled")) {
		select {
		case <-deadline:
			t.Fatalf("endpoint not disabled; logs:\n%s", logs.Bytes())
		case <-time.After(5 * time.Millisecond):
		}
	}
	for range 3 {
		if _, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{}); err != nil {
			t.Fatal(err)
		}
	}
	other.waitTypes(map[string]int{"user.created": 1, "sign_in_token.created": 3})
	e.clock.Advance(time.Hour)
	if _, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{}); err != nil {
		t.Fatal(err)
	}
	other.waitTypes(map[string]int{"user.created": 1, "sign_in_token.created": 4})
	if n := tries(); n != 1 {
		t.Fatalf("a disabled endpoint got %d requests", n)
	}
	gone.setStatus(0)
	if err := e.auth.EnableWebhook(ctx, e.auth.WebhookEndpointIDs()[0]); err != nil {
		t.Fatal(err)
	}
	tok, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	gone.waitFor("a delivery after EnableWebhook", func() bool {
		for _, d := range gone.deliveries() {
			if d.event["data"].(map[string]any)["id"] == tok.ID {
				return true
			}
		}
		return false
	})
}

// TestWebhookSafety: redirects are not followed (and are retried), an
// endless answer is read only a little, a hanging endpoint delays no
// other endpoint and no change, and neither secret nor URL reaches the
// logs.
func TestWebhookSafety(t *testing.T) {
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	var redirects atomic.Int32
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirects.Add(1)
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	var endless atomic.Int32
	var flooded atomic.Int64 // the most bytes one answer got out before the client hung up
	flood := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		endless.Add(1)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		n := int64(0)
		defer func() {
			for old := flooded.Load(); n > old && !flooded.CompareAndSwap(old, n); old = flooded.Load() {
			}
		}()
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			n += int64(len(chunk))
		}
	}))
	defer flood.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	var logs syncbuf.Buffer
	var good *receiver
	secret := webhook.NewSecret()
	e := newEnv(t, func(c *magiclink.Config) {
		good = newReceiver(t, c.Now)
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Webhooks = []magiclink.WebhookEndpoint{
			{URL: hang.URL + "/hook?token=receiver-credential", Secrets: []string{secret}},
			{URL: redirect.URL, Secrets: []string{secret}},
			{URL: flood.URL, Secrets: []string{secret}},
			good.endpoint(),
		}
	})
	ctx := context.Background()
	u, err := e.auth.Users.Create(ctx, magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{}); err != nil {
			t.Fatal(err)
		}
	}
	// The hanging endpoint holds its workers; the good one gets all.
	good.waitTypes(map[string]int{"user.created": 1, "sign_in_token.created": 5})
	if followed.Load() != 0 {
		t.Fatal("a redirect was followed")
	}
	first := redirects.Load()
	e.clock.Advance(time.Hour)
	if _, err := e.auth.SignInTokens.Create(ctx, u.ID, magiclink.SignInTokenParams{}); err != nil {
		t.Fatal(err)
	}
	good.waitTypes(map[string]int{"user.created": 1, "sign_in_token.created": 6})
	deadline := time.After(15 * time.Second)
	for redirects.Load() <= first || endless.Load() < 7 {
		select {
		case <-deadline:
			t.Fatalf("redirect endpoint tried %d times (first round %d), endless endpoint %d", redirects.Load(), first, endless.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if followed.Load() != 0 {
		t.Fatal("a redirect was followed")
	}
	// What the client did not read stays in socket buffers: a few MiB at
	// most, where reading it all would take gigabytes before the timeout.
	if n := flooded.Load(); n > 64<<20 {
		t.Errorf("an endless answer was read: %d bytes went out", n)
	}
	for _, s := range []string{secret, "receiver-credential"} {
		if bytes.Contains(logs.Bytes(), []byte(s)) {
			t.Errorf("the logs carry %q:\n%s", s, logs.Bytes())
		}
	}
}

// TestWebhookConfigChecked: New refuses what would deliver insecurely or
// not at all.
func TestWebhookConfigChecked(t *testing.T) {
	secret := webhook.NewSecret()
	for _, tt := range []struct {
		ep magiclink.WebhookEndpoint
		ok bool
	}{
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in", Secrets: []string{secret}}, true},
		{magiclink.WebhookEndpoint{URL: "http://127.0.0.1:9/in", Secrets: []string{secret}}, true},
		{magiclink.WebhookEndpoint{URL: "http://localhost:9/in", Secrets: []string{secret}}, true},
		{magiclink.WebhookEndpoint{URL: "http://hooks.example/in", Secrets: []string{secret}}, false},
		{magiclink.WebhookEndpoint{URL: "http://hooks.example/in", Secrets: []string{secret}, AllowInsecure: true}, true},
		{magiclink.WebhookEndpoint{URL: "ftp://hooks.example/in", Secrets: []string{secret}}, false},
		{magiclink.WebhookEndpoint{URL: "/in", Secrets: []string{secret}}, false},
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in"}, false},
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in", Secrets: []string{"whsec_c2hvcnQ="}}, false},
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in", Secrets: []string{strings.TrimPrefix(secret, "whsec_")}}, false},
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in", Secrets: []string{secret}, Types: []magiclink.EventType{"user.exploded"}}, false},
		{magiclink.WebhookEndpoint{URL: "https://hooks.example/in", Secrets: []string{secret}, ID: "a/b"}, false},
	} {
		e := newEnvErr(t, func(c *magiclink.Config) { c.Webhooks = []magiclink.WebhookEndpoint{tt.ep} })
		if (e == nil) != tt.ok {
			t.Errorf("New with %+v: error %v, want ok %v", tt.ep, e, tt.ok)
		}
	}
}

// newEnvErr returns New's error for a test config changed by mod.
func newEnvErr(t *testing.T, mod func(*magiclink.Config)) error {
	clock := storetest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	cfg := magiclink.Config{BaseURL: "https://app.example", DBPath: filepath.Join(t.TempDir(), "x.db"), Mailer: mailtest.New(), Now: clock.Now}
	mod(&cfg)
	a, err := magiclink.New(cfg)
	if err == nil {
		a.Close()
	}
	return err
}
