// Package e2e holds magiclink's browser tests: they build and start
// examples/basic on a loopback port, read its emails from the -mail-dir
// folder and drive Debian's chromium (headless) with chromedp, through
// every flow a person goes through: sign-up and sign-in by magic link in
// one browser and across two, scanners fetching links first, expired
// links, sign-in tokens, adding an address and signing out. It drives
// examples/serverrendered the same way, with JavaScript turned off.
//
// It is a module of its own so that chromedp never enters the dependency
// graph of magiclink's users. Run it from this folder:
//
//	go test ./...
//
// The tests skip when no chromium is found on PATH, unless
// MAGICLINK_REQUIRE_BROWSER=1 (as in CI), which makes a missing browser a
// failure. MAGICLINK_E2E_SCREENSHOTS=dir also copies each test's
// screenshots into dir.
package e2e
