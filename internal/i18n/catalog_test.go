package i18n

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
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
