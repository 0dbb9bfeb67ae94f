package smtp

import (
	"fmt"
	"net/url"
	"strconv"
)

// ParseURL returns the Config that rawURL describes, without a From:
//
//	smtp://user:pass@host:port   STARTTLS, port 587 by default
//	smtps://user:pass@host:port  implicit TLS, port 465 by default
//
// User and password are optional and percent-decoded. With smtp:// the
// connection is upgraded with STARTTLS when the server offers it, and
// STARTTLS is mandatory unless host is loopback ("localhost", a name under
// .localhost, or a loopback IP address), where a server without it (a local
// development mail catcher) is accepted. Paths other than "/", queries and
// fragments are rejected, so that nothing in rawURL is silently ignored.
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Config{}, fmt.Errorf("smtp: invalid URL: %w", redact(err))
	}
	var cfg Config
	switch u.Scheme {
	case "smtp":
		cfg.TLS = defaultPolicy(u.Hostname())
	case "smtps":
		cfg.TLS = ImplicitTLS
	default:
		return Config{}, fmt.Errorf("smtp: URL scheme %q, want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Config{}, fmt.Errorf("smtp: URL must be scheme://[user[:password]@]host[:port]")
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return Config{}, fmt.Errorf("smtp: URL has no host")
	}
	if p := u.Port(); p != "" {
		cfg.Port, err = strconv.Atoi(p)
		if err != nil || cfg.Port < 1 || cfg.Port > 65535 {
			return Config{}, fmt.Errorf("smtp: URL port %q out of range", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	return cfg, nil
}

// FromURL returns a Mailer for rawURL (see ParseURL) with from as its
// default sender.
func FromURL(rawURL, from string) (*Mailer, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.From = from
	return New(cfg)
}

// defaultPolicy is the TLS policy of an smtp:// URL for host: STARTTLS,
// mandatory unless host is loopback.
func defaultPolicy(host string) TLSPolicy {
	if isLoopback(host) {
		return StartTLSOpportunistic
	}
	return StartTLSMandatory
}

// redact drops the URL from a *url.Error, which may hold a password.
func redact(err error) error {
	if ue, ok := err.(*url.Error); ok { // url.Parse returns it unwrapped
		return ue.Err
	}
	return err
}
