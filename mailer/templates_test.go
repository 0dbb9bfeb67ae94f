package mailer_test

import (
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/magiclink-go/magiclink/internal/i18n"
	"github.com/magiclink-go/magiclink/mailer"
)

var allKinds = []mailer.Kind{
	mailer.KindSignIn, mailer.KindSignUp, mailer.KindVerifyEmail,
	mailer.KindNoAccount, mailer.KindSignUpExisting, mailer.KindWelcome, mailer.KindAddressInUse,
	mailer.KindAccountSuspended, mailer.KindPrimaryEmailChanged, mailer.KindReverification,
}

func testData() mailer.Data {
	return mailer.Data{
		AppName:   "Example",
		To:        "ada@example.com",
		Link:      "https://app.example/auth/verify?token=abc&x=1",
		ExpiresAt: testNow.Add(10 * time.Minute),
		ExpiresIn: "10 minutes",
	}
}

func TestDefaultTemplates(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			data := testData()
			msg, err := mailer.DefaultTemplates().Render(kind, data)
			if err != nil {
				t.Fatalf("Render() = %v", err)
			}
			msg.From = "no-reply@example.com"
			if err := msg.Validate(); err != nil {
				t.Fatalf("rendered message invalid: %v", err)
			}
			if msg.Kind != kind || msg.To != data.To || msg.Link != data.Link || !msg.ExpiresAt.Equal(data.ExpiresAt) {
				t.Errorf("Render() = %+v: fields not copied from data", msg)
			}
			if !strings.Contains(msg.Subject, "Example") || strings.ContainsAny(msg.Subject, "\r\n") {
				t.Errorf("subject %q", msg.Subject)
			}
			if !strings.Contains(msg.Text, "\n"+data.Link+"\n") {
				t.Errorf("text lacks the link on a line of its own:\n%s", msg.Text)
			}
			if !strings.Contains(msg.HTML, `href="`+html.EscapeString(data.Link)+`"`) {
				t.Errorf("html lacks the escaped link:\n%s", msg.HTML)
			}
			if (mailer.Data{Kind: kind}).OneTime() {
				const want = "This link expires in 10 minutes and works once."
				if !strings.Contains(msg.Text, want) || !strings.Contains(msg.HTML, want) {
					t.Errorf("message does not say %q:\n%s\n%s", want, msg.Text, msg.HTML)
				}
			}
			for _, remote := range []string{"<img", "src=", "@import", "url(", "<link", "<script"} {
				if strings.Contains(msg.HTML, remote) {
					t.Errorf("html contains %q", remote)
				}
			}
		})
	}
}

func TestRenderEscapes(t *testing.T) {
	data := testData()
	data.AppName = `<script>alert("x")</script>`
	data.Link = `javascript:alert(1)`
	msg, err := mailer.DefaultTemplates().Render(mailer.KindSignIn, data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "<script>") {
		t.Errorf("AppName not escaped:\n%s", msg.HTML)
	}
	if strings.Contains(msg.HTML, `href="javascript:`) {
		t.Errorf("javascript: link survived:\n%s", msg.HTML)
	}
}

func TestRenderWithoutExpiry(t *testing.T) {
	data := testData()
	data.ExpiresIn, data.ExpiresAt = "", time.Time{}
	msg, err := mailer.DefaultTemplates().Render(mailer.KindWelcome, data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.Text, "expires") || !strings.Contains(msg.Text, "This link works once.") {
		t.Errorf("text:\n%s", msg.Text)
	}
}

func TestRenderUnknownKind(t *testing.T) {
	_, err := mailer.DefaultTemplates().Render("nope", testData())
	if !errors.Is(err, mailer.ErrUnknownKind) {
		t.Errorf("Render() = %v, want ErrUnknownKind", err)
	}
}

func TestNewTemplates(t *testing.T) {
	fsys := fstest.MapFS{
		"sign_in.subject.txt": {Data: []byte("Sign in,\n{{.AppName}}\n")},
		"sign_in.txt":         {Data: []byte("Go: {{.Link}}\n")},
		// no sign_in.html: sign-in messages are text only
		"survey.subject.txt": {Data: []byte("Tell us about {{.AppName}}")},
		"survey.txt":         {Data: []byte("{{.Link}}")},
		"survey.html":        {Data: []byte(`<a href="{{.Link}}">{{.AppName}}</a>`)},
		"README.md":          {Data: []byte("ignored")},
		"partial.txt":        {Data: []byte("ignored: not a kind")},
	}
	tmpl, err := mailer.NewTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	data := testData()
	data.AppName = "A&B"

	msg, err := tmpl.Render(mailer.KindSignIn, data)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Sign in, A&B" || msg.Text != "Go: "+data.Link+"\n" || msg.HTML != "" {
		t.Errorf("sign_in from fsys: %+v", msg)
	}

	msg, err = tmpl.Render("survey", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<a href="https://app.example/auth/verify?token=abc&amp;x=1">A&amp;B</a>`; msg.HTML != want {
		t.Errorf("survey html = %q, want %q", msg.HTML, want)
	}

	// Kinds fsys does not define keep the defaults.
	got, err := tmpl.Render(mailer.KindSignUp, data)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mailer.DefaultTemplates().Render(mailer.KindSignUp, data)
	if got.Subject != want.Subject || got.Text != want.Text || got.HTML != want.HTML {
		t.Errorf("sign_up is not the default")
	}

	// A nil fsys is the defaults.
	def, err := mailer.NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := def.Render(mailer.KindWelcome, data); err != nil {
		t.Errorf("NewTemplates(nil).Render() = %v", err)
	}
}

func TestNewTemplatesErrors(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"html without subject": {"sign_in.html": {Data: []byte("x")}, "sign_in.txt": {Data: []byte("x")}},
		"text without subject": {"welcome.txt": {Data: []byte("x")}},
		"subject without text": {"survey.subject.txt": {Data: []byte("x")}},
		"bad text template":    {"survey.subject.txt": {Data: []byte("x")}, "survey.txt": {Data: []byte("{{.Link")}},
		"bad html template":    {"survey.subject.txt": {Data: []byte("x")}, "survey.txt": {Data: []byte("x")}, "survey.html": {Data: []byte("{{if}}")}},
	}
	for name, fsys := range tests {
		if _, err := mailer.NewTemplates(fsys); err == nil {
			t.Errorf("%s: NewTemplates() = nil error", name)
		}
	}

	// A template that cannot execute fails NewTemplates, naming its file,
	// not the send.
	_, err := mailer.NewTemplates(fstest.MapFS{
		"survey.subject.txt": {Data: []byte("{{.Nope}}")},
		"survey.txt":         {Data: []byte("x")},
	})
	if err == nil || !strings.Contains(err.Error(), "survey.subject.txt") {
		t.Errorf("NewTemplates() with an unknown field = %v, want an error naming survey.subject.txt", err)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{500 * time.Millisecond, "less than a second"},
		{time.Second, "1 second"},
		{2 * time.Second, "2 seconds"},
		{90 * time.Second, "90 seconds"},
		{time.Minute, "1 minute"},
		{10 * time.Minute, "10 minutes"},
		{10*time.Minute + 30*time.Second, "10 minutes"},
		{90 * time.Minute, "90 minutes"},
		{time.Hour, "1 hour"},
		{25 * time.Hour, "25 hours"},
		{24 * time.Hour, "1 day"},
		{30 * 24 * time.Hour, "30 days"},
	}
	for _, tt := range tests {
		if got := mailer.FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// missingKey matches a catalogue key left in a message, as a missing
// message shows.
var missingKey = regexp.MustCompile(`\b(?:email|duration)\.[a-z_]`)

var allLocales = []string{"en", "de", "fr", "es", "pt-BR", "ja", "ar"}

// TestEveryKindInEveryLanguage renders each kind in each language, with a
// link, a code, both, and a brand, and checks that no message is missing,
// and that the link and the code stand exactly where they belong.
func TestEveryKindInEveryLanguage(t *testing.T) {
	const code = "493817"
	for _, kind := range allKinds {
		for _, loc := range allLocales {
			for _, variant := range []string{"link", "code", "both", "none"} {
				oneTime := (mailer.Data{Kind: kind}).OneTime()
				switch {
				case variant == "none" && oneTime, variant == "code" && !oneTime, variant == "both" && !oneTime,
					kind == mailer.KindWelcome && variant != "link":
					continue
				}
				t.Run(string(kind)+"/"+loc+"/"+variant, func(t *testing.T) {
					data := testData()
					data.ExpiresIn, data.ValidFor = "", 10*time.Minute
					data.Locale = loc
					data.Brand = mailer.Brand{SupportEmail: "help@example.com", AccentColor: "#0a7c55"}
					if variant == "code" || variant == "both" {
						data.Code = code
					}
					if variant == "code" || variant == "none" {
						data.Link = ""
					}
					data.NewEmailAddress, data.OccurredAt = "grace@example.com", testNow
					msg, err := mailer.DefaultTemplates().Render(kind, data)
					if err != nil {
						t.Fatal(err)
					}
					for part, s := range map[string]string{"subject": msg.Subject, "text": msg.Text, "html": msg.HTML} {
						if missingKey.MatchString(s) || strings.ContainsAny(s, "{}") {
							t.Errorf("%s has a missing message or placeholder:\n%s", part, s)
						}
					}
					// Whether the message says its link or code works once,
					// and for how long.
					m := i18n.Default().Printer(loc)
					validity := map[string]string{"link": "email.expires", "code": "email.code.expires", "both": "email.both.expires", "none": "email.expires"}[variant]
					want := m.T(validity, "expires_in", m.Duration(10*time.Minute))
					if strings.Contains(msg.Text, want) != oneTime || strings.Contains(msg.HTML, html.EscapeString(want)) != oneTime {
						t.Errorf("message saying %q: %v, want %v:\n%s", want, !oneTime, oneTime, msg.Text)
					}
					// The message says what it is about, with or without a
					// link (a code alone is introduced by the code's line).
					d := data
					d.Kind = kind
					if intro := d.Part("intro"); variant != "code" &&
						(!strings.Contains(msg.Text, intro) || !strings.Contains(msg.HTML, html.EscapeString(intro))) {
						t.Errorf("message lacks its intro %q:\n%s", intro, msg.Text)
					}
					if strings.Contains(msg.Subject, code) {
						t.Errorf("subject shows the code: %q", msg.Subject)
					}
					if want := m.T("email."+string(kind)+".subject_code", "app", "Example"); variant == "code" && msg.Subject != want {
						t.Errorf("code-only subject = %q, want %q", msg.Subject, want)
					}
					if !strings.Contains(msg.Subject, "Example") {
						t.Errorf("subject lacks the app's name: %q", msg.Subject)
					}
					escaped := html.EscapeString(data.Link)
					wantLinks, wantHrefs := 0, 0
					if data.Link != "" {
						wantLinks, wantHrefs = 1, 2 // the text's line; the button and the copyable link
					}
					if got := strings.Count(msg.Text, data.Link); data.Link != "" && got != wantLinks {
						t.Errorf("text has the link %d times, want %d:\n%s", got, wantLinks, msg.Text)
					}
					if data.Link != "" && !strings.Contains(msg.Text, "\n"+data.Link+"\n") {
						t.Errorf("text lacks the link on a line of its own:\n%s", msg.Text)
					}
					if got := strings.Count(msg.HTML, `href="`+escaped+`"`); got != wantHrefs {
						t.Errorf("html has %d links to the link, want %d:\n%s", got, wantHrefs, msg.HTML)
					}
					if data.Link == "" && strings.Contains(msg.HTML, "<a ") {
						t.Errorf("code-only html has a link:\n%s", msg.HTML)
					}
					wantCodes := 0
					if data.Code != "" {
						wantCodes = 1
					}
					if got := strings.Count(msg.Text, code); got != wantCodes {
						t.Errorf("text has the code %d times, want %d", got, wantCodes)
					}
					if data.Code != "" && !strings.Contains(msg.Text, "\n    "+code+"\n") {
						t.Errorf("text lacks the code on a line of its own:\n%s", msg.Text)
					}
					if got := strings.Count(msg.HTML, `<span dir="ltr">`+code+"</span>"); got != wantCodes {
						t.Errorf("html has the code %d times, want %d", got, wantCodes)
					}
					dir := "ltr"
					if loc == "ar" {
						dir = "rtl"
					}
					if want := `<html lang="` + loc + `" dir="` + dir + `">`; !strings.Contains(msg.HTML, want) {
						t.Errorf("html lacks %s", want)
					}
					if !strings.Contains(msg.Text, "help@example.com") || !strings.Contains(msg.HTML, "#0a7c55") == (data.Link != "") {
						t.Errorf("brand not applied:\n%s\n%s", msg.Text, msg.HTML)
					}
				})
			}
		}
	}
}

func TestRenderInGerman(t *testing.T) {
	data := testData()
	data.ExpiresIn, data.ValidFor, data.Locale = "", 10*time.Minute, "de-AT"
	msg, err := mailer.DefaultTemplates().Render(mailer.KindSignIn, data)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Ihr Anmeldelink für Example" {
		t.Errorf("subject = %q", msg.Subject)
	}
	const want = "Dieser Link läuft in 10 Minuten ab und funktioniert nur einmal."
	if !strings.Contains(msg.Text, want) || !strings.Contains(msg.HTML, want) {
		t.Errorf("message does not say %q:\n%s", want, msg.Text)
	}
}

func TestBrandValidate(t *testing.T) {
	for _, b := range []mailer.Brand{
		{AccentColor: "red"}, {AccentColor: "#12345"}, {AccentColor: "#ggg"},
		{LogoURL: "javascript:alert(1)"}, {LogoURL: "/logo.png"},
		{SupportEmail: "Help <help@example.com>"}, {Name: "a\nb"},
	} {
		if err := b.Validate(); err == nil {
			t.Errorf("%+v: Validate() = nil", b)
		}
	}
	ok := mailer.Brand{Name: "Acme", AccentColor: "#0A7c55", LogoURL: "https://cdn.example/logo.png", SupportEmail: "help@acme.example"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}
