package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Texts of examples/basic's pages the tests look for.
const (
	waitingHeading  = "Check your email…"
	signedInHeading = "You’re signed in"
	accountHeading  = "Your account"
	mismatchHeading = "Type the code from the email in your first tab"
	returnHeading   = "Return to your original tab"
	expiredHeading  = "This link has expired"
	verifyPath      = "/auth/verify"
	ticketPath      = "/auth/ticket"
)

// startSignIn opens /sign-in in tb, asks for a link to addr, and waits for
// the waiting page.
func startSignIn(tb *tab, a *app, addr string) {
	tb.t.Helper()
	tb.navigate(a.base + "/sign-in")
	tb.fillAndSubmit("form#start", "input#email", addr)
	tb.waitText("[data-step=wait] h1", waitingHeading)
	tb.waitText("[data-step=wait] [data-addr]", addr)
}

// landedOnAccount waits until tb, the tab that asked for the link, moved
// on by itself to /account signed in as addr, by a navigation of its own
// script (not a reload).
func landedOnAccount(tb *tab, addr string) {
	tb.t.Helper()
	tb.waitPage("/account", accountHeading)
	tb.signedInAs(addr)
	if nav := eval[string](tb, `performance.getEntriesByType("navigation")[0].type`); nav != "navigate" {
		tb.fatalf("the waiting tab reached /account by %q, want a navigation of its own", nav)
	}
}

// signInWithToken signs b in as the user through the seeds'
// /accept-token page, with a new sign-in token.
func signInWithToken(tb *tab, a *app, userID, addr string) {
	tb.t.Helper()
	tok := a.createSignInToken(userID)
	tb.navigate(a.base + "/accept-token?token=" + tok.Token)
	tb.waitText("#accept h1", "Signed in as "+addr)
}

// openedElsewhere confirms link in phone, a browser other than the one
// that asked for it, with same-client binding on: the app's page says
// client_mismatch and phone is not signed in as addr.
func openedElsewhere(phone *tab, link, addr string) {
	phone.t.Helper()
	phone.confirmLink(link, "Sign in")
	phone.waitPage("/verified", mismatchHeading)
	if got := phone.query().Get("magiclink_status"); got != "client_mismatch" {
		phone.t.Errorf("browser B landed with magiclink_status=%q, want client_mismatch", got)
	}
	phone.signedOut(addr)
}

// confirmedInNewTab checks that waiting, a tab of b, still waits for its
// link, then confirms link in a new tab of b: that tab is signed in as
// addr, and waiting moves on to /account by itself.
func confirmedInNewTab(b *browser, waiting *tab, link, addr string) {
	waiting.t.Helper()
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	tb := b.newTab("link")
	tb.confirmLink(link, "Sign in")
	tb.waitPage("/verified", signedInHeading)
	tb.signedInAs(addr)
	landedOnAccount(waiting, addr)
}

// twoDevices starts the app with flags and a user with addr, asks for a
// sign-in link in browser A's waiting tab, and returns browser A with
// that tab, browser B's tab (one person's laptop and phone) and the
// email.
func twoDevices(t *testing.T, addr string, flags ...string) (a *app, bA *browser, waiting, phone *tab, mail *email) {
	t.Helper()
	a = startApp(t, flags...)
	a.createUser(addr)
	bA = newBrowser(t, "a")
	waiting = bA.tab("waiting")
	startSignIn(waiting, a, addr)
	return a, bA, waiting, newBrowser(t, "b").tab("b"), a.waitMail(addr)
}

// onAccountPage starts the app and a user with addr, signs browser A in
// as the user with a sign-in token, and opens /account in its tab named
// tabName.
func onAccountPage(t *testing.T, addr, tabName string) (*app, *browser, *tab) {
	t.Helper()
	a := startApp(t)
	userID := a.createUser(addr)
	b := newBrowser(t, "a")
	tb := b.tab(tabName)
	signInWithToken(tb, a, userID, addr)
	tb.navigate(a.base + "/account")
	tb.waitPage("/account", accountHeading)
	return a, b, tb
}

// 1. Sign-up in browser A: the link opened in a new tab of A signs that
// tab in, and the tab that asked for it completes by itself.
func TestSignUpSameBrowser(t *testing.T) {
	a := startApp(t)
	b := newBrowser(t, "a")
	waiting := b.tab("waiting")
	addr := "ada@example.com"

	// The dev inbox, open in a second tab, shows the email by itself.
	inbox := b.newTab("inbox")
	inbox.navigate(a.base + "/dev/mail")
	inbox.waitPage("/dev/mail", "Dev inbox")

	waiting.navigate(a.base + "/sign-up")
	waiting.waitPage("/sign-up", "Create your account")
	waiting.fillAndSubmit("form#start", "input#email", addr)
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	waiting.waitText("[data-step=wait] [data-addr]", addr)
	waiting.screenshot("waiting")

	link := a.waitMail(addr).link(t, a.base, verifyPath)
	inbox.waitText("article.mail .meta strong", addr)
	const inboxLink = `article.mail pre.body a[href*="/auth/verify?token="]`
	if href := eval[string](inbox, `document.querySelector('`+inboxLink+`').href`); href != link {
		t.Errorf("the dev inbox links to %s, the .eml file to %s", redact(href), redact(link))
	}
	inbox.do("clicking the link in the dev inbox", chromedp.Click(chromedp.CSS(inboxLink)))
	inbox.waitText("button#confirm", "Confirm and continue")
	inbox.do("confirming", chromedp.Click(chromedp.CSS("button#confirm")))
	confirmed := time.Now()
	inbox.waitPage("/verified", signedInHeading)
	inbox.signedInAs(addr)
	if q := inbox.query(); q.Get("magiclink_status") != "verified" || !strings.HasPrefix(q.Get("magiclink_created_session"), "sess_") {
		t.Errorf("the link's tab landed with %v, want magiclink_status=verified and magiclink_created_session", q)
	}

	landedOnAccount(waiting, addr)
	t.Logf("the waiting tab completed %v after the link was confirmed", time.Since(confirmed).Round(time.Millisecond))

	// The back button leads to the link's page again; posting the used
	// link does not tell a person who is signed in to get a new one.
	inbox.do("going back to the link's page", chromedp.NavigateBack())
	inbox.waitFor("the link's page", `() => location.pathname === "/auth/verify" && document.readyState === "complete"`)
	if eval[bool](inbox, `!!document.querySelector("button#confirm")`) {
		inbox.do("confirming the used link", chromedp.Click(chromedp.CSS("button#confirm")))
		inbox.waitPage("/verified", "You’re already signed in")
		inbox.signedInAs(addr)
	}

	// Both tabs share one cookie jar: the link's tab is still signed in
	// after the waiting tab took its session.
	inbox.navigate(a.base + "/account")
	inbox.waitPage("/account", accountHeading)
	inbox.signedInAs(addr)
	inbox.wantAPIStatus("/auth/me", http.StatusOK)
	waiting.screenshot("final")
	inbox.screenshot("link-tab")
}

// 2. Sign-in across devices with same-client binding on (the default):
// browser B is told to open the link where it was asked for and is not
// signed in; the link still works in A afterwards.
func TestSignInOtherDeviceSameClientRequired(t *testing.T) {
	addr := "grace@example.com"
	a, bA, waiting, phone, mail := twoDevices(t, addr)
	link := mail.link(t, a.base, verifyPath)

	openedElsewhere(phone, link, addr)
	phone.screenshot("mismatch")
	phone.wantAPIStatus("/auth/me", http.StatusUnauthorized)
	phone.navigate(a.base + "/account")
	phone.waitPage("/sign-in", "Sign in")
	phone.signedOut(addr)

	// A still waits: nothing was used up.
	confirmedInNewTab(bA, waiting, link, addr)
	waiting.screenshot("final")
}

// 3. Sign-in across devices with same-client binding off: B confirms,
// A's waiting tab receives the session, B is told to return to it.
func TestSignInOtherDeviceCrossClient(t *testing.T) {
	addr := "alan@example.com"
	a, _, waiting, phone, mail := twoDevices(t, addr, "-require-same-client=false")
	link := mail.link(t, a.base, verifyPath)

	phone.confirmLink(link, "Sign in")
	phone.waitPage("/verified", returnHeading)
	if q := phone.query(); q.Get("magiclink_status") != "verified" || q.Has("magiclink_created_session") {
		t.Errorf("browser B landed with %v, want magiclink_status=verified and no session", q)
	}
	phone.signedOut(addr)
	phone.wantAPIStatus("/auth/me", http.StatusUnauthorized)

	landedOnAccount(waiting, addr)
	waiting.wantAPIStatus("/auth/me", http.StatusOK)
	phone.screenshot("final-b")
	waiting.screenshot("final")
}

// 3b. With same-client binding off, a link opened in another browser
// says on its confirm page which browser and system asked, from which
// network and how long ago; "This wasn't me" fails the flow: nobody is
// signed in, and the waiting tab says the link is no longer valid.
func TestSignInOtherDeviceThisWasntMe(t *testing.T) {
	addr := "grace@example.com"
	a, _, waiting, phone, mail := twoDevices(t, addr, "-require-same-client=false")
	link := mail.link(t, a.base, verifyPath)

	phone.navigate(link)
	phone.waitText("button#deny", "This wasn’t me")
	text := eval[string](phone, `document.body.innerText`)
	for _, want := range []string{"Chrome on Linux", "127.0.0.0/24", "ago", "not this one"} {
		if !strings.Contains(text, want) {
			t.Errorf("the confirm page in browser B does not say %q:\n%s", want, text)
		}
	}
	phone.screenshot("confirm-b")
	phone.do("denying", chromedp.Click(chromedp.CSS("button#deny")))
	phone.waitText("h1", "Nobody was signed in")

	waiting.waitText("#error", "no longer valid")
	waiting.wantAPIStatus("/auth/me", http.StatusUnauthorized)
	// The link is dead: confirming it now signs no one in.
	phone.confirmLink(link, "Continue")
	phone.waitFor("the app's page for the outcome", `() => location.pathname === "/verified"`)
	if q := phone.query(); q.Get("magiclink_status") != "failed" {
		t.Errorf("confirming the denied link landed with %v, want magiclink_status=failed", q)
	}
	for _, tb := range []*tab{waiting, phone} {
		tb.wantAPIStatus("/auth/me", http.StatusUnauthorized)
	}
	waiting.screenshot("final")
}

// 4. A link fetched first by scanners (a plain GET and HEAD, and a
// browser that loads the page and runs its scripts but clicks nothing)
// still works for the person.
func TestScannersDoNotBurnLinks(t *testing.T) {
	a := startApp(t)
	addr := "barbara@example.com"
	a.createUser(addr)
	bA := newBrowser(t, "a")
	waiting := bA.tab("waiting")

	startSignIn(waiting, a, addr)
	link := a.waitMail(addr).link(t, a.base, verifyPath)

	for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodGet} {
		res, body := httpDo(t, method, link)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("scanner %s: %s", method, res.Status)
		}
		header(t, res, "Cache-Control", "no-store")
		header(t, res, "Referrer-Policy", "no-referrer")
		if len(res.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("scanner %s got cookies: %q", method, res.Header.Values("Set-Cookie"))
		}
		if method == http.MethodGet && !strings.Contains(body, `id="confirm"`) {
			t.Errorf("scanner GET: no confirm button in\n%s", body)
		}
	}

	scanner := newBrowser(t, "scanner").tab("scanner")
	scanner.navigate(link)
	scanner.waitText("button#confirm", "Sign in")
	scanner.waitFor("the page to finish loading", `() => document.readyState === "complete"`)
	if c := scanner.cookies(a.base); len(c) != 0 {
		t.Errorf("the scanner's browser got cookies: %v", c)
	}
	// The waiting tab noticed nothing.
	confirmedInNewTab(bA, waiting, link, addr)

	// The scanner's page, posted now, is refused: the link is used.
	scanner.do("the scanner posting late", chromedp.Click(chromedp.CSS("button#confirm")))
	scanner.waitPage("/verified", "This link is no longer valid")
	scanner.signedOut(addr)
	waiting.screenshot("final")
}

// 5. An expired link: the waiting page says so and offers a new link, and
// the link itself lands on the expired page with a way to ask again.
func TestExpiredLink(t *testing.T) {
	a := startApp(t, "-link-ttl", "2s", "-rate-limits=false")
	b := newBrowser(t, "a")
	waiting := b.tab("waiting")
	addr := "edsger@example.com"

	waiting.navigate(a.base + "/sign-up")
	waiting.fillAndSubmit("form#start", "input#email", addr)
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	link := a.waitMail(addr).link(t, a.base, verifyPath)

	// The waiting page moves on when the link expires, without a click.
	waiting.waitText("[data-step=expired] h1", "This link expired")
	waiting.waitText("[data-step=expired] button[data-resend]", "Send a new link")
	waiting.screenshot("waiting-expired")

	late := b.newTab("link")
	late.navigate(link)
	late.waitText("main h1", "This link has expired") // the confirm page says so before any click
	late.confirmLink(link, "Continue")
	late.waitPage("/verified", expiredHeading)
	if got := late.query().Get("magiclink_status"); got != "expired" {
		t.Errorf("the expired link landed with magiclink_status=%q, want expired", got)
	}
	late.waitText("a.button[href='/sign-up']", "Send a new link") // a sign-up link: back to sign-up
	late.signedOut(addr)
	late.screenshot("final")
	late.do("following the way to a new link", chromedp.Click(chromedp.CSS("a.button[href='/sign-up']")))
	late.waitPage("/sign-up", "Create your account")

	// The way to ask again works: a new email, the waiting page again.
	waiting.do("asking for a new link", chromedp.Click(chromedp.CSS("[data-step=expired] button[data-resend]")))
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	if again := a.waitMail(addr).link(t, a.base, verifyPath); again == link {
		t.Error("the new email carries the expired link")
	}
}

// 6. Sign-in tokens: the seeds' /accept-token page signs the user in, and
// the token's url (a confirm page, then a POST) does too.
func TestSignInTokens(t *testing.T) {
	a := startApp(t)
	addr := "katherine@example.com"
	userID := a.createUser(addr)

	bA := newBrowser(t, "a")
	page := bA.tab("accept-token")
	tok := a.createSignInToken(userID)
	page.navigate(a.base + "/accept-token?token=" + tok.Token)
	page.waitText("#accept h1", "Signed in as "+addr)
	page.waitText("#accept [data-next] a[href='/account']", "Go to your account")
	if got := eval[string](page, `location.search`); got != "" {
		t.Errorf("the token stays in the address bar and history: %s", redact(got))
	}
	page.screenshot("accept-token")
	page.do("going to the account", chromedp.Click(chromedp.CSS("#accept [data-next] a")))
	page.waitPage("/account", accountHeading)
	page.signedInAs(addr)

	// The first token is used up; its own link says so.
	if res, body := httpDo(t, http.MethodGet, tok.URL); res.StatusCode != http.StatusOK || !strings.Contains(body, "already been used") {
		t.Errorf("GET the used token's url: %s\n%s", res.Status, body)
	}

	tok2 := a.createSignInToken(userID)
	if !strings.HasPrefix(tok2.URL, a.base+ticketPath+"?token=") {
		t.Fatalf("sign_in_token.url = %q, want %s%s?token=…", redact(tok2.URL), a.base, ticketPath)
	}
	bB := newBrowser(t, "b")
	other := bB.tab("url")
	other.confirmLink(tok2.URL, "Sign in to magiclink demo")
	other.waitPage("/account", accountHeading)
	other.signedInAs(addr)
	if q := other.query(); q.Get("magiclink_status") != "verified" || !strings.HasPrefix(q.Get("magiclink_created_session"), "sess_") {
		t.Errorf("the token's url landed with %v", q)
	}
	other.screenshot("final")
}

// 7. Add a second address on the account page and verify it by its link,
// or by its code typed on the account page.
func TestAddAndVerifyAddress(t *testing.T) {
	for _, by := range []string{"link", "code"} {
		t.Run(by, func(t *testing.T) {
			addr := "ada@example.com"
			second := "ada@work.example"
			a, b, account := onAccountPage(t, addr, "account")
			account.fillAndSubmit("form#add", "input#email", second)
			account.waitText("[data-step=wait]", "Check your email…")
			account.waitText("[data-step=wait] [data-addr]", second)

			mail := a.waitMail(second)
			if by == "code" {
				typeCode(account, mail.code(t))
			} else {
				inbox := b.newTab("link")
				inbox.confirmLink(mail.link(t, a.base, verifyPath), "Verify "+second)
				inbox.waitPage("/verified", "Email address verified")
				inbox.signedInAs(addr)
			}

			// The account page updates by itself: the new address, verified.
			account.waitFor(second+" listed as verified", `(addr) => Array.from(document.querySelectorAll(".addresses li")).some(
		li => li.querySelector(".addr").textContent === addr && li.querySelector(".badge.verified"))`, second)
			account.waitText("[data-step=form] label", "Add an email address")
			account.screenshot("final")
		})
	}
}

// 8. Sign out: the back button and another tab that showed the account
// show signed out.
func TestSignOut(t *testing.T) {
	addr := "linus@example.com"
	a, b, first := onAccountPage(t, addr, "first")
	first.signedInAs(addr)

	old := b.newTab("old")
	old.navigate(a.base + "/account")
	old.waitPage("/account", accountHeading)
	old.signedInAs(addr)

	session := first.cookies(a.base)["magiclink_session"]
	if session == "" {
		t.Fatalf("no magiclink_session cookie; cookies: %v", first.cookies(a.base))
	}
	// Every page that shows the user keeps it out of caches, back/forward
	// cache included.
	for _, path := range []string{"/", "/account", "/sign-in", "/sign-up", "/verified", "/accept-token", "/dev/mail"} {
		res, body := httpDo(t, http.MethodGet, a.base+path, &http.Cookie{Name: "magiclink_session", Value: session})
		if !strings.Contains(body, addr) {
			t.Errorf("GET %s with the session does not show %s", path, addr)
		}
		header(t, res, "Cache-Control", "no-store")
	}

	first.do("signing out", chromedp.Click(chromedp.CSS("header.top button[data-sign-out]")))
	first.waitPage("/", "Sign in without a password")
	first.signedOut(addr)
	first.wantAPIStatus("/auth/me", http.StatusUnauthorized)
	// The session is ended on the server, not only forgotten by the browser.
	if res, _ := httpDo(t, http.MethodGet, a.base+"/auth/me", &http.Cookie{Name: "magiclink_session", Value: session}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /auth/me with the old session cookie: %s, want 401", res.Status)
	}

	// Back to the account page: it must not come back from a cache.
	first.do("going back", chromedp.NavigateBack())
	first.waitFor("the page after going back to load", `() => document.readyState === "complete"`)
	first.signedOut(addr)
	if p := first.path(); p != "/sign-in" {
		t.Errorf("back after signing out shows %s, want the sign-in page", p)
	}

	// The other tab, which showed the account, shows signed out by itself.
	old.waitPage("/sign-in", "Sign in")
	old.signedOut(addr)
	first.screenshot("final")
	old.screenshot("old-tab")
}

// codeRE finds the code in an email's text: a line of digits alone.
var codeRE = regexp.MustCompile(`(?m)^\s+([0-9]{6})\s*$`)

// code returns the email's one-time code.
func (m *email) code(t *testing.T) string {
	t.Helper()
	c := codeRE.FindStringSubmatch(m.Text)
	if c == nil {
		t.Fatalf("email %q to %s carries no code:\n%s", m.Subject, m.To, m.Text)
	}
	if strings.Contains(m.Subject, c[1]) {
		t.Fatalf("the code is in the subject %q", m.Subject)
	}
	return c[1]
}

// typeCode types code into the waiting step's code input, digit by digit
// as a person does; the page sends it on the last digit.
func typeCode(tb *tab, code string) {
	tb.t.Helper()
	sel := "[data-step=wait] input#code"
	if ac := eval[string](tb, `document.querySelector("`+sel+`").autocomplete`); ac != "one-time-code" {
		tb.fatalf("the code input has autocomplete %q, want one-time-code", ac)
	}
	tb.waitFor("the code input to be enabled", `s => { const i = document.querySelector(s); return i && !i.disabled; }`, sel)
	tb.do("typing a code", chromedp.SendKeys(chromedp.CSS(sel), code))
}

// 2b. The person with two browsers: the sign-in is asked for in A, the
// email opened in B, whose link answers client_mismatch and says to type
// the email's code in the first tab; typed in A, it signs A in.
func TestSignInCodeOtherDevice(t *testing.T) {
	addr := "lin@example.com"
	a, _, waiting, phone, mail := twoDevices(t, addr)
	link := mail.link(t, a.base, verifyPath)
	openedElsewhere(phone, link, addr)
	phone.waitText("main", "type the code shown in the email into the tab where you asked for the link")
	phone.screenshot("mismatch-code")

	typeCode(waiting, mail.code(t))
	landedOnAccount(waiting, addr)
	waiting.screenshot("final")
	phone.wantAPIStatus("/auth/me", http.StatusUnauthorized)
	// The link died with the code: its confirm page says so at once.
	phone.navigate(link)
	phone.waitText("h1", "This link is no longer valid")
}

// 2c. Five wrong codes fail the verification (the waiting page says so);
// a new sign-in's code then works.
func TestSignInCodeWrongFiveTimes(t *testing.T) {
	a := startApp(t, "-rate-limits=false")
	addr := "ida@example.com"
	a.createUser(addr)
	waiting := newBrowser(t, "a").tab("waiting")

	startSignIn(waiting, a, addr)
	code := a.waitMail(addr).code(t)
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1000000)
	for i := 1; i <= 4; i++ {
		typeCode(waiting, wrong)
		waiting.waitText("[data-step=wait] [data-code-error]", fmt.Sprintf("%d tr", 5-i))
	}
	typeCode(waiting, wrong)
	waiting.waitText("#error", "too many wrong codes")
	waiting.waitFor("the form step", `() => !document.querySelector("[data-step=form]").hidden`)
	waiting.screenshot("failed")

	waiting.do("starting again", chromedp.Click(chromedp.CSS("form#start button[type=submit]")))
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	typeCode(waiting, a.waitMail(addr).code(t))
	landedOnAccount(waiting, addr)
}

// 2d. Sign-up by code: the email's code typed in the waiting tab creates
// the account and signs the tab in.
func TestSignUpCode(t *testing.T) {
	a := startApp(t)
	addr := "grete@example.com"
	waiting := newBrowser(t, "a").tab("waiting")
	waiting.navigate(a.base + "/sign-up")
	waiting.waitPage("/sign-up", "Create your account")
	waiting.fillAndSubmit("form#start", "input#email", addr)
	waiting.waitText("[data-step=wait] h1", waitingHeading)
	typeCode(waiting, a.waitMail(addr).code(t))
	landedOnAccount(waiting, addr)
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
