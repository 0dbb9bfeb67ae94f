package e2e

import "testing"

// seedsLandingJS is the landing-page code of Clerk's magic-link guides (the
// seeds' Verification component), as plain JavaScript against
// magiclink.js: it calls handleMagicLinkVerification and records what the
// component would render, as its promise's value and in window.seedStatus.
const seedsLandingJS = `window.seedStatus = "loading";
(async function verify() {
  try {
    await magiclink.handleMagicLinkVerification({
      redirectUrl: "/pending-sign-up",
      redirectUrlComplete: "/account",
    });
    // If we're not redirected at this point, it means
    // that the flow has completed on another device.
    window.seedStatus = "verified";
  } catch (err) {
    // Verification has failed.
    let status = "failed";
    if (magiclink.isMagicLinkError(err) && err.code === magiclink.MagicLinkErrorCode.Expired) {
      status = "expired";
    }
    window.seedStatus = status;
  }
  return window.seedStatus;
})()`

// runSeeds runs the seeds' landing code in tb once its page has loaded
// and returns what it would render.
func runSeeds(tb *tab) string {
	tb.t.Helper()
	tb.waitFor("the page and magiclink.js", `() => document.readyState === "complete" && !!window.magiclink`)
	return eval[string](tb, seedsLandingJS)
}

// TestSeedsLandingPage runs the seeds' landing-page code on the page a
// link lands on: a flow completed in this browser goes to
// redirectUrlComplete; one completed on another device stays put and
// says verified; an expired link is an expired MagicLinkError, any other
// failure "failed". It also reads the objects the seeds read, in camelCase.
func TestSeedsLandingPage(t *testing.T) {
	a := startApp(t, "-require-same-client=false", "-rate-limits=false")
	b := newBrowser(t, "a")
	waiting := b.tab("waiting")
	waiting.navigate(a.base + "/")

	// Completed here: the seeds' code goes to redirectUrlComplete.
	const addr = "seeds@example.com"
	eval[bool](waiting, `magiclink.signUp.create({ emailAddress: "`+addr+`" }).then(su => {
		window.flow = su.startMagicLinkFlow({ redirectUrl: "/?landing=1" });
		return true;
	})`)
	link := a.waitMail(addr).link(t, a.base, verifyPath)
	landing := b.newTab("landing")
	landing.confirmLink(link, "Confirm and continue")
	landing.waitFor("the landing page", `() => new URLSearchParams(location.search).get("magiclink_status") === "verified"`)
	if s := runSeeds(landing); s != "verified" {
		t.Fatalf("the seeds' code on the landing page: %q", s)
	}
	landing.waitFor("redirectUrlComplete", `() => location.pathname === "/account" && document.readyState === "complete" && !!window.magiclink`)
	got := eval[string](waiting, `window.flow.then(su => [su.status, su.verifications.emailAddress.status,
		String(su.verifications.emailAddress.verifiedFromTheSameClient()), su.createdSessionId.slice(0, 5)].join(" "))`)
	if got != "complete verified true sess_" {
		t.Fatalf("the waiting tab's sign-up: %q; want complete, verified from the same client, a session", got)
	}
	// The seeds' parameter for a new address: createEmailAddress({email}).
	if got := eval[string](landing, `magiclink.user().then(u => u.createEmailAddress({ email: "second@example.com" })).then(e => e.emailAddress + " " + e.verification)`); got != "second@example.com null" {
		t.Fatalf("createEmailAddress({email}) = %q", got)
	}

	// Completed on another device (same-client binding off): the phone's
	// landing page stays put and says verified; the laptop's flow completes.
	const other = "laptop@example.com"
	a.createUser(other)
	eval[bool](waiting, `magiclink.signIn.create({ identifier: "`+other+`" }).then(si => {
		const { email_address_id } = si.supportedFirstFactors.find(
			ff => ff.strategy === "email_link" && ff.safe_identifier === "`+other+`");
		window.flow = si.startMagicLinkFlow({ emailAddressId: email_address_id, redirectUrl: "/?landing=2" });
		return true;
	})`)
	link = a.waitMail(other).link(t, a.base, verifyPath)
	phone := newBrowser(t, "b").tab("phone")
	phone.confirmLink(link, "Sign in")
	phone.waitFor("the landing page", `() => new URLSearchParams(location.search).get("magiclink_status") === "verified"`)
	if s := runSeeds(phone); s != "verified" || phone.path() != "/" {
		t.Fatalf("the other device's landing page: %q at %s; want verified, no navigation", s, phone.path())
	}
	got = eval[string](waiting, `window.flow.then(si => [si.status, si.firstFactorVerification.status,
		String(si.firstFactorVerification.verifiedFromTheSameClient()), si.createdSessionId.slice(0, 5)].join(" "))`)
	if got != "complete verified false sess_" {
		t.Fatalf("the laptop's sign-in: %q; want complete, verified from another client, a session", got)
	}

	// Failures: expired is an expired MagicLinkError, the rest "failed".
	for status, want := range map[string]string{"expired": "expired", "failed": "failed", "client_mismatch": "failed"} {
		phone.navigate(a.base + "/?magiclink_status=" + status)
		if s := runSeeds(phone); s != want {
			t.Fatalf("magiclink_status=%s: the seeds' code renders %q; want %q", status, s, want)
		}
	}
	// Clerk's current names are the same functions.
	if got := eval[string](phone, `[magiclink.handleEmailLinkVerification === magiclink.handleMagicLinkVerification,
		magiclink.EmailLinkErrorCode === magiclink.MagicLinkErrorCode, magiclink.isEmailLinkError === magiclink.isMagicLinkError].join()`); got != "true,true,true" {
		t.Fatalf("aliases: %s", got)
	}
}
