package magiclink

import (
	"net/url"
	"strings"
)

// maxRedirectLen bounds a redirect_url.
const maxRedirectLen = 2048

// checkRedirect validates a redirect_url and returns the form to store:
// empty stays empty (the fallback page is used), a path must be a plain
// same-origin path ("/…", never "//…" or "/\…"), and an absolute URL must
// be http(s) on BaseURL's origin or one of Config.RedirectOrigins, without
// user info. Control characters, backslashes and non-ASCII hosts are
// refused outright, so no browser can read it as another origin.
func (a *Auth) checkRedirect(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	bad := paramInvalid("redirect_url", "redirect_url")
	if len(raw) > maxRedirectLen || strings.ContainsAny(raw, "\\") {
		return "", bad
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c >= 0x7f {
			return "", bad
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad
	}
	if u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil {
		// A relative reference: only an absolute path, never
		// scheme-relative ("//host") or path-relative ("x", "../x").
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "", bad
		}
		// Decoding must not produce a scheme-relative path either.
		if p, err := url.PathUnescape(u.EscapedPath()); err != nil || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
			return "", bad
		}
		return u.String(), nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", bad
	}
	if !a.origins[origin(u)] {
		return "", bad
	}
	return u.String(), nil
}

// Same-origin paths the library is given (redirect_url, FallbackURL,
// SignInURL, …) and the routes it serves are the app's own paths, as the
// app sees them. When BaseURL has a path (https://host/app, an app behind
// a reverse proxy that strips /app), the browser sees each of them under
// that path: public adds it to every path the library sends a browser
// to (form actions, redirects), and absolute to every link.

// public returns the path a browser uses for the app's path u: u under
// BaseURL's path. Absolute URLs are returned unchanged.
func (a *Auth) public(u string) string {
	if strings.HasPrefix(u, "/") {
		return a.base.Path + u
	}
	return u
}

// absolute turns a validated same-origin path into an absolute URL under
// BaseURL, as a browser would use it; absolute URLs are returned
// unchanged.
func (a *Auth) absolute(u string) string {
	if strings.HasPrefix(u, "/") {
		return a.base.Scheme + "://" + a.base.Host + a.public(u)
	}
	return u
}
