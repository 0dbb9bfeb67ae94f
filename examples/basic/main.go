// Command basic is magiclink's runnable default app: sign-up, sign-in,
// the page magic links land on, an account page where addresses are added
// and verified, sign-out, the custom flow for sign-in tokens
// (/accept-token?token=…) and a development inbox that shows every email
// sent, links included.
//
// Run it from the repository's root:
//
//	go run ./examples/basic
//
// then open http://localhost:8080 and sign up; the email arrives in the
// dev inbox at http://localhost:8080/dev/mail. Data is kept in a bbolt
// file, magiclink-basic.db in the working directory. examples/postgres is
// the same app with the data in PostgreSQL, which several instances can
// share (docs/several-instances.md).
//
// Flags:
//
//	-addr host:port          listen address (default localhost:8080)
//	-db file                 bbolt file (default magiclink-basic.db)
//	-base-url URL            URL links are built from (default http:// + addr)
//	-mail-dir dir            also write each email as an .eml file in dir
//	-smtp URL                also send through an SMTP server, e.g.
//	                         smtp://user:pass@host:587 (STARTTLS) or smtps://…;
//	                         the sender is the SMTP user when it is an address,
//	                         else no-reply@ the base URL's host
//	-link-ttl duration       how long a magic link works (default 10m)
//	-reverify-after duration how long after signing in (or confirming it
//	                         is them) a person may make a sensitive change
//	                         without confirming again (default 10m)
//	-require-same-client     links work only in the browser that asked for
//	                         them (default true)
//	-rate-limits             limit how often links are sent (default true)
//	-dev-inbox               serve the dev inbox at /dev/mail (default: on
//	                         only when mail goes nowhere else)
//	-trusted-proxies CIDRs   reverse proxies whose -client-ip-header is believed
//	-webhook URL             deliver every event to URL, signed per Standard
//	                         Webhooks (docs/webhooks.md); https, or http to a
//	                         loopback host
//	-webhook-secret whsec_…  the secret deliveries are signed with (or the
//	                         environment variable MAGICLINK_WEBHOOK_SECRET)
//	-webhook-insecure        allow an http -webhook URL to another host
//	-metrics host:port       serve Prometheus metrics at http://host:port/metrics
//
// The Frontend API is mounted at /auth and the Backend API at /v1, with
// the key from the environment variable MAGICLINK_SECRET_KEY; when it is
// unset, a key is generated and printed at start-up.
//
// The dev inbox shows working sign-in links to anyone who can reach the
// app: it is for development only, never for a deployment.
package main

import "github.com/magiclink-go/magiclink/examples/internal/demo"

func main() { demo.Main("basic") }
