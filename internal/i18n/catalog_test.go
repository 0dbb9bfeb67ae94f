package i18n

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

func TestOverrides(t *testing.T) {
	c, err := Load(fstest.MapFS{
		"en.json": {Data: []byte(`{"page.continue": "Onward", "app.hello": "Hi {who}"}`)},
		"it.json": {Data: []byte(`{"page.continue": "Continua", "duration.minutes": {"one": "{n} minuto", "other": "{n} minuti"}}`)},
	}, "en")
	if err != nil {
		t.Fatal(err)
	}
	en, it := c.Printer("en"), c.Printer(c.Match("it-CH"))
	if got := en.T("page.continue"); got != "Onward" {
		t.Errorf("overridden en = %q", got)
	}
	if got := en.T("app.hello", "who", "Ada"); got != "Hi Ada" {
		t.Errorf("app key = %q", got)
	}
	if got := it.T("page.continue"); got != "Continua" {
		t.Errorf("added language = %q (lang %s)", got, it.Lang())
	}
	if got := it.Duration(10 * time.Minute); got != "10 minuti" {
		t.Errorf("added language plural = %q", got)
	}
	// What the added language lacks falls back to English.
	if got := it.T("page.note"); got != Default().Printer("en").T("page.note") {
		t.Errorf("fallback = %q", got)
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := map[string]struct{ file, src, want string }{
		"unknown key":         {"de.json", `{"page.contnue": "x"}`, `de.json: "page.contnue" is not a message`},
		"unknown placeholder": {"en.json", `{"page.sign_in.text": "as {mail}"}`, "unknown placeholder {mail}"},
		"not json":            {"fr.json", `{`, "fr.json: not a JSON object"},
		"plural for string":   {"en.json", `{"page.note": {"other": "x"}}`, "must be a string"},
		"no other form":       {"en.json", `{"duration.days": {"one": "x"}}`, `lack "other"`},
		"bad form":            {"en.json", `{"duration.days": {"other": "x", "dual": "y"}}`, "not a plural form"},
		"bad tag":             {"not_a_tag!.json", `{}`, "not a BCP 47"},
	}
	for name, tt := range tests {
		_, err := Load(fstest.MapFS{tt.file: {Data: []byte(tt.src)}}, "en")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Load() = %v, want an error with %q", name, err, tt.want)
		}
	}
	if _, err := Load(nil, "xx"); err == nil {
		t.Error("Load() with a default that has no catalogue = nil error")
	}
}

func TestMatchFallsBack(t *testing.T) {
	c := Default()
	for _, prefs := range [][]string{{""}, {"zz"}, {"not a tag;;q=x"}, {strings.Repeat("a", 300)}, nil} {
		if got := c.Match(prefs...); got != "en" {
			t.Errorf("Match(%q) = %q, want the default", prefs, got)
		}
	}
}

// TestCataloguesComplete checks that every embedded language has every
// message of the English catalogue, with its placeholders only, and the
// plural forms its language uses for counts up to 200.
func TestCataloguesComplete(t *testing.T) {
	src, err := embedded.ReadFile("locales/" + Source + ".json")
	if err != nil {
		t.Fatal(err)
	}
	en, err := parse(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(embedded, "locales/*.json")
	want := []string{"ar", "de", "en", "es", "fr", "ja", "pt-BR"}
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimSuffix(path.Base(f), ".json"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("languages = %v, want %v", got, want)
	}
	for _, f := range files {
		raw, _ := embedded.ReadFile(f)
		msgs, err := parse(raw, en)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		tag := language.MustParse(strings.TrimSuffix(path.Base(f), ".json"))
		for k := range en {
			m, ok := msgs[k]
			if !ok {
				t.Errorf("%s lacks %q", f, k)
				continue
			}
			if m.forms == nil {
				continue
			}
			for n := range 201 {
				form := plural.Cardinal.MatchPlural(tag, n, 0, 0, 0, 0)
				if _, ok := m.forms[form]; !ok {
					t.Errorf("%s: %q lacks the plural form %v (for %d)", f, k, form, n)
					break
				}
			}
		}
	}
}

func TestMatch(t *testing.T) {
	c := Default()
	tests := map[string]string{
		"de": "de", "de-AT": "de", "de-CH,en;q=0.5": "de", "fr-CA": "fr", "es-419": "es", "es-MX": "es",
		"pt-BR": "pt-BR", "pt-PT": "pt-BR", "pt": "pt-BR", "ja-JP": "ja", "ar-EG": "ar", "ar": "ar",
		"en-GB": "en", "zh-CN": "en", "zz": "en", "de;q=0.5, fr": "fr", "*": "en",
	}
	for in, want := range tests {
		if got := c.Match(in); got != want {
			t.Errorf("Match(%q) = %q, want %q", in, got, want)
		}
	}
	// The first source that matches wins: a stored locale over a header.
	if got := c.Match("", "zz", "ja", "de"); got != "ja" {
		t.Errorf("Match in order = %q, want ja", got)
	}
	if got := c.Printer("ar").Dir(); got != "rtl" {
		t.Errorf("ar Dir() = %q", got)
	}
	if got := c.Printer("ja").Dir(); got != "ltr" {
		t.Errorf("ja Dir() = %q", got)
	}
}

func TestDuration(t *testing.T) {
	c := Default()
	tests := []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", 10 * time.Minute, "10 minutes"},
		{"en", time.Minute, "1 minute"},
		{"en", 500 * time.Millisecond, "less than a second"},
		{"de", 10 * time.Minute, "10 Minuten"},
		{"de", 24 * time.Hour, "1 Tag"},
		{"fr", time.Hour, "1 heure"},
		{"es", 2 * time.Hour, "2 horas"},
		{"pt-BR", 30 * 24 * time.Hour, "30 dias"},
		{"ja", 10 * time.Minute, "10分"},
		{"ar", time.Minute, "دقيقة واحدة"},
		{"ar", 2 * time.Minute, "دقيقتين"},
		{"ar", 10 * time.Minute, "10 دقائق"},
		{"ar", 15 * time.Minute, "15 دقيقة"},
	}
	for _, tt := range tests {
		if got := c.Printer(tt.lang).Duration(tt.d); got != tt.want {
			t.Errorf("%s Duration(%v) = %q, want %q", tt.lang, tt.d, got, tt.want)
		}
	}
}

// FuzzMatch checks that no preference, however malformed, fails or picks
// something other than a catalogue, and that a Printer for it fills
// messages without leaving a placeholder.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"de", "pt-PT", "zz", "de;q=0.5, fr", "*", ";;;q=", "en-US,en;q=0.9", "x-klingon", "ar-EG-u-nu-arab", strings.Repeat("de,", 200)} {
		f.Add(s)
	}
	c := Default()
	locales := c.Locales()
	f.Fuzz(func(t *testing.T, pref string) {
		got := c.Match(pref)
		if !slices.Contains(locales, got) {
			t.Fatalf("Match(%q) = %q, not a catalogue", pref, got)
		}
		p := c.Printer(got)
		if s := p.T("page.sign_in.text", "email", pref, "app", "x"); strings.Contains(s, "{email}") {
			t.Fatalf("placeholder left: %q", s)
		}
	})
}
