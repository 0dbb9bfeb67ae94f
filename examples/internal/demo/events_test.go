package demo

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/webhook"
)

// TestWebhookAndMetricsFlags: with -webhook and -metrics, a sign-up's
// events reach a receiver, verified, and the metrics page counts it.
func TestWebhookAndMetricsFlags(t *testing.T) {
	secret := webhook.NewSecret()
	types := make(chan string, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		types <- regexp.MustCompile(`"type":"([^"]+)"`).FindStringSubmatch(string(body))[1]
	}))
	defer rcv.Close()
	ta := newTestApp(t, "-webhook", rcv.URL, "-webhook-secret", secret, "-metrics", "127.0.0.1:0")

	c := browser(t, true)
	startSignUp(t, c, ta.url, "ada@example.com")
	confirmLink(t, c, ta.url, waitMessage(t, ta.inbox, "ada@example.com").Link)
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !seen["user.created"] || !seen["session.created"] || !seen["email.created"] {
		select {
		case typ := <-types:
			seen[typ] = true
		case <-deadline:
			t.Fatalf("events received: %v", seen)
		}
	}

	_, page := get(t, browser(t, false), "http://"+ta.metrics.ln.Addr().String()+"/metrics")
	for _, want := range []string{`magiclink_flows_total{`, `outcome="completed"`, `magiclink_emails_total{`, `magiclink_outbox_depth{`} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics page lacks %s:\n%s", want, page)
		}
	}
}

func TestWebhookFlagsChecked(t *testing.T) {
	secret := webhook.NewSecret()
	t.Setenv("MAGICLINK_WEBHOOK_SECRET", "")
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-webhook", "http://127.0.0.1:9/in", "-webhook-secret", secret}, true},
		{[]string{"-webhook", "https://hooks.example/in", "-webhook-secret", secret}, true},
		{[]string{"-webhook", "http://hooks.example/in", "-webhook-secret", secret}, false},
		{[]string{"-webhook", "http://hooks.example/in", "-webhook-secret", secret, "-webhook-insecure"}, true},
		{[]string{"-webhook", "https://hooks.example/in"}, false},
		{[]string{"-webhook", "https://hooks.example/in", "-webhook-secret", "hunter2"}, false},
		{[]string{"-webhook-secret", secret}, false},
	} {
		o, err := parseFlags(append([]string{"-db", filepath.Join(t.TempDir(), "f.db"), "-base-url", "http://127.0.0.1:1"}, tt.args...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(o, slog.New(slog.DiscardHandler))
		if err == nil {
			a.close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok %v", tt.args, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error shows the secret", tt.args)
		}
	}
}
