//go:build unix

package maildir

import (
	"os"
	"syscall"
)

// lockTemp locks the temporary file f, which this process is writing,
// until f is closed: the lock tells other processes' clean-ups to leave
// the file alone. A process that dies releases its locks.
func lockTemp(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}

// removeAbandoned removes the temporary file at path if no process is
// writing it: if its lock can be taken.
func removeAbandoned(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // being written
	}
	_ = os.Remove(path)
}
