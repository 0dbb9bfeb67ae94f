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
)

// Data is what templates see.
type Data struct {
	AppName string // the application's name, as users know it
	To      string // the recipient's address
	Link    string // the link the message carries; empty when it carries only a code
	// Code is the one-time code the message carries beside (or instead
	// of) Link, to be typed into the tab that asked for it; empty when it
	// carries none. Templates must never put it in the subject: subjects
	// show on lock screens and in notifications.
	Code      string
	ExpiresAt time.Time // when Link stops working; zero if it does not expire
	ExpiresIn string    // ExpiresAt as a duration, e.g. "10 minutes" (see FormatDuration); empty if it does not expire
}

// Templates renders messages from text/template and html/template files.
// A Templates is immutable and safe for concurrent use.
type Templates struct {
	kinds map[Kind]*kindTemplates
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

// DefaultTemplates returns the embedded default templates: one short message
// for each Kind, in English, saying what the link does, that it works once
// and when it expires. Their HTML loads nothing remote.
func DefaultTemplates() *Templates {
	return defaultTemplates()
}

// NewTemplates returns templates read from the root of fsys. A message kind
// K is taken from fsys when fsys holds any of K.subject.txt, K.txt or K.html;
// then K.subject.txt and K.txt must exist, and K.html is optional (without
// it K is sent as text only). Any name ending in .subject.txt defines a
// kind, so applications may add kinds of their own. Kinds that fsys does not
// define, or all of them when fsys is nil, use the embedded defaults. Other
// files are ignored.
//
// Subjects and text bodies are text/template templates, HTML bodies are
// html/template templates (so everything is escaped for its context, and
// only http, https and mailto links survive in href attributes); all of them
// execute with a Data and fail on missing keys.
func NewTemplates(fsys fs.FS) (*Templates, error) {
	def := DefaultTemplates()
	t := &Templates{kinds: make(map[Kind]*kindTemplates, len(def.kinds))}
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
		t.kinds[k] = kt
	}
	return t, nil
}

// parseTemplates parses the kinds that fsys defines.
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
		for _, k := range []Kind{KindSignIn, KindSignUp, KindVerifyEmail, KindNoAccount, KindSignUpExisting, KindWelcome} {
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
			kt.html, err = htmltemplate.New(htmlName).Option("missingkey=error").Parse(string(src))
			if err != nil {
				return nil, fmt.Errorf("mailer: templates: %w", err)
			}
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
	t, err := texttemplate.New(name).Option("missingkey=error").Parse(string(src))
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
func (t *Templates) Render(kind Kind, data Data) (*Message, error) {
	kt, ok := t.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
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

// FormatDuration writes d for a reader, as in "This link expires in 10
// minutes": in the largest unit (days, hours, minutes, seconds) that
// expresses d exactly; a d of two minutes or more with leftover seconds is
// rounded down to whole minutes, so a message never promises more time than
// there is. It returns "" for d <= 0.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	units := []struct {
		d    time.Duration
		name string
	}{
		{24 * time.Hour, "day"},
		{time.Hour, "hour"},
		{time.Minute, "minute"},
	}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			return plural(int64(d/u.d), u.name)
		}
	}
	if d >= 2*time.Minute {
		return plural(int64(d/time.Minute), "minute")
	}
	if d < time.Second {
		return "less than a second"
	}
	return plural(int64(d/time.Second), "second")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
