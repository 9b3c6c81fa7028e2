//go:build !linux

package testserver

import "os/exec"

// dieWithTheTests does nothing where there is no parent-death signal: a
// shared server is stopped by Main only.
func dieWithTheTests(*exec.Cmd) {}
