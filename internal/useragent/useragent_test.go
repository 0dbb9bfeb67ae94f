package useragent

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		ua   string
		want Info
	}{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Info{"Chrome", "131.0.0.0", "Linux", false}},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
			Info{"Chrome", "131.0.6778.85", "Linux", false}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			Info{"Safari", "17.5", "Macintosh", false}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Info{"Safari", "17.5", "iPhone", true}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
			Info{"Edge", "131.0.2903.70", "Windows", false}},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", Info{"Firefox", "128.0", "Linux", false}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			Info{"Chrome", "131.0.0.0", "Android", true}},
		{"curl/8.5.0", Info{"curl", "8.5.0", "", false}},
		{"Go-http-client/1.1", Info{}},
		{"", Info{}},
	} {
		if got := Parse(c.ua); got != c.want {
			t.Errorf("Parse(%q) = %+v; want %+v", c.ua, got, c.want)
		}
	}
}
