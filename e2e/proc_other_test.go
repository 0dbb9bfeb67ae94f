//go:build !linux

package e2e

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}

func processesUsing([]string) []string { return nil }
