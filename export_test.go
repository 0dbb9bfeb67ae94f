package magiclink

import "github.com/magiclink-go/magiclink/store"

// Hooks the external tests use; they are not part of the API.

// Store returns the store a persists through, for tests that inspect
// what a request wrote.
func (a *Auth) Store() store.Store { return a.st }
