package magiclink

// RedirectAttacks are redirect_url values that must be refused by an Auth
// with BaseURL https://app.example (RedirectOrigins may add
// https://allowed.example:8443 and http://localhost:3000): each would send
// a browser to another origin or run script. Exported for the external
// tests; it seeds FuzzCheckRedirect.
var RedirectAttacks = redirectAttacks

var redirectAttacks = []string{
	// Scheme-relative and its disguises.
	"//evil.com", "///evil.com", "////evil.com", "/\\evil.com", "\\/evil.com", "\\\\evil.com", "/\\/evil.com",
	"\t//evil.com", " //evil.com", "/\t/evil.com", "\n//evil.com", "//evil.com\x00", "/\r\n/evil.com",
	"%2F%2Fevil.com", "/%2F/evil.com", "/%2f%2fevil.com", "/%5Cevil.com", "/%5cevil.com", "%5C%5Cevil.com",
	"//%09/evil.com",
	// Schemes without slashes, with too few or too many.
	"https:evil.com", "https:/evil.com", "https:\\\\evil.com", "https:///evil.com", "http:evil.com", "http://evil.com",
	// Other hosts, look-alikes and userinfo.
	"https://evil.com", "HTTPS://EVIL.COM", "https://app.evil.com", "https://app.example.evil.com", "https://evilapp.example",
	"https://app@evil.com", "https://app.example@evil.com", "https://app.example:443@evil.com", "https://user:pass@app.example/",
	"https://app.example%40evil.com", "https://app.example%2F@evil.com", "https://evil.com\\@app.example",
	"https://evil.com#@app.example", "https://evil.com?@app.example", "https://evil%2ecom", "https://evil.com%00.app.example",
	"https://evil。com", "https://app。example", "https://evil．com", "https://ａｐｐ.example", "https://app.example。",
	"http://app.example/", "https://app.example:8443/", "https://allowed.example/", "https://allowed.example:8444/",
	// IP literals not on the list.
	"https://[::1]/", "https://[::ffff:7f00:1]/", "http://[fe80::1%25en0]/", "https://127.0.0.1/", "https://2130706433/",
	"https://0x7f.1/",
	// Script and other schemes, in mixed case.
	"javascript:", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "javascript://app.example/%0aalert(1)",
	" javascript:alert(1)", "java\tscript:alert(1)", "data:", "data:text/html,<script>alert(1)</script>",
	"DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)", "VBScript:msgbox(1)",
	"file:///etc/passwd", "ftp://evil.com/", "blob:https://app.example/x", "about:blank",
	// Relative paths that are not absolute paths.
	"evil.com", "./evil.com", "../evil.com", "?x=1", "#frag",
}
