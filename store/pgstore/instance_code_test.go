package pgstore_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

// TestInstanceConcurrentCodeAttempts types the right email code 64 times
// at once, spread over both instances: exactly one attempt completes the
// sign-in and exactly one session exists.
func TestInstanceConcurrentCodeAttempts(t *testing.T) {
	c := newCluster(t, func(cfg *magiclink.Config) { cfg.Limits.Disabled = true }) // 64 attempts are beyond an address's hourly budget
	user := c.newUser(t, A, "hedy@example.com")
	b := c.browser(t)
	id := b.startSignIn(B, "hedy@example.com")
	c.link(t, 1, "hedy@example.com")
	code := c.mail.Messages()[0].Code
	if code == "" {
		t.Fatal("the sign-in email carries no code")
	}
	sessionCookie := c.inst[A].auth.SessionCookieName()
	body := fmt.Sprintf(`{"strategy":"email_code","code":%q}`, code)

	const n = 64
	statuses := make([]int, n) // by attempt
	cookies := make([]bool, n) // whether the attempt's answer set a session cookie
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range n {
		wg.Go(func() {
			<-start
			res, out, err := b.send(k%2, "POST", "/auth/sign_ins/"+id+"/attempt_first_factor", "application/json", body)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[k] = res.StatusCode
			cookies[k] = slices.ContainsFunc(res.Cookies(), func(ck *http.Cookie) bool { return ck.Name == sessionCookie && ck.Value != "" })
			if res.StatusCode != http.StatusOK && !strings.Contains(string(out), "verification_status_invalid") {
				t.Errorf("attempt on instance %d = %d %s", k%2, res.StatusCode, out)
			}
		})
	}
	close(start)
	wg.Wait()
	won := slices.Index(statuses, http.StatusOK)
	if won < 0 || slices.Index(statuses[won+1:], http.StatusOK) >= 0 || slices.Index(cookies, true) != won || slices.Index(cookies[won+1:], true) >= 0 {
		t.Fatalf("statuses %v, session cookies %v: want exactly one success, with the one cookie", statuses, cookies)
	}
	for _, i := range []int{A, B} {
		b.api(i, "GET", "/auth/me", nil, http.StatusOK)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.inst[B].auth.Sessions.RevokeUser(ctx, user.ID)
	if err != nil || got != 1 {
		t.Fatalf("RevokeUser = %d, %v; want exactly 1 session", got, err)
	}
}
