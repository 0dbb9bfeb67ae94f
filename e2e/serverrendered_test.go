package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestServerRenderedWithoutJavaScript drives examples/serverrendered in a
// browser with JavaScript turned off: sign up, confirm the link in another
// tab, the waiting tab moves on by itself (a meta refresh over a
// server-side long poll), the account page is protected server-side, sign
// out, sign in again.
func TestServerRenderedWithoutJavaScript(t *testing.T) {
	a := startExample(t, "serverrendered", "-rate-limits=false") // two links to one address within 30 s
	b := newBrowser(t, "nojs", chromedp.Flag("blink-settings", "scriptEnabled=false"))
	waiting := b.tab("waiting")

	// JavaScript is off indeed: a page's own script does not run.
	waiting.navigate(`data:text/html,<h1 id=js>off</h1><script>document.getElementById("js").textContent="on"</script>`)
	waiting.waitText("h1#js", "off")

	const addr = "nojs@example.com"
	start := func(button string) {
		t.Helper()
		waiting.navigate(a.base + "/")
		waiting.waitPage("/", "Sign in or sign up")
		waiting.do("asking for a link",
			chromedp.SendKeys(chromedp.CSS("form#start input[name=email]"), addr),
			chromedp.Click(chromedp.CSS("button#"+button)))
		waiting.waitPage("/wait", "Check your email")
	}

	// Sign up; the link is confirmed in another tab of the same browser.
	start("sign-up")
	link := a.waitMail(addr).link(t, a.base, "/auth/verify")
	linkTab := b.newTab("link")
	linkTab.confirmLink(link, "Confirm and continue")
	linkTab.waitPage("/account", "Your account")
	linkTab.waitText("#email", addr)
	waiting.waitPage("/account", "Your account") // by itself, no script
	waiting.waitText("#email", addr)

	// Sign out: the session cookie goes, and the protected page sends
	// the browser to sign in.
	waiting.do("signing out", chromedp.Click(chromedp.CSS("button#sign-out")))
	waiting.waitPage("/", "Sign in or sign up")
	if _, ok := waiting.cookies(a.base)["magiclink_session"]; ok {
		t.Fatal("the session cookie survived signing out")
	}
	waiting.navigate(a.base + "/account")
	waiting.waitPage("/", "Sign in or sign up")

	// Sign in again; this time the link is opened in the waiting tab's
	// browser after the waiting page has long-polled at least once.
	start("sign-in")
	link = a.waitMail(addr).link(t, a.base, "/auth/verify")
	linkTab.confirmLink(link, "Sign in")
	waiting.waitPage("/account", "Your account")
	waiting.waitText("#email", addr)
}
