package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/magiclink-go/magiclink/internal/mimetest"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// Time limits. Every wait in the suite is bounded by one of them.
const (
	stepTimeout  = 20 * time.Second // one browser step: a navigation, a click, a wait for the DOM
	mailTimeout  = 15 * time.Second // an email to show up in the mail folder
	startTimeout = 20 * time.Second // the app to listen
	stopTimeout  = 15 * time.Second // the app to shut down after SIGTERM
	mailPoll     = 20 * time.Millisecond
)

// The examples' binaries, each built once per run of the package.
var (
	buildMu   sync.Mutex
	buildDir  string
	buildBins = map[string]string{}
	buildErrs = map[string]error{}
)

// profiles are the user-data dirs of the browsers started, to check that
// none of their processes outlives the run.
var (
	profilesMu sync.Mutex
	profiles   []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	profilesMu.Lock()
	left := processesUsing(profiles)
	profilesMu.Unlock()
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: browser processes outlived their tests:\n%s\n", strings.Join(left, "\n"))
		code = 1
	}
	os.Exit(code)
}

// exampleBinary builds examples/<name> (from this checkout, with the root
// module's own go.mod) the first time a test needs it.
func exampleBinary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := buildBins[name]; ok {
		return bin
	}
	if err, ok := buildErrs[name]; ok {
		t.Fatal(err)
	}
	err := func() error {
		if buildDir == "" {
			dir, err := os.MkdirTemp("", "magiclink-e2e-")
			if err != nil {
				return err
			}
			buildDir = dir
		}
		bin := filepath.Join(buildDir, name)
		cmd := exec.Command("go", "build", "-o", bin, "./examples/"+name)
		cmd.Dir = ".." // the repository's root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./examples/%s: %v\n%s", name, err, out)
		}
		buildBins[name] = bin
		return nil
	}()
	if err != nil {
		buildErrs[name] = err
		t.Fatal(err)
	}
	return buildBins[name]
}

// chromiumPath returns Debian's chromium. Without one the test is skipped,
// or fails when MAGICLINK_REQUIRE_BROWSER=1 (CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err == nil {
		return p
	}
	if os.Getenv("MAGICLINK_REQUIRE_BROWSER") == "1" {
		t.Fatalf("chromium not found on PATH and MAGICLINK_REQUIRE_BROWSER=1: %v", err)
	}
	t.Skipf("chromium not found on PATH (apt-get install chromium); set MAGICLINK_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// app is a running example process (examples/basic unless said).
type app struct {
	t       *testing.T
	base    string // http://127.0.0.1:port
	mailDir string
	secret  string // MAGICLINK_SECRET_KEY, for the Backend API at /v1
	taken   map[string]bool
}

// startApp starts examples/basic with a fresh database and mail folder on
// a loopback port of its choosing (-addr 127.0.0.1:0, no race for a free
// port), with extra flags, and stops it with SIGTERM when the test ends.
// Browser tests check for chromium first, so that a machine without
// one skips before building anything.
func startApp(t *testing.T, flags ...string) *app {
	t.Helper()
	// The tests read the dev inbox too, which -mail-dir turns off.
	return startExample(t, "basic", append([]string{"-dev-inbox"}, flags...)...)
}

// startExample is startApp for examples/<name>, which takes the flags
// -addr, -db and -mail-dir and prints "… listening on <URL>" once it
// listens.
func startExample(t *testing.T, name string, flags ...string) *app {
	t.Helper()
	chromiumPath(t)
	bin := exampleBinary(t, name)
	dir := t.TempDir()
	a := &app{t: t, mailDir: filepath.Join(dir, "mail"), secret: "sk_e2e_" + rand.Text(), taken: map[string]bool{}}
	args := append([]string{"-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "basic.db"), "-mail-dir", a.mailDir}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MAGICLINK_SECRET_KEY="+a.secret)
	setParentDeathSignal(cmd)
	logs := &syncbuf.Buffer{} // the app's log
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("examples/%s did not exit cleanly after SIGTERM: %v", name, err)
			}
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("examples/%s still running %v after SIGTERM; killed", name, stopTimeout)
		}
		if t.Failed() {
			t.Logf("examples/%s log:\n%s", name, logs.String())
		}
	})

	// The first line says where it listens; it is printed once the
	// socket is bound, so the app accepts connections from then on.
	const marker = " listening on "
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), marker); ok {
				listening <- url
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // never block the app's writes
	}()
	select {
	case a.base = <-listening:
	case err := <-exited:
		exited <- err // for the cleanup, which waits for the exit
		t.Fatalf("examples/%s exited at start-up: %v\n%s", name, err, logs.String())
	case <-time.After(startTimeout):
		t.Fatalf("examples/%s did not listen within %v\n%s", name, startTimeout, logs.String())
	}
	if !strings.HasPrefix(a.base, "http://127.0.0.1:") {
		t.Fatalf("examples/%s listens on %q, want http://127.0.0.1:port", name, a.base)
	}
	return a
}

// email is a message read from the mail folder.
type email struct {
	File, To, Subject, Text string
	Links                   []string // the URLs of the text part, in order
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// link returns the message's first link to the app whose path is path.
func (m *email) link(t *testing.T, base, path string) string {
	t.Helper()
	for _, l := range m.Links {
		if u, err := url.Parse(l); err == nil && strings.HasPrefix(l, base+"/") && u.Path == path {
			return l
		}
	}
	t.Fatalf("email %q to %s has no link to %s%s; links: %q\n%s", m.Subject, m.To, base, path, m.Links, m.Text)
	return ""
}

// waitMail returns the oldest email to addr not returned before, waiting
// for it to appear in the mail folder. The app writes each message
// atomically (a temporary name, then a rename to *.eml), so a file that
// is listed is complete. Nothing signals a new file across processes, so
// the folder is polled, often and within mailTimeout.
func (a *app) waitMail(addr string) *email {
	a.t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		entries, err := os.ReadDir(a.mailDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			a.t.Fatal(err)
		}
		var seen []string
		for _, e := range entries { // sorted by name: the time it was sent, first
			name := e.Name()
			if !strings.HasSuffix(name, ".eml") || a.taken[name] {
				continue
			}
			m, err := readEmail(filepath.Join(a.mailDir, name))
			if err != nil {
				a.t.Fatalf("reading %s: %v", name, err)
			}
			if strings.EqualFold(m.To, addr) {
				a.taken[name] = true
				return m
			}
			seen = append(seen, m.To+": "+m.Subject)
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no email to %s within %v; other new emails: %q", addr, mailTimeout, seen)
		}
		time.Sleep(mailPoll)
	}
}

// readEmail parses one .eml file, as the mailer packages' tests do, and
// takes its text part's links.
func readEmail(path string) (*email, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg, err := mimetest.Parse(raw)
	if err != nil {
		return nil, err
	}
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		return nil, fmt.Errorf("To: %w", err)
	}
	subject, err := msg.Subject()
	if err != nil {
		return nil, fmt.Errorf("Subject: %w", err)
	}
	if msg.Text == "" {
		return nil, errors.New("no text/plain body")
	}
	return &email{File: filepath.Base(path), To: to.Address, Subject: subject, Text: msg.Text, Links: urlRE.FindAllString(msg.Text, -1)}, nil
}

// backend calls the Backend API at /v1 with the app's secret key and
// decodes the JSON answer into out, failing the test unless it is 200.
func (a *app) backend(method, path string, body, out any) {
	a.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+"/v1"+path, bytes.NewReader(b))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.secret)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		a.t.Fatalf("%s /v1%s: %s\n%s", method, path, res.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		a.t.Fatalf("%s /v1%s: %v\n%s", method, path, err, data)
	}
}

// createUser adds a user with a verified address through the Backend API
// (as for someone let in off a waitlist) and returns its id.
func (a *app) createUser(addr string) string {
	a.t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	a.backend(http.MethodPost, "/users", map[string]string{"email_address": addr}, &u)
	if !strings.HasPrefix(u.ID, "user_") {
		a.t.Fatalf("POST /v1/users: id %q", u.ID)
	}
	return u.ID
}

// signInToken is the Backend API's sign_in_token, as far as the tests
// read it.
type signInToken struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Token  string `json:"token"`
	URL    string `json:"url"`
}

func (a *app) createSignInToken(userID string) signInToken {
	a.t.Helper()
	var tok signInToken
	a.backend(http.MethodPost, "/sign_in_tokens", map[string]any{"user_id": userID}, &tok)
	if tok.Token == "" || tok.Status != "pending" {
		a.t.Fatalf("POST /v1/sign_in_tokens: id %q, status %q, token given: %t", tok.ID, tok.Status, tok.Token != "")
	}
	return tok
}

// browser is one chromium process with its own profile (its own cookie
// jar): a person's browser on one device.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context // the browser's first tab
}

// newBrowser starts a headless chromium with a fresh profile under the
// test's temporary folder, and stops it (and every process it started)
// when the test ends. extra adds options, such as the browser's
// language.
func newBrowser(t *testing.T, name string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := chromiumPath(t)
	profile := filepath.Join(t.TempDir(), "chromium-"+name) // removed after the browser stops: cleanups run last in, first out
	profilesMu.Lock()
	profiles = append(profiles, profile)
	profilesMu.Unlock()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(960, 720),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, then make sure its processes are
		// gone: cancelling the allocator kills and reaps what is left.
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium (%s): %v", name, err)
	}
	watchConsole(t, name, ctx)
	return &browser{t: t, name: name, ctx: ctx}
}

// watchConsole collects what the tab's pages write to the console:
// uncaught exceptions, console.error and failed loads fail the test when
// it ends, since they are bugs no server-side test sees. Requests the
// test itself expects to fail carry the marker probeMarker.
func watchConsole(t *testing.T, name string, ctx context.Context) {
	var (
		mu   sync.Mutex
		msgs []chromedp.ConsoleMessage
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			line := fmt.Sprintf("console of %s: %s (%s:%d)", name, redact(m.String()), redact(m.URL), m.Line)
			switch {
			case strings.Contains(m.URL, probeMarker):
			case (strings.Contains(m.URL, "/attempt_") || strings.Contains(m.URL, "/wait?")) && strings.Contains(m.String(), "status of 422"):
				// A wrong email code: a normal answer, which the page shows
				// (examples/serverrendered posts its code form to /wait).
				t.Log(line)
			case strings.Contains(m.URL, "/auth/me") && strings.Contains(m.String(), "status of 403"):
				// session_reverification_required: a normal answer, on
				// which the page runs a reverification.
				t.Log(line)
			case m.IsException() || m.Type == chromedp.ConsoleError:
				t.Error(line)
			default:
				t.Log(line)
			}
		}
	})
}

// tab is one tab of a browser.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// tab returns the browser's first tab.
func (b *browser) tab(name string) *tab { return &tab{t: b.t, name: name, ctx: b.ctx} }

// newTab opens another tab in the browser: same profile, same cookies.
func (b *browser) newTab(name string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel) // runs before the browser's cleanup, registered earlier
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("opening tab %s: %v", name, err)
	}
	watchConsole(b.t, b.name+"/"+name, ctx)
	return &tab{t: b.t, name: name, ctx: ctx}
}

// do runs actions in the tab within stepTimeout; a failure fails the test
// with the page's URL and text, and a screenshot.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fatalf("%s: %v", what, err)
	}
}

// navigate loads url in the tab and waits for its load event.
func (tb *tab) navigate(url string) {
	tb.t.Helper()
	tb.do("navigating to "+redact(url), chromedp.Navigate(url))
}

// eval evaluates a JavaScript expression in the tab; promises are awaited.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// isVisibleWithTextJS is true when an element matching sel is rendered
// (not display:none, not inside [hidden]) and its text contains want.
const isVisibleWithTextJS = `(sel, want) => Array.from(document.querySelectorAll(sel)).some(
	el => el.getClientRects().length > 0 && !el.closest("[hidden]") && el.textContent.includes(want))`

// waitFor waits until the JavaScript function fn, called with args,
// returns a truthy value in the tab's current page, within stepTimeout.
// It keeps waiting across navigations (a page that moves on by itself
// destroys the context a poll runs in), so it can wait for the page a
// tab goes to.
func (tb *tab) waitFor(what, fn string, args ...any) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			tb.fatalf("waiting for %s: not within %v (last: %v)", what, stepTimeout, last)
		}
		ctx, cancel := context.WithTimeout(tb.ctx, left)
		_, err := chromedp.Run(ctx, chromedp.PollFunction[chromedp.Void](fn,
			chromedp.WithPollingArgs(args...),
			chromedp.WithPollingInterval(25*time.Millisecond),
			chromedp.WithPollingTimeout(left)))
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, chromedp.ErrPollingTimeout) || tb.ctx.Err() != nil {
			tb.fatalf("waiting for %s: %v", what, err)
		}
		last = err // the page navigated under the poll: look again
		time.Sleep(25 * time.Millisecond)
	}
}

// waitText waits until an element matching sel is visible with a text
// containing want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s showing %q", sel, want), isVisibleWithTextJS, sel, want)
}

// waitPage waits until the tab shows path with a visible h1 containing
// heading.
func (tb *tab) waitPage(path, heading string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s with heading %q", path, heading),
		`(path, want) => location.pathname === path && (`+isVisibleWithTextJS+`)("h1", want)`, path, heading)
}

// path is the tab's location.pathname.
func (tb *tab) path() string { tb.t.Helper(); return eval[string](tb, `location.pathname`) }

// query is the tab's location.search, without the "?".
func (tb *tab) query() url.Values {
	tb.t.Helper()
	q, err := url.ParseQuery(strings.TrimPrefix(eval[string](tb, `location.search`), "?"))
	if err != nil {
		tb.fatalf("location.search: %v", err)
	}
	return q
}

// signedInAs fails unless the page's header shows addr as the signed-in
// user.
func (tb *tab) signedInAs(addr string) {
	tb.t.Helper()
	tb.waitText("header.top .who", addr)
}

// signedOut fails if the page shows anyone signed in or mentions addr:
// the header has no user and offers to sign in.
func (tb *tab) signedOut(addr string) {
	tb.t.Helper()
	tb.waitText("header.top nav a[href='/sign-in']", "Sign in")
	if n := eval[int](tb, `document.querySelectorAll("header.top .who, [data-sign-out]").length`); n != 0 {
		tb.fatalf("the page shows a signed-in user (%d elements)", n)
	}
	if eval[bool](tb, fmt.Sprintf(`document.body.innerText.includes(%q)`, addr)) {
		tb.fatalf("the page shows %s", addr)
	}
}

// probeMarker marks the requests a test makes from a page expecting an
// error status, whose console messages are no fault of the page.
const probeMarker = "e2e-probe=1"

// apiStatus is the status of fetch(path) from the page, with its cookies.
func (tb *tab) apiStatus(path string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`fetch(%q, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(r => r.status)`, path+"?"+probeMarker))
}

// wantAPIStatus fails the test, and lets it go on, unless a JSON GET of
// path from this tab with its cookies answers want.
func (tb *tab) wantAPIStatus(path string, want int) {
	tb.t.Helper()
	if got := tb.apiStatus(path); got != want {
		tb.t.Errorf("GET %s from tab %s: %d, want %d", path, tb.name, got, want)
	}
}

// cookies returns the browser's cookies for url, HttpOnly ones included,
// by name.
func (tb *tab) cookies(url string) map[string]string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		tb.fatalf("reading cookies: %v", err)
	}
	out := map[string]string{}
	for _, c := range res.Cookies {
		out[c.Name] = c.Value
	}
	return out
}

// screenshot saves a full-page PNG of the tab as <name>.png in the test's
// temporary folder, and in $MAGICLINK_E2E_SCREENSHOTS when set.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	tb.save(name, png)
}

func (tb *tab) save(name string, png []byte) {
	file := name + ".png"
	if err := os.WriteFile(filepath.Join(tb.t.TempDir(), file), png, 0o644); err != nil {
		tb.t.Errorf("saving screenshot: %v", err)
	}
	if dir := os.Getenv("MAGICLINK_E2E_SCREENSHOTS"); dir != "" {
		file = tb.t.Name() + "-" + file
		if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(file, "/", "_")), png, 0o644); err != nil {
			tb.t.Errorf("saving screenshot: %v", err)
		}
	}
}

// fatalf fails the test with what the tab shows: its URL, its text and a
// screenshot.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`)); err == nil {
		msg += fmt.Sprintf("\n--- tab %s: %s", tb.name, redact(loc))
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		tb.save("failure-"+tb.name, png)
	}
	tb.t.Fatal(msg)
}

// redact hides the tokens of links in failure messages.
var tokenRE = regexp.MustCompile(`token=[^&\s]+`)

func redact(s string) string { return tokenRE.ReplaceAllString(s, "token=…") }

// fillAndSubmit types into the field sel and clicks the form's submit
// button.
func (tb *tab) fillAndSubmit(form, field, value string) {
	tb.t.Helper()
	tb.do("filling "+form,
		chromedp.WaitVisible(chromedp.CSS(form+" "+field)),
		chromedp.SendKeys(chromedp.CSS(form+" "+field), value),
		chromedp.Click(chromedp.CSS(form+" button[type=submit]")),
	)
}

// confirmLink opens a magic link (or a sign-in-token link) in the tab:
// the confirm page, with a button that posts it.
func (tb *tab) confirmLink(link, button string) {
	tb.t.Helper()
	tb.navigate(link)
	tb.waitText("button#confirm", button)
	tb.do("confirming", chromedp.Click(chromedp.CSS("button#confirm")))
}

// httpDo fetches url with a plain Go client (no redirects; cookies only
// as given) and returns the answer, body read.
func httpDo(t *testing.T, method, url string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (compatible; LinkScanner/1.0)")
	req.Header.Set("Accept", "text/html,*/*")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// header fails unless the answer has header name with value.
func header(t *testing.T, res *http.Response, name, want string) {
	t.Helper()
	if got := res.Header.Values(name); !slices.Contains(got, want) {
		t.Errorf("%s %s: %s = %q, want %q", res.Request.Method, redact(res.Request.URL.String()), name, got, want)
	}
}
