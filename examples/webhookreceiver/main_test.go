package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/webhook"
)

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReceiver: a signed delivery is printed once however often it comes;
// a forged one is refused.
func TestReceiver(t *testing.T) {
	secret := webhook.NewSecret()
	var out lockedBuilder
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
