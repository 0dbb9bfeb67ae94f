package magiclink_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestJWKSIndependentVerification checks a sign-in token with another
// JOSE implementation (the npm "jose" package under Node) against the
// JWKS the server serves, and checks that a tampered token fails there
// too. It needs node and internal/jwkscheck/node_modules (npm ci); it is
// skipped without them unless MAGICLINK_REQUIRE_NODE=1, as in CI.
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
