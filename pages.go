package magiclink

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/magiclink-go/magiclink/internal/i18n"
	"github.com/magiclink-go/magiclink/mailer"
)

// The pages the library serves (the confirm pages of links and sign-in
// tokens and what they say when a link cannot be used) share one
// template, page.html, which defines two blocks: "style" (the CSS) and
// "main" (the body). An application may replace it (Config.Overrides,
// pages/page.html). The rest stays the library's: the document around
// the blocks, with the CSP nonce on the one style element, and the
// confirm forms, which the blocks place with {{.Form}} but cannot change,
// so an override can break neither the security headers nor the
// single-use POST.

//go:embed assets
var assets embed.FS

var (
	layoutTmpl = template.Must(template.ParseFS(assets, "assets/layout.html"))
	formTmpl   = template.Must(template.ParseFS(assets, "assets/form.html"))
)

// pageBlocks are the blocks a page template must define.
var pageBlocks = []string{"style", "main"}

// defaultPageAccent colours the pages' buttons when Brand.AccentColor is
// empty.
const defaultPageAccent = "#2f5bea"

// page is what a handler says on a page, in the language of locale.
type page struct {
	Title, Text, Note string
	Forms             []pageForm
}

// pageForm is a button that posts a token to one of the library's own
// routes.
type pageForm struct {
	Action, Token, Button, ID string
	Secondary                 bool
}

// pageView is what a page template's blocks see. It holds no nonce: the
// CSP stays the library's.
type pageView struct {
	Lang, Dir         string
	Title, Text, Note string
	// Form is the page's confirm form(s), written by the library; empty
	// when the page has no button.
	Form  template.HTML
	Brand mailer.Brand
	msgs  *i18n.Printer
}

// T returns the catalogue message key in the page's language, with {app}
// filled in and the other placeholders from args (pairs of name and
// value). Page overrides use it for words of their own (keys app.…).
func (v pageView) T(key string, args ...string) string {
	return v.msgs.T(key, append(args, "app", v.Brand.Name)...)
}

// loadPages returns the page template: the embedded page.html, or
// pages/page.html of overrides, in the library's layout.
func loadPages(overrides fs.FS) (*template.Template, error) {
	name, src := "assets/page.html", []byte(nil)
	if overrides != nil {
		b, err := fs.ReadFile(overrides, "pages/page.html")
		switch {
		case err == nil:
			name, src = "pages/page.html", b
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("magiclink: Config.Overrides: %w", err)
		}
	}
	if src == nil {
		var err error
		if src, err = fs.ReadFile(assets, name); err != nil {
			return nil, err
		}
	}
	blocks, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("magiclink: Config.Overrides: %w", err)
	}
	t, err := layoutTmpl.Clone()
	if err != nil {
		return nil, err
	}
	for _, b := range pageBlocks {
		bt := blocks.Lookup(b)
		if bt == nil || bt.Tree == nil {
			return nil, fmt.Errorf("magiclink: Config.Overrides: %s lacks the block %q ({{define %q}}…{{end}}); a page template defines %q and %q",
				name, b, b, pageBlocks[0], pageBlocks[1])
		}
		if _, err := t.AddParseTree(b, bt.Tree); err != nil {
			return nil, fmt.Errorf("magiclink: Config.Overrides: %s: %w", name, err)
		}
	}
	return t, nil
}

// checkPages renders a page with a confirm form in every language, so
// that a page template that cannot execute, or leaves the form out,
// fails New rather than a request.
func (a *Auth) checkPages() error {
	name := "assets/page.html"
	if a.cfg.Overrides != nil {
		if _, err := fs.Stat(a.cfg.Overrides, "pages/page.html"); err == nil {
			name = "pages/page.html"
		}
	}
	for _, loc := range a.cat.Locales() {
		p := page{Title: "t", Text: "x", Forms: []pageForm{{Action: a.cfg.Prefix + "/verify", Token: "sample-token", Button: "b", ID: "confirm"}}}
		var b bytes.Buffer
		if err := a.writePage(&b, p, loc, "nonce"); err != nil {
			return fmt.Errorf("magiclink: Config.Overrides: %s: %w", name, err)
		}
		if !strings.Contains(b.String(), `value="sample-token"`) {
			return fmt.Errorf("magiclink: Config.Overrides: %s: the block \"main\" must show the confirm form with {{.Form}}", name)
		}
	}
	return nil
}

// pageBrand returns the brand pages show: the accent colour defaulted,
// and the logo only when it is on BaseURL's origin, since pages load
// nothing from elsewhere.
func (a *Auth) pageBrand() mailer.Brand {
	b := a.cfg.Brand
	if b.AccentColor == "" {
		b.AccentColor = defaultPageAccent
	}
	if u, err := url.Parse(b.LogoURL); err != nil || origin(u) != origin(a.base) {
		b.LogoURL = ""
	}
	return b
}

// writePage renders p in the language locale with the CSP nonce.
func (a *Auth) writePage(w io.Writer, p page, locale, nonce string) error {
	msgs := a.cat.Printer(locale)
	var form bytes.Buffer
	if len(p.Forms) > 0 {
		if err := formTmpl.Execute(&form, p.Forms); err != nil {
			return err
		}
	}
	v := pageView{Lang: msgs.Lang(), Dir: msgs.Dir(), Title: p.Title, Text: p.Text, Note: p.Note,
		Form: template.HTML(form.String()), Brand: a.pageBrand(), msgs: msgs}
	return a.pages.Execute(w, struct {
		Page  pageView
		Nonce string
	}{v, nonce})
}

// renderPage answers 200 with p in the language locale, under the
// security headers of confirm pages.
func (a *Auth) renderPage(w http.ResponseWriter, p page, locale string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	var buf bytes.Buffer
	if err := a.writePage(&buf, p, locale, nonce); err != nil {
		// checkPages ran every language at New: this is a bug.
		a.log.Error("magiclink: rendering a page", "error", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	a.pageHeaders(w, nonce)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", a.cat.Printer(locale).Lang())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
