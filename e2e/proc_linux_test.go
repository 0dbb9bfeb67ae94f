package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// setParentDeathSignal makes the kernel stop the app if the test binary
// dies (a panic, a -timeout), so that no server outlives the run.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// processesUsing returns the command lines of the running processes
// started with --user-data-dir set to one of dirs: browsers (or their
// helper processes) that outlived their test.
func processesUsing(dirs []string) []string {
	want := map[string]bool{}
	for _, d := range dirs {
		want["--user-data-dir="+d] = true
	}
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if want[string(arg)] {
				out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
				break
			}
		}
	}
	return out
}
