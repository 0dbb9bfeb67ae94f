// Package sendtiming holds how long the outbox's claims last and how often
// a sender renews the claims it holds. They are variables only so that
// tests of several instances, in this module and in store/pgstore, can
// shorten them before they start an instance; nothing else sets them.
package sendtiming

import "time"

var (
	// Lease is how long a claim on an outbox entry holds it. An instance
	// that dies holding claims delays their emails by at most this.
	Lease = 15 * time.Second
	// Renew is how often a sender extends the claims of the messages it is
	// still sending; a few renewals fit in one lease, so that one slow or
	// failed renewal does not lose it.
	Renew = 5 * time.Second
)
