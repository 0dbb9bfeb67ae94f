package magiclink_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

const firefoxOnLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// TestHTTPCrossDeviceConfirmPage: with same-client binding off, the
// confirm page opened in another browser says which browser and system
// asked, from which network and how long ago, and offers "This wasn't
// me", which fails the flow: the waiting browser sees failed and gets no
// session, and the link no longer works. The browser that asked sees no
// warning, nor does anyone with binding on.
func TestHTTPCrossDeviceConfirmPage(t *testing.T) {
	for _, allow := range []bool{true, false} {
		s, asker, path, token := linkAsked(t, allow)
		s.clock.Advance(3 * time.Minute)
		page := "/auth/verify?token=" + url.QueryEscape(token)

		_, own := asker.do("GET", page, "", "")
		if strings.Contains(string(own), "deny") || strings.Contains(string(own), "Firefox") {
			t.Fatalf("the asking browser's page warns:\n%s", own)
		}
		victim := s.browser(t)
		_, other := victim.do("GET", page, "", "")
		warned := strings.Contains(string(other), `action="/auth/verify/deny"`)
		if !allow {
			if warned {
				t.Fatalf("with binding on, the page offers deny:\n%s", other)
			}
			continue
		}
		for _, want := range []string{"Firefox on Linux", "127.0.0.0/24", "3 minutes ago", `action="/auth/verify/deny"`, "This wasn’t me"} {
			if !strings.Contains(string(other), want) {
				t.Fatalf("the other browser's page lacks %q:\n%s", want, other)
			}
		}
		res, body := victim.do("POST", "/auth/verify/deny", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token))
		if res.StatusCode != 200 || !strings.Contains(string(body), "Nobody was signed in") {
			t.Fatalf("deny = %d %s", res.StatusCode, body)
		}
		got := asker.api("GET", path+"?wait=1", nil, 200)
		v, _ := json.Marshal(got["first_factor_verification"])
		if got["status"] != "needs_first_factor" || !strings.Contains(string(v), `"status":"failed"`) || asker.cookie("magiclink_session") != "" {
			t.Fatalf("after deny the asker sees %v, verification %s, cookie %q", got["status"], v, asker.cookie("magiclink_session"))
		}
		if u := victim.confirm(token); u.Query().Get("magiclink_status") != "failed" {
			t.Fatalf("confirming the denied link landed on %s", u)
		}
		asker.api("GET", "/auth/me", nil, 401)
		victim.api("GET", "/auth/me", nil, 401)
		// Denying again, or a dead link, says nothing was done.
		if _, body := victim.do("POST", "/auth/verify/deny", "application/x-www-form-urlencoded", "token="+url.QueryEscape(token)); strings.Contains(string(body), "Nobody was signed in") {
			t.Fatalf("denying a dead link claims success:\n%s", body)
		}
	}
}
