package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/webhook"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	oldSecret, newSecret, other := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	body := []byte(`{"type":"user.created"}`)
	signed := func(ts time.Time, secrets ...string) http.Header {
		h, err := webhook.Headers("evt_1", ts, body, secrets...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, tt := range []struct {
		name    string
		secrets []string // the receiver's
		h       http.Header
		body    []byte
		want    error
	}{
		{"valid", []string{oldSecret}, signed(now, oldSecret), body, nil},
		{"rotation: signed with both, receiver knows the old", []string{oldSecret}, signed(now, newSecret, oldSecret), body, nil},
		{"rotation: receiver knows both", []string{newSecret, oldSecret}, signed(now, oldSecret), body, nil},
		{"wrong secret", []string{other}, signed(now, oldSecret), body, webhook.ErrSignature},
		{"tampered body", []string{oldSecret}, signed(now, oldSecret), []byte(`{"type":"user.deleted"}`), webhook.ErrSignature},
		{"4 minutes old", []string{oldSecret}, signed(now.Add(-4*time.Minute), oldSecret), body, nil},
		{"6 minutes old", []string{oldSecret}, signed(now.Add(-6*time.Minute), oldSecret), body, webhook.ErrTimestamp},
		{"6 minutes ahead", []string{oldSecret}, signed(now.Add(6*time.Minute), oldSecret), body, webhook.ErrTimestamp},
		{"no headers", []string{oldSecret}, http.Header{}, body, webhook.ErrHeaders},
		{"bad timestamp", []string{oldSecret}, func() http.Header {
			h := signed(now, oldSecret)
			h.Set(webhook.HeaderTimestamp, "soon")
			return h
		}(), body, webhook.ErrHeaders},
		{"other id", []string{oldSecret}, func() http.Header {
			h := signed(now, oldSecret)
			h.Set(webhook.HeaderID, "evt_2")
			return h
		}(), body, webhook.ErrSignature},
		{"unknown versions are skipped", []string{oldSecret}, func() http.Header {
			h := signed(now, oldSecret)
			h.Set(webhook.HeaderSignature, "v2,abc "+h.Get(webhook.HeaderSignature))
			return h
		}(), body, nil},
		{"bad secret", []string{"whsec_short"}, signed(now, oldSecret), body, webhook.ErrSecret},
	} {
		v := webhook.Verifier{Secrets: tt.secrets, Now: clock}
		if err := v.Verify(tt.h, tt.body); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	s := webhook.NewSecret()
	if !strings.HasPrefix(s, webhook.SecretPrefix) || s == webhook.NewSecret() {
		t.Fatalf("NewSecret = %q", s)
	}
	key, err := webhook.ParseSecret(s)
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret = %d bytes, %v", len(key), err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "whsec_c2hvcnQ=", "whsec_" + strings.Repeat("QUFB", 30)} {
		if _, err := webhook.ParseSecret(bad); !errors.Is(err, webhook.ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v", bad, err)
		}
	}
	if _, err := webhook.Sign("evt_1", time.Now(), nil); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("Sign without a secret: %v", err)
	}
}

// The signature of the Standard Webhooks specification's example.
func ExampleSign() {
	sig, err := webhook.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0),
		[]byte(`{"test": 2432232314}`), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fmt.Println(sig, err)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
}
