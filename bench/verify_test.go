package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/magiclink-go/magiclink/internal/authtest"
)

// BenchmarkVerifyHTTP is the confirm page's POST /auth/verify through the
// real handler over loopback: the browser that asked for the link
// confirms it, its session is created and set, and the answer is a 303
// to the flow's redirect_url. Links are prepared in batches with the
// timer stopped.
func BenchmarkVerifyHTTP(b *testing.B) {
	e := newEnv(b)
	const preparers = 16
	users := e.users(b, preparers)
	srv := httptest.NewServer(e.auth.Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = authtest.NoRedirects
	// Every user signs in from the same browser, so one client cookie
	// confirms every link.
	browser := users[0]
	for _, u := range users {
		u.client, u.clientToken = browser.client, browser.clientToken
	}
	cookie := &http.Cookie{Name: e.auth.ClientCookieName(), Value: browser.clientToken}
	b.ReportAllocs()
	for done := 0; done < b.N; {
		b.StopTimer()
		tokens := prepareLinks(b, e, users, min(b.N-done, 256))
		b.StartTimer()
		for _, tok := range tokens {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/auth/verify", strings.NewReader(url.Values{"token": {tok}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "magiclink_status=verified") {
				b.Fatalf("POST /auth/verify: %s, Location %q", resp.Status, resp.Header.Get("Location"))
			}
		}
		done += len(tokens)
	}
}

// prepareLinks prepares n sign-in links concurrently, spread over users,
// and returns their tokens.
func prepareLinks(b *testing.B, e *env, users []*user, n int) []string {
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for w, u := range users {
		wg.Go(func() {
			for i := w; i < n; i += len(users) {
				_, sent := e.prepare(b, u)
				tokens[i] = sent.token
			}
		})
	}
	wg.Wait()
	return tokens
}
