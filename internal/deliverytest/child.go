package deliverytest

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// StartChild runs this test binary again as a child process that runs
// only the test named test, with env added to its environment, for a
// parent to kill. The child's stdin is a pipe the parent holds open until
// it waits for the child: a child that calls ExitWithParent never
// outlives its parent. It returns the started command and the child's
// stdout.
func StartChild(t testing.TB, test string, env ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil { // closed by cmd.Wait
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout
}

// ExitWithParent makes this process, a child started by StartChild, exit
// when its parent goes away.
func ExitWithParent() {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
}
