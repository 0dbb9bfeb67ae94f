package magiclink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/magiclink-go/magiclink/internal/i18n"
	"github.com/magiclink-go/magiclink/mailer"
)

// Languages. Every word the library shows a person — emails, pages, the
// messages of API errors — comes from a message catalogue, in the
// language chosen, in this order, by the first that names one the
// catalogues have (matched with golang.org/x/text/language, so "pt-PT"
// gets Brazilian Portuguese): the user's stored locale, the locale given
// when the flow started (magiclink.js sends the browser's), the request's
// Accept-Language, and Config.DefaultLocale. A flow's language is chosen
// when it starts and stored with it, so its emails, which the outbox
// sends later, and its confirm page are written in it.

// sourceMessages returns the English catalogue, the language of the
// messages of *Error values returned to Go callers.
func sourceMessages() *i18n.Printer {
	return i18n.Default().Printer(i18n.Source)
}

// flowLanguage returns the language of f's emails and pages: its user's
// stored locale, when it has a user who stored one, else the one chosen
// when f started.
func (a *Auth) flowLanguage(ctx context.Context, f *flowRec) string {
	if f.UserID != "" {
		if u, err := load[userRec](ctx, a.st, keyUser+f.UserID); err == nil && u.v.Locale != "" {
			return a.cat.Match(u.v.Locale, f.Locale)
		}
	}
	return a.cat.Match(f.Locale)
}

// linkLanguage returns the language of the flow of the link with token,
// or "" when there is none.
func (a *Auth) linkLanguage(ctx context.Context, token string) string {
	if !validToken(token) {
		return ""
	}
	link, err := load[linkRec](ctx, a.st, keyLink+hashToken(token))
	if err != nil {
		return ""
	}
	f, err := load[flowRec](ctx, a.st, link.v.FlowKey)
	if err != nil {
		return ""
	}
	return a.flowLanguage(ctx, &f.v)
}

// requestLocale returns the language of an answer to r that concerns no
// flow: its Accept-Language, else the default.
func (a *Auth) requestLocale(r *http.Request) string {
	return a.cat.Match(r.Header.Get("Accept-Language"))
}

// requestPrefs returns the languages a request asks a new flow to be in:
// the locale its parameters give (magiclink.js sends the browser's), when
// the catalogues have it, else its Accept-Language. A malformed locale,
// even one that is not a string, falls back: it never fails a request.
func (a *Auth) requestPrefs(r *http.Request, p params) string {
	locale, _ := p.str("locale")
	if l, ok := a.cat.Find(locale); ok {
		return l
	}
	return r.Header.Get("Accept-Language")
}

// msgs returns the catalogue of locale.
func (a *Auth) msgs(locale string) *i18n.Printer { return a.cat.Printer(locale) }

// loadText loads the catalogues, the page template and the email
// templates, each with its overrides, and checks that they render.
func (a *Auth) loadText(overrides fs.FS, defaultLocale string) error {
	sub := func(dir string) (fs.FS, error) {
		if overrides == nil {
			return nil, nil
		}
		if _, err := fs.Stat(overrides, dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return fs.Sub(overrides, dir)
	}
	msgs, err := sub("messages")
	if err != nil {
		return fmt.Errorf("magiclink: Config.Overrides: %w", err)
	}
	if a.cat, err = i18n.Load(msgs, defaultLocale); err != nil {
		return fmt.Errorf("magiclink: Config.Overrides or DefaultLocale: %w", err)
	}
	emails, err := sub("emails")
	if err != nil {
		return fmt.Errorf("magiclink: Config.Overrides: %w", err)
	}
	if a.tpl, err = mailer.NewTemplates(emails); err != nil {
		return fmt.Errorf("magiclink: Config.Overrides: emails/: %w", err)
	}
	for _, loc := range a.cat.Locales() {
		for _, k := range emailKinds {
			data := mailer.Data{To: "ada@example.com", Link: a.url(a.cfg.Prefix + "/verify?token=sample"),
				ValidFor: a.cfg.LinkTTL, Brand: a.cfg.Brand, Messages: a.msgs(loc)}
			if _, err := a.tpl.Render(k, data); err != nil {
				return fmt.Errorf("magiclink: Config.Overrides: %s in %s: %w", k, loc, err)
			}
		}
	}
	if a.pages, err = loadPages(overrides); err != nil {
		return err
	}
	return a.checkPages()
}

// emailKinds are the kinds of email the library sends.
var emailKinds = []mailer.Kind{mailer.KindSignIn, mailer.KindSignUp, mailer.KindVerifyEmail,
	mailer.KindNoAccount, mailer.KindSignUpExisting, mailer.KindWelcome, mailer.KindAddressInUse,
	mailer.KindAccountSuspended, mailer.KindPrimaryEmailChanged, mailer.KindReverification}
