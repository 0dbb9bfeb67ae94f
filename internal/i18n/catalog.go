// Package i18n holds the message catalogues of every word magiclink shows a
// person (emails, pages, API error messages), picks a catalogue for a
// request or a flow, and fills in messages.
//
// A catalogue is a flat JSON object, one file per language named after its
// BCP 47 tag (en.json, pt-BR.json). A value is a string, or for a message
// that depends on a number an object of CLDR plural forms ("zero", "one",
// "two", "few", "many", "other"; "other" is required). Placeholders are
// written {name}; a translation may use only the placeholders its English
// message has.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Source is the language every key must exist in; others fall back to it.
const Source = "en"

// AppPrefix starts the keys an application adds for its own templates;
// any other key a catalogue override holds must be one the library knows.
const AppPrefix = "app."

//go:embed locales/*.json
var embedded embed.FS

// Catalog is a set of catalogues, one per language, with the matcher that
// picks among them. It is immutable and safe for concurrent use.
type Catalog struct {
	tags    []language.Tag
	names   []string // catalogue name of tags[i], e.g. "pt-BR"
	msgs    []map[string]entry
	matcher language.Matcher
	def     int // index of the default language
}

type entry struct {
	text  string
	forms map[plural.Form]string // non-nil: a plural message
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

var builtin = sync.OnceValue(func() *Catalog {
	c, err := Load(nil, Source)
	if err != nil {
		panic("i18n: embedded catalogues: " + err.Error())
	}
	return c
})

// Default returns the embedded catalogues with English as the default.
func Default() *Catalog { return builtin() }

// Load returns the embedded catalogues with the files <tag>.json at the
// root of override applied on top: a file for a language the library has
// replaces the entries it lists; a file for another language adds that
// language, whose missing entries fall back to English. def names the
// default language and must be one of the catalogues. Errors name the
// file at fault.
func Load(override fs.FS, def string) (*Catalog, error) {
	c := &Catalog{}
	byName := map[string]int{}
	add := func(fsys fs.FS, name string, known map[string]entry) error {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		tagName := strings.TrimSuffix(path.Base(name), ".json")
		tag, err := language.Parse(tagName)
		if err != nil {
			return fmt.Errorf("%s: %q is not a BCP 47 language tag", name, tagName)
		}
		entries, err := parse(raw, known)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if i, ok := byName[tag.String()]; ok {
			maps.Copy(c.msgs[i], entries)
			return nil
		}
		byName[tag.String()] = len(c.tags)
		c.tags = append(c.tags, tag)
		c.names = append(c.names, tag.String())
		c.msgs = append(c.msgs, entries)
		return nil
	}
	// English first: it defines the keys and their placeholders.
	if err := add(embedded, "locales/"+Source+".json", nil); err != nil {
		return nil, fmt.Errorf("i18n: embedded %w", err)
	}
	src := c.msgs[0]
	files, _ := fs.Glob(embedded, "locales/*.json")
	for _, f := range files {
		if f == "locales/"+Source+".json" {
			continue
		}
		if err := add(embedded, f, src); err != nil {
			return nil, fmt.Errorf("i18n: embedded %w", err)
		}
	}
	if override != nil {
		files, err := fs.Glob(override, "*.json")
		if err != nil {
			return nil, fmt.Errorf("i18n: catalogue overrides: %w", err)
		}
		for _, f := range files {
			known := src
			if f == Source+".json" {
				// English overrides may not add keys of their own beyond
				// app ones either; copy so src stays the embedded set.
				known = maps.Clone(src)
			}
			if err := add(override, f, known); err != nil {
				return nil, fmt.Errorf("i18n: catalogue override %w", err)
			}
		}
	}
	// Fill what a language lacks from English, so that a lookup never
	// misses once a catalogue loaded.
	for i := 1; i < len(c.msgs); i++ {
		for k, e := range c.msgs[0] {
			if _, ok := c.msgs[i][k]; !ok && !strings.HasPrefix(k, AppPrefix) {
				c.msgs[i][k] = e
			}
		}
	}
	d, ok := byName[canonical(def)]
	if !ok {
		return nil, fmt.Errorf("i18n: default locale %q has no catalogue (have %s)", def, strings.Join(c.names, ", "))
	}
	c.def = d
	// The matcher prefers its first tag when nothing matches: the default.
	tags := append([]language.Tag{c.tags[d]}, c.tags...)
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Canonical returns the canonical form of the BCP 47 tag s ("pt-br" →
// "pt-BR"); ok is false when s is not one.
func Canonical(s string) (tag string, ok bool) {
	if len(s) > 64 {
		return "", false
	}
	t, err := language.Parse(s)
	if err != nil {
		return "", false
	}
	return t.String(), true
}

func canonical(s string) string {
	t, err := language.Parse(s)
	if err != nil {
		return s
	}
	return t.String()
}

// parse reads one catalogue file. known, when not nil, holds the English
// entries: a key must be one of them (or an app key) and use only their
// placeholders.
func parse(raw []byte, known map[string]entry) (map[string]entry, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object of messages: %w", err)
	}
	out := make(map[string]entry, len(m))
	for k, v := range m {
		var e entry
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			e.text = s
		} else {
			var forms map[string]string
			if err := json.Unmarshal(v, &forms); err != nil {
				return nil, fmt.Errorf("%q: a message is a string or an object of plural forms", k)
			}
			e.forms = map[plural.Form]string{}
			for name, text := range forms {
				f, ok := formNames[name]
				if !ok {
					return nil, fmt.Errorf("%q: %q is not a plural form (zero, one, two, few, many, other)", k, name)
				}
				e.forms[f] = text
			}
			if _, ok := e.forms[plural.Other]; !ok {
				return nil, fmt.Errorf("%q: plural forms lack \"other\"", k)
			}
		}
		if known != nil && !strings.HasPrefix(k, AppPrefix) {
			en, ok := known[k]
			if !ok {
				return nil, fmt.Errorf("%q is not a message the library has (an application's own keys start with %q)", k, AppPrefix)
			}
			if (en.forms == nil) != (e.forms == nil) {
				return nil, fmt.Errorf("%q: must be %s, as in English", k, map[bool]string{true: "a string", false: "an object of plural forms"}[en.forms == nil])
			}
			allowed := en.placeholders()
			for _, p := range e.placeholders() {
				if !slices.Contains(allowed, p) {
					return nil, fmt.Errorf("%q: unknown placeholder {%s} (this message has %s)", k, p, list(allowed))
				}
			}
		}
		out[k] = e
	}
	return out, nil
}

var formNames = map[string]plural.Form{"zero": plural.Zero, "one": plural.One, "two": plural.Two,
	"few": plural.Few, "many": plural.Many, "other": plural.Other}

func (e entry) placeholders() []string {
	var out []string
	texts := []string{e.text}
	for _, t := range e.forms {
		texts = append(texts, t)
	}
	for _, t := range texts {
		for _, m := range placeholder.FindAllStringSubmatch(t, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

func list(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{" + p + "}")
	}
	return b.String()
}

// Locales returns the catalogue names, default first.
func (c *Catalog) Locales() []string {
	out := []string{c.names[c.def]}
	for i, n := range c.names {
		if i != c.def {
			out = append(out, n)
		}
	}
	return out
}

// Keys returns every key of the English catalogue, sorted.
func (c *Catalog) Keys() []string {
	return slices.Sorted(maps.Keys(c.msgs[0]))
}

// Match returns the catalogue name for the first of prefs that matches a
// catalogue: each is a BCP 47 tag or an Accept-Language value, best first;
// malformed or unmatched ones are skipped. Without a match it returns the
// default. So "pt-PT" gets Brazilian Portuguese, and "zz" the default.
func (c *Catalog) Match(prefs ...string) string {
	if name, ok := c.Find(prefs...); ok {
		return name
	}
	return c.names[c.def]
}

// Find is Match without the fallback: ok is false when none of prefs
// matches a catalogue.
func (c *Catalog) Find(prefs ...string) (string, bool) {
	for _, p := range prefs {
		p = strings.TrimSpace(p)
		if p == "" || len(p) > 256 {
			continue
		}
		tags, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(tags) == 0 {
			continue
		}
		for _, t := range tags {
			_, i, conf := c.matcher.Match(t)
			if conf != language.No {
				if i == 0 {
					i = c.def + 1
				}
				return c.names[i-1], true
			}
		}
	}
	return "", false
}

// Printer returns the messages of the catalogue named locale (as Match
// returns it); an unknown name gets the default's.
func (c *Catalog) Printer(locale string) *Printer {
	i := slices.Index(c.names, locale)
	if i < 0 {
		i = slices.Index(c.names, canonical(locale))
	}
	if i < 0 {
		i = c.def
	}
	return &Printer{c: c, i: i}
}

// Printer fills in the messages of one language.
type Printer struct {
	c *Catalog
	i int
}

// Lang returns the catalogue's language tag, for an HTML lang attribute.
func (p *Printer) Lang() string { return p.c.names[p.i] }

// Dir returns "rtl" for a language written right to left, else "ltr".
func (p *Printer) Dir() string {
	s, _ := p.c.tags[p.i].Script()
	switch s.String() {
	case "Arab", "Hebr", "Syrc", "Thaa", "Nkoo", "Adlm", "Rohg", "Mand", "Samr":
		return "rtl"
	}
	return "ltr"
}

// T returns the message key with its placeholders filled from args, which
// are pairs of name and value. A key the catalogues lack returns the key
// itself, so a missing message shows instead of failing.
func (p *Printer) T(key string, args ...string) string {
	e, ok := p.c.msgs[p.i][key]
	if !ok {
		return key
	}
	text := e.text
	if e.forms != nil {
		text = e.forms[plural.Other]
	}
	return fill(text, p.isolate(args))
}

// N returns the plural message key for the count n, with {n} and args
// filled in.
func (p *Printer) N(key string, n int, args ...string) string {
	e, ok := p.c.msgs[p.i][key]
	if !ok {
		return key
	}
	text := e.text
	if e.forms != nil {
		form := plural.Cardinal.MatchPlural(p.c.tags[p.i], n, 0, 0, 0, 0)
		if t, ok := e.forms[form]; ok {
			text = t
		} else {
			text = e.forms[plural.Other]
		}
	}
	return fill(text, p.isolate(append([]string{"n", strconv.Itoa(n)}, args...)))
}

// isolate wraps the values of args in Unicode bidi isolates (FSI … PDI)
// for a language written right to left, so that a value written left to
// right, such as an address or the app's name, keeps its own direction
// and the punctuation around it stays where the sentence puts it.
func (p *Printer) isolate(args []string) []string {
	if p.Dir() != "rtl" {
		return args
	}
	out := make([]string, len(args))
	for i, a := range args {
		if i%2 == 1 && a != "" && args[i-1] != "n" {
			a = "\u2068" + a + "\u2069"
		}
		out[i] = a
	}
	return out
}

// Has reports whether the catalogue has key.
func (p *Printer) Has(key string) bool {
	_, ok := p.c.msgs[p.i][key]
	return ok
}

// fill replaces each {name} of text that args (pairs of name and value)
// has; others stay as they are.
func fill(text string, args []string) string {
	i := strings.IndexByte(text, '{')
	if i < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 32)
	for i >= 0 {
		b.WriteString(text[:i])
		text = text[i:]
		end := strings.IndexByte(text, '}')
		if end < 0 {
			break
		}
		name, found := text[1:end], false
		for j := 0; j+1 < len(args); j += 2 {
			if args[j] == name {
				b.WriteString(args[j+1])
				found = true
				break
			}
		}
		if !found {
			b.WriteString(text[:end+1])
		}
		text = text[end+1:]
		i = strings.IndexByte(text, '{')
	}
	b.WriteString(text)
	return b.String()
}
