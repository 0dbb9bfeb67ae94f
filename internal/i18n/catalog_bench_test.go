package i18n

import "testing"

// BenchmarkMatch picks a catalogue for a typical Accept-Language, as every
// page and error answer does.
func BenchmarkMatch(b *testing.B) {
	c := Default()
	b.ReportAllocs()
	for b.Loop() {
		if c.Match("", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7") != "de" {
			b.Fatal("no match")
		}
	}
}

// BenchmarkT fills in a message with two placeholders.
func BenchmarkT(b *testing.B) {
	p := Default().Printer("de")
	b.ReportAllocs()
	for b.Loop() {
		_ = p.T("page.sign_up.text", "app", "Example", "email", "ada@example.com")
	}
}
