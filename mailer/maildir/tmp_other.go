//go:build !unix

package maildir

import (
	"os"
	"time"
)

// lockTemp does nothing where there is no flock: removeAbandoned goes by
// age instead.
func lockTemp(*os.File) error { return nil }

// staleTemp is how old a temporary file must be to be taken for
// abandoned where files cannot be locked: a write takes milliseconds.
const staleTemp = 10 * time.Minute

// removeAbandoned removes the temporary file at path if it was last
// written more than staleTemp ago.
func removeAbandoned(path string) {
	if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleTemp {
		_ = os.Remove(path)
	}
}
