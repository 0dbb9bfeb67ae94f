package magiclink

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAddressLen bounds an email address (RFC 5321's path limit).
const maxAddressLen = 254

// NormalizeAddress validates an email address as a user types it and
// returns its canonical form: surrounding spaces trimmed, the domain in
// lower case. It refuses display names, comments, CR/LF and other control
// characters, addresses without a domain or with a dotless domain, and
// anything longer than 254 bytes.
func NormalizeAddress(s string) (string, error) { return parseAddress("email_address", s) }

// parseAddress is NormalizeAddress with errors naming param.
func parseAddress(param, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", paramMissing(param)
	}
	badAddress := func() error {
		return paramInvalid(param, "param_email")
	}
	if len(s) > maxAddressLen || !utf8.ValidString(s) || strings.ContainsAny(s, "<>()\"\\,;: \t") {
		return "", badAddress()
	}
	for _, r := range s {
		// C0 and C1 controls, line and paragraph separators, spaces and
		// invisible format characters (bidi overrides, zero widths):
		// some software breaks lines at U+0085 or U+2028, and none of
		// them belongs in an address a person reads.
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Zs, unicode.Cf) {
			return "", badAddress()
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", badAddress()
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || domain == "" || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", badAddress()
	}
	return local + "@" + domain, nil
}

// addressKey is the form under which an address is indexed: addresses
// differing only in case are the same account.
func addressKey(addr string) string { return strings.ToLower(addr) }
