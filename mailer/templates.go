package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/magiclink-go/magiclink/internal/i18n"
)

// Data is what templates see.
type Data struct {
	AppName string // the application's name, as users know it; empty: Brand.Name
	To      string // the recipient's address
	Link    string // the link the message carries; empty when it carries only a code
	// Code is the one-time code the message carries beside (or instead
	// of) Link, to be typed into the tab that asked for it; empty when it
	// carries none. Templates must never put it in the subject: subjects
	// show on lock screens and in notifications.
	Code      string
	ExpiresAt time.Time // when Link stops working; zero if it does not expire
	// ExpiresIn is how long Link works, written for a reader in the
	// message's language, e.g. "10 minutes"; empty if it does not expire.
	// When it is empty and ValidFor is set, Render writes it from ValidFor.
	ExpiresIn string
	// ValidFor is how long Link works from now; zero if it does not expire.
	ValidFor time.Duration

	// Locale is the language to write in: a BCP 47 tag such as "de" or
	// "pt-BR", matched against the catalogues; empty or unmatched: English
	// (or the default of Messages).
	Locale string
	// Brand is the application's branding.
	Brand Brand
	// Messages supplies the text in place of the embedded catalogues;
	// magiclink sets it to its catalogue, with the application's
	// overrides, in the language chosen for the message.
	Messages Messages

	// Of notices (KindPrimaryEmailChanged): what changed, when, and from
	// which device ("Firefox 128.0 on Linux, IP 203.0.113.0"; may be
	// empty).
	NewEmailAddress string
	OccurredAt      time.Time
	Device          string

	// Set by Render.
	Kind Kind   // the message's kind
	Lang string // the language written in, for an HTML lang attribute
	Dir  string // "rtl" for a language written right to left, else "ltr"
}

// Messages is a message catalogue in one language.
type Messages interface {
	// T returns the message key with its {placeholders} filled from
	// args, pairs of name and value; a key it lacks comes back as is.
	T(key string, args ...string) string
	// Duration writes d for a reader, as in "10 minutes".
	Duration(d time.Duration) string
	// Date writes an instant for a reader, as in "2 December 2026, 14:05
	// UTC".
	Date(t time.Time) string
	// Lang returns the language's BCP 47 tag.
	Lang() string
	// Dir returns "rtl" or "ltr".
	Dir() string
}

// T returns the catalogue message key in the message's language, with the
// placeholders {app}, {email}, {expires_in} and {support} filled from d
// and any others from args (pairs of name and value).
func (d Data) T(key string, args ...string) string {
	m := d.Messages
	if m == nil {
		m = builtin(d.Locale)
	}
	args = append(args, "app", d.AppName, "email", d.To, "expires_in", d.ExpiresIn,
		"support", d.Brand.SupportEmail, "new_email", d.NewEmailAddress)
	if !d.OccurredAt.IsZero() {
		// A notice: when and from where.
		device := d.Device
		if device == "" {
			device = m.T("email.device_unknown")
		}
		args = append(args, "when", m.Date(d.OccurredAt), "device", device)
	}
	return m.T(key, args...)
}

// Part returns the message email.<Kind>.<name>, as T does: Part "subject"
// is the subject of the message's kind.
func (d Data) Part(name string) string {
	return d.T("email." + string(d.Kind) + "." + name)
}

// OneTime reports whether the message carries a link or code that works
// once: every kind but KindNoAccount and KindAddressInUse, whose link
// is just a page of the application, and the notices
// KindAccountSuspended and KindPrimaryEmailChanged.
func (d Data) OneTime() bool {
	switch d.Kind {
	case KindNoAccount, KindAddressInUse, KindAccountSuspended, KindPrimaryEmailChanged:
		return false
	}
	return true
}

// templateFuncs are the functions every template may call besides Data's
// methods: {{t . "key"}} is {{.T "key"}}, {{part . "intro"}} is
// {{.Part "intro"}}, {{oneTime .}} is {{.OneTime}}. The default layout
// uses them because a function call costs text/template far less than a
// method call on Data.
var templateFuncs = map[string]any{
	"t":       func(d Data, key string, args ...string) string { return d.T(key, args...) },
	"part":    func(d Data, name string) string { return d.Part(name) },
	"oneTime": func(d Data) bool { return d.OneTime() },
	"subject": func(d Data) string { return d.Subject() },
}

// Subject returns the subject of the message: email.<Kind>.subject, or
// for a message that carries a code and no link, email.<Kind>.subject_code
// when the catalogue has it.
func (d Data) Subject() string {
	if d.Code != "" && d.Link == "" {
		key := "email." + string(d.Kind) + ".subject_code"
		if s := d.T(key); s != key {
			return s
		}
	}
	return d.Part("subject")
}

// builtin returns the embedded catalogue that best matches locale.
func builtin(locale string) Messages {
	c := i18n.Default()
	return c.Printer(c.Match(locale))
}

// Brand is how an application looks in the emails and pages magiclink
// writes. The zero value is neutral: the application's name in plain
// type, dark buttons.
type Brand struct {
	// Name is the application's name, as users know it.
	Name string
	// LogoURL is an absolute https URL of a logo shown above the message,
	// about 32 pixels high; empty: none. Pages show it only when it is on
	// the application's own origin, as they load nothing from elsewhere.
	LogoURL string
	// AccentColor colours buttons, as "#rgb" or "#rrggbb"; default
	// "#111827" in emails and "#2f5bea" on pages.
	AccentColor string
	// SupportEmail, when set, is offered at the end of each message as
	// the address to write to with questions.
	SupportEmail string
}

// DefaultAccentColor is the colour of buttons in emails when
// Brand.AccentColor is empty.
const DefaultAccentColor = "#111827"

// Validate reports whether b can be used: AccentColor is empty or a hex
// colour, LogoURL empty or an absolute http(s) URL, SupportEmail empty or
// a bare address.
func (b Brand) Validate() error {
	if c := b.AccentColor; c != "" && !isHexColor(c) {
		return fmt.Errorf("mailer: Brand.AccentColor must be #rgb or #rrggbb, got %q", c)
	}
	if u := b.LogoURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return fmt.Errorf("mailer: Brand.LogoURL must be an absolute http(s) URL, got %q", u)
	}
	if a := b.SupportEmail; a != "" {
		if _, err := ParseTo(a); err != nil {
			return fmt.Errorf("mailer: Brand.SupportEmail must be a bare address, got %q", a)
		}
	}
	if strings.ContainsAny(b.Name, "\r\n") {
		return errors.New("mailer: Brand.Name must be one line")
	}
	return nil
}

func isHexColor(c string) bool {
	if len(c) != 4 && len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// Templates renders messages from text/template and html/template files.
// A Templates is immutable and safe for concurrent use.
type Templates struct {
	kinds  map[Kind]*kindTemplates // kinds with templates of their own
	layout *kindTemplates          // every other kind the catalogue has
}

type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil: text only
}

// ErrUnknownKind is returned by Render for a kind it has no templates for.
var ErrUnknownKind = errors.New("mailer: no templates for this kind")

//go:embed templates
var defaultFS embed.FS

// layoutName names the files of the layout: email.subject.txt, email.txt
// and email.html.
const layoutName = "email"

var defaultTemplates = sync.OnceValue(func() *Templates {
	sub, err := fs.Sub(defaultFS, "templates")
	if err != nil {
		panic(err)
	}
	t, err := parseTemplates(sub)
	if err != nil {
		panic("mailer: embedded templates: " + err.Error())
	}
	return t
})

// DefaultTemplates returns the embedded default templates: one layout
// that writes each Kind from the message catalogue (the messages
// email.<kind>.subject, .intro, .button and .ignore) in the language of
// Data.Locale, saying what the link does, that it works once and when it
// expires. Their HTML loads nothing remote unless Brand.LogoURL is set.
func DefaultTemplates() *Templates {
	return defaultTemplates()
}

// NewTemplates returns templates read from the root of fsys. A message kind
// K is taken from fsys when fsys holds any of K.subject.txt, K.txt or K.html;
// then K.subject.txt and K.txt must exist, and K.html is optional (without
// it K is sent as text only). Any name ending in .subject.txt defines a
// kind, so applications may add kinds of their own. The files
// email.subject.txt, email.txt and email.html, when present, replace the
// layout that writes every kind without files of its own. Kinds that fsys
// does not define, or all of them when fsys is nil, use the embedded
// defaults. Other files are ignored.
//
// Subjects and text bodies are text/template templates, HTML bodies are
// html/template templates (so everything is escaped for its context, and
// only http, https and mailto links survive in href attributes); all of them
// execute with a Data and fail on missing keys. NewTemplates renders each
// template it reads once with sample data, so that a template that cannot
// execute fails here, naming its file, rather than when a message is sent.
func NewTemplates(fsys fs.FS) (*Templates, error) {
	def := DefaultTemplates()
	t := &Templates{kinds: make(map[Kind]*kindTemplates, len(def.kinds)), layout: def.layout}
	for k, kt := range def.kinds {
		t.kinds[k] = kt
	}
	if fsys == nil {
		return t, nil
	}
	own, err := parseTemplates(fsys)
	if err != nil {
		return nil, err
	}
	for k, kt := range own.kinds {
		if err := kt.try(k); err != nil {
			return nil, err
		}
		t.kinds[k] = kt
	}
	if own.layout != nil {
		for _, k := range builtinKinds {
			if err := own.layout.try(k); err != nil {
				return nil, err
			}
		}
		t.layout = own.layout
	}
	return t, nil
}

var builtinKinds = []Kind{KindSignIn, KindSignUp, KindVerifyEmail, KindNoAccount, KindSignUpExisting, KindWelcome,
	KindAccountSuspended, KindPrimaryEmailChanged, KindReverification}

// try renders kt once for kind with sample data in the catalogue's
// default language.
func (kt *kindTemplates) try(kind Kind) error {
	data := Data{AppName: "Example", To: "ada@example.com", Link: "https://app.example/auth/verify?token=sample",
		ExpiresAt: time.Unix(0, 0), ExpiresIn: "10 minutes", Brand: Brand{Name: "Example", SupportEmail: "help@example.com"}}
	_, err := kt.render(kind, data)
	return err
}

// parseTemplates parses the kinds, and the layout, that fsys defines.
func parseTemplates(fsys fs.FS) (*Templates, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("mailer: templates: %w", err)
	}
	files := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			files[e.Name()] = true
		}
	}
	kinds := make(map[Kind]bool)
	for name := range files {
		if k, ok := strings.CutSuffix(name, ".subject.txt"); ok {
			kinds[Kind(k)] = true
			continue
		}
		for _, k := range append(builtinKinds, layoutName) {
			if name == string(k)+".txt" || name == string(k)+".html" {
				kinds[k] = true
			}
		}
	}
	t := &Templates{kinds: make(map[Kind]*kindTemplates, len(kinds))}
	for k := range kinds {
		if k == "" {
			continue
		}
		kt := new(kindTemplates)
		subjectName, textName, htmlName := string(k)+".subject.txt", string(k)+".txt", string(k)+".html"
		for _, name := range []string{subjectName, textName} {
			if !files[name] {
				return nil, fmt.Errorf("mailer: templates: %s is missing (kind %q)", name, k)
			}
		}
		if kt.subject, err = parseText(fsys, subjectName); err != nil {
			return nil, err
		}
		if kt.text, err = parseText(fsys, textName); err != nil {
			return nil, err
		}
		if files[htmlName] {
			src, err := fs.ReadFile(fsys, htmlName)
			if err != nil {
				return nil, fmt.Errorf("mailer: templates: %w", err)
			}
			kt.html, err = htmltemplate.New(htmlName).Option("missingkey=error").Funcs(templateFuncs).Parse(string(src))
			if err != nil {
				return nil, fmt.Errorf("mailer: templates: %w", err)
			}
		}
		if k == layoutName {
			t.layout = kt
			continue
		}
		t.kinds[k] = kt
	}
	return t, nil
}

func parseText(fsys fs.FS, name string) (*texttemplate.Template, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("mailer: templates: %w", err)
	}
	t, err := texttemplate.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("mailer: templates: %w", err)
	}
	return t, nil
}

// Render builds the message of kind for data. It sets Kind, To, Subject,
// Text, HTML (empty for a text-only kind), Link, Code and ExpiresAt; From is left
// empty for the mailer's default sender. The subject is made one line: runs
// of white space, line breaks included, become single spaces. Render does
// not validate the result; mailers do (Message.Validate).
//
// A kind without templates of its own is written by the layout when the
// catalogue has its messages (email.<kind>.subject and the others).
func (t *Templates) Render(kind Kind, data Data) (*Message, error) {
	kt, ok := t.kinds[kind]
	if !ok {
		key := "email." + string(kind) + ".subject"
		if t.layout == nil || data.messages().T(key) == key {
			return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
		}
		kt = t.layout
	}
	return kt.render(kind, data)
}

// messages returns the catalogue d is written from.
func (d Data) messages() Messages {
	if d.Messages != nil {
		return d.Messages
	}
	return builtin(d.Locale)
}

func (kt *kindTemplates) render(kind Kind, data Data) (*Message, error) {
	m := data.messages()
	data.Messages, data.Kind, data.Lang, data.Dir = m, kind, m.Lang(), m.Dir()
	if data.AppName == "" {
		data.AppName = data.Brand.Name
	}
	if data.Brand.AccentColor == "" {
		data.Brand.AccentColor = DefaultAccentColor
	}
	if data.ExpiresIn == "" && data.ValidFor > 0 {
		data.ExpiresIn = m.Duration(data.ValidFor)
	}
	var subject, text, html bytes.Buffer
	if err := kt.subject.Execute(&subject, data); err != nil {
		return nil, fmt.Errorf("mailer: render %s subject: %w", kind, err)
	}
	if data.Code != "" && strings.Contains(subject.String(), data.Code) {
		return nil, fmt.Errorf("%w: the %s subject must not show the code", ErrInvalidMessage, kind)
	}
	if err := kt.text.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("mailer: render %s text: %w", kind, err)
	}
	if kt.html != nil {
		if err := kt.html.Execute(&html, data); err != nil {
			return nil, fmt.Errorf("mailer: render %s html: %w", kind, err)
		}
	}
	return &Message{
		Kind:      kind,
		To:        data.To,
		Subject:   strings.Join(strings.Fields(subject.String()), " "),
		Text:      text.String(),
		HTML:      html.String(),
		Link:      data.Link,
		Code:      data.Code,
		ExpiresAt: data.ExpiresAt,
	}, nil
}

// FormatDuration writes d for a reader in English, as in "This link
// expires in 10 minutes": in the largest unit (days, hours, minutes,
// seconds) that expresses d exactly; a d of two minutes or more with
// leftover seconds is rounded down to whole minutes, so a message never
// promises more time than there is. It returns "" for d <= 0. For another
// language, set Data.ValidFor and leave ExpiresIn empty.
func FormatDuration(d time.Duration) string {
	return builtin(i18n.Source).Duration(d)
}
