package magiclink_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBackendAuthentication(t *testing.T) {
	s := newTicketServer(t, nil)
	for _, tc := range []struct{ name, header string }{
		{"no header", ""},
		{"wrong key", "Bearer sk_test_wrong"},
		{"key prefix", "Bearer " + sitSecretKey[:len(sitSecretKey)-1]},
		{"key with suffix", "Bearer " + sitSecretKey + "x"},
		{"basic scheme", "Basic " + sitSecretKey},
		{"bare key", sitSecretKey},
		{"empty bearer", "Bearer "},
	} {
		for _, route := range []struct{ method, path string }{
			{"POST", "/v1/users"}, {"POST", "/v1/sign_in_tokens"}, {"GET", "/v1/users/user_x"}, {"GET", "/v1/nope"},
		} {
			code, h, out := s.do(t, nil, route.method, route.path, tc.header, map[string]any{"email_address": "eve@example.com"})
			if code != 401 || errCode(out) != "authentication_invalid" || h.Get("Set-Cookie") != "" {
				t.Fatalf("%s: %s %s = %d %v", tc.name, route.method, route.path, code, out)
			}
		}
	}
	// A handler without a key refuses everything, even an empty bearer.
	h := s.auth.BackendHandler("")
	for _, header := range []string{"", "Bearer ", "Bearer x"} {
		req := httptest.NewRequest("GET", "/v1/users/user_x", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("BackendHandler(\"\") with %q = %d; want 401", header, rec.Code)
		}
	}
	// Case-insensitive scheme, as RFC 9110 says.
	if code, _, out := s.do(t, nil, "GET", "/v1/users/user_00000000000000000000000000000000", "bearer "+sitSecretKey, nil); code != 404 {
		t.Fatalf("lower-case bearer = %d %v", code, out)
	}
}

func TestBackendUsersAndTokens(t *testing.T) {
	s := newTicketServer(t, nil)
	code, u := s.api(t, "POST", "/users", map[string]any{"email_address": "ada@example.com"})
	if code != 200 || u["object"] != "user" || !strings.HasPrefix(u["id"].(string), "user_") {
		t.Fatalf("POST /users = %d %v", code, u)
	}
	uid := u["id"].(string)
	if code, out := s.api(t, "POST", "/users", map[string]any{"email_address": "ada@example.com"}); code != 422 || errCode(out) != "form_identifier_exists" {
		t.Fatalf("POST /users again = %d %v", code, out)
	}
	if code, out := s.api(t, "POST", "/users", map[string]any{}); code != 422 || errCode(out) != "form_param_missing" {
		t.Fatalf("POST /users without address = %d %v", code, out)
	}
	if code, out := s.api(t, "POST", "/users", map[string]any{"email_address": "Eve <eve@example.com>"}); code != 422 {
		t.Fatalf("POST /users with a display name = %d %v", code, out)
	}
	if code, out := s.api(t, "GET", "/users/"+uid, nil); code != 200 || out["id"] != uid {
		t.Fatalf("GET /users/{id} = %d %v", code, out)
	}
	if code, out := s.api(t, "GET", "/users?email_address=ada@example.com", nil); code != 200 || len(out["list"].([]any)) != 1 {
		t.Fatalf("GET /users?email_address = %d %v", code, out)
	}
	if code, out := s.api(t, "GET", "/users?email_address=nobody@example.com", nil); code != 200 || len(out["list"].([]any)) != 0 {
		t.Fatalf("GET /users?email_address (unknown) = %d %v", code, out)
	}
	for _, id := range []string{"user_00000000000000000000000000000000", "user_x", "..%2F..%2Fx"} {
		if code, out := s.api(t, "GET", "/users/"+id, nil); code != 404 || errCode(out) != "resource_not_found" {
			t.Fatalf("GET /users/%s = %d %v", id, code, out)
		}
		if code, out := s.api(t, "POST", "/sign_in_tokens", map[string]any{"user_id": id}); code != 404 || errCode(out) != "resource_not_found" {
			t.Fatalf("POST /sign_in_tokens for %s = %d %v", id, code, out)
		}
	}
	for _, body := range []string{
		`{"user_id":"` + uid + `","expires_in_seconds":0}`,
		`{"user_id":"` + uid + `","expires_in_seconds":-1}`,
		`{"user_id":"` + uid + `","expires_in_seconds":"abc"}`,
		`{"user_id":"` + uid + `","expires_in_seconds":1.5}`,
		`{"user_id":"` + uid + `","expires_in_seconds":31536001}`,
		`{"user_id":"` + uid + `","expires_in_seconds":true}`,
		`{"user_id":"` + uid + `","expires_in_seconds":1e99}`,
		`{"expires_in_seconds":60}`,
		`{"user_id":42}`,
	} {
		if code, out := s.api(t, "POST", "/sign_in_tokens", body); code != 422 {
			t.Fatalf("POST /sign_in_tokens %s = %d %v; want 422", body, code, out)
		}
	}
	for _, body := range []string{`{"user_id":`, `[1]`, `{"user_id":"a"}{}`} {
		if code, out := s.api(t, "POST", "/sign_in_tokens", body); code != 400 || errCode(out) != "malformed_request" {
			t.Fatalf("POST /sign_in_tokens %s = %d %v; want 400", body, code, out)
		}
	}

	code, tok := s.api(t, "POST", "/sign_in_tokens", map[string]any{"user_id": uid, "expires_in_seconds": 3600})
	if code != 200 || tok["object"] != "sign_in_token" || tok["status"] != "pending" || tok["user_id"] != uid ||
		tok["url"] != s.srv.URL+"/auth/ticket?token="+tok["token"].(string) {
		t.Fatalf("POST /sign_in_tokens = %d %v", code, tok)
	}
	now := s.clock.Now()
	if tok["created_at"] != float64(now.UnixMilli()) || tok["expire_at"] != float64(now.Add(time.Hour).UnixMilli()) {
		t.Fatalf("timestamps of %v; want ms from %v", tok, now)
	}
	id := tok["id"].(string)
	if code, out := s.api(t, "GET", "/sign_in_tokens/"+id, nil); code != 200 || out["token"] != nil || out["url"] != nil || out["status"] != "pending" {
		t.Fatalf("GET /sign_in_tokens/{id} = %d %v", code, out)
	}
	// Form bodies work too (curl -d without a content type).
	if code, out := s.api(t, "POST", "/sign_in_tokens", url.Values{"user_id": {uid}, "expires_in_seconds": {"60"}}); code != 200 || out["status"] != "pending" {
		t.Fatalf("form POST /sign_in_tokens = %d %v", code, out)
	}
	if code, out := s.api(t, "POST", "/sign_in_tokens/"+id+"/revoke", nil); code != 200 || out["status"] != "revoked" || out["token"] != nil {
		t.Fatalf("revoke = %d %v", code, out)
	}
	if code, out := s.api(t, "POST", "/sign_in_tokens/"+id+"/revoke", nil); code != 400 || errCode(out) != "sign_in_token_cannot_be_revoked" {
		t.Fatalf("revoke again = %d %v", code, out)
	}
	if code, out := s.api(t, "POST", "/sign_in_tokens/sit_00000000000000000000000000000000/revoke", nil); code != 404 {
		t.Fatalf("revoke unknown = %d %v", code, out)
	}
	c := s.browser(t)
	code, _, out := s.do(t, c, "POST", "/auth/sign_ins", "", map[string]any{"strategy": "ticket", "ticket": tok["token"]})
	if code != 400 || errCode(out) != "sign_in_token_revoked_code" {
		t.Fatalf("sign-in with a revoked token = %d %v", code, out)
	}
	if code, out := s.api(t, "GET", "/nope", nil); code != 404 || errCode(out) != "resource_not_found" {
		t.Fatalf("unknown route = %d %v", code, out)
	}
}
