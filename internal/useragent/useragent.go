// Package useragent reads the little a User-Agent header reliably says:
// the browser, its version, the kind of device and whether it is a
// mobile one. It is a heuristic for showing people their own sessions
// ("Firefox 128 on Linux"), never for security decisions.
package useragent

import "strings"

// Info is what Parse reads from a User-Agent header; unknown parts are
// empty.
type Info struct {
	BrowserName    string // e.g. "Chrome", "Firefox", "Safari", "Edge"
	BrowserVersion string // e.g. "128.0"
	DeviceType     string // e.g. "Macintosh", "Windows", "Linux", "iPhone", "iPad", "Android"
	IsMobile       bool
}

// maxLen bounds how much of a header is read.
const maxLen = 512

// browsers are tried in order: later tokens appear in earlier browsers'
// headers too (every Chromium browser says Safari, Edge says Chrome).
var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"HeadlessChrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"},
	{"curl/", "curl"},
}

// devices are tried in order, as browsers.
var devices = []struct{ token, name string }{
	{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
	{"Macintosh", "Macintosh"}, {"Windows", "Windows"}, {"Linux", "Linux"},
}

// Parse reads ua.
func Parse(ua string) Info {
	if len(ua) > maxLen {
		ua = ua[:maxLen]
	}
	var in Info
	for _, b := range browsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			in.BrowserName = b.name
			in.BrowserVersion = version(ua[i+len(b.token):])
			if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
				in.BrowserName, in.BrowserVersion = "", ""
				continue
			}
			break
		}
	}
	for _, d := range devices {
		if strings.Contains(ua, d.token) {
			in.DeviceType = d.name
			break
		}
	}
	in.IsMobile = in.DeviceType == "iPhone" || strings.Contains(ua, "Mobile") || strings.Contains(ua, "Mobi")
	return in
}

// version returns the dotted version at the start of s, at most 32
// bytes of digits and dots.
func version(s string) string {
	n := 0
	for n < len(s) && n < 32 && (s[n] == '.' || ('0' <= s[n] && s[n] <= '9')) {
		n++
	}
	return strings.TrimSuffix(s[:n], ".")
}
