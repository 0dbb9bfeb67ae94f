package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/webhook"
)

// TestReceiver: a signed delivery is printed once however often it comes;
// a forged one is refused.
func TestReceiver(t *testing.T) {
	secret := webhook.NewSecret()
	var out syncbuf.Buffer
	srv := httptest.NewServer(newReceiver(secret, &out))
	defer srv.Close()
	body := `{"data":{"object":"user","id":"user_1"},"object":"event","type":"user.created","timestamp":1764633600000}`
	post := func(secret string) int {
		t.Helper()
		h, err := webhook.Headers("evt_1", time.Now(), []byte(body), secret)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", srv.URL+"/webhooks", strings.NewReader(body))
		req.Header = h
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(webhook.NewSecret()); got != http.StatusBadRequest {
		t.Fatalf("forged delivery: %d", got)
	}
	for range 2 {
		if got := post(secret); got != http.StatusNoContent {
			t.Fatalf("delivery: %d", got)
		}
	}
	if n := strings.Count(out.String(), "evt_1 user.created"); n != 1 {
		t.Fatalf("printed %d times:\n%s", n, out.String())
	}
}
