package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// emailHTML returns the text/html part of the .eml file m was read from.
func (a *app) emailHTML(t *testing.T, m *email) string {
	t.Helper()
	f, err := os.Open(filepath.Join(a.mailDir, m.File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("email %q has no text/html part: %v", m.Subject, err)
		}
		if pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt == "text/html" {
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// viewport saves a PNG of what the tab shows, as screenshot does. A
// full-page capture of a right-to-left page is shifted sideways;
// the viewport's is not.
func (tb *tab) viewport(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	tb.save(name, png)
}

// rightToLeft checks that the tab lays out its page right to left: the
// document says so and the heading's text is aligned on the right.
func rightToLeft(tb *tab, heading string) {
	tb.t.Helper()
	if dir := eval[string](tb, `document.documentElement.dir + " " + getComputedStyle(document.querySelector("`+heading+`")).direction`); dir != "rtl rtl" {
		tb.fatalf("direction of the document and of %s: %q, want rtl", heading, dir)
	}
	// The heading's text starts at its box's right edge.
	if gap := eval[float64](tb, `(() => { const h = document.querySelector("`+heading+`");
		const r = document.createRange(); r.selectNodeContents(h);
		return h.getBoundingClientRect().right - r.getBoundingClientRect().right; })()`); gap > 1 || gap < -1 {
		tb.fatalf("%s is not aligned on the right: %v px from its right edge", heading, gap)
	}
}

// 9. A person whose browser speaks Arabic signs up: the email, sent by
// the outbox after the request, is in Arabic and laid out right to left,
// and so is the confirm page, opened in the same browser.
func TestSignUpRightToLeft(t *testing.T) {
	a := startApp(t)
	b := newBrowser(t, "ar", chromedp.Flag("lang", "ar"), chromedp.Flag("accept-lang", "ar"))
	tb := b.tab("ar")
	addr := "layla@example.com"

	tb.navigate(a.base + "/sign-up")
	if lang := eval[string](tb, `navigator.language`); !strings.HasPrefix(lang, "ar") {
		t.Fatalf("navigator.language = %q, want ar", lang)
	}
	tb.fillAndSubmit("form#start", "input#email", addr)
	tb.waitText("[data-step=wait] h1", waitingHeading)

	m := a.waitMail(addr)
	if !strings.HasPrefix(m.Subject, "أكّد بريدك الإلكتروني في ") {
		t.Errorf("subject %q is not the Arabic one", m.Subject)
	}
	link := m.link(t, a.base, verifyPath)

	// The HTML email, as a mail client shows it.
	body := a.emailHTML(t, m)
	if !strings.Contains(body, `<html lang="ar" dir="rtl">`) {
		t.Errorf("the HTML email is not marked Arabic, right to left:\n%s", body)
	}
	reader := b.newTab("email")
	reader.navigate("data:text/html;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(body)))
	reader.waitFor("the email", `() => document.readyState === "complete" && !!document.querySelector("a[href]")`)
	rightToLeft(reader, "p")
	reader.viewport("email-rtl")

	// The confirm page.
	page := b.newTab("link")
	page.navigate(link)
	page.waitText("h1", "أكمل التسجيل")
	page.waitText("button#confirm", "التأكيد والمتابعة")
	rightToLeft(page, "h1")
	if lang := eval[string](page, `document.documentElement.lang`); lang != "ar" {
		t.Errorf("confirm page lang=%q, want ar", lang)
	}
	page.viewport("confirm-rtl")
	page.do("confirming", chromedp.Click(chromedp.CSS("button#confirm")))
	page.waitPage("/verified", signedInHeading)
	page.signedInAs(addr)
	landedOnAccount(tb, addr)
}
