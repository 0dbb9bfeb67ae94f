package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// reverifyAfter is how recent a verification the app under test wants
// for sensitive changes (-reverify-after), short so that the test sees
// both sides of it.
const reverifyAfter = 2 * time.Second

// waitReverifyWindow lets the reverification window since verified pass:
// what it tests is that time passed, so there is no event to wait on.
func waitReverifyWindow(verified time.Time) {
	time.Sleep(time.Until(verified.Add(reverifyAfter + 500*time.Millisecond)))
}

// sensitive clicks sel on the account page, accepts the confirm dialog
// it may open, and completes the reverification that follows with the
// code emailed to primary; it returns once the reverification is done, with
// a time no earlier than the server's record of it.
func sensitive(tb *tab, a *app, sel, primary string) time.Time {
	tb.t.Helper()
	eval[bool](tb, `(window.confirm = () => true, true)`)
	tb.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
	tb.waitFor("the reverification panel", `() => !document.getElementById("reverify").hidden`)
	mail := a.waitMail(primary)
	if !strings.Contains(mail.Subject, "Confirm it is you") {
		tb.fatalf("reverification email to %s: %q", primary, mail.Subject)
	}
	tb.do("typing the reverification code",
		chromedp.SendKeys(chromedp.CSS("#reverify-code-input"), mail.code(tb.t)),
		chromedp.Click(chromedp.CSS("#reverify-code button[type=submit]")))
	// The panel closes once the server has taken the code and the change
	// went through: only then is the session's last verification (set by
	// the server, later than the click) known to be no later than now.
	tb.waitFor("the reverification to finish", `() => { const r = document.getElementById("reverify"); return !r || r.hidden; }`)
	return time.Now()
}

// listed reports (in the page) whether the account page lists addr, with
// the primary badge when primary.
const listed = `(addr, primary) => Array.from(document.querySelectorAll(".addresses li")).some(
	li => li.querySelector(".addr").textContent === addr && (!primary || Array.from(li.querySelectorAll(".badge")).some(b => b.textContent === "primary")))`

// 9. The account page: a name, "your devices" with a second browser whose
// session dies when the first signs it out, a new primary address (the old
// one gets a notice), removing an address and deleting the account — the
// sensitive ones after a reverification by emailed code.
func TestAccountLifecycle(t *testing.T) {
	a := startApp(t, "-reverify-after", reverifyAfter.String(), "-rate-limits=false") // three emails a minute to one address
	first, second := "grace@example.com", "grace@work.example"
	userID := a.createUser(first)
	laptop := newBrowser(t, "laptop").tab("account")
	phone := newBrowser(t, "phone").tab("phone")
	signInWithToken(laptop, a, userID, first)
	verified := time.Now()
	signInWithToken(phone, a, userID, first)

	laptop.navigate(a.base + "/account")
	laptop.waitPage("/account", accountHeading)
	// Your devices: this one, and the phone with a sign-out button.
	laptop.waitFor("two devices", `() => document.querySelectorAll("#devices li").length === 2`)
	laptop.waitText("#devices li .badge", "this device")
	laptop.waitText("#devices", "Chrome")

	// A name, which needs no reverification.
	laptop.do("setting the name",
		chromedp.SendKeys(chromedp.CSS("form#name input[name=first_name]"), "Grace"),
		chromedp.SendKeys(chromedp.CSS("form#name input[name=last_name]"), "Hopper"),
		chromedp.Click(chromedp.CSS("form#name button[type=submit]")))
	laptop.waitText("[data-name]", "Grace Hopper")

	// A second address, verified by code.
	laptop.fillAndSubmit("form#add", "input#email", second)
	laptop.waitText("[data-step=wait] [data-addr]", second)
	typeCode(laptop, a.waitMail(second).code(t))
	laptop.waitFor(second+" listed", listed, second, false)

	// Make it primary: the sign-in is older than -reverify-after, so the
	// change asks to confirm it is them, by a code sent to the primary.
	waitReverifyWindow(verified)
	verified = sensitive(laptop, a, "[data-make-primary]", first)
	laptop.waitFor(second+" primary", listed, second, true)
	notice := a.waitMail(first)
	if !strings.Contains(notice.Subject, "primary email address") || !strings.Contains(notice.Text, second) {
		t.Fatalf("notice to %s: %q\n%s", first, notice.Subject, notice.Text)
	}

	// Sign out of all other devices: the phone's session dies at once.
	phone.navigate(a.base + "/account")
	phone.waitPage("/account", accountHeading)
	laptop.do("signing out the other devices", chromedp.Click(chromedp.CSS("[data-revoke-others]")))
	laptop.waitFor("one device", `() => document.querySelectorAll("#devices li").length === 1`)
	if s := phone.apiStatus("/auth/me"); s != http.StatusUnauthorized {
		t.Fatalf("the phone's GET /auth/me after being signed out: %d, want 401", s)
	}
	phone.navigate(a.base + "/account")
	phone.waitPage("/sign-in", "Sign in")
	phone.signedOut(first)

	// Remove the old address.
	waitReverifyWindow(verified)
	verified = sensitive(laptop, a, "[data-remove]", second)
	laptop.waitFor(first+" gone", `(addr) => !document.body.innerText.includes(addr)`, first)

	// Delete the account.
	waitReverifyWindow(verified)
	sensitive(laptop, a, "[data-delete-account]", second)
	laptop.waitPage("/", "Sign in without a password")
	laptop.signedOut(second)
	var users []any
	a.backend(http.MethodGet, "/users?email_address="+second, nil, &users)
	if len(users) != 0 {
		t.Fatalf("after deleting the account, GET /v1/users?email_address=%s = %v", second, users)
	}
	// The address can sign up again.
	a.createUser(second)
}
