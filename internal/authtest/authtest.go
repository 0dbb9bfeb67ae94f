// Package authtest stands up an Auth for the tests of several packages.
package authtest

import (
	"testing"

	"github.com/magiclink-go/magiclink"
)

// New applies mod to *cfg (when mod is not nil, and in place, so the
// caller sees what mod set) and returns an Auth made of it, closed when t
// ends. It fails t if magiclink.New refuses the configuration.
func New(t testing.TB, cfg *magiclink.Config, mod func(*magiclink.Config)) *magiclink.Auth {
	t.Helper()
	if mod != nil {
		mod(cfg)
	}
	a, err := magiclink.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Client creates a client of a, as a browser's first visit does, failing
// t if it cannot.
func Client(t testing.TB, a *magiclink.Auth) *magiclink.Client {
	t.Helper()
	c, _, err := a.Clients.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
