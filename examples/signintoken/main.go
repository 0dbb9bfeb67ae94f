// Command signintoken lets a user in off a waitlist: it creates the user
// (or finds the existing one), issues a one-time sign-in token, and sends
// the welcome email whose link signs the user in.
//
// It is a client of the Backend API of a running app, the way an app's
// own backend jobs would use it, so it never opens the app's database
// (which the running app holds locked). Start examples/basic, then:
//
//	export MAGICLINK_SECRET_KEY=…   # the key examples/basic prints or uses
//	go run ./examples/signintoken -email ada@example.com
//
// Flags:
//
//	-email address       who to let in (required)
//	-api URL             the Backend API (default http://localhost:8080/v1)
//	-base-url URL        the app, for the link in the email (default: -api's
//	                     scheme and host)
//	-expires-in duration the token's lifetime (default 168h, a week)
//	-mail-dir dir        write the email as an .eml file in dir instead of
//	                     printing it
//
// The email's link is BaseURL/accept-token?token=…, the custom page of the
// seeds' flow (examples/basic serves it): it signs in with the ticket
// strategy. The token's own url, which opens magiclink's confirm page, is
// printed too.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/console"
	"github.com/magiclink-go/magiclink/mailer/maildir"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signintoken:", err)
		os.Exit(1)
	}
}

// run is main, testable.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("signintoken", flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "who to let in (required)")
	apiURL := fs.String("api", "http://localhost:8080/v1", "the Backend API")
	baseURL := fs.String("base-url", "", "the app, for the link in the email (default: -api's scheme and host)")
	expiresIn := fs.Duration("expires-in", 7*24*time.Hour, "the token's lifetime")
	mailDir := fs.String("mail-dir", "", "write the email as an .eml file in this folder instead of printing it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("-email is required")
	}
	key := getenv("MAGICLINK_SECRET_KEY")
	if key == "" {
		return errors.New("set MAGICLINK_SECRET_KEY to the app's Backend API key")
	}
	if *baseURL == "" {
		u, err := url.Parse(*apiURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("-api %q is not a URL", *apiURL)
		}
		*baseURL = u.Scheme + "://" + u.Host
	}
	var m mailer.Mailer = console.New(console.Config{Writer: stdout})
	if *mailDir != "" {
		md, err := maildir.New(*mailDir, maildir.Config{})
		if err != nil {
			return err
		}
		m = md
	}
	api := &backend{url: strings.TrimSuffix(*apiURL, "/"), key: key}

	// The user: new, or already there.
	var user struct {
		ID string `json:"id"`
	}
	err := api.call(ctx, "POST", "/users", map[string]any{"email_address": *email}, &user)
	if apiErr := (*apiError)(nil); errors.As(err, &apiErr) && apiErr.Code == "form_identifier_exists" {
		var found []struct {
			ID string `json:"id"`
		}
		if err = api.call(ctx, "GET", "/users?email_address="+url.QueryEscape(*email), nil, &found); err == nil {
			if len(found) != 1 {
				return fmt.Errorf("%s is taken but no user has it as a verified address", *email)
			}
			user.ID = found[0].ID
		}
	}
	if err != nil {
		return err
	}

	// The token.
	var tok struct {
		ID       string `json:"id"`
		Token    string `json:"token"`
		URL      string `json:"url"`
		ExpireAt int64  `json:"expire_at"`
	}
	err = api.call(ctx, "POST", "/sign_in_tokens", map[string]any{
		"user_id": user.ID, "expires_in_seconds": int64(expiresIn.Seconds())}, &tok)
	if err != nil {
		return err
	}

	// The welcome email, through magiclink's templates and a mailer.
	link := strings.TrimSuffix(*baseURL, "/") + "/accept-token?token=" + url.QueryEscape(tok.Token)
	host, _ := url.Parse(*baseURL)
	msg, err := mailer.DefaultTemplates().Render(mailer.KindWelcome, mailer.Data{
		AppName: host.Host, To: *email, Link: link,
		ExpiresAt: time.UnixMilli(tok.ExpireAt), ExpiresIn: mailer.FormatDuration(*expiresIn),
	})
	if err != nil {
		return err
	}
	if err := m.Send(ctx, msg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s, sign-in token %s\n", user.ID, tok.ID)
	if *mailDir != "" {
		fmt.Fprintf(stdout, "welcome email written to %s\n", *mailDir)
	}
	fmt.Fprintf(stdout, "the token's own link (magiclink's confirm page):\n  %s\n", tok.URL)
	return nil
}

// backend is a minimal Backend API client.
type backend struct {
	url, key string
}

// apiError is an error answer of the API.
type apiError struct {
	Status      int
	Code        string `json:"code"`
	LongMessage string `json:"long_message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("Backend API: %d %s: %s", e.Status, e.Code, e.LongMessage)
}

// call sends body (if any) as JSON and decodes a 200 answer into out.
func (b *backend) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []*apiError `json:"errors"`
		}
		if json.Unmarshal(raw, &e) != nil || len(e.Errors) == 0 {
			return fmt.Errorf("the Backend API: %s %s: %s", method, path, resp.Status)
		}
		e.Errors[0].Status = resp.StatusCode
		return e.Errors[0]
	}
	return json.Unmarshal(raw, out)
}
