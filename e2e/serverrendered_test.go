package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestServerRenderedWithoutJavaScript drives examples/serverrendered in a
// browser with JavaScript turned off: sign up, confirm the link in another
// tab, the waiting tab moves on by itself (a meta refresh over a
// server-side long poll), the account page is protected server-side, sign
// out, sign in again.
func TestServerRenderedWithoutJavaScript(t *testing.T) {
	a, b, waiting := startServerRendered(t)
	const addr = "nojs@example.com"

	// Sign up; the link is confirmed in another tab of the same browser.
	askAt(waiting, a, addr, "sign-up")
	link := a.waitMail(addr).link(t, a.base, "/auth/verify")
	linkTab := b.newTab("link")
	linkTab.confirmLink(link, "Confirm and continue")
	linkTab.waitPage("/account", "Your account")
	linkTab.waitText("#email", addr)
	waiting.waitPage("/account", "Your account") // by itself, no script
	waiting.waitText("#email", addr)

	// Sign out: the session cookie goes, and the protected page sends
	// the browser to sign in.
	signOutAt(waiting, a)
	waiting.navigate(a.base + "/account")
	waiting.waitPage("/", "Sign in or sign up")

	// Sign in again; this time the link is opened in the waiting tab's
	// browser after the waiting page has long-polled at least once.
	askAt(waiting, a, addr, "sign-in")
	link = a.waitMail(addr).link(t, a.base, "/auth/verify")
	linkTab.confirmLink(link, "Sign in")
	waiting.waitPage("/account", "Your account")
	waiting.waitText("#email", addr)
}

// TestServerRenderedCodeWithoutJavaScript signs up and in with the code
// from the email, typed into examples/serverrendered's code form in a
// browser with JavaScript turned off: a wrong code shows the error and
// the attempts left, the right one reaches the account page; five wrong
// codes fail the verification, the page offers to start again, and the
// next email's code signs in. The code's page never reloads by itself; its
// "carry on" link follows a link confirmed meanwhile.
func TestServerRenderedCodeWithoutJavaScript(t *testing.T) {
	a, b, tab := startServerRendered(t)
	const addr = "nojs-code@example.com"

	// sendCode types code into the code form and sends it.
	sendCode := func(code string) {
		t.Helper()
		tab.do("sending a code",
			chromedp.SendKeys(chromedp.CSS("form#code input[name=code]"), code),
			chromedp.Click(chromedp.CSS("button#send-code")))
	}
	// codePage asks for an email with button and opens the code form
	// from the waiting page; it returns the email.
	codePage := func(button string) *email {
		t.Helper()
		askAt(tab, a, addr, button)
		m := a.waitMail(addr)
		tab.do("choosing the code", chromedp.Click(chromedp.CSS("a#enter-code")))
		tab.waitPage("/wait", "Type the code from your email")
		// The form's page never reloads by itself: a half-typed code stays.
		if n := eval[int](tab, `document.querySelectorAll('meta[http-equiv="refresh" i]').length`); n != 0 {
			tab.fatalf("the code's page refreshes itself (%d meta refresh)", n)
		}
		for _, attr := range [][2]string{{"autocomplete", "one-time-code"}, {"inputmode", "numeric"}} {
			if v := eval[string](tab, `document.querySelector("form#code input[name=code]").getAttribute("`+attr[0]+`")`); v != attr[1] {
				tab.fatalf("the code input has %s %q, want %q", attr[0], v, attr[1])
			}
		}
		return m
	}
	wrongFor := func(m *email) string { return fmt.Sprintf("%06d", (mustAtoi(t, m.code(t))+1)%1000000) }

	// Sign up by code: a wrong one first, then the right one.
	m := codePage("sign-up")
	sendCode(wrongFor(m))
	tab.waitPage("/wait", "Type the code from your email")
	tab.waitText("p.error", "The code is incorrect. Attempts left: 4.")
	sendCode(m.code(t))
	tab.waitPage("/account", "Your account")
	tab.waitText("#email", addr)
	signOutAt(tab, a)

	// Five wrong codes fail the sign-in's verification; the page says so
	// and offers to start again, and the new email's code signs in.
	wrong := wrongFor(codePage("sign-in"))
	for left := 4; left >= 0; left-- {
		sendCode(wrong)
		if left > 0 {
			tab.waitText("p.error", fmt.Sprintf("Attempts left: %d.", left))
		}
	}
	tab.waitPage("/wait", "That link and code no longer work")
	tab.do("starting again", chromedp.Click(chromedp.CSS("a#start-again")))
	tab.waitPage("/", "Sign in or sign up")
	sendCode(codePage("sign-in").code(t))
	tab.waitPage("/account", "Your account")
	tab.waitText("#email", addr)
	signOutAt(tab, a)

	// The code's page, and then the link confirmed in another tab after
	// all: the code's page stays as it is (it never reloads by itself)
	// until "carry on" is followed.
	m = codePage("sign-in")
	linkTab := b.newTab("link")
	linkTab.confirmLink(m.link(t, a.base, "/auth/verify"), "Sign in")
	linkTab.waitPage("/account", "Your account")
	tab.waitPage("/wait", "Type the code from your email")
	tab.do("carrying on", chromedp.Click(chromedp.CSS("a#check-link")))
	tab.waitPage("/account", "Your account")
	tab.waitText("#email", addr)
}

// startServerRendered starts examples/serverrendered and a browser with
// JavaScript turned off, and returns its first tab.
func startServerRendered(t *testing.T) (*app, *browser, *tab) {
	t.Helper()
	a := startExample(t, "serverrendered", "-rate-limits=false") // several emails to one address within 30 s
	b := newBrowser(t, "nojs", chromedp.Flag("blink-settings", "scriptEnabled=false"))
	first := b.tab("first")
	// JavaScript is off indeed: a page's own script does not run.
	first.navigate(`data:text/html,<h1 id=js>off</h1><script>document.getElementById("js").textContent="on"</script>`)
	first.waitText("h1#js", "off")
	return a, b, first
}

// askAt asks for an email to addr in tab, with the home page's button
// (sign-in or sign-up), and waits for the waiting page.
func askAt(tab *tab, a *app, addr, button string) {
	tab.t.Helper()
	tab.navigate(a.base + "/")
	tab.waitPage("/", "Sign in or sign up")
	tab.do("asking for an email",
		chromedp.SendKeys(chromedp.CSS("form#start input[name=email]"), addr),
		chromedp.Click(chromedp.CSS("button#"+button)))
	tab.waitPage("/wait", "Check your email")
}

// signOutAt signs out from the account page in tab: the session cookie
// goes and the home page offers to sign in.
func signOutAt(tab *tab, a *app) {
	tab.t.Helper()
	tab.do("signing out", chromedp.Click(chromedp.CSS("button#sign-out")))
	tab.waitPage("/", "Sign in or sign up")
	if _, ok := tab.cookies(a.base)["magiclink_session"]; ok {
		tab.fatalf("the session cookie survived signing out")
	}
}
