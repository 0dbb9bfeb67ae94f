package magiclink_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
	"github.com/magiclink-go/magiclink/webhook"
)

// Checks against other implementations, under Node: each needs node and
// its script's npm packages (npm ci in internal/jwkscheck and
// internal/webhookcheck); without them it is skipped, unless
// MAGICLINK_REQUIRE_NODE=1, as in CI.

// TestJWKSIndependentVerification checks a sign-in token with another
// JOSE implementation (the npm "jose" package under Node) against the
// JWKS the server serves, and checks that a tampered token fails there
// too.
func TestJWKSIndependentVerification(t *testing.T) {
	dir := filepath.Join("internal", "jwkscheck")
	node := requireNode(t, dir, "jose")
	s := newTicketServer(t, nil)
	_, tok := s.createToken(t, "ada@example.com", 3600)
	token := tok["token"].(string)

	verify := func(token string) (string, error) {
		return runScript(exec.Command(node, filepath.Join(dir, "verify.mjs"), s.srv.URL+"/auth/.well-known/jwks.json",
			s.srv.URL, s.srv.URL+"/auth", "magiclink-sit+jwt", strconv.FormatInt(s.clock.Now().Unix(), 10)), token)
	}
	out, err := verify(token)
	if err != nil {
		t.Fatalf("npm jose rejected a valid token: %v", err)
	}
	var got struct {
		ProtectedHeader map[string]any `json:"protectedHeader"`
		Payload         map[string]any `json:"payload"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	if got.Payload["jti"] != tok["id"] || got.ProtectedHeader["alg"] != "EdDSA" || got.ProtectedHeader["typ"] != "magiclink-sit+jwt" {
		t.Fatalf("npm jose read %+v", got)
	}
	seg := strings.Split(token, ".")
	h, c, _ := sitParts(t, token)
	c["exp"] = c["exp"].(float64) + 1
	tampered := seg[0] + "." + strings.Split(sitForge(h, c, func([]byte) []byte { return nil }), ".")[1] + "." + seg[2]
	if _, err := verify(tampered); err == nil || !strings.Contains(err.Error(), "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
		t.Fatalf("npm jose on a tampered token: %v; want a signature failure", err)
	}
}

// TestWebhookStandardWebhooksInterop checks real deliveries with another
// Standard Webhooks implementation (the npm "standardwebhooks" package
// under Node), with a secret being rotated (the receiver knows only the
// old one), and checks that it rejects a tampered body, a stale
// timestamp and a wrong secret.
func TestWebhookStandardWebhooksInterop(t *testing.T) {
	dir := filepath.Join("internal", "webhookcheck")
	node := requireNode(t, dir, "standardwebhooks")
	type raw struct {
		h    http.Header
		body []byte
	}
	got := make(chan raw, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- raw{r.Header.Clone(), body}
	}))
	defer rcv.Close()
	oldSecret, newSecret := webhook.NewSecret(), webhook.NewSecret()
	// The real clock: the Node library checks timestamps against it.
	a, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{}), Mailer: mailtest.New(),
		Webhooks: []magiclink.WebhookEndpoint{{URL: rcv.URL, Secrets: []string{newSecret, oldSecret}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	u, err := a.Users.Create(context.Background(), magiclink.UserParams{EmailAddress: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var d raw
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}

	verify := func(secret string, h http.Header, body []byte) (string, error) {
		cmd := exec.Command(node, filepath.Join(dir, "verify.mjs"),
			h.Get(webhook.HeaderID), h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature))
		cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
		return runScript(cmd, string(body))
	}
	for _, secret := range []string{oldSecret, newSecret} {
		out, err := verify(secret, d.h, d.body)
		if err != nil {
			t.Fatalf("standardwebhooks rejected a delivery: %v", err)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(out), &ev); err != nil || ev["type"] != "user.created" || ev["data"].(map[string]any)["id"] != u.ID {
			t.Fatalf("standardwebhooks read %s (%v)", out, err)
		}
	}

	tampered := []byte(strings.Replace(string(d.body), u.ID, "user_00000000000000000000000000000000", 1))
	if _, err := verify(oldSecret, d.h, tampered); err == nil || !strings.Contains(err.Error(), "No matching signature") {
		t.Errorf("tampered body: %v; want no matching signature", err)
	}
	stale, err := webhook.Headers(d.h.Get(webhook.HeaderID), time.Now().Add(-10*time.Minute), d.body, oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(oldSecret, stale, d.body); err == nil || !strings.Contains(err.Error(), "too old") {
		t.Errorf("stale timestamp: %v; want too old", err)
	}
	if _, err := verify(webhook.NewSecret(), d.h, d.body); err == nil {
		t.Error("a wrong secret verified")
	}
	// And the Go helper agrees.
	if err := webhook.Verify(oldSecret, d.h, d.body); err != nil {
		t.Errorf("webhook.Verify: %v", err)
	}
	if err := webhook.Verify(oldSecret, d.h, tampered); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("webhook.Verify on a tampered body: %v", err)
	}
	if err := webhook.Verify(oldSecret, stale, d.body); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("webhook.Verify on a stale timestamp: %v", err)
	}
}

// requireNode returns the node binary for an independent check whose
// script lives in dir and needs the npm package pkg installed there (npm
// ci). Without them the test is skipped, or fails when
// MAGICLINK_REQUIRE_NODE=1, as in CI.
func requireNode(t *testing.T, dir, pkg string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", pkg))
	}
	if err != nil {
		if os.Getenv("MAGICLINK_REQUIRE_NODE") == "1" {
			t.Fatalf("node or %s/node_modules missing (run npm ci there): %v", dir, err)
		}
		t.Skipf("node or %s/node_modules missing (run npm ci there): %v", dir, err)
	}
	return node
}

// runScript runs cmd with stdin as its standard input and returns its
// output; when it fails, the error is what it wrote to standard error (or
// how it failed, if it wrote nothing there).
func runScript(cmd *exec.Cmd, stdin string) (string, error) {
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", errors.New(msg)
		}
		return "", err
	}
	return string(out), nil
}
